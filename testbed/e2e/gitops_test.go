package e2e

import (
	"bytes"

	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The GitOps stage against a real forge: the test bed's Gitea (part 4). Each test makes its own
// repository, seeded from fixtures/deployment, and reads the outcome back through git and
// Gitea's API. Containers reach Gitea through a small proxy in this process (forgeProxy), bound
// by the module under the host name "gitea"; the proxy can push a commit of "someone else" at
// the moment the nightly's push starts.

const gitopsTag = "3.0.0-nightly"

// forge is the test bed's Gitea, with its admin token.
type forge struct {
	addr, user, token, repos string
}

func newForge(t *testing.T) forge {
	t.Helper()
	needTestbed(t)
	addr := os.Getenv("NIGHTLY_TESTBED_GITEA")
	if addr == "" {
		t.Fatal("the test bed has no Gitea (NIGHTLY_TESTBED_GITEA unset): restart it with testbed/up.sh")
	}
	tokFile := os.Getenv("NIGHTLY_TESTBED_GITEA_TOKEN_FILE")
	b, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatalf("reading the Gitea token: %v", err)
	}
	f := forge{addr: addr, user: os.Getenv("NIGHTLY_TESTBED_GITEA_USER"), token: strings.TrimSpace(string(b)),
		repos: filepath.Join(filepath.Dir(tokFile), "gitea", "repos")}
	// A token of this test's own (tests search the engine's files for theirs: a token shared with a
	// test running beside would be found in that test's files), removed when the test ends.
	pw, err := os.ReadFile(filepath.Join(filepath.Dir(tokFile), "gitea", "admin-password"))
	if err != nil {
		t.Fatalf("reading Gitea's admin password: %v", err)
	}
	name := fmt.Sprintf("e2e-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	body, _ := json.Marshal(map[string]any{"name": name, "scopes": []string{"all"}})
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/v1/users/"+f.user+"/tokens", bytes.NewReader(body))
	req.SetBasicAuth(f.user, strings.TrimSpace(string(pw)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("minting a Gitea token: %v", err)
	}
	defer resp.Body.Close()
	var tok struct {
		ID   int64  `json:"id"`
		SHA1 string `json:"sha1"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &tok) != nil || tok.SHA1 == "" {
		t.Fatalf("minting a Gitea token: %s %s", resp.Status, data)
	}
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", fmt.Sprintf("http://%s/api/v1/users/%s/tokens/%d", addr, f.user, tok.ID), nil)
		req.SetBasicAuth(f.user, strings.TrimSpace(string(pw)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	f.token = tok.SHA1
	return f
}

// api calls Gitea's REST API as the admin; out, when not nil, receives the JSON answer.
func (f forge) api(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+f.addr+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "token "+f.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// deployRepo is one test's deployment repository on the forge.
type deployRepo struct {
	f           forge
	owner, name string
}

// newDeploymentRepo makes a private repository and pushes fixtures/deployment to its master.
func (f forge) newDeploymentRepo(t *testing.T) deployRepo {
	t.Helper()
	name := fmt.Sprintf("deploy-%d", time.Now().UnixNano())
	if code := f.api(t, "POST", "/user/repos", map[string]any{"name": name, "private": true, "default_branch": "master"}, nil); code != 201 {
		t.Fatalf("creating repository %s: HTTP %d", name, code)
	}
	r := deployRepo{f: f, owner: f.user, name: name}
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "fixtures", "deployment")+"/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copying fixtures/deployment: %v\n%s", err, out)
	}
	r.git(t, dir, "init", "--quiet", "--initial-branch=master")
	r.git(t, dir, "add", "-A")
	r.git(t, dir, "-c", "user.name=seed", "-c", "user.email=seed@localhost", "commit", "--quiet", "-m", "Deployment repository (fixtures/deployment)")
	r.git(t, dir, "push", "--quiet", r.hostURL(), "HEAD:refs/heads/master")
	// Gitea marks a repository non-empty after its first push asynchronously; until then its
	// branch API fails (HTTP 500).
	for i := 0; ; i++ {
		code := f.api(t, "GET", "/repos/"+r.owner+"/"+r.name+"/branches/master", nil, nil)
		if code == 200 {
			return r
		}
		if i == 100 {
			t.Fatalf("branch master of %s: HTTP %d 10 s after the first push", name, code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (r deployRepo) hostURL() string {
	return "http://" + r.f.addr + "/" + r.owner + "/" + r.name + ".git"
}

// git runs git on this machine as the admin; the token goes in a header, as the module does.
func (r deployRepo) git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := r.gitErr(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gitErr is git that returns its failure (for goroutines other than the test's).
func (r deployRepo) gitErr(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: token "+r.f.token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// clone is a full clone of the repository, every branch.
func (r deployRepo) clone(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r.git(t, dir, "clone", "--quiet", "--no-checkout", r.hostURL(), ".")
	return dir
}

// tip is a branch's commit, "" when the branch does not exist.
func (r deployRepo) tip(t *testing.T, branch string) string {
	t.Helper()
	var b struct {
		Commit struct{ ID string } `json:"commit"`
	}
	if code := r.f.api(t, "GET", "/repos/"+r.owner+"/"+r.name+"/branches/"+branch, nil, &b); code == 404 {
		return ""
	} else if code != 200 {
		t.Fatalf("reading branch %s: HTTP %d", branch, code)
	}
	return b.Commit.ID
}

// pushAsSomeoneElse commits a file on master as another person and pushes it.
func (r deployRepo) pushAsSomeoneElse(t *testing.T, file, content string) string {
	t.Helper()
	sha, err := r.pushAsSomeoneElseErr(t.TempDir(), file, content)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

func (r deployRepo) pushAsSomeoneElseErr(dir, file, content string) (string, error) {
	steps := [][]string{
		{"clone", "--quiet", "--branch=master", r.hostURL(), "."},
		{"add", file},
		{"-c", "user.name=someone else", "-c", "user.email=someone@localhost", "commit", "--quiet", "-m", "Someone else's change: " + file},
		{"push", "--quiet", "origin", "HEAD:refs/heads/master"},
	}
	for i, args := range steps {
		if i == 1 {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
				return "", err
			}
		}
		if _, err := r.gitErr(dir, args...); err != nil {
			return "", err
		}
	}
	return r.gitErr(dir, "rev-parse", "HEAD")
}

type giteaPull struct {
	Number int64  `json:"number"`
	Title  string `json:"title"`
	State  string `json:"state"`
	URL    string `json:"html_url"`
	Head   struct {
		Ref string `json:"ref"`
		Sha string `json:"sha"`
	} `json:"head"`
	Base struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

func (r deployRepo) pulls(t *testing.T) []giteaPull {
	t.Helper()
	var prs []giteaPull
	if code := r.f.api(t, "GET", "/repos/"+r.owner+"/"+r.name+"/pulls?state=all&limit=50", nil, &prs); code != 200 {
		t.Fatalf("listing pull requests: HTTP %d", code)
	}
	return prs
}

// forgeProxy forwards to Gitea. Its hook, when set, runs once, just before the first push's ref
// advertisement (GET …/info/refs?service=git-receive-pack) is forwarded: between the nightly's
// clone and its push.
type forgeProxy struct {
	port         string
	mu           sync.Mutex
	hook         func() error
	hookErr      error
	hookRan      bool
	receivePacks int
}

// pushes is how many pushes (receive-packs) reached the forge; ran whether the hook ran, and
// what it returned.
func (p *forgeProxy) pushes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.receivePacks
}

func (p *forgeProxy) hookResult() (ran bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hookRan, p.hookErr
}

func newForgeProxy(t *testing.T, f forge, hook func() error) *forgeProxy {
	t.Helper()
	target, _ := url.Parse("http://" + f.addr)
	p := &forgeProxy{hook: hook}
	rp := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, p.port, _ = net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, "/info/refs") && req.URL.Query().Get("service") == "git-receive-pack" {
			p.mu.Lock()
			hook := p.hook
			p.hook = nil
			p.mu.Unlock()
			if hook != nil {
				// Runs on the proxy's goroutine: it reports an error, never t.Fatal.
				err := hook()
				p.mu.Lock()
				p.hookRan, p.hookErr = true, err
				p.mu.Unlock()
			}
		}
		if strings.HasSuffix(req.URL.Path, "/git-receive-pack") {
			p.mu.Lock()
			p.receivePacks++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, req)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// gitopsCall is a dagger call of gitops on repository r, through proxy p.
func gitopsCall(t *testing.T, r deployRepo, p *forgeProxy, tokenFile, stackFile, commit string, extra ...string) callResult {
	t.Helper()
	args := []string{"gitops", "--repository-url=http://gitea:" + p.port + "/" + r.owner + "/" + r.name + ".git",
		"--forge-service=tcp://localhost:" + p.port, "--token=file:" + tokenFile, "--stack-file=" + stackFile,
		"--commit=" + commit, "--image-tag=" + gitopsTag}
	return daggerCall(t, append(args, extra...)...)
}

// stackFile is the fixture's Pulumi.nightly.yaml as stack-config would write it for a commit.
func stackFile(t *testing.T, commit, extra string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "fixtures", "deployment", "Pulumi.nightly.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "000000000000000", commit[:15]) + extra
	if s == string(b) {
		t.Fatal("fixtures/deployment/Pulumi.nightly.yaml has no 000000000000000 commit id to replace")
	}
	path := filepath.Join(t.TempDir(), "Pulumi.nightly.yaml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenFile holds the token as `file:` secrets often are: with a trailing newline.
func tokenFile(t *testing.T, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// yamlField reads "key: value" from gitops' report (strings are quoted).
func yamlField(t *testing.T, report, key string) string {
	t.Helper()
	for _, l := range strings.Split(report, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			if strings.HasPrefix(v, `"`) {
				var s string
				if err := json.Unmarshal([]byte(v), &s); err != nil {
					t.Fatalf("report field %s = %s: %v", key, v, err)
				}
				return s
			}
			return v
		}
	}
	t.Fatalf("the report has no %q:\n%s", key, report)
	return ""
}

// commitOn reads a commit's message, author and parents, and a file in it, from a clone.
type commitInfo struct{ sha, message, author, parents, file string }

func readCommit(t *testing.T, r deployRepo, dir, rev, path string) commitInfo {
	t.Helper()
	r.git(t, dir, "fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*")
	return commitInfo{
		sha:     r.git(t, dir, "rev-parse", rev),
		message: r.git(t, dir, "log", "-1", "--format=%B", rev),
		author:  r.git(t, dir, "log", "-1", "--format=%an <%ae>", rev),
		parents: r.git(t, dir, "log", "-1", "--format=%P", rev),
		file:    r.git(t, dir, "show", rev+":"+path),
	}
}

// assertNoToken searches every place the token could leak to: the calls' output, every object of
// the repository (commits, trees, files), Gitea's copy of the repository on disk (its config,
// hooks, refs) and every file the engine wrote since the test began (the layers of the git and
// forge containers, their .git/config included).
func assertNoToken(t *testing.T, r deployRepo, since time.Time, token string, calls ...callResult) {
	t.Helper()
	for i, c := range calls {
		if strings.Contains(c.stdout+c.stderr, token) {
			t.Errorf("call %d printed the token", i+1)
		}
	}
	dir := r.clone(t)
	objects := r.git(t, dir, "cat-file", "--batch-all-objects", "--batch")
	if strings.Contains(objects, token) {
		t.Error("a git object of the repository holds the token")
	}
	if n := strings.Count(objects, "\ncommit ") + strings.Count(objects, " commit "); n == 0 {
		t.Errorf("read no commit objects: %.200s", objects)
	}
	grep := func(what, root string, args ...string) {
		out, _ := exec.Command("grep", append([]string{"-rlF", "--", token, root}, args...)...).CombinedOutput()
		if s := strings.TrimSpace(string(out)); s != "" && !strings.Contains(s, "No such file") {
			t.Errorf("%s holds the token: %s", what, s)
		}
	}
	grep("Gitea's copy of the repository", filepath.Join(r.f.repos, strings.ToLower(r.owner), strings.ToLower(r.name)+".git"))
	engine := os.Getenv("NIGHTLY_TESTBED_ENGINE_STATE")
	if engine == "" {
		t.Fatal("NIGHTLY_TESTBED_ENGINE_STATE unset: cannot search the engine's layers")
	}
	// Files the engine wrote since the test began: find -newermt, then grep them (quietly: the
	// engine removes files meanwhile; only a file that holds the token is named).
	find := exec.Command("sh", "-c", `find "$1" -xdev -type f -newermt "$2" -size -64M -print0 2>/dev/null | xargs -0 -r grep -slF -- "$3" || true`,
		"sh", engine, since.Add(-time.Second).Format("2006-01-02 15:04:05"), token)
	out, err := find.CombinedOutput()
	if err != nil {
		t.Fatalf("searching the engine's files: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("files the engine wrote hold the token:\n%s", s)
	}
}

// Direct mode, with a commit pushed by someone else between the nightly's clone and its push:
// the push is refused as stale, the nightly fetches, rebases and pushes again, and master has
// both commits, the nightly's on top, never forced. A second identical call commits nothing.
func TestGitopsDirectRebasesOnAConcurrentPushAndKeepsIt(t *testing.T) {
	t.Parallel()
	f := newForge(t)
	start := time.Now()
	r := f.newDeploymentRepo(t)
	seed := r.tip(t, "master")
	var theirs string
	theirsDir := t.TempDir()
	p := newForgeProxy(t, f, func() (err error) {
		theirs, err = r.pushAsSomeoneElseErr(theirsDir, "NOTES.md", "a note pushed during the nightly\n")
		return err
	})
	commit := strings.Repeat("1a2b3c4d5e", 4)
	stack := stackFile(t, commit, "")
	tok := tokenFile(t, f.token)

	first := gitopsCall(t, r, p, tok, stack, commit)
	report := first.mustSucceed(t)
	if ran, err := p.hookResult(); !ran {
		t.Fatal("the proxy never saw the push start: no concurrent commit was injected")
	} else if err != nil {
		t.Fatalf("pushing the concurrent commit: %v", err)
	}
	ours := r.tip(t, "master")
	for k, want := range map[string]string{"pushed": "true", "changed": "true", "attempts": "2", "commit": ours, "branch": "master"} {
		if got := yamlField(t, report, k); got != want {
			t.Errorf("report %s = %q, want %q\n%s", k, got, want, report)
		}
	}
	dir := r.clone(t)
	c := readCommit(t, r, dir, "origin/master", "Pulumi.nightly.yaml")
	want, _ := os.ReadFile(stack)
	if c.file != strings.TrimSpace(string(want)) {
		t.Errorf("Pulumi.nightly.yaml on master:\n%s\nwant:\n%s", c.file, want)
	}
	if c.parents != theirs {
		t.Errorf("the nightly's commit has parent %s, want the concurrent commit %s (rebased on it)", c.parents, theirs)
	}
	if got := r.git(t, dir, "log", "-1", "--format=%P", theirs); got != seed {
		t.Errorf("the concurrent commit's parent is %s, want the seed %s", got, seed)
	}
	for _, w := range []string{"nightly: deploy 3.0.0-nightly of 1a2b3c4d5e1a2b3", "Nightly-Commit: " + commit, "Nightly-Image-Tag: 3.0.0-nightly"} {
		if !strings.Contains(c.message, w) {
			t.Errorf("the commit message lacks %q:\n%s", w, c.message)
		}
	}
	if c.author != "nightly <nightly@localhost>" {
		t.Errorf("author %q", c.author)
	}
	if note := r.git(t, dir, "show", "origin/master:NOTES.md"); note != "a note pushed during the nightly" {
		t.Errorf("the concurrent commit's file is gone from master: %q", note)
	}
	if p.pushes() < 1 {
		t.Errorf("no push reached the forge")
	}

	// The same call again: it really runs (never cached), finds nothing to change, says so.
	second := gitopsCall(t, r, p, tok, stack, commit)
	again := second.mustSucceed(t)
	if yamlField(t, again, "changed") != "false" || yamlField(t, again, "pushed") != "false" ||
		!strings.Contains(yamlField(t, again, "result"), "nothing to commit") {
		t.Errorf("a re-run with the same file:\n%s", again)
	}
	if tip := r.tip(t, "master"); tip != ours {
		t.Errorf("a re-run moved master from %s to %s", ours, tip)
	}
	assertNoToken(t, r, start, f.token, first, second)
}

// Pull-request mode: the deployment branch and one pull request; a re-run for the same commit
// after master moved (and with a changed stack file) updates that branch and finds the same pull
// request; a third identical run pushes nothing.
func TestGitopsPullRequestOpensOneAndReRunsUpdateIt(t *testing.T) {
	t.Parallel()
	f := newForge(t)
	start := time.Now()
	r := f.newDeploymentRepo(t)
	p := newForgeProxy(t, f, nil)
	commit := strings.Repeat("9f8e7d6c5b", 4)
	branch := "deployment-9f8e7d6c5b9f8e7"
	tok := tokenFile(t, f.token)
	master := r.tip(t, "master")

	first := gitopsCall(t, r, p, tok, stackFile(t, commit, ""), commit, "--mode=pull-request")
	report := first.mustSucceed(t)
	prs := r.pulls(t)
	if len(prs) != 1 {
		t.Fatalf("%d pull requests after the first run, want 1: %+v", len(prs), prs)
	}
	pr := prs[0]
	head := r.tip(t, branch)
	if pr.Head.Ref != branch || pr.Base.Ref != "master" || pr.Title != "nightly: deploy 3.0.0-nightly of 9f8e7d6c5b9f8e7" || pr.State != "open" {
		t.Errorf("pull request %+v: want open, %s → master, titled after the tag and commit", pr, branch)
	}
	for k, want := range map[string]string{"pull-request": fmt.Sprint(pr.Number), "pull-request-url": pr.URL,
		"pull-request-created": "true", "branch": branch, "commit": head, "pushed": "true"} {
		if got := yamlField(t, report, k); got != want {
			t.Errorf("report %s = %q, want %q", k, got, want)
		}
	}
	if r.tip(t, "master") != master {
		t.Error("pull-request mode moved master")
	}
	dir := r.clone(t)
	if c := readCommit(t, r, dir, "origin/"+branch, "Pulumi.nightly.yaml"); c.parents != master || !strings.Contains(c.file, "9f8e7d6c5b9f8e7") {
		t.Errorf("%s: parent %s (want master %s), file:\n%s", branch, c.parents, master, c.file)
	}

	// master moves, and the stack file changes: the same commit's branch is updated, same PR.
	moved := r.pushAsSomeoneElse(t, "NOTES.md", "master moved\n")
	second := gitopsCall(t, r, p, tok, stackFile(t, commit, "# re-run\n"), commit, "--mode=pull-request")
	again := second.mustSucceed(t)
	if prs := r.pulls(t); len(prs) != 1 || prs[0].Number != pr.Number {
		t.Fatalf("after a re-run: pull requests %+v, want only #%d", prs, pr.Number)
	}
	updated := r.tip(t, branch)
	if updated == head || yamlField(t, again, "pull-request-created") != "false" || yamlField(t, again, "pull-request") != fmt.Sprint(pr.Number) {
		t.Errorf("re-run: branch %s → %s, report:\n%s", head, updated, again)
	}
	if c := readCommit(t, r, dir, "origin/"+branch, "Pulumi.nightly.yaml"); c.parents != moved || !strings.Contains(c.file, "# re-run") {
		t.Errorf("updated %s: parent %s (want the new master %s), file:\n%s", branch, c.parents, moved, c.file)
	}
	if got := r.pulls(t)[0].Head.Sha; got != updated {
		t.Errorf("the pull request's head is %s, want the updated branch %s", got, updated)
	}

	// Nothing new: nothing pushed, the same pull request.
	third := gitopsCall(t, r, p, tok, stackFile(t, commit, "# re-run\n"), commit, "--mode=pull-request")
	same := third.mustSucceed(t)
	if yamlField(t, same, "pushed") != "false" || r.tip(t, branch) != updated || len(r.pulls(t)) != 1 {
		t.Errorf("an identical re-run:\n%s", same)
	}
	assertNoToken(t, r, start, f.token, first, second, third)
}

// A dry run shows the diff and what it would push, and pushes and opens nothing.
func TestGitopsDryRunPushesNothing(t *testing.T) {
	t.Parallel()
	f := newForge(t)
	r := f.newDeploymentRepo(t)
	p := newForgeProxy(t, f, nil)
	commit := strings.Repeat("abcdef0123", 4)
	tok := tokenFile(t, f.token)
	master := r.tip(t, "master")
	stack := stackFile(t, commit, "")
	for _, mode := range []string{"direct", "pull-request"} {
		out := gitopsCall(t, r, p, tok, stack, commit, "--mode="+mode, "--dry-run").mustSucceed(t)
		if yamlField(t, out, "pushed") != "false" || !strings.Contains(yamlField(t, out, "result"), "dry run: would") ||
			!strings.Contains(out, "+  graviteeio:git_commit_id: abcdef0123abcde") {
			t.Errorf("dry run (%s):\n%s", mode, out)
		}
	}
	if r.tip(t, "master") != master || r.tip(t, "deployment-abcdef0123abcde") != "" || len(r.pulls(t)) != 0 || p.pushes() != 0 {
		t.Errorf("a dry run pushed (%d receive-packs) or opened something", p.pushes())
	}
}

// Wrong token, missing repository, protected branch, missing base branch: each fails naming the
// repository and branch, and nothing is pushed.
func TestGitopsRefusalsAreClearAndPushNothing(t *testing.T) {
	t.Parallel()
	f := newForge(t)
	start := time.Now()
	r := f.newDeploymentRepo(t)
	protected := f.newDeploymentRepo(t)
	if code := f.api(t, "POST", "/repos/"+protected.owner+"/"+protected.name+"/branch_protections",
		map[string]any{"rule_name": "master"}, nil); code != 201 {
		t.Fatalf("protecting master: HTTP %d", code)
	}
	p := newForgeProxy(t, f, nil)
	commit := strings.Repeat("0badc0de42", 4)
	stack := stackFile(t, commit, "")
	good := tokenFile(t, f.token)
	wrong := tokenFile(t, "wrong token "+f.token[:8])
	missing := deployRepo{f: f, owner: f.user, name: r.name + "-missing"}
	url := func(d deployRepo) string { return "http://gitea:" + p.port + "/" + d.owner + "/" + d.name + ".git" }

	tests := []struct {
		name    string
		repo    deployRepo
		token   string
		extra   []string
		wantErr []string
	}{
		{"wrong token", r, wrong, nil, []string{url(r), "refused the token", "nothing was pushed"}},
		{"missing repository", missing, good, nil, []string{url(missing), "not found", "nothing was pushed"}},
		{"protected branch", protected, good, nil, []string{url(protected), "branch master", "protected", "nothing was pushed"}},
		{"protected branch, pull request mode works", protected, good, []string{"--mode=pull-request"}, nil},
		{"missing base branch", r, good, []string{"--base=release"}, []string{url(r), "branch release does not exist"}},
	}
	var calls []callResult
	for _, tt := range tests {
		before := tt.repo.tip(t, "master")
		res := gitopsCall(t, tt.repo, p, tt.token, stack, commit, tt.extra...)
		calls = append(calls, res)
		if tt.wantErr == nil {
			res.mustSucceed(t)
			continue
		}
		if res.exitCode == 0 {
			t.Errorf("%s: gitops exited 0:\n%s", tt.name, res.stdout)
			continue
		}
		for _, w := range tt.wantErr {
			if !strings.Contains(res.stderr, w) {
				t.Errorf("%s: the error lacks %q:\n%s", tt.name, w, tail(res.stderr, 12))
			}
		}
		if tt.repo.name != missing.name && tt.repo.tip(t, "master") != before {
			t.Errorf("%s: master moved", tt.name)
		}
	}
	if len(r.pulls(t)) != 0 {
		t.Error("a refused run opened a pull request")
	}
	assertNoToken(t, r, start, f.token, calls...)
	for _, c := range calls {
		if strings.Contains(c.stdout+c.stderr, "wrong token "+f.token[:8]) {
			t.Error("the wrong token was printed")
		}
	}
}
