package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-process registry with basic auth that records each request.
type testRegistry struct {
	host string
	mu   sync.Mutex
	reqs []string
}

func newTestRegistry(t *testing.T) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	inner := ggcrregistry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "bot" || p != "s3cret pass" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		tr.mu.Lock()
		tr.reqs = append(tr.reqs, r.Method+" "+r.URL.Path)
		tr.mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	tr.host = strings.TrimPrefix(srv.URL, "http://")
	return tr
}

var goodAuth = &authn.Basic{Username: "bot", Password: "s3cret pass"}

// push puts a random 3-layer image at repo:tag and returns its digest.
func (tr *testRegistry) push(t *testing.T, repo, tag string) string {
	t.Helper()
	img, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(tr.host+"/"+repo+":"+tag, name.Insecure)
	if err := remote.Write(ref, img, remote.WithAuth(goodAuth)); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func TestTagCopiesTheManifestOnly(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := context.Background()
	a := tr.push(t, "g/api", "3.0.0-nightly-aaaaaaaaaaaaaaa")
	c := New("127.0.0.1:"+strings.Split(tr.host, ":")[1], "", goodAuth)

	if got, err := c.Digest(ctx, "g/api", "3.0.0-nightly"); err != nil || got != "" {
		t.Fatalf("Digest(missing tag) = %q, %v, want \"\", nil", got, err)
	}
	tr.reqs = nil
	if err := c.Tag(ctx, "g/api", "3.0.0-nightly", a); err != nil {
		t.Fatalf("Tag() = %v", err)
	}
	for _, r := range tr.reqs {
		if strings.Contains(r, "/blobs/") && strings.HasPrefix(r, "GET") {
			t.Errorf("Tag() fetched a blob: %s (requests: %q)", r, tr.reqs)
		}
	}
	if got, err := c.Digest(ctx, "g/api", "3.0.0-nightly"); err != nil || got != a {
		t.Errorf("Digest(3.0.0-nightly) after Tag = %q, %v, want %q", got, err, a)
	}
}

func TestBadInputs(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := context.Background()
	a := tr.push(t, "g/api", "x")
	host := "127.0.0.1:" + strings.Split(tr.host, ":")[1]

	wrong := New(host, "", &authn.Basic{Username: "bot", Password: "nope"})
	if _, err := wrong.Digest(ctx, "g/api", "x"); err == nil || !strings.Contains(err.Error(), "registry "+host+" refused the credentials (HTTP 401)") {
		t.Errorf("Digest(wrong password) error = %v, want one naming %s and the refusal", err, host)
	}
	if err := wrong.Tag(ctx, "g/api", "y", a); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Errorf("Tag(wrong password) error = %v", err)
	}
	good := New(host, "", goodAuth)
	if _, err := good.Digest(ctx, "G/Bad Repo", "x"); err == nil || !strings.Contains(err.Error(), "G/Bad Repo") {
		t.Errorf("Digest(bad repo) error = %v, want it to name the repository", err)
	}
	if err := good.Tag(ctx, "g/api", "y", "sha256:0000000000000000000000000000000000000000000000000000000000000000"); err == nil || !strings.Contains(err.Error(), "sha256:0000") {
		t.Errorf("Tag(unknown digest) error = %v, want it to name the digest", err)
	}
	if err := good.Tag(ctx, "g/api", "bad tag!", a); err == nil || !strings.Contains(err.Error(), "bad tag!") {
		t.Errorf("Tag(bad tag) error = %v, want it to name the tag", err)
	}
}

// A Dagger service endpoint stands for the registry: requests go there, messages name the host.
func TestDialAddressStandsForHost(t *testing.T) {
	tr := newTestRegistry(t)
	a := tr.push(t, "g/ui", "x")
	c := New("docker.io", tr.host, goodAuth)
	got, err := c.Digest(context.Background(), "g/ui", "x")
	if err != nil || got != a {
		t.Errorf("Digest via dial address = %q, %v, want %q", got, err, a)
	}
}
