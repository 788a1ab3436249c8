package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"dagger.io/dagger"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func connect(t *testing.T) (*dagger.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	c, err := dagger.Connect(ctx, dagger.WithLogOutput(os.Stderr))
	if err != nil {
		t.Fatalf("dagger.Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, ctx
}

func hubAuth(t *testing.T) (host, user, password string) {
	t.Helper()
	b, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_HUB_PASSWORD_FILE"))
	if err != nil {
		t.Fatalf("reading the hub password: %v", err)
	}
	return os.Getenv("NIGHTLY_TESTBED_HUB"), os.Getenv("NIGHTLY_TESTBED_HUB_USER"), strings.TrimSpace(string(b))
}

// The Go SDK straight against the engine: a public image name through the mirror, then a push to
// the authenticated registry, checked through the registry's own API.
func TestSDKPublishToAuthenticatedRegistry(t *testing.T) {
	needTestbed(t)
	c, ctx := connect(t)
	host, user, password := hubAuth(t)

	stamp := fmt.Sprint(time.Now().UnixNano())
	ctr := c.Container().From("busybox:1.37.0").
		WithNewFile("/stamp", stamp).
		WithExec([]string{"cat", "/stamp"})
	out, err := ctr.Stdout(ctx)
	if err != nil {
		t.Fatalf("running busybox:1.37.0: %v", err)
	}
	if out != stamp {
		t.Fatalf("busybox cat = %q, want %q", out, stamp)
	}

	ref := host + "/e2e/sdk-smoke:" + stamp
	pushed, err := ctr.
		WithRegistryAuth(host, user, c.SetSecret("hub-password", password)).
		Publish(ctx, ref)
	if err != nil {
		t.Fatalf("publishing %s: %v", ref, err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Head(r, remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil {
		t.Fatalf("HEAD %s in the registry: %v", ref, err)
	}
	if !strings.HasSuffix(pushed, "@"+desc.Digest.String()) {
		t.Errorf("Publish returned %q; the registry has %s for the tag", pushed, desc.Digest)
	}
}

func TestSDKPublishWithWrongPasswordIsRefused(t *testing.T) {
	needTestbed(t)
	c, ctx := connect(t)
	host, user, _ := hubAuth(t)
	ref := host + "/e2e/refused:latest"
	_, err := c.Container().From("busybox:1.37.0").
		WithRegistryAuth(host, user, c.SetSecret("wrong-password", "not the password")).
		Publish(ctx, ref)
	if err == nil {
		t.Fatalf("publishing %s with a wrong password succeeded", ref)
	}
	r, _ := name.ParseReference(ref, name.Insecure)
	if _, herr := remote.Head(r, remote.WithAuth(&authn.Basic{Username: user, Password: mustPassword(t)})); herr == nil {
		t.Errorf("%s exists in the registry after a refused push", ref)
	}
}

func mustPassword(t *testing.T) string { _, _, p := hubAuth(t); return p }
