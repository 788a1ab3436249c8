package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

var imageRepos = []string{"cockpit-management-api", "cockpit-webui"}

// hub is a registry of the test bed as publish sees it (host, credentials) and as the test reads
// it, through the registry's own API.
type hub struct {
	t *testing.T
	// host is how the module names the registry; readHost is where the test reads it (the same
	// registry, without the fault proxy in front).
	host, readHost string
	namespace      string
	auth           authn.Authenticator
	// userEnv and pwEnv name the environment variables publish reads the credentials from
	// (process-wide, so each hub has its own: the tests run in parallel).
	userEnv, pwEnv string
	// missingIs401: the registry answers 401 for a repository that does not exist (Docker Hub).
	missingIs401 bool
}

// newHub gives a fresh namespace on the basic-auth registry.
func newHub(t *testing.T) hub {
	host, user, pw := hubAuth(t)
	h := hub{t: t, host: host, readHost: host, namespace: fmt.Sprintf("e2e%d", time.Now().UnixNano()),
		auth: &authn.Basic{Username: user, Password: pw}, userEnv: "NIGHTLY_TESTBED_HUB_USER"}
	h.pwEnv = h.setEnv("PW", pw)
	return h
}

// setEnv sets a variable of this hub's own for dagger call to read, and returns its name.
func (h hub) setEnv(what, value string) string {
	k := "E2E_" + what + "_" + h.namespace
	os.Setenv(k, value)
	h.t.Cleanup(func() { os.Unsetenv(k) })
	return k
}

// newDockerHub gives a fresh namespace on the registry that authenticates like Docker Hub.
func newDockerHub(t *testing.T) hub {
	b, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_DOCKERHUB_PASSWORD_FILE"))
	if err != nil {
		t.Fatalf("reading the Docker-Hub-like registry's password: %v", err)
	}
	pw := strings.TrimRight(string(b), "\n")
	host := os.Getenv("NIGHTLY_TESTBED_DOCKERHUB")
	h := hub{t: t, host: host, readHost: host, namespace: fmt.Sprintf("e2e%d", time.Now().UnixNano()),
		auth:    &authn.Basic{Username: os.Getenv("NIGHTLY_TESTBED_DOCKERHUB_USER"), Password: pw},
		userEnv: "NIGHTLY_TESTBED_DOCKERHUB_USER", missingIs401: true}
	// Its own variable (t.Setenv cannot be used by a parallel test).
	h.pwEnv = h.setEnv("PW", pw)
	return h
}

// newFaultyHub is the basic-auth registry behind the fault-injecting proxy: publish talks to the
// proxy, the test reads the registry itself.
func newFaultyHub(t *testing.T) hub {
	h := newHub(t)
	h.host = os.Getenv("NIGHTLY_TESTBED_FAULTY")
	return h
}

func (h hub) port() string { return h.host[strings.LastIndex(h.host, ":")+1:] }

func (h hub) ref(repo, tag string) name.Reference {
	h.t.Helper()
	ref, err := name.ParseReference(h.readHost+"/"+h.namespace+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		h.t.Fatal(err)
	}
	return ref
}

// absent is true for the registry's "no such tag or repository", nothing else.
func (h hub) absent(err error) bool {
	var terr *transport.Error
	if !errors.As(err, &terr) {
		return false
	}
	return terr.StatusCode == http.StatusNotFound || (h.missingIs401 && terr.StatusCode == http.StatusUnauthorized)
}

// digest of repo:tag, "" when absent; any other failure fails the test.
func (h hub) digest(repo, tag string) string {
	h.t.Helper()
	d, err := remote.Head(h.ref(repo, tag), remote.WithAuth(h.auth))
	if err != nil {
		if h.absent(err) {
			return ""
		}
		h.t.Fatalf("HEAD %s:%s: %v", repo, tag, err)
	}
	return d.Digest.String()
}

// build is the 15-hex commit of the image at repo:tag, from its revision label ("" when absent).
func (h hub) build(repo, tag string) string {
	h.t.Helper()
	if h.digest(repo, tag) == "" {
		return ""
	}
	desc, err := remote.Get(h.ref(repo, tag), remote.WithAuth(h.auth))
	if err != nil {
		h.t.Fatalf("GET %s:%s: %v", repo, tag, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, _ := desc.ImageIndex()
		m, err := idx.IndexManifest()
		if err != nil {
			h.t.Fatal(err)
		}
		img, err = idx.Image(m.Manifests[0].Digest)
		if err != nil {
			h.t.Fatal(err)
		}
	} else if img, err = desc.Image(); err != nil {
		h.t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		h.t.Fatalf("config of %s:%s: %v", repo, tag, err)
	}
	rev := cfg.Config.Labels["org.opencontainers.image.revision"]
	if len(rev) < 15 {
		h.t.Fatalf("%s:%s has revision label %q", repo, tag, rev)
	}
	return rev[:15]
}

// state is every tag → digest of both repositories, for "nothing changed" assertions. A missing
// repository has no tags; any other failure to list fails the test.
func (h hub) state() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, repo := range imageRepos {
		r, err := name.NewRepository(h.readHost+"/"+h.namespace+"/"+repo, name.Insecure)
		if err != nil {
			h.t.Fatal(err)
		}
		tags, err := remote.List(r, remote.WithAuth(h.auth))
		if err != nil {
			if h.absent(err) {
				continue
			}
			h.t.Fatalf("listing %s: %v", repo, err)
		}
		sort.Strings(tags)
		for _, tag := range tags {
			out[repo+":"+tag] = h.digest(repo, tag)
		}
	}
	return out
}

func (h hub) registryArgs() []string {
	return []string{"--registry=" + h.host + "/" + h.namespace,
		"--username=env:" + h.userEnv, "--password=env:" + h.pwEnv,
		"--registry-service=tcp://localhost:" + h.port()}
}

func (h hub) publishArgs(src, commit, created string, extra ...string) []string {
	args := []string{"--source=" + src, buildkitLinter}
	args = append(args, extra...)
	args = append(args, "publish", "--commit="+commit)
	if created != "" {
		args = append(args, "--created="+created)
	}
	return append(args, h.registryArgs()...)
}

func (h hub) rollbackArgs() []string {
	return append([]string{buildkitLinter, "rollback"}, h.registryArgs()...)
}

// expect asserts which build (15-hex commit) -nightly and -nightly-previous name in both images.
func (h hub) expect(nightly, previous string) {
	h.t.Helper()
	for _, repo := range imageRepos {
		if got := h.build(repo, "3.0.0-nightly"); got != nightly {
			h.t.Errorf("%s:3.0.0-nightly is build %q, want %q", repo, got, nightly)
		}
		if got := h.build(repo, "3.0.0-nightly-previous"); got != previous {
			h.t.Errorf("%s:3.0.0-nightly-previous is build %q, want %q", repo, got, previous)
		}
	}
}

func commitOf(c byte) string { return strings.Repeat(string(c), 40) }
func idOf(c byte) string     { return strings.Repeat(string(c), 15) }
func dateAt(minute int) string {
	return time.Date(2026, 11, 29, 8, minute, 0, 0, time.UTC).Format(time.RFC3339)
}

// withPassword replaces the --password argument.
func withPassword(args []string, secret string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if strings.HasPrefix(a, "--password=") {
			out[i] = "--password=" + secret
		}
	}
	return out
}

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, tail(out, 30))
		}
	}
}

// Two publishes of different builds, a re-run from a fresh Maven cache and a changed-but-equal
// source, and rollbacks: asserted through the registry, and in what publish prints.
func TestPublishPromotesRerunsAndRollsBack(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newHub(t)
	src := fixtureCopy(t)

	out := daggerCall(t, h.publishArgs(src, commitOf('a'), dateAt(1))...).mustSucceed(t)
	mustContain(t, "the first publish's output", out, "pushed   3.0.0-nightly-"+idOf('a'), "3.0.0-nightly is commit "+idOf('a'))
	h.expect(idOf('a'), "")
	for _, repo := range imageRepos {
		if h.digest(repo, "3.0.0-nightly") != h.digest(repo, "3.0.0-nightly-"+idOf('a')) {
			t.Errorf("%s: -nightly is not the commit tag's digest", repo)
		}
	}

	out = daggerCall(t, h.publishArgs(src, commitOf('b'), dateAt(2))...).mustSucceed(t)
	mustContain(t, "the second publish's output", out, "moved  3.0.0-nightly-previous", "moved  3.0.0-nightly ")
	h.expect(idOf('b'), idOf('a'))

	// A re-run of b from a changed-but-equal source (a file that is not shipped) and another Maven
	// cache: the same digest, so nothing is pushed or moved. (That an empty Maven cache gives the
	// same digest is TestPublishSameCommitSameDigest's; here the engine may answer Maven from its
	// cache of an earlier suite.)
	before := h.state()
	rerun := fixtureCopy(t)
	if err := os.WriteFile(filepath.Join(rerun, "NOTES.txt"), []byte("not shipped\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = daggerCall(t, h.publishArgs(rerun, commitOf('b'), dateAt(2), "--maven-cache=e2e-rerun")...).mustSucceed(t)
	mustContain(t, "the re-run's output", out, "already holds this build", "nothing moved: 3.0.0-nightly already is this build")
	if after := h.state(); !reflect.DeepEqual(after, before) {
		t.Errorf("a re-run of the same commit changed tags:\nbefore %v\nafter  %v", before, after)
	}

	out = daggerCall(t, h.rollbackArgs()...).mustSucceed(t)
	mustContain(t, "rollback's output", out, "moved  3.0.0-nightly", "commit "+idOf('b')+" → "+idOf('a'))
	h.expect(idOf('a'), idOf('a'))
	out = daggerCall(t, h.rollbackArgs()...).mustSucceed(t)
	mustContain(t, "a second rollback's output", out, "nothing to roll back")
	h.expect(idOf('a'), idOf('a'))
}

// Publishes started at the same time, several rounds with varied timing: the tags always end on
// the newest build and the one before it, for both images, and never on an older commit.
func TestPublishConcurrentRunsConverge(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newHub(t)
	src := fixtureCopy(t)
	type b struct {
		c      byte
		minute int
	}
	// Build dates (minutes) are those other tests use where the order allows: the same sources
	// and date give the same Maven build, which the engine then runs once for all of them.
	rounds := [][]b{
		{{'1', 2}, {'2', 3}},           // two at once on an empty registry
		{{'3', 5}, {'4', 4}, {'5', 6}}, // three, the middle one older
		{{'6', 1}, {'7', 7}},           // an old commit published late, with a new one
	}
	delays := [][]time.Duration{{0, 0}, {0, 300 * time.Millisecond, 2 * time.Second}, {time.Second, 0}}
	var all []b
	for r, round := range rounds {
		var wg sync.WaitGroup
		for i, p := range round {
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(delays[r][i])
				daggerCall(t, h.publishArgs(src, commitOf(p.c), dateAt(p.minute))...).mustSucceed(t)
			}()
		}
		wg.Wait()
		all = append(all, round...)
		sorted := append([]b(nil), all...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].minute > sorted[j].minute })
		t.Logf("round %d: want nightly %c, previous %c", r+1, sorted[0].c, sorted[1].c)
		h.expect(idOf(sorted[0].c), idOf(sorted[1].c))
		for _, p := range all {
			for _, repo := range imageRepos {
				if got := h.build(repo, "3.0.0-nightly-"+idOf(p.c)); got != idOf(p.c) {
					t.Errorf("round %d: %s commit tag of %c holds build %q", r+1, repo, p.c, got)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
}

var wouldPushRE = regexp.MustCompile(`would push  3\.0\.0-nightly-\w+  (sha256:[0-9a-f]{64})`)

// The same commit gives the same digest from a build from scratch (an empty Maven cache, a rebuilt
// source) as from the build before it (which a warm engine answers from its cache).
func TestPublishSameCommitSameDigest(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newHub(t)
	var digests [][]string
	for i := range 2 {
		src := fixtureCopy(t)
		cache := "--maven-cache=e2e-same-digest"
		if i == 1 {
			os.WriteFile(filepath.Join(src, "NOTES.txt"), []byte("rebuilt\n"), 0o644)
			cache = fmt.Sprintf("--maven-cache=e2e-fresh-%d", time.Now().UnixNano())
		}
		out := daggerCall(t, append(h.publishArgs(src, commitOf('d'), dateAt(30), cache), "--dry-run")...).mustSucceed(t)
		var ds []string
		for _, m := range wouldPushRE.FindAllStringSubmatch(out, -1) {
			ds = append(ds, m[1])
		}
		if len(ds) != 2 {
			t.Fatalf("the dry run printed %d digests to push, want 2:\n%s", len(ds), out)
		}
		digests = append(digests, ds)
	}
	if !reflect.DeepEqual(digests[0], digests[1]) {
		t.Errorf("two builds of one commit gave %v and %v", digests[0], digests[1])
	}
	if st := h.state(); len(st) != 0 {
		t.Errorf("a dry run pushed: %v", st)
	}
}

// Docker Hub answers 401 for a repository that does not exist yet: the first publish to it works
// with valid credentials (a file: secret ending in a newline), wrong ones fail before any build.
func TestPublishToDockerHubLikeRegistry(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newDockerHub(t)
	src := fixtureCopy(t)

	r := daggerCall(t, withPassword(h.publishArgs(src, commitOf('e'), dateAt(1)), "env:"+h.setEnv("WRONG", "wrong password"))...)
	if r.exitCode == 0 {
		t.Fatalf("publish with a wrong password exited 0")
	}
	mustContain(t, "the wrong password's error", r.stderr, "refused the credentials", h.host, "nothing was built or pushed")
	if strings.Contains(r.stderr, "clean package") {
		t.Errorf("a wrong password was found only after the Maven build")
	}
	if st := h.state(); len(st) != 0 {
		t.Errorf("a refused publish created tags: %v", st)
	}

	b, _ := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_DOCKERHUB_PASSWORD_FILE"))
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, append(bytes.TrimRight(b, "\n"), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	out := daggerCall(t, withPassword(h.publishArgs(src, commitOf('e'), dateAt(1)), "file:"+pwFile)...).mustSucceed(t)
	mustContain(t, "the first publish to a new repository", out, "pushed   3.0.0-nightly-"+idOf('e'))
	h.expect(idOf('e'), "")
	if strings.Contains(out, strings.TrimSpace(string(b))) {
		t.Errorf("the password is in publish's output")
	}
}

func (h hub) addFault(r faultRule) {
	h.t.Helper()
	r.Prefix = "/v2/" + h.namespace + "/" + r.Prefix
	body, _ := json.Marshal(r)
	resp, err := http.Post("http://"+os.Getenv("NIGHTLY_TESTBED_FAULTY_CONTROL")+"/rules", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusCreated {
		h.t.Fatalf("adding fault rule %s: %v %v", body, err, resp)
	}
	resp.Body.Close()
}

// faults are the rules of this test's namespace with their counters.
func (h hub) faults() []faultRule {
	h.t.Helper()
	resp, err := http.Get("http://" + os.Getenv("NIGHTLY_TESTBED_FAULTY_CONTROL") + "/rules")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var all struct{ Rules []faultRule }
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		h.t.Fatal(err)
	}
	var out []faultRule
	for _, r := range all.Rules {
		if strings.HasPrefix(r.Prefix, "/v2/"+h.namespace+"/") {
			out = append(out, r)
		}
	}
	return out
}

func (h hub) clearFaults() {
	h.t.Helper()
	for _, r := range h.faults() {
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("http://%s/rules/%d", os.Getenv("NIGHTLY_TESTBED_FAULTY_CONTROL"), r.ID), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			h.t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			h.t.Fatalf("deleting fault rule %d: HTTP %d", r.ID, resp.StatusCode)
		}
	}
}

var faultsRE = regexp.MustCompile(`registry faults retried: (\d+)`)

// Faults mid-push and mid-promotion (5xx, 429 with Retry-After, a connection cut in the middle of
// an upload, slow answers) are survived; a run that gives up changes no nightly tag and says what
// to run next; the re-run converges.
func TestPublishSurvivesRegistryFaults(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newFaultyHub(t)
	t.Cleanup(h.clearFaults)
	src := fixtureCopy(t)

	h.addFault(faultRule{Prefix: "cockpit-webui/", Target: "manifest", Methods: []string{"PUT"}, Fault: "status", Status: 503, Times: 2})
	h.addFault(faultRule{Prefix: "cockpit-management-api/", Target: "upload", Methods: []string{"POST"}, Fault: "status", Status: 429, RetryAfter: 1, Times: 1})
	h.addFault(faultRule{Prefix: "cockpit-management-api/", Target: "upload", Methods: []string{"PATCH"}, Fault: "drop", AfterBytes: 64 << 10, Times: 1})
	h.addFault(faultRule{Prefix: "cockpit-management-api/", Target: "manifest", Methods: []string{"HEAD"}, Fault: "delay", DelayMs: 700, Times: 3})
	h.addFault(faultRule{Prefix: "cockpit-webui/", Target: "manifest", Methods: []string{"GET"}, Fault: "status", Status: 500, Times: 1})
	// A connection the proxy cuts mid-upload is not heard of through the engine's tunnel to the
	// host: the client notices when --response-timeout runs out (3m by default; 20s here).
	publish := func(commit, created string) []string {
		return append(h.publishArgs(src, commit, created), "--response-timeout=20s")
	}
	start := time.Now()
	out := daggerCall(t, publish(commitOf('f'), dateAt(1))...).mustSucceed(t)
	elapsed := time.Since(start)
	injected := int64(0)
	for _, r := range h.faults() {
		injected += r.Injected
		t.Logf("fault %s %s %v %s: seen %d, injected %d", r.Prefix, r.Target, r.Methods, r.Fault, r.Seen, r.Injected)
	}
	m := faultsRE.FindStringSubmatch(out)
	if m == nil || injected < 5 {
		t.Fatalf("publish survived %d injected faults; its output does not count them:\n%s", injected, out)
	}
	t.Logf("survived %d injected faults (publish counted %s retried, delays not counted) in %s", injected, m[1], elapsed.Round(time.Second))
	h.expect(idOf('f'), "")
	h.clearFaults()

	// Giving up: every manifest PUT of the web UI fails. Nothing under -nightly moves.
	before := h.state()
	h.addFault(faultRule{Prefix: "cockpit-webui/", Target: "manifest", Methods: []string{"PUT"}, Fault: "status", Status: 503})
	r := daggerCall(t, publish(commitOf('0'), dateAt(2))...)
	if r.exitCode == 0 {
		t.Fatalf("publish through endless 503s exited 0")
	}
	mustContain(t, "the error of a publish that gave up", r.stderr, "503", "no nightly tag was changed", "running publish again")
	after := h.state()
	for _, k := range []string{"cockpit-management-api:3.0.0-nightly", "cockpit-webui:3.0.0-nightly"} {
		if after[k] != before[k] {
			t.Errorf("%s moved although publish gave up: %s → %s", k, before[k], after[k])
		}
	}
	h.clearFaults()
	daggerCall(t, publish(commitOf('0'), dateAt(2))...).mustSucceed(t)
	h.expect(idOf('0'), idOf('f'))
}

// Bad inputs fail naming the input, bad references before any Maven work, and nothing is pushed
// or moved.
func TestPublishBadInputsPushNothing(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	h := newHub(t)
	src := fixtureCopy(t)
	daggerCall(t, h.publishArgs(src, commitOf('a'), dateAt(1))...).mustSucceed(t) // an existing nightly to protect
	before := h.state()

	lintFindings := fixtureCopy(t, "lint-findings")
	splitVersions := fixtureCopy(t)
	uiPom := filepath.Join(splitVersions, "webui/pom.xml")
	b, _ := os.ReadFile(uiPom)
	if err := os.WriteFile(uiPom, []byte(strings.Replace(string(b), "<artifactId>cockpit-webui</artifactId>",
		"<artifactId>cockpit-webui</artifactId>\n  <version>3.1.0-SNAPSHOT</version>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	withRegistry := func(reg string) []string {
		args := h.publishArgs(src, commitOf('c'), "")
		for i, a := range args {
			if strings.HasPrefix(a, "--registry=") {
				args[i] = "--registry=" + reg
			}
		}
		return args
	}

	tests := []struct {
		name    string
		args    []string
		wantErr []string
		early   bool // must fail before any Maven work
	}{
		{"wrong credentials", withPassword(h.publishArgs(src, commitOf('c'), ""), "env:"+h.setEnv("WRONG", "wrong")),
			[]string{h.host, "refused the credentials", "nothing was built or pushed"}, true},
		{"malformed registry", withRegistry("not a registry"), []string{`"not a registry"`}, true},
		{"port out of range", withRegistry("127.0.0.1:99999/" + h.namespace), []string{`port "99999"`}, true},
		{"upper-case namespace", withRegistry(h.host + "/GraviteeIO"), []string{"GraviteeIO", "lower-case"}, true},
		{"empty namespace", withRegistry(h.host + "/"), []string{"no namespace"}, true},
		{"malformed repository", append(h.publishArgs(src, commitOf('c'), ""), "--api-repository=Bad Repo!"), []string{"Bad Repo!"}, true},
		{"bad created date", h.publishArgs(src, commitOf('c'), "yesterday"), []string{`created "yesterday"`}, true},
		{"bad platform", append(h.publishArgs(src, commitOf('c'), ""), "--platforms=amd64"), []string{`platform "amd64"`}, true},
		{"missing Dockerfile", h.publishArgs(src, commitOf('c'), "", "--api-dockerfile=docker/nope/Dockerfile"),
			[]string{`"docker/nope/Dockerfile"`, "not found"}, false},
		{"different versions", h.publishArgs(splitVersions, commitOf('c'), ""),
			[]string{"3.1.0", "nothing was pushed"}, false},
		{"short commit", h.publishArgs(src, "abc123", ""), []string{`commit "abc123"`}, true},
		{"response timeout without a unit", append(h.publishArgs(src, commitOf('c'), ""), "--response-timeout=90"),
			[]string{`response timeout "90"`, "30s or 3m"}, true},
		{"lint findings over the threshold", h.publishArgs(lintFindings, commitOf('c'), ""),
			[]string{"docker/webui/Dockerfile:3:FromAsCasing", "nothing was pushed"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := daggerCall(t, tt.args...)
			if r.exitCode == 0 {
				t.Fatalf("publish exited 0")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 15))
				}
			}
			if tt.early && strings.Contains(r.stderr, "clean package") {
				t.Errorf("a bad %s was reported only after the Maven build", tt.name)
			}
			if after := h.state(); !reflect.DeepEqual(after, before) {
				t.Errorf("tags changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
