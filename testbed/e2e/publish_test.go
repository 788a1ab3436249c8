package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

var imageRepos = []string{"cockpit-management-api", "cockpit-webui"}

// hub reads the authenticated registry (the Docker Hub stand-in) through its own API.
type hub struct {
	t         *testing.T
	host      string
	namespace string
	auth      authn.Authenticator
}

// newHub gives a fresh namespace on the registry, and E2E_HUB_PASSWORD for --password=env:….
func newHub(t *testing.T) hub {
	host, user, pw := hubAuth(t)
	t.Setenv("E2E_HUB_PASSWORD", pw)
	return hub{t: t, host: host, namespace: fmt.Sprintf("e2e%d", time.Now().UnixNano()), auth: &authn.Basic{Username: user, Password: pw}}
}

// digest of repo:tag, "" when absent.
func (h hub) digest(repo, tag string) string {
	h.t.Helper()
	ref, err := name.ParseReference(h.host+"/"+h.namespace+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := remote.Head(ref, remote.WithAuth(h.auth))
	if err != nil {
		if strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "MANIFEST_UNKNOWN") || strings.Contains(err.Error(), "NAME_UNKNOWN") {
			return ""
		}
		h.t.Fatalf("HEAD %s:%s: %v", repo, tag, err)
	}
	return d.Digest.String()
}

// state is every tag → digest of both repositories, for "nothing changed" assertions.
func (h hub) state() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, repo := range imageRepos {
		r, err := name.NewRepository(h.host+"/"+h.namespace+"/"+repo, name.Insecure)
		if err != nil {
			h.t.Fatal(err)
		}
		tags, err := remote.List(r, remote.WithAuth(h.auth))
		if err != nil {
			continue // no repository yet
		}
		sort.Strings(tags)
		for _, tag := range tags {
			out[repo+":"+tag] = h.digest(repo, tag)
		}
	}
	return out
}

func (h hub) publishArgs(src, commit string, extra ...string) []string {
	port := h.host[strings.LastIndex(h.host, ":")+1:]
	args := []string{"--source=" + src, buildkitLinter}
	args = append(args, extra...)
	return append(args, "publish", "--commit="+commit, "--registry="+h.host+"/"+h.namespace,
		"--username=env:NIGHTLY_TESTBED_HUB_USER", "--password=env:E2E_HUB_PASSWORD",
		"--registry-service=tcp://localhost:"+port)
}

func commitOf(c byte) string { return strings.Repeat(string(c), 40) }

// Two publishes of different builds, a re-run, and a rollback, asserted through the registry API.
func TestPublishPromotesByDigestAndRollsBack(t *testing.T) {
	needTestbed(t)
	h := newHub(t)

	srcA := fixtureCopy(t)
	srcB := fixtureCopy(t)
	index := filepath.Join(srcB, "webui/src/main/resources/webui/index.html")
	b, _ := os.ReadFile(index)
	if err := os.WriteFile(index, append(b, []byte("<!-- build B -->\n")...), 0o644); err != nil {
		t.Fatal(err)
	}

	daggerCall(t, h.publishArgs(srcA, commitOf('a'))...).mustSucceed(t)
	first := map[string]string{}
	for _, repo := range imageRepos {
		first[repo] = h.digest(repo, "3.0.0-nightly")
		if first[repo] == "" || first[repo] != h.digest(repo, "3.0.0-nightly-aaaaaaaaaaaaaaa") {
			t.Fatalf("%s after the first publish: nightly %q, commit tag %q", repo, first[repo], h.digest(repo, "3.0.0-nightly-aaaaaaaaaaaaaaa"))
		}
		if p := h.digest(repo, "3.0.0-nightly-previous"); p != "" {
			t.Errorf("%s: a first publish made a -previous tag (%s)", repo, p)
		}
	}

	daggerCall(t, h.publishArgs(srcB, commitOf('b'))...).mustSucceed(t)
	second := map[string]string{}
	for _, repo := range imageRepos {
		second[repo] = h.digest(repo, "3.0.0-nightly")
		if second[repo] == first[repo] {
			t.Errorf("%s: the second build has the first one's digest %s", repo, first[repo])
		}
		if got := h.digest(repo, "3.0.0-nightly-previous"); got != first[repo] {
			t.Errorf("%s: -nightly-previous = %s, want the first build %s", repo, got, first[repo])
		}
	}

	before := h.state()
	out := daggerCall(t, append(h.publishArgs(srcB, commitOf('b')), "images", "promoted")...).mustSucceed(t)
	if strings.Contains(out, "true") {
		t.Errorf("a re-run of the same build promoted something: %q", out)
	}
	if after := h.state(); !reflect.DeepEqual(after, before) {
		t.Errorf("a re-run of the same build changed tags:\nbefore %v\nafter  %v", before, after)
	}

	port := h.host[strings.LastIndex(h.host, ":")+1:]
	daggerCall(t, buildkitLinter, "rollback", "--registry="+h.host+"/"+h.namespace, "--username=env:NIGHTLY_TESTBED_HUB_USER",
		"--password=env:E2E_HUB_PASSWORD", "--registry-service=tcp://localhost:"+port).mustSucceed(t)
	for _, repo := range imageRepos {
		if got := h.digest(repo, "3.0.0-nightly"); got != first[repo] {
			t.Errorf("%s after rollback: nightly = %s, want the first build %s", repo, got, first[repo])
		}
	}
}

// Bad inputs fail naming the input, and nothing is pushed or re-tagged.
func TestPublishBadInputsPushNothing(t *testing.T) {
	needTestbed(t)
	h := newHub(t)
	src := fixtureCopy(t)
	daggerCall(t, h.publishArgs(src, commitOf('a'))...).mustSucceed(t) // an existing nightly to protect
	before := h.state()

	lintFindings := fixtureCopy(t, "lint-findings")
	splitVersions := fixtureCopy(t)
	uiPom := filepath.Join(splitVersions, "webui/pom.xml")
	b, _ := os.ReadFile(uiPom)
	if err := os.WriteFile(uiPom, []byte(strings.Replace(string(b), "<artifactId>cockpit-webui</artifactId>",
		"<artifactId>cockpit-webui</artifactId>\n  <version>3.1.0-SNAPSHOT</version>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string
	}{
		{"wrong credentials", h.publishArgs(src, commitOf('c')), map[string]string{"E2E_HUB_PASSWORD": "wrong"},
			[]string{h.host, "refused the credentials", "nothing was pushed"}},
		{"malformed registry", []string{"--source=" + src, buildkitLinter, "publish", "--commit=" + commitOf('c'), "--registry=not a registry"},
			nil, []string{`"not a registry"`}},
		{"malformed repository", append(h.publishArgs(src, commitOf('c')), "--api-repository=Bad Repo!"),
			nil, []string{"Bad Repo!"}},
		{"missing Dockerfile", h.publishArgs(src, commitOf('c'), "--api-dockerfile=docker/nope/Dockerfile"),
			nil, []string{`"docker/nope/Dockerfile"`, "not found"}},
		{"different versions", h.publishArgs(splitVersions, commitOf('c')),
			nil, []string{"different tags", "3.1.0-nightly", "3.0.0-nightly", "nothing was pushed"}},
		{"short commit", h.publishArgs(src, "abc123"), nil, []string{`commit "abc123"`}},
		{"lint findings over the threshold", h.publishArgs(lintFindings, commitOf('c')),
			nil, []string{"docker/webui/Dockerfile:3:FromAsCasing", "nothing was pushed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := daggerCall(t, tt.args...)
			if r.exitCode == 0 {
				t.Fatalf("publish exited 0")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 15))
				}
			}
			if after := h.state(); !reflect.DeepEqual(after, before) {
				t.Errorf("tags changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
