package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
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

// hubLike is an in-process registry with Docker Hub's token auth: the token endpoint refuses
// wrong credentials, and a token for a repository that does not exist yet grants pull nothing,
// so the registry answers 401 (not 404) to a read of it.
type hubLike struct {
	host  string
	mu    sync.Mutex
	repos map[string]bool // repositories with a manifest
}

func newHubLike(t *testing.T) *hubLike {
	t.Helper()
	h := &hubLike{repos: map[string]bool{}}
	inner := ggcrregistry.New()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if u, p, ok := r.BasicAuth(); !ok || u != "bot" || p != "s3cret pass" {
				http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
				return
			}
			var granted []string
			for _, s := range r.URL.Query()["scope"] { // repository:NAME:ACTIONS
				parts := strings.Split(s, ":")
				h.mu.Lock()
				exists := h.repos[parts[1]]
				h.mu.Unlock()
				if strings.Contains(parts[2], "push") || exists {
					granted = append(granted, parts[1])
				}
			}
			fmt.Fprintf(w, `{"token":%q}`, "tok:"+strings.Join(granted, ","))
			return
		}
		if r.URL.Path == "/v2/" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusOK)
			return
		}
		repo := strings.TrimPrefix(r.URL.Path, "/v2/")
		for _, sep := range []string{"/manifests/", "/blobs/", "/tags/"} {
			if i := strings.Index(repo, sep); i >= 0 {
				repo = repo[:i]
			}
		}
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer tok:")
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || !contains(strings.Split(tok, ","), repo) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="hub",scope="repository:%s:pull"`, srv.URL, repo))
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			h.mu.Lock()
			h.repos[repo] = true
			h.mu.Unlock()
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.host = strings.TrimPrefix(srv.URL, "http://")
	return h
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestHubLikeRegistryMissingRepositoryIsAbsentNotRefused(t *testing.T) {
	h := newHubLike(t)
	ctx := context.Background()

	wrong := New(h.host, "", &authn.Basic{Username: "bot", Password: "nope"})
	if err := wrong.Login(ctx, "g/new"); err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("Login(wrong password) = %v, want the token exchange's refusal", err)
	}

	c := New(h.host, "", goodAuth)
	// Without Login, the 401 of a missing repository cannot be told from wrong credentials.
	if _, err := c.Digest(ctx, "g/new", "3.0.0-nightly"); err == nil {
		t.Fatalf("Digest before Login on a missing repository = nil error, want the 401")
	}
	if err := c.Login(ctx, "g/new"); err != nil {
		t.Fatalf("Login = %v", err)
	}
	if d, err := c.Digest(ctx, "g/other-missing", "3.0.0-nightly"); err != nil || d != "" {
		t.Fatalf("Digest(missing repository) = %q, %v; want \"\", nil", d, err)
	}
	if tags, err := c.Tags(ctx, "g/other-missing"); err != nil || len(tags) != 0 {
		t.Fatalf("Tags(missing repository) = %v, %v; want none", tags, err)
	}
	// The first push to the new repository works with the same session, then reads see it.
	img, _ := random.Image(512, 1)
	ref, _ := name.NewTag(h.host+"/g/new:3.0.0-nightly-aaaaaaaaaaaaaaa", name.Insecure)
	if err := remote.Write(ref, img, remote.WithTransport(c.rt)); err != nil {
		t.Fatalf("first push to a new repository: %v", err)
	}
	want, _ := img.Digest()
	if err := c.Tag(ctx, "g/new", "3.0.0-nightly", want.String()); err != nil {
		t.Fatalf("Tag = %v", err)
	}
	if d, err := c.Digest(ctx, "g/new", "3.0.0-nightly"); err != nil || d != want.String() {
		t.Fatalf("Digest after push = %q, %v; want %s", d, err, want)
	}
}

func TestTransientFaultsAreRetriedAndCounted(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			inner := newTestRegistry(t)
			d := inner.push(t, "g/api", "3.0.0-nightly-aaaaaaaaaaaaaaa")
			front, injected := faultyFront(t, inner.host, 3, status)
			c := New(front, "", goodAuth)
			c.Backoff = time.Millisecond
			if err := c.Login(context.Background(), "g/api"); err != nil {
				t.Fatalf("Login = %v", err)
			}
			if err := c.Tag(context.Background(), "g/api", "3.0.0-nightly", d); err != nil {
				t.Fatalf("Tag through %d faults = %v", *injected, err)
			}
			if c.Faults() != int64(*injected) || *injected != 3 {
				t.Errorf("Faults() = %d, injected %d", c.Faults(), *injected)
			}
		})
	}
	// More faults than attempts: a clear error naming the registry, and the count.
	inner := newTestRegistry(t)
	d := inner.push(t, "g/api", "x")
	front, _ := faultyFront(t, inner.host, 100, http.StatusServiceUnavailable)
	c := New(front, "", goodAuth)
	c.Backoff = time.Millisecond
	err := c.Tag(context.Background(), "g/api", "y", d)
	if err == nil || !strings.Contains(err.Error(), front) || !strings.Contains(err.Error(), "503") {
		t.Errorf("Tag through endless 503s = %v, want an error naming %s and the 503", err, front)
	}
}

// A request whose answer never comes (the connection silently gone) fails after ResponseTimeout
// and is retried: the operation completes instead of hanging.
func TestUnansweredRequestTimesOutAndIsRetried(t *testing.T) {
	inner := newTestRegistry(t)
	d := inner.push(t, "g/api", "3.0.0-nightly-aaaaaaaaaaaaaaa")
	front, injected := faultyFront(t, inner.host, 1, 0)
	c := New(front, "", goodAuth)
	c.Backoff, c.ResponseTimeout = time.Millisecond, 200*time.Millisecond
	start := time.Now()
	if err := c.Tag(context.Background(), "g/api", "3.0.0-nightly", d); err != nil {
		t.Fatalf("Tag after an unanswered request = %v", err)
	}
	if *injected != 1 || c.Faults() != 1 {
		t.Errorf("injected %d, Faults() = %d, want 1 and 1", *injected, c.Faults())
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("took %v", el)
	}
}

// faultyFront proxies to host and answers the first n requests with status (0: no answer at all,
// until the client gives up).
func faultyFront(t *testing.T, host string, n, status int) (string, *int) {
	count := 0
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inject := count < n
		if inject {
			count++
		}
		mu.Unlock()
		if inject && status == 0 {
			<-r.Context().Done()
			return
		}
		if inject {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "injected", status)
			return
		}
		req, _ := http.NewRequest(r.Method, "http://"+host+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		req.ContentLength = r.ContentLength
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return "127.0.0.1:" + strings.Split(strings.TrimPrefix(srv.URL, "http://"), ":")[1], &count
}

// An image index (a multi-platform image) is promoted whole and its labels are read.
func TestIndexPromotionAndLabels(t *testing.T) {
	tr := newTestRegistry(t)
	ctx := context.Background()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, _ := random.Image(256, 1)
		img, _ = mutate.Config(img, v1.Config{Labels: map[string]string{"org.opencontainers.image.revision": strings.Repeat("ab", 20), "arch": arch}})
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	ref, _ := name.NewTag(tr.host+"/g/api:3.0.0-nightly-abababababababa", name.Insecure)
	if err := remote.WriteIndex(ref, idx, remote.WithAuth(goodAuth)); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	c := New("127.0.0.1:"+strings.Split(tr.host, ":")[1], "", goodAuth)
	if err := c.Tag(ctx, "g/api", "3.0.0-nightly", want.String()); err != nil {
		t.Fatalf("Tag(index) = %v", err)
	}
	if got, err := c.Digest(ctx, "g/api", "3.0.0-nightly"); err != nil || got != want.String() {
		t.Fatalf("Digest(3.0.0-nightly) = %q, %v; want the index %s", got, err, want)
	}
	labels, err := c.Labels(ctx, "g/api", want.String())
	if err != nil || labels["arch"] != "amd64" || labels["org.opencontainers.image.revision"] == "" {
		t.Fatalf("Labels(index) = %v, %v; want the first image's labels", labels, err)
	}
}

func TestExplainNamesTheHTTPStatus(t *testing.T) {
	c := &Client{Host: "registry.example"}
	body := &transport.Error{StatusCode: http.StatusServiceUnavailable, Errors: []transport.Diagnostic{{Code: transport.UnavailableErrorCode, Message: "down for maintenance"}}}
	got := c.explain("pushing x", body).Error()
	if !strings.Contains(got, "HTTP 503 Service Unavailable") || !strings.Contains(got, "down for maintenance") {
		t.Errorf("explain = %q, want the registry's message and HTTP 503", got)
	}
	plain := c.explain("pushing x", fmt.Errorf("connection reset")).Error()
	if plain != "pushing x: connection reset" {
		t.Errorf("explain of a non-HTTP error = %q", plain)
	}
}
