package ci

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

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// Registry talks to an image registry from module code (go-containerregistry), to read digests
// and re-point tags by copying manifests: no layer is pulled or pushed.
type Registry struct {
	// Host is the registry as image references name it (docker.io, 127.0.0.1:47501).
	Host string
	// dial is where requests really go: Host, or a service endpoint standing for it.
	dial     string
	insecure bool
	auth     authn.Authenticator
}

// Registry credentials and reachability, as the Dagger functions receive them.
type RegistryOpts struct {
	Username, Password *dagger.Secret
	// Service, when set, is how module code reaches the registry (e.g. tcp://localhost:PORT for
	// one on the caller's machine); pushes go through the engine, which reaches Host itself.
	Service *dagger.Service
}

// NewRegistry resolves credentials (in memory only) and the service endpoint for host.
func NewRegistry(ctx context.Context, host string, o RegistryOpts) (*Registry, error) {
	r := &Registry{Host: host, dial: host, auth: authn.Anonymous}
	if (o.Username == nil) != (o.Password == nil) {
		return nil, errors.New("registry credentials need both a username and a password secret, or neither")
	}
	if o.Username != nil {
		user, err := o.Username.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the registry username secret: %w", err)
		}
		pw, err := o.Password.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the registry password secret: %w", err)
		}
		r.auth = &authn.Basic{Username: strings.TrimRight(user, "\r\n"), Password: strings.TrimRight(pw, "\r\n")}
	}
	if o.Service != nil {
		ep, err := o.Service.Endpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("reaching the registry service for %s: %w", host, err)
		}
		r.dial, r.insecure = ep, true
	}
	// Loopback registries speak plain HTTP, as the engine assumes too.
	if strings.HasPrefix(host, "127.") || strings.HasPrefix(host, "localhost") {
		r.insecure = true
	}
	return r, nil
}

func (r *Registry) ref(repo, tag string) (name.Tag, error) {
	opts := []name.Option{name.StrictValidation}
	if r.insecure {
		opts = append(opts, name.Insecure)
	}
	t, err := name.NewTag(r.dial+"/"+repo+":"+tag, opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %s/%s:%s: %w", r.Host, repo, tag, err)
	}
	return t, nil
}

func (r *Registry) options(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuth(r.auth),
		// Bounded retries with backoff on rate limits, server errors and resets.
		remote.WithRetryBackoff(remote.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 4}),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
}

// Digest of repo:tag, or "" when the tag does not exist.
func (r *Registry) Digest(ctx context.Context, repo, tag string) (string, error) {
	ref, err := r.ref(repo, tag)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, r.options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return "", nil
		}
		return "", r.explain(fmt.Sprintf("reading %s/%s:%s", r.Host, repo, tag), err)
	}
	return desc.Digest.String(), nil
}

// Move points repo:move.Tag at move.Digest by copying the manifest (crane tag's way).
func (r *Registry) Move(ctx context.Context, repo string, move plan.TagMove) error {
	src, err := name.NewDigest(r.dial+"/"+repo+"@"+move.Digest, r.nameOpts()...)
	if err != nil {
		return fmt.Errorf("image reference %s/%s@%s: %w", r.Host, repo, move.Digest, err)
	}
	desc, err := remote.Get(src, r.options(ctx)...)
	if err != nil {
		return r.explain(fmt.Sprintf("reading %s/%s@%s", r.Host, repo, move.Digest), err)
	}
	dst, err := r.ref(repo, move.Tag)
	if err != nil {
		return err
	}
	if err := remote.Tag(dst, desc, r.options(ctx)...); err != nil {
		return r.explain(fmt.Sprintf("tagging %s/%s:%s", r.Host, repo, move.Tag), err)
	}
	return nil
}

func (r *Registry) nameOpts() []name.Option {
	if r.insecure {
		return []name.Option{name.Insecure}
	}
	return nil
}

// explain names the registry and says plainly when the credentials were refused.
func (r *Registry) explain(what string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%s: registry %s refused the credentials (HTTP %d)", what, r.Host, terr.StatusCode)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
