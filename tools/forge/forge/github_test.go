package forge

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// The GitHub path cannot run against GitHub here (no network but loopback). These tests drive
// go-github against responses shaped as GitHub's REST reference documents them (testdata/github),
// served on loopback under GitHub Enterprise Server's /api/v3/ prefix: they prove our requests and
// our reading of the documented answers, not GitHub's behaviour.

const (
	ghPulls = "/api/v3/repos/gravitee-lab/cockpit-nightly-deployment/pulls"
	ghHead  = "deployment-0123456789abcde"
)

var ghWant = NewPullRequest{Head: ghHead, Base: "master", Title: "nightly: deploy 3.0.0-nightly of 0123456789abcde", Body: "Pulumi.nightly.yaml of the nightly."}

func newGitHubFake(t *testing.T, routes map[string][]reply) (*fakeAPI, Forge) {
	t.Helper()
	api, srv := newFakeAPI(t, "testdata/github", routes)
	f, err := New(context.Background(), "github", srv.URL+"/api/v3/", "gravitee-lab", "cockpit-nightly-deployment", "ghp_test token", nil)
	if err != nil {
		t.Fatal(err)
	}
	return api, f
}

func TestGitHubDocumentedShapes_NotLive_OpensOnceThenFinds(t *testing.T) {
	api, f := newGitHubFake(t, map[string][]reply{
		"GET " + ghPulls:  {{200, "pulls-none.json", nil}, {200, "pulls-one.json", nil}},
		"POST " + ghPulls: {{201, "pull.json", nil}},
	})
	pr, err := EnsurePullRequest(context.Background(), f, ghWant)
	if err != nil {
		t.Fatal(err)
	}
	want := PullRequest{Number: 1347, URL: "https://github.com/gravitee-lab/cockpit-nightly-deployment/pull/1347",
		Head: ghHead, Base: "master", Title: ghWant.Title, Created: true}
	if *pr != want {
		t.Errorf("first EnsurePullRequest() = %+v, want %+v", *pr, want)
	}

	// A re-run finds it and opens nothing.
	again, err := EnsurePullRequest(context.Background(), f, ghWant)
	if err != nil {
		t.Fatal(err)
	}
	want.Created = false
	if *again != want {
		t.Errorf("second EnsurePullRequest() = %+v, want %+v", *again, want)
	}
	if got, want := api.sent(), []string{"GET " + ghPulls, "POST " + ghPulls, "GET " + ghPulls}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}

	reqs := api.requests()
	q, _ := url.ParseQuery(reqs[0].query)
	if q.Get("state") != "open" || q.Get("head") != "gravitee-lab:"+ghHead || q.Get("base") != "master" {
		t.Errorf("list query = %q: want state=open, head=gravitee-lab:%s, base=master", reqs[0].query, ghHead)
	}
	for _, r := range reqs {
		if r.auth != "Bearer ghp_test token" {
			t.Errorf("%s %s sent Authorization %q", r.method, r.path, r.auth)
		}
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(reqs[1].body), &body); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"head": ghHead, "base": "master", "title": ghWant.Title, "body": ghWant.Body} {
		if body[k] != v {
			t.Errorf("create body %s = %v, want %q", k, body[k], v)
		}
	}
}

// Two runs race: ours is refused with GitHub's documented 422 "already exists"; we return theirs.
func TestGitHubDocumentedShapes_NotLive_DuplicateIsFound(t *testing.T) {
	api, f := newGitHubFake(t, map[string][]reply{
		"GET " + ghPulls:  {{200, "pulls-none.json", nil}, {200, "pulls-one.json", nil}},
		"POST " + ghPulls: {{422, "pull-exists.json", nil}},
	})
	pr, err := EnsurePullRequest(context.Background(), f, ghWant)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Number != 1347 || pr.Created {
		t.Errorf("EnsurePullRequest() = %+v, want #1347 found, not created", *pr)
	}
	if n := len(api.sent()); n != 3 {
		t.Errorf("%d requests, want list, create, list", n)
	}
}

// A fork's pull request from a branch of the same name is not ours.
func TestGitHubDocumentedShapes_NotLive_IgnoresForks(t *testing.T) {
	_, f := newGitHubFake(t, map[string][]reply{"GET " + ghPulls: {{200, "pulls-fork.json", nil}}})
	pr, err := f.FindPullRequest(context.Background(), ghHead, "master")
	if err != nil || pr != nil {
		t.Errorf("FindPullRequest() = %+v, %v; want none", pr, err)
	}
}

func TestGitHubDocumentedShapes_NotLive_Errors(t *testing.T) {
	tests := []struct {
		name     string
		routes   map[string][]reply
		kind     Kind
		contains []string
	}{
		{"bad credentials", map[string][]reply{"GET " + ghPulls: {{401, "bad-credentials.json", nil}}},
			Unauthorized, []string{"gravitee-lab/cockpit-nightly-deployment", "Bad credentials", "401"}},
		{"missing repository", map[string][]reply{"GET " + ghPulls: {{404, "not-found.json", nil}}},
			NotFound, []string{"gravitee-lab/cockpit-nightly-deployment", "404"}},
		{"token lacks pull requests: write", map[string][]reply{
			"GET " + ghPulls:  {{200, "pulls-none.json", nil}},
			"POST " + ghPulls: {{403, "forbidden.json", nil}}},
			Forbidden, []string{"Resource not accessible", "opening a pull request from " + ghHead + " to master"}},
		{"rate limited", map[string][]reply{"GET " + ghPulls: {{403, "rate-limited.json",
			map[string]string{"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4102444800"}}}},
			Transient, []string{"rate limit"}},
		{"no commits between", map[string][]reply{
			"GET " + ghPulls:  {{200, "pulls-none.json", nil}},
			"POST " + ghPulls: {{422, "pull-no-commits.json", nil}}},
			Invalid, []string{"No commits between master and " + ghHead}},
		{"server error", map[string][]reply{"GET " + ghPulls: {{502, "not-found.json", nil}}},
			Transient, []string{"listing open pull requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f := newGitHubFake(t, tt.routes)
			_, err := EnsurePullRequest(context.Background(), f, ghWant)
			if KindOf(err) != tt.kind {
				t.Fatalf("EnsurePullRequest() error = %v (kind %s), want kind %s", err, KindOf(err), tt.kind)
			}
			for _, want := range tt.contains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "ghp_test") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestEnsurePullRequestBadInputs(t *testing.T) {
	_, f := newGitHubFake(t, nil)
	for _, pr := range []NewPullRequest{
		{Head: "x", Base: "x", Title: "t"},
		{Head: "", Base: "master", Title: "t"},
		{Head: "x", Base: "master", Title: " "},
	} {
		if _, err := EnsurePullRequest(context.Background(), f, pr); err == nil {
			t.Errorf("EnsurePullRequest(%+v) accepted it", pr)
		}
	}
	if _, err := New(context.Background(), "gitlab", "", "o", "r", "t", nil); err == nil || !strings.Contains(err.Error(), "gitlab") {
		t.Errorf("New(gitlab) = %v, want an error naming it", err)
	}
}
