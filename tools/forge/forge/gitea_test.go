package forge

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// Recorded from the test bed's Gitea 1.24.0 (testdata/gitea); testbed/e2e runs the same code live.

const giteaPulls = "/api/v1/repos/nightly/probe/pulls"

func newGiteaFake(t *testing.T, routes map[string][]reply) (*fakeAPI, Forge) {
	t.Helper()
	api, srv := newFakeAPI(t, "testdata/gitea", routes)
	f, err := New(context.Background(), "gitea", srv.URL+"/", "nightly", "probe", "gitea token", nil)
	if err != nil {
		t.Fatal(err)
	}
	return api, f
}

func TestGiteaRecorded_OpensOnceThenFinds(t *testing.T) {
	api, f := newGiteaFake(t, map[string][]reply{
		"GET " + giteaPulls:  {{200, "pulls-none.json", nil}, {200, "pulls-one.json", nil}},
		"POST " + giteaPulls: {{201, "pull-created.json", nil}},
	})
	pr, err := EnsurePullRequest(context.Background(), f, ghWant)
	if err != nil {
		t.Fatal(err)
	}
	want := PullRequest{Number: 1, URL: "http://127.0.0.1:47531/nightly/probe/pulls/1", Head: ghHead, Base: "master",
		Title: ghWant.Title, Created: true}
	if *pr != want {
		t.Errorf("EnsurePullRequest() = %+v, want %+v", *pr, want)
	}
	again, err := EnsurePullRequest(context.Background(), f, ghWant)
	want.Created = false
	if err != nil || *again != want {
		t.Errorf("second EnsurePullRequest() = %+v, %v; want %+v", again, err, want)
	}
	if got, want := api.sent(), []string{"GET " + giteaPulls, "POST " + giteaPulls, "GET " + giteaPulls}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q (no version probe, no second create)", got, want)
	}
	reqs := api.requests()
	if reqs[0].auth != "token gitea token" {
		t.Errorf("Authorization = %q", reqs[0].auth)
	}
	var body map[string]any
	_ = json.Unmarshal([]byte(reqs[1].body), &body)
	if body["head"] != ghHead || body["base"] != "master" || body["title"] != ghWant.Title {
		t.Errorf("create body = %s", reqs[1].body)
	}
}

// Gitea answers a duplicate with 409 (recorded): the open one is returned.
func TestGiteaRecorded_DuplicateIsFound(t *testing.T) {
	_, f := newGiteaFake(t, map[string][]reply{
		"GET " + giteaPulls:  {{200, "pulls-none.json", nil}, {200, "pulls-one.json", nil}},
		"POST " + giteaPulls: {{409, "pull-exists.json", nil}},
	})
	pr, err := EnsurePullRequest(context.Background(), f, ghWant)
	if err != nil || pr.Number != 1 || pr.Created {
		t.Errorf("EnsurePullRequest() = %+v, %v; want #1, found", pr, err)
	}
}

func TestGiteaRecorded_Errors(t *testing.T) {
	tests := []struct {
		name   string
		routes map[string][]reply
		kind   Kind
	}{
		{"wrong token", map[string][]reply{"GET " + giteaPulls: {{401, "bad-token.json", nil}}}, Unauthorized},
		{"missing repository", map[string][]reply{"GET " + giteaPulls: {{404, "not-found.json", nil}}}, NotFound},
		{"server error", map[string][]reply{"GET " + giteaPulls: {{503, "not-found.json", nil}}}, Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, f := newGiteaFake(t, tt.routes)
			_, err := EnsurePullRequest(context.Background(), f, ghWant)
			if KindOf(err) != tt.kind || !strings.Contains(err.Error(), "nightly/probe") {
				t.Errorf("error = %v (kind %s), want kind %s naming nightly/probe", err, KindOf(err), tt.kind)
			}
		})
	}
}
