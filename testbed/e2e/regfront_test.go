package e2e

// Tests of the test bed's registry fronts (testbed/regfront): the registry that authenticates like
// Docker Hub (real distribution + real JWTs from regfront's token endpoint) and the fault proxy in
// front of the basic-auth registry. They run against the real running parts, through
// go-containerregistry from the host and once through the engine.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// dockerHubLike returns the Docker-Hub-like registry's host:port and credentials (the password is
// the file's exact bytes: it has spaces and no trailing newline).
func dockerHubLike(t *testing.T) (host, user, password string) {
	t.Helper()
	host = os.Getenv("NIGHTLY_TESTBED_DOCKERHUB")
	if host == "" {
		t.Skip("needs the test bed's Docker-Hub-like registry (NIGHTLY_TESTBED_DOCKERHUB): run `make test`")
	}
	b, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_DOCKERHUB_PASSWORD_FILE"))
	if err != nil {
		t.Fatalf("reading the Docker-Hub-like registry's password: %v", err)
	}
	return host, os.Getenv("NIGHTLY_TESTBED_DOCKERHUB_USER"), string(b)
}

// freshNamespace is a namespace no other test uses.
func freshNamespace() string { return fmt.Sprintf("e2e%d", time.Now().UnixNano()) }

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatalf("parsing %q: %v", s, err)
	}
	return r
}

func randomImage(t *testing.T, layerBytes int64) v1.Image {
	t.Helper()
	img, err := random.Image(layerBytes, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// statusOf returns the HTTP status of a registry error and the path of the request that got it.
func statusOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var te *transport.Error
	if !errors.As(err, &te) {
		t.Fatalf("want a registry error with an HTTP status, got %T: %v", err, err)
	}
	p := ""
	if te.Request != nil {
		p = te.Request.URL.Path
	}
	return te.StatusCode, p
}

// tokenRequest asks the token endpoint directly, the way a client does after a 401 challenge.
func tokenRequest(t *testing.T, host, user, password, scope string, oauthPost bool) (int, map[string]any) {
	t.Helper()
	u := "http://" + host + "/token"
	var req *http.Request
	if oauthPost {
		form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {password},
			"service": {"nightly-testbed-dockerhub"}, "scope": {scope}, "client_id": {"nightly-e2e"}}
		req, _ = http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, _ = http.NewRequest(http.MethodGet, u+"?"+url.Values{"service": {"nightly-testbed-dockerhub"}, "scope": {scope}}.Encode(), nil)
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestDockerHubLikeWrongPasswordFailsAtTokenEndpoint(t *testing.T) {
	t.Parallel()
	host, user, password := dockerHubLike(t)
	ns := freshNamespace()
	scope := "repository:" + ns + "/app:push,pull"
	for _, post := range []bool{false, true} {
		if code, body := tokenRequest(t, host, user, password+"x", scope, post); code != http.StatusUnauthorized {
			t.Errorf("token endpoint (OAuth POST %v) with a wrong password = %d %v, want 401", post, code, body)
		}
	}

	ref := mustRef(t, host+"/"+ns+"/app:nightly")
	err := remote.Write(ref, randomImage(t, 1024), remote.WithAuth(&authn.Basic{Username: user, Password: password + "x"}))
	if err == nil {
		t.Fatalf("pushing %s with a wrong password succeeded", ref)
	}
	if code, path := statusOf(t, err); code != http.StatusUnauthorized || path != "/token" {
		t.Errorf("push with a wrong password failed with %d at %s, want 401 at the token endpoint /token: %v", code, path, err)
	}
	// Nothing was created: with the right password the repository is still missing (401, below).
	_, err = remote.Head(ref, remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if code, _ := statusOf(t, err); code != http.StatusUnauthorized {
		t.Errorf("HEAD %s after the refused push = %d (%v), want 401: the repository must not exist", ref, code, err)
	}
}

func TestDockerHubLikeMissingRepositoryAnswers401(t *testing.T) {
	t.Parallel()
	host, user, password := dockerHubLike(t)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	ref := mustRef(t, host+"/"+freshNamespace()+"/app:nightly")

	_, err := remote.Head(ref, auth)
	if code, path := statusOf(t, err); code != http.StatusUnauthorized || !strings.Contains(path, "/manifests/") {
		t.Errorf("HEAD %s (missing repository, valid credentials) = %d at %s, want 401 at the manifest like Docker Hub: %v", ref, code, path, err)
	}
	_, err = remote.List(ref.Context(), auth)
	if code, _ := statusOf(t, err); code != http.StatusUnauthorized {
		t.Errorf("tags list of %s (missing repository) = %d, want 401: %v", ref.Context(), code, err)
	}

	// The registry's own challenge says why: the token grants nothing on a missing repository.
	code, body := tokenRequest(t, host, user, password, "repository:"+ref.Context().RepositoryStr()+":pull", false)
	if code != http.StatusOK {
		t.Fatalf("token for pull = %d %v", code, body)
	}
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+ref.Context().RepositoryStr()+"/manifests/nightly", nil)
	req.Header.Set("Authorization", "Bearer "+body["token"].(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, `realm="http://`+host+`/token"`) {
		t.Errorf("HEAD with a pull token = %d, WWW-Authenticate %q; want 401, insufficient_scope, realm on %s", resp.StatusCode, ch, host)
	}
	// Reached under another name (a Dagger service alias in a container), the realm follows the name.
	req, _ = http.NewRequest(http.MethodGet, "http://"+host+"/v2/", nil)
	req.Host = "registry-alias:5000"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("WWW-Authenticate"); !strings.Contains(ch, `realm="http://registry-alias:5000/token"`) {
		t.Errorf("GET /v2/ with Host registry-alias:5000: WWW-Authenticate %q, want the realm on that host", ch)
	}
}

func TestDockerHubLikeFirstPushCreatesRepository(t *testing.T) {
	t.Parallel()
	host, user, password := dockerHubLike(t)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	ns := freshNamespace()
	ref := mustRef(t, host+"/"+ns+"/app:nightly")
	img := randomImage(t, 4096)
	want, _ := img.Digest()

	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("first push to the new repository %s: %v", ref, err)
	}
	desc, err := remote.Head(ref, auth)
	if err != nil {
		t.Fatalf("HEAD %s after the first push: %v", ref, err)
	}
	if desc.Digest != want {
		t.Errorf("HEAD %s = %s, pushed %s", ref, desc.Digest, want)
	}
	// Now that the repository exists, a missing tag is an ordinary 404.
	_, err = remote.Head(mustRef(t, host+"/"+ns+"/app:absent"), auth)
	if code, _ := statusOf(t, err); code != http.StatusNotFound {
		t.Errorf("HEAD of a missing tag in an existing repository = %d, want 404: %v", code, err)
	}
	// The OAuth password grant (what containerd and BuildKit try first) gives a token distribution takes.
	code, body := tokenRequest(t, host, user, password, "repository:"+ns+"/app:pull", true)
	tok, _ := body["access_token"].(string)
	if code != http.StatusOK || tok == "" {
		t.Fatalf("OAuth password grant = %d %v", code, body)
	}
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+ns+"/app/manifests/nightly", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", string(desc.MediaType))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Errorf("HEAD with the OAuth token = %d digest %q, want 200 %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), want)
	}
}

func TestDockerHubLikeForeignNamespaceRefusesPush(t *testing.T) {
	t.Parallel()
	host, user, password := dockerHubLike(t)
	ref := mustRef(t, host+"/library/"+freshNamespace()+":nightly")
	err := remote.Write(ref, randomImage(t, 1024), remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err == nil {
		t.Fatalf("pushing to %s (a namespace the user does not own) succeeded", ref)
	}
	if code, _ := statusOf(t, err); code != http.StatusUnauthorized {
		t.Errorf("push to a foreign namespace = %d, want 401: %v", code, err)
	}
}

// The engine does the token dance itself: the first publish to a new repository works with the
// right password and a wrong one is refused with nothing created.
func TestDockerHubLikeEnginePublishesToNewRepository(t *testing.T) {
	t.Parallel()
	host, user, password := dockerHubLike(t)
	needTestbed(t)
	c, ctx := connect(t)
	auth := remote.WithAuth(&authn.Basic{Username: user, Password: password})
	ns := freshNamespace()

	ref := host + "/" + ns + "/busybox:nightly"
	pushed, err := c.Container().From("busybox:1.37.0").
		WithRegistryAuth(host, user, c.SetSecret("dockerhub-password", password)).
		Publish(ctx, ref)
	if err != nil {
		t.Fatalf("engine publish to the new repository %s: %v", ref, err)
	}
	desc, err := remote.Head(mustRef(t, ref), auth)
	if err != nil {
		t.Fatalf("HEAD %s after the engine's publish: %v", ref, err)
	}
	if !strings.HasSuffix(pushed, "@"+desc.Digest.String()) {
		t.Errorf("Publish returned %q; the registry has %s", pushed, desc.Digest)
	}

	refused := host + "/" + ns + "/refused:nightly"
	if _, err := c.Container().From("busybox:1.37.0").
		WithRegistryAuth(host, user, c.SetSecret("dockerhub-wrong-password", password+" wrong")).
		Publish(ctx, refused); err == nil {
		t.Fatalf("engine publish to %s with a wrong password succeeded", refused)
	}
	_, err = remote.Head(mustRef(t, refused), auth)
	if code, _ := statusOf(t, err); code != http.StatusUnauthorized {
		t.Errorf("HEAD %s after the refused publish = %d, want 401 (repository not created): %v", refused, code, err)
	}
}

// faultRule is a rule of the fault proxy's control API (see testbed/regfront's doc comment).
type faultRule struct {
	ID          int      `json:"id,omitempty"`
	Prefix      string   `json:"prefix"`
	Target      string   `json:"target,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	Fault       string   `json:"fault"`
	Status      int      `json:"status,omitempty"`
	RetryAfter  int      `json:"retryAfter,omitempty"`
	AfterBytes  int64    `json:"afterBytes,omitempty"`
	DelayMs     int      `json:"delayMs,omitempty"`
	Times       int64    `json:"times,omitempty"`
	Probability float64  `json:"probability,omitempty"`
	Seen        int64    `json:"seen,omitempty"`
	Injected    int64    `json:"injected,omitempty"`
}

// faultProxy returns the proxy's host:port and its control API's base URL.
func faultProxy(t *testing.T) (host, control string) {
	t.Helper()
	host, ctl := os.Getenv("NIGHTLY_TESTBED_FAULTY"), os.Getenv("NIGHTLY_TESTBED_FAULTY_CONTROL")
	if host == "" || ctl == "" {
		t.Skip("needs the test bed's fault proxy (NIGHTLY_TESTBED_FAULTY, _CONTROL): run `make test`")
	}
	return host, "http://" + ctl
}

// addFault adds a rule, removed when the test ends.
func addFault(t *testing.T, control string, r faultRule) faultRule {
	t.Helper()
	b, _ := json.Marshal(r)
	resp, err := http.Post(control+"/rules", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("adding fault rule: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("adding fault rule %s: %d %s", b, resp.StatusCode, body)
	}
	var added faultRule
	if err := json.Unmarshal(body, &added); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/rules/%d", control, added.ID), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return added
}

func faultCounters(t *testing.T, control string, id int) faultRule {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/rules/%d", control, id))
	if err != nil {
		t.Fatalf("reading fault rule %d: %v", id, err)
	}
	defer resp.Body.Close()
	var r faultRule
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("reading fault rule %d: %v", id, err)
	}
	return r
}

// ggcr's own retries (transport: 1 s then 3 s; per blob: the backoff below) survive transient
// 503s on the manifest PUT and a 429 with Retry-After at the start of each blob upload.
func TestFaultProxyTransientStatusesAreRetriedByGGCR(t *testing.T) {
	t.Parallel()
	proxy, control := faultProxy(t)
	_, user, password := hubAuth(t)
	ns := freshNamespace()
	unavailable := addFault(t, control, faultRule{Prefix: "/v2/" + ns + "/", Target: "manifest",
		Methods: []string{"PUT"}, Fault: "status", Status: 503, Times: 2})
	tooMany := addFault(t, control, faultRule{Prefix: "/v2/" + ns + "/", Target: "upload",
		Methods: []string{"POST"}, Fault: "status", Status: 429, RetryAfter: 1, Times: 1})

	ref := mustRef(t, proxy+"/"+ns+"/app:nightly")
	img := randomImage(t, 4096)
	want, _ := img.Digest()
	start := time.Now()
	err := remote.Write(ref, img,
		remote.WithAuth(&authn.Basic{Username: user, Password: password}),
		remote.WithRetryStatusCodes(http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 5}))
	if err != nil {
		t.Fatalf("push through the fault proxy: %v", err)
	}
	t.Logf("push with 2×503 and 1×429 injected took %s", time.Since(start).Round(time.Millisecond))
	if r := faultCounters(t, control, unavailable.ID); r.Injected != 2 || r.Seen != 3 {
		t.Errorf("503 rule: injected %d of %d requests, want 2 of 3 (two retries, then through)", r.Injected, r.Seen)
	}
	if r := faultCounters(t, control, tooMany.ID); r.Injected != 1 {
		t.Errorf("429 rule: injected %d, want 1", r.Injected)
	}
	// The outcome, read from the registry itself, not through the proxy.
	desc, err := remote.Head(mustRef(t, os.Getenv("NIGHTLY_TESTBED_HUB")+"/"+ns+"/app:nightly"),
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil || desc.Digest != want {
		t.Errorf("registry has %v (%v) for the tag, pushed %s", desc, err, want)
	}
}

// A connection dropped in the middle of a blob upload (part of the PATCH body reached the
// registry) is injected, counted, and survived by ggcr restarting the upload.
func TestFaultProxyDropsConnectionMidUpload(t *testing.T) {
	t.Parallel()
	proxy, control := faultProxy(t)
	_, user, password := hubAuth(t)
	ns := freshNamespace()
	drop := addFault(t, control, faultRule{Prefix: "/v2/" + ns + "/", Target: "upload",
		Methods: []string{"PATCH"}, Fault: "drop", AfterBytes: 64 << 10, Times: 1})

	ref := mustRef(t, proxy+"/"+ns+"/app:nightly")
	img := randomImage(t, 1<<20) // random bytes: the compressed layer stays ~1 MiB, well past 64 KiB
	want, _ := img.Digest()
	err := remote.Write(ref, img,
		remote.WithAuth(&authn.Basic{Username: user, Password: password}),
		remote.WithRetryBackoff(remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: 5}))
	r := faultCounters(t, control, drop.ID)
	if r.Injected != 1 {
		t.Fatalf("drop rule: injected %d of %d requests, want 1", r.Injected, r.Seen)
	}
	if err != nil {
		t.Fatalf("push after one mid-upload drop: %v", err)
	}
	if r.Seen < 2 {
		t.Errorf("drop rule saw %d PATCH requests, want a retried upload (≥ 2)", r.Seen)
	}
	desc, err := remote.Head(mustRef(t, os.Getenv("NIGHTLY_TESTBED_HUB")+"/"+ns+"/app:nightly"),
		remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	if err != nil || desc.Digest != want {
		t.Errorf("registry has %v (%v) for the tag, pushed %s", desc, err, want)
	}
}
