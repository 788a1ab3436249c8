// Package registry re-points image tags by copying manifests (go-containerregistry): no layer
// is pulled or pushed. It has no Dagger dependency, so benchmarks and tests use it directly.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client talks to one registry.
type Client struct {
	// Host is the registry as image references name it (docker.io, 127.0.0.1:47501).
	Host string
	// dial is where requests really go: Host, or an address standing for it (a Dagger service).
	dial     string
	insecure bool
	auth     authn.Authenticator
}

// New makes a client for host. dial, when not empty, is the address requests go to instead
// (plain HTTP); auth nil means anonymous. Loopback hosts are plain HTTP, as the engine assumes.
func New(host, dial string, auth authn.Authenticator) *Client {
	c := &Client{Host: host, dial: host, auth: authn.Anonymous}
	if auth != nil {
		c.auth = auth
	}
	if dial != "" {
		c.dial, c.insecure = dial, true
	}
	if strings.HasPrefix(host, "127.") || strings.HasPrefix(host, "localhost") {
		c.insecure = true
	}
	return c
}

func (c *Client) nameOpts() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if c.insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

func (c *Client) ref(repo, tag string) (name.Tag, error) {
	t, err := name.NewTag(c.dial+"/"+repo+":"+tag, c.nameOpts()...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %s/%s:%s: %w", c.Host, repo, tag, err)
	}
	return t, nil
}

func (c *Client) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(c.auth),
		// Bounded retries with backoff on rate limits, server errors and resets.
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 4}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
}

// Digest of repo:tag, or "" when the tag does not exist.
func (c *Client) Digest(ctx context.Context, repo, tag string) (string, error) {
	ref, err := c.ref(repo, tag)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, c.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return "", nil
		}
		return "", c.explain(fmt.Sprintf("reading %s/%s:%s", c.Host, repo, tag), err)
	}
	return desc.Digest.String(), nil
}

// Tag points repo:tag at digest by copying the manifest (crane tag's way): one manifest GET and
// one PUT; the registry already has every blob.
func (c *Client) Tag(ctx context.Context, repo, tag, digest string) error {
	src, err := name.NewDigest(c.dial+"/"+repo+"@"+digest, c.nameOpts()...)
	if err != nil {
		return fmt.Errorf("image reference %s/%s@%s: %w", c.Host, repo, digest, err)
	}
	desc, err := remote.Get(src, c.options(ctx)...)
	if err != nil {
		return c.explain(fmt.Sprintf("reading %s/%s@%s", c.Host, repo, digest), err)
	}
	dst, err := c.ref(repo, tag)
	if err != nil {
		return err
	}
	if err := remote.Tag(dst, desc, c.options(ctx)...); err != nil {
		return c.explain(fmt.Sprintf("tagging %s/%s:%s", c.Host, repo, tag), err)
	}
	return nil
}

// explain names the registry and says plainly when the credentials were refused.
func (c *Client) explain(what string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s: registry %s refused the credentials (HTTP %d)", what, c.Host, terr.StatusCode)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
