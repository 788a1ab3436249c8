package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGrantLikeDockerHub(t *testing.T) {
	storage := t.TempDir()
	for _, repo := range []string{"nightly/exists", "library/busybox"} {
		if err := os.MkdirAll(filepath.Join(storage, "docker/registry/v2/repositories", repo, "_manifests"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := &dockerHub{storage: storage, foreign: map[string]bool{"library": true}}
	for _, c := range []struct {
		user, typ, name string
		requested       []string
		want            []string
	}{
		{"nightly", "repository", "nightly/missing", []string{"pull"}, nil},                              // 401, not 404
		{"nightly", "repository", "nightly/missing", []string{"push", "pull"}, []string{"push", "pull"}}, // first push
		{"nightly", "repository", "e2e1/missing", []string{"pull", "push"}, []string{"pull", "push"}},
		{"nightly", "repository", "nightly/exists", []string{"pull"}, []string{"pull"}},
		{"nightly", "repository", "nightly/exists", []string{"pull", "push", "delete"}, []string{"pull", "push"}},
		{"nightly", "repository", "library/busybox", []string{"pull", "push"}, []string{"pull"}}, // foreign
		{"nightly", "repository", "busybox", []string{"pull", "push"}, nil},                      // under library/
		{"nightly", "repository", "library/missing", []string{"pull", "push"}, nil},
		{"nightly", "repository", "a/b/c", []string{"pull", "push"}, nil}, // no nested repositories
		{"", "repository", "nightly/exists", []string{"pull"}, nil},       // anonymous
		{"nightly", "registry", "catalog", []string{"*"}, nil},
	} {
		got := h.grant(c.user, c.typ, c.name, c.requested)
		if got == nil || !slices.Equal(got, append([]string{}, c.want...)) {
			t.Errorf("grant(%q, %s:%s:%v) = %#v, want %v", c.user, c.typ, c.name, c.requested, got, c.want)
		}
	}
}

func TestParseScope(t *testing.T) {
	for _, c := range []struct {
		in, typ, name string
		actions       []string
		ok            bool
	}{
		{"repository:ns/app:pull,push", "repository", "ns/app", []string{"pull", "push"}, true},
		{"repository(plugin):ns/app:pull", "repository", "ns/app", []string{"pull"}, true},
		{"registry:catalog:*", "registry", "catalog", []string{"*"}, true},
		{"repository:ns/app", "", "", nil, false},
		{"nonsense", "", "", nil, false},
	} {
		typ, name, actions, ok := parseScope(c.in)
		if typ != c.typ || name != c.name || !slices.Equal(actions, c.actions) || ok != c.ok {
			t.Errorf("parseScope(%q) = %q %q %v %v", c.in, typ, name, actions, ok)
		}
	}
}

func TestTargetOf(t *testing.T) {
	for path, want := range map[string]string{
		"/v2/":                              "base",
		"/v2/ns/app/manifests/1.0":          "manifest",
		"/v2/ns/app/blobs/sha256:abc":       "blob",
		"/v2/ns/app/blobs/uploads/":         "upload",
		"/v2/ns/app/blobs/uploads/1234-abc": "upload",
		"/v2/ns/app/tags/list":              "tags",
		"/v2/_catalog":                      "",
	} {
		if got := targetOf(path); got != want {
			t.Errorf("targetOf(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestRulesFireWithinScopeBudgetAndProbability(t *testing.T) {
	f := &faults{chance: func() float64 { return 0.7 }}
	mustAdd := func(r rule) rule {
		added, err := f.add(r)
		if err != nil {
			t.Fatal(err)
		}
		return added
	}
	count := mustAdd(rule{Prefix: "/v2/a/", Fault: "none"})
	twice := mustAdd(rule{Prefix: "/v2/a/", Target: "manifest", Methods: []string{"put"}, Fault: "status", Status: 503, Times: 2})
	never := mustAdd(rule{Prefix: "/v2/b/", Fault: "status", Status: 500, Probability: 0.5}) // 0.7 ≥ 0.5
	for i := 0; i < 4; i++ {
		f.pick("PUT", "/v2/a/app/manifests/x")
	}
	f.pick("GET", "/v2/a/app/manifests/x")
	if r := f.pick("PUT", "/v2/b/app/manifests/x"); r != nil {
		t.Errorf("rule %d fired with probability 0.5 and chance 0.7", r.ID)
	}
	got := map[int]rule{}
	for _, r := range f.list("") {
		got[r.ID] = r
	}
	if r := got[count.ID]; r.Seen != 5 || r.Injected != 0 {
		t.Errorf("counting rule: seen %d injected %d, want 5, 0", r.Seen, r.Injected)
	}
	if r := got[twice.ID]; r.Seen != 4 || r.Injected != 2 {
		t.Errorf("503×2 rule: seen %d injected %d, want 4, 2", r.Seen, r.Injected)
	}
	if r := got[never.ID]; r.Seen != 1 || r.Injected != 0 {
		t.Errorf("probability rule: seen %d injected %d, want 1, 0", r.Seen, r.Injected)
	}
	for _, bad := range []rule{{Fault: "none"}, {Prefix: "/v2/", Fault: "status", Status: 200},
		{Prefix: "/v2/", Fault: "explode"}, {Prefix: "/v2/", Fault: "delay"}, {Prefix: "/v2/", Target: "x", Fault: "none"}} {
		if _, err := f.add(bad); err == nil {
			t.Errorf("add(%+v) accepted an invalid rule", bad)
		}
	}
}

// The proxy against an in-process upstream: a 429 with Retry-After, and a drop mid-body that
// reaches the upstream truncated while the client gets no answer.
func TestFaultyProxyInjects(t *testing.T) {
	received := make(chan int, 4)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received <- int(n)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer upstream.Close()
	u, _ := url.Parse(upstream.URL)
	f := &faults{chance: func() float64 { return 0 }}
	proxy := httptest.NewServer(newFaultyProxy(f, u))
	defer proxy.Close()
	control := httptest.NewServer(f.controlAPI())
	defer control.Close()

	post := func(body string) {
		resp, err := http.Post(control.URL+"/rules", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("adding rule %s: %v %v", body, err, resp.Status)
		}
		resp.Body.Close()
	}
	post(`{"prefix":"/v2/t/","target":"upload","methods":["POST"],"fault":"status","status":429,"retryAfter":3,"times":1}`)
	post(`{"prefix":"/v2/t/","target":"upload","methods":["PATCH"],"fault":"drop","afterBytes":1000,"times":1}`)

	resp, err := http.Post(proxy.URL+"/v2/t/app/blobs/uploads/", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3" {
		t.Errorf("POST = %d Retry-After %q, want 429 and 3", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	req, _ := http.NewRequest(http.MethodPatch, proxy.URL+"/v2/t/app/blobs/uploads/1", strings.NewReader(strings.Repeat("x", 100000)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PATCH through a drop rule answered %s, want a dropped connection", resp.Status)
	}
	if n := <-received; n != 1000 {
		t.Errorf("upstream received %d bytes of the dropped PATCH, want 1000", n)
	}

	req, _ = http.NewRequest(http.MethodPatch, proxy.URL+"/v2/t/app/blobs/uploads/1", strings.NewReader("after"))
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH after the rule's budget = %v %v, want 202 from the upstream", resp, err)
	}
	resp.Body.Close()

	req, _ = http.NewRequest(http.MethodDelete, control.URL+"/rules?prefix=/v2/t/", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if left := f.list(""); len(left) != 0 {
		t.Errorf("rules left after DELETE ?prefix: %+v", left)
	}
}
