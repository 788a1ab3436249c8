package ci

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"dagger/nightly/ci/plan"
	"dagger/nightly/ci/registry"
	"dagger/nightly/internal/dagger"
)

// RegistryOpts are a registry's credentials and reachability, as the Dagger functions get them.
type RegistryOpts struct {
	Username, Password *dagger.Secret
	// Service, when set, is how module code reaches the registry (e.g. tcp://localhost:PORT for
	// one on the caller's machine); pushes go through the engine, which reaches the host itself.
	Service *dagger.Service
	// ResponseTimeout is how long a request waits for the registry's answer once sent (a Go
	// duration; "" is plan.DefaultResponseTimeout), then is retried.
	ResponseTimeout string
}

// newRegistry resolves the credentials (in memory only) and the service endpoint for host.
func newRegistry(ctx context.Context, host string, o RegistryOpts) (*registry.Client, error) {
	if (o.Username == nil) != (o.Password == nil) {
		return nil, errors.New("registry credentials need both a username and a password secret, or neither")
	}
	timeout, err := plan.ResponseTimeout(o.ResponseTimeout)
	if err != nil {
		return nil, err
	}
	var auth authn.Authenticator
	if o.Username != nil {
		user, err := o.Username.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the registry username secret: %v", err)
		}
		pw, err := o.Password.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the registry password secret: %v", err)
		}
		auth = &authn.Basic{Username: strings.TrimRight(user, "\r\n"), Password: strings.TrimRight(pw, "\r\n")}
	}
	dial := ""
	if o.Service != nil {
		ep, err := o.Service.Endpoint(ctx)
		if err != nil {
			return nil, fmt.Errorf("reaching the registry service for %s: %v", host, err)
		}
		dial = ep
	}
	c := registry.New(host, dial, auth)
	c.ResponseTimeout = timeout
	return c, nil
}
