package e2e

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// pushBuild puts a two-platform image index for commit c under its commit tag in both
// repositories (what publish --platforms=linux/amd64,linux/arm64 pushes), and returns the digests.
func (h hub) pushBuild(c byte, minute int) map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, repo := range imageRepos {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, arch := range []string{"amd64", "arm64"} {
			img, err := random.Image(512, 1)
			if err != nil {
				h.t.Fatal(err)
			}
			img, _ = mutate.Config(img, v1.Config{Labels: map[string]string{
				"org.opencontainers.image.revision": commitOf(c), "org.opencontainers.image.created": dateAt(minute)}})
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		if err := remote.WriteIndex(h.ref(repo, "3.0.0-nightly-"+idOf(c)), idx, remote.WithAuth(h.auth)); err != nil {
			h.t.Fatal(err)
		}
		d, _ := idx.Digest()
		out[repo] = d.String()
	}
	return out
}

func (h hub) tag(repo, tag, digest string) {
	h.t.Helper()
	ref := h.ref(repo, tag)
	desc, err := remote.Get(ref.Context().Digest(digest), remote.WithAuth(h.auth))
	if err != nil {
		h.t.Fatal(err)
	}
	if err := remote.Tag(ref.Context().Tag(tag), desc, remote.WithAuth(h.auth)); err != nil {
		h.t.Fatal(err)
	}
}

// Rollback of multi-platform images (indexes): a run that fails half-way says which image already
// moved, a re-run finishes it, and a rollback with nothing to do says so and moves nothing.
func TestRollbackHalfWayThenFinished(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newFaultyHub(t)
	t.Cleanup(h.clearFaults)
	a, b := h.pushBuild('a', 1), h.pushBuild('b', 2)
	for _, repo := range imageRepos {
		h.tag(repo, "3.0.0-nightly-previous", a[repo])
		h.tag(repo, "3.0.0-nightly", b[repo])
	}

	h.addFault(faultRule{Prefix: "cockpit-webui/", Target: "manifest", Methods: []string{"PUT"}, Fault: "status", Status: 503})
	r := daggerCall(t, h.rollbackArgs()...)
	if r.exitCode == 0 {
		t.Fatalf("rollback through endless 503s on the web UI exited 0")
	}
	mustContain(t, "the half-way rollback's error", r.stderr, "already rolled back: management-api (moved)", "running rollback again finishes it")
	if got := h.digest("cockpit-management-api", "3.0.0-nightly"); got != a["cockpit-management-api"] {
		t.Errorf("management-api nightly = %s, want the rolled-back index %s", got, a["cockpit-management-api"])
	}
	if got := h.digest("cockpit-webui", "3.0.0-nightly"); got != b["cockpit-webui"] {
		t.Errorf("webui nightly = %s, want it unchanged %s", got, b["cockpit-webui"])
	}
	h.clearFaults()

	out := daggerCall(t, h.rollbackArgs()...).mustSucceed(t)
	mustContain(t, "the re-run's output", out, "nothing moved: 3.0.0-nightly already is 3.0.0-nightly-previous", "moved  3.0.0-nightly  "+b["cockpit-webui"]+" → "+a["cockpit-webui"])
	for _, repo := range imageRepos {
		if got := h.digest(repo, "3.0.0-nightly"); got != a[repo] {
			t.Errorf("%s nightly = %s, want the index %s", repo, got, a[repo])
		}
	}
	h.expect(idOf('a'), idOf('a'))

	before := h.state()
	out = daggerCall(t, h.rollbackArgs()...).mustSucceed(t)
	mustContain(t, "a rollback with nothing to do", out, "nothing to roll back")
	if after := h.state(); len(after) != len(before) || after["cockpit-webui:3.0.0-nightly"] != before["cockpit-webui:3.0.0-nightly"] {
		t.Errorf("a rollback with nothing to do moved tags")
	}
	if strings.Count(out, "nothing moved") != 2 {
		t.Errorf("want each image to say nothing moved:\n%s", out)
	}
}
