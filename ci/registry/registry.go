// Package registry reads and re-points image tags by copying manifests (go-containerregistry): no
// layer is pulled or pushed. It has no Dagger dependency, so benchmarks and tests use it directly.
//
// It speaks to registries as they really answer: Docker Hub's token auth answers 401, not 404,
// for a repository that does not exist yet, so once Login has proven the credentials (the token
// exchange, or a basic-auth request, refuses wrong ones) a 401 on a read means "absent". Faults a
// registry may not repeat (408, 429 with Retry-After, 5xx, cut connections) are retried with
// backoff and counted.
package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Client talks to one registry.
type Client struct {
	// Host is the registry as image references name it (docker.io, 127.0.0.1:47501).
	Host string
	// dial is where connections really go: "" for Host itself, or an address standing for it (a
	// Dagger service). Every connection to Host's name (the registry, a token realm on it) goes there.
	dial     string
	insecure bool
	auth     authn.Authenticator
	// Attempts per request (first try included) and the first backoff wait; Retry-After is capped.
	Attempts      int
	Backoff       time.Duration
	MaxRetryAfter time.Duration
	// ResponseTimeout bounds the wait for a response once a request is sent: a connection the
	// other side dropped without the client hearing of it (a proxy, a tunnel) fails and is retried
	// instead of hanging the publish.
	ResponseTimeout time.Duration
	faults          atomic.Int64
	// rt is the authenticated transport Login made; nil before.
	rt http.RoundTripper
}

// New makes a client for host. dial, when not empty, is the address connections go to instead
// (plain HTTP); auth nil means anonymous. Loopback hosts are plain HTTP, as the engine assumes.
func New(host, dial string, auth authn.Authenticator) *Client {
	c := &Client{Host: host, dial: dial, auth: authn.Anonymous, Attempts: 5, Backoff: 500 * time.Millisecond, MaxRetryAfter: 30 * time.Second,
		ResponseTimeout: 3 * time.Minute}
	if auth != nil {
		c.auth = auth
	}
	c.insecure = dial != "" || strings.HasPrefix(host, "127.") || strings.HasPrefix(host, "localhost")
	return c
}

// Faults is how many transient faults (HTTP 408/429/5xx, cut connections) were retried so far.
func (c *Client) Faults() int64 { return c.faults.Load() }

func (c *Client) nameOpts() []name.Option {
	opts := []name.Option{name.StrictValidation}
	if c.insecure {
		opts = append(opts, name.Insecure)
	}
	return opts
}

// base is the HTTP transport: connections to the registry's host name go to the dial address,
// requests that meet a transient fault are retried.
func (c *Client) base() http.RoundTripper {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = c.ResponseTimeout
	if c.dial != "" {
		hosts := map[string]bool{hostname(c.Host): true}
		if c.Host == "docker.io" || c.Host == name.DefaultRegistry {
			hosts["index.docker.io"], hosts["registry-1.docker.io"] = true, true
		}
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			if hosts[hostname(addr)] {
				addr = c.dial
			}
			return d.DialContext(ctx, network, addr)
		}
	}
	return &retrying{inner: tr, attempts: c.Attempts, wait: c.Backoff, maxRetryAfter: c.MaxRetryAfter, faults: &c.faults, sleep: sleepCtx}
}

func hostname(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func (c *Client) options(ctx context.Context) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx),
		// Retries are the transport's (counted, Retry-After honoured): none on top.
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Second, Steps: 1})}
	if c.rt != nil {
		return append(opts, remote.WithTransport(c.rt))
	}
	return append(opts, remote.WithAuth(c.auth), remote.WithTransport(c.base()))
}

// Login proves the credentials before anything is pushed and keeps the session: the token
// exchange (Docker Hub's way) with push and pull rights on repos, or a request with basic auth.
// Afterwards a 401 on a read means the repository does not exist yet.
func (c *Client) Login(ctx context.Context, repos ...string) error {
	reg, err := name.NewRegistry(c.Host, c.nameOpts()...)
	if err != nil {
		return fmt.Errorf("registry %q: %w", c.Host, err)
	}
	var scopes []string
	for _, r := range repos {
		repo, err := name.NewRepository(c.Host+"/"+r, c.nameOpts()...)
		if err != nil {
			return fmt.Errorf("repository %s/%s: %w", c.Host, r, err)
		}
		scopes = append(scopes, repo.Scope(transport.PushScope))
	}
	rt, err := transport.NewWithContext(ctx, reg, c.auth, c.base(), scopes)
	if err != nil {
		return c.explain("logging in to "+c.Host, err)
	}
	// Basic auth is only checked when used: ask for the API root with it.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return c.explain("logging in to "+c.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("logging in to %s: registry %s refused the credentials (HTTP %d)", c.Host, c.Host, resp.StatusCode)
	}
	c.rt = rt
	return nil
}

func (c *Client) tag(repo, tag string) (name.Tag, error) {
	t, err := name.NewTag(c.Host+"/"+repo+":"+tag, c.nameOpts()...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %s/%s:%s: %w", c.Host, repo, tag, err)
	}
	return t, nil
}

func (c *Client) digestRef(repo, digest string) (name.Digest, error) {
	d, err := name.NewDigest(c.Host+"/"+repo+"@"+digest, c.nameOpts()...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("image reference %s/%s@%s: %w", c.Host, repo, digest, err)
	}
	return d, nil
}

// Digest of repo:tag, or "" when the tag (or the repository) does not exist.
func (c *Client) Digest(ctx context.Context, repo, tag string) (string, error) {
	ref, err := c.tag(repo, tag)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, c.options(ctx)...)
	if err != nil {
		if c.absent(err) {
			return "", nil
		}
		return "", c.explain(fmt.Sprintf("reading %s/%s:%s", c.Host, repo, tag), err)
	}
	return desc.Digest.String(), nil
}

// Tags lists repo's tags: none for a repository that does not exist yet.
func (c *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := name.NewRepository(c.Host+"/"+repo, c.nameOpts()...)
	if err != nil {
		return nil, fmt.Errorf("repository %s/%s: %w", c.Host, repo, err)
	}
	tags, err := remote.List(r, c.options(ctx)...)
	if err != nil {
		if c.absent(err) {
			return nil, nil
		}
		return nil, c.explain(fmt.Sprintf("listing the tags of %s/%s", c.Host, repo), err)
	}
	return tags, nil
}

// Labels of the image at repo@digest; for an image index, of its first image (every platform of
// one build carries the same labels).
func (c *Client) Labels(ctx context.Context, repo, digest string) (map[string]string, error) {
	ref, err := c.digestRef(repo, digest)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("reading the labels of %s/%s@%s", c.Host, repo, digest)
	desc, err := remote.Get(ref, c.options(ctx)...)
	if err != nil {
		return nil, c.explain(what, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, c.explain(what, err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, c.explain(what, err)
		}
		var child *v1.Descriptor
		for i, d := range m.Manifests {
			// Skip attestation manifests (platform unknown/unknown).
			if d.MediaType.IsImage() && (d.Platform == nil || d.Platform.OS != "unknown") {
				child = &m.Manifests[i]
				break
			}
		}
		if child == nil {
			return nil, fmt.Errorf("%s: the index holds no image", what)
		}
		if img, err = idx.Image(child.Digest); err != nil {
			return nil, c.explain(what, err)
		}
	} else if img, err = desc.Image(); err != nil {
		return nil, c.explain(what, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, c.explain(what, err)
	}
	return cfg.Config.Labels, nil
}

// Tag points repo:tag at digest by copying the manifest (crane tag's way): one manifest GET and
// one PUT; the registry already has every blob. Works the same for an image index.
func (c *Client) Tag(ctx context.Context, repo, tag, digest string) error {
	src, err := c.digestRef(repo, digest)
	if err != nil {
		return err
	}
	desc, err := remote.Get(src, c.options(ctx)...)
	if err != nil {
		return c.explain(fmt.Sprintf("reading %s/%s@%s", c.Host, repo, digest), err)
	}
	dst, err := c.tag(repo, tag)
	if err != nil {
		return err
	}
	if err := remote.Tag(dst, desc, c.options(ctx)...); err != nil {
		return c.explain(fmt.Sprintf("tagging %s/%s:%s", c.Host, repo, tag), err)
	}
	return nil
}

// absent is true for "no such tag or repository": 404, or a 401/403 from the registry itself
// (not its token endpoint) once Login has proven the credentials, as Docker Hub answers for a
// repository that does not exist yet.
func (c *Client) absent(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	if terr.StatusCode == http.StatusNotFound {
		return true
	}
	registrySide := terr.Request == nil || strings.HasPrefix(terr.Request.URL.Path, "/v2/")
	return c.rt != nil && registrySide && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden)
}

// explain names the registry and says plainly when the credentials were refused.
func (c *Client) explain(what string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		if c.rt != nil {
			return fmt.Errorf("%s: registry %s refused access with these credentials (HTTP %d)", what, c.Host, terr.StatusCode)
		}
		return fmt.Errorf("%s: registry %s refused the credentials (HTTP %d)", what, c.Host, terr.StatusCode)
	}
	// A registry's error body (UNAVAILABLE: …) hides the status; the user wants both.
	if terr != nil && terr.StatusCode != 0 && !strings.Contains(err.Error(), strconv.Itoa(terr.StatusCode)) {
		return fmt.Errorf("%s: %w (HTTP %d %s)", what, err, terr.StatusCode, http.StatusText(terr.StatusCode))
	}
	return fmt.Errorf("%s: %w", what, err)
}
