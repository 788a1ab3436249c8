package ci

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// GitopsOpts is a GitOps run: the plan's inputs, and what it works with.
type GitopsOpts struct {
	plan.GitopsInput
	// Token may push to the repository (and open pull requests). It reaches git and the forge
	// client only as a secret environment variable.
	Token *dagger.Secret
	// StackFile is the file committed at StackPath (stack-config's Pulumi.<stack>.yaml).
	StackFile *dagger.File
	// Service, when set, is bound under the repository URL's host name (a forge on the caller's
	// machine: tcp://localhost:PORT).
	Service *dagger.Service
	// GitImage has git and a POSIX shell; GolangImage builds the forge client (tools/forge).
	GitImage, GolangImage string
	DryRun                bool
	// Retries bounds the pushes after the first, when the branch moved or the forge faltered.
	Retries int
}

const (
	gitRepo = "/nightly/repo"
	gitOut  = "/nightly/out"
	// The token's only way in: a secret environment variable read by nightly-git.
	gitTokenEnv   = "NIGHTLY_GIT_TOKEN"
	forgeTokenEnv = "NIGHTLY_FORGE_TOKEN"
)

// gitWrapper runs git with the token sent as an HTTP header that it builds from the environment:
// through GIT_CONFIG_* variables, so the token is in no argument, no URL, no file and no git
// config, and never in .git/config. printf is a shell builtin (no process shows its arguments),
// and $(…) strips the trailing newline a token read from a file often has. Basic auth with the
// token as password is what GitHub (x-access-token) and Gitea both accept.
const gitWrapper = `#!/bin/sh
set -eu
if [ -n "${` + gitTokenEnv + `:-}" ]; then
  tok=$(printf %s "$` + gitTokenEnv + `")
  GIT_CONFIG_VALUE_0="Authorization: Basic $(printf 'x-access-token:%s' "$tok" | base64 | tr -d '\n')"
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader
  export GIT_CONFIG_COUNT GIT_CONFIG_KEY_0 GIT_CONFIG_VALUE_0
  unset tok
fi
unset ` + gitTokenEnv + `
exec git "$@"
`

// Gitops commits the stack file to the deployment repository, to the base branch (direct) or to
// deployment-<gitCommitID> with a pull request to the base branch. It never force-pushes the base
// branch: when it moved, the commit is rebased on it and pushed again (bounded). A re-run for the
// same commit changes nothing that is already right, and never opens a second pull request.
func Gitops(ctx context.Context, o GitopsOpts) (*plan.GitopsOutcome, error) {
	p, err := plan.PlanGitops(o.GitopsInput)
	if err != nil {
		return nil, err
	}
	if o.Token == nil {
		return nil, fmt.Errorf("gitops needs a token that may push to %s", p.Repo.URL)
	}
	if o.StackFile == nil {
		return nil, fmt.Errorf("gitops needs the stack file to commit as %s", p.StackPath)
	}
	r := &gitopsRun{o: o, p: p, out: &plan.GitopsOutcome{Plan: p, DryRun: o.DryRun}}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	return r.out, nil
}

type gitopsRun struct {
	o   GitopsOpts
	p   plan.GitopsPlan
	out *plan.GitopsOutcome
	ctr *dagger.Container
}

func (r *gitopsRun) run(ctx context.Context) error {
	p := r.p
	r.ctr = r.container()
	if err := r.clone(ctx); err != nil {
		return err
	}
	if err := r.commit(ctx); err != nil {
		return err
	}
	if !r.out.Changed {
		r.out.Result = fmt.Sprintf("nothing to commit: %s on %s already is this stack file (commit %s); nothing was pushed",
			p.StackPath, p.Base, r.out.Commit)
		return nil
	}
	if p.Mode == plan.GitopsDirect {
		if r.o.DryRun {
			r.out.Result = fmt.Sprintf("dry run: would push commit %s to %s of %s", r.out.Commit, p.Base, p.Repo.URL)
			return nil
		}
		return r.pushDirect(ctx)
	}
	if err := r.pushBranch(ctx); err != nil {
		return err
	}
	return r.pullRequest(ctx)
}

// container is the git image with the wrapper, the token, the author, the service and the plan's
// values as variables (scripts read them, nothing is spliced into a command line).
func (r *gitopsRun) container() *dagger.Container {
	p := r.p
	ctr := dag.Container().From(r.o.GitImage).
		WithNewFile("/usr/local/bin/nightly-git", gitWrapper, dagger.ContainerWithNewFileOpts{Permissions: 0o755}).
		WithNewFile("/nightly/message", p.Message).
		WithEnvVariable("GIT_TERMINAL_PROMPT", "0").
		// Only what we set applies: no system or user git config of the image.
		WithEnvVariable("GIT_CONFIG_NOSYSTEM", "1").
		WithEnvVariable("GIT_CONFIG_GLOBAL", "/dev/null").
		WithEnvVariable("GIT_AUTHOR_NAME", p.AuthorName).
		WithEnvVariable("GIT_AUTHOR_EMAIL", p.AuthorEmail).
		WithEnvVariable("GIT_COMMITTER_NAME", p.AuthorName).
		WithEnvVariable("GIT_COMMITTER_EMAIL", p.AuthorEmail).
		WithEnvVariable("NIGHTLY_URL", p.Repo.URL).
		WithEnvVariable("NIGHTLY_BASE", p.Base).
		WithEnvVariable("NIGHTLY_BRANCH", p.Branch).
		WithEnvVariable("NIGHTLY_STACK_PATH", p.StackPath).
		// A value unique to this call: side effects must never be answered from the cache.
		WithEnvVariable("NIGHTLY_GITOPS_RUN", fmt.Sprint(time.Now().UnixNano())).
		WithSecretVariable(gitTokenEnv, r.o.Token)
	if r.o.Service != nil {
		ctr = ctr.WithServiceBinding(p.Repo.Hostname, r.o.Service)
	}
	return ctr
}

// step runs a shell script in the repository, whatever its exit code; the container after it
// becomes the run's when it succeeded.
func (r *gitopsRun) step(ctx context.Context, what, script string) (int, string, error) {
	ctr, code, out, err := runLogged(ctx, r.ctr.WithEnvVariable("NIGHTLY_STEP", fmt.Sprint(time.Now().UnixNano())),
		[]string{"sh", "-c", "set -eu\n" + script}, what+" ("+r.p.Repo.URL+")")
	if err != nil {
		return 0, "", err
	}
	if code == 0 {
		r.ctr = ctr
	}
	return code, out, nil
}

// read returns a file the last successful step wrote under gitOut.
func (r *gitopsRun) read(ctx context.Context, name string) (string, error) {
	s, err := r.ctr.File(gitOut + "/" + name).Contents(ctx)
	if err != nil {
		return "", fmt.Errorf("reading %s after a git step: %v", name, err)
	}
	return strings.TrimSpace(s), nil
}

// gitError explains a failed git command to a person: which repository and branch, and what to fix.
func (r *gitopsRun) gitError(what, branch, out string) error {
	repo := r.p.Repo.URL
	tail := lastLines(out, 6)
	switch plan.ClassifyGitFailure(out) {
	case plan.GitAuth:
		return fmt.Errorf("%s: repository %s refused the token (HTTP 401; wrong or expired --token); nothing was pushed:\n%s", what, repo, tail)
	case plan.GitForbidden:
		return fmt.Errorf("%s: the token may not write to repository %s (HTTP 403); nothing was pushed:\n%s", what, repo, tail)
	case plan.GitNotFound:
		return fmt.Errorf("%s: repository %s not found (or the token cannot see it); nothing was pushed:\n%s", what, repo, tail)
	case plan.GitNoBranch:
		return fmt.Errorf("%s: branch %s does not exist in repository %s; nothing was pushed:\n%s", what, branch, repo, tail)
	case plan.GitProtected:
		return fmt.Errorf("%s: branch %s of repository %s is protected and refused the push; nothing was pushed "+
			"(use --mode=pull-request, or allow this token to push):\n%s", what, branch, repo, tail)
	}
	return fmt.Errorf("%s: git failed on branch %s of repository %s; nothing was pushed:\n%s", what, branch, repo, tail)
}

// retry runs step until it succeeds, retrying transient failures (bounded, with backoff).
func (r *gitopsRun) retry(ctx context.Context, what, branch, script string) error {
	for attempt := 1; ; attempt++ {
		code, out, err := r.step(ctx, what, script)
		if err != nil || code == 0 {
			return err
		}
		if plan.ClassifyGitFailure(out) != plan.GitTransient || attempt > r.o.Retries {
			return r.gitError(what, branch, out)
		}
		time.Sleep(backoff(attempt))
	}
}

// clone fetches the base branch's tip only.
func (r *gitopsRun) clone(ctx context.Context) error {
	return r.retry(ctx, "cloning branch "+r.p.Base, r.p.Base, `
nightly-git clone --quiet --depth=1 --single-branch --no-tags --branch "$NIGHTLY_BASE" "$NIGHTLY_URL" `+gitRepo+`
mkdir -p `+gitOut)
}

// commit writes the stack file and commits it when it differs from the base branch's.
func (r *gitopsRun) commit(ctx context.Context) error {
	r.ctr = r.ctr.WithWorkdir(gitRepo).
		WithFile(gitRepo+"/"+r.p.StackPath, r.o.StackFile, dagger.ContainerWithFileOpts{Permissions: 0o644})
	code, out, err := r.step(ctx, "committing "+r.p.StackPath, `
git add -- "$NIGHTLY_STACK_PATH"
git diff --cached --no-color > `+gitOut+`/diff
if git diff --cached --quiet; then echo false > `+gitOut+`/changed
else git commit --quiet --no-verify --file=/nightly/message; echo true > `+gitOut+`/changed
fi
git rev-parse HEAD > `+gitOut+`/head`)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("committing %s: git failed:\n%s", r.p.StackPath, lastLines(out, 10))
	}
	changed, err := r.read(ctx, "changed")
	if err != nil {
		return err
	}
	r.out.Changed = changed == "true"
	if r.out.Commit, err = r.read(ctx, "head"); err != nil {
		return err
	}
	r.out.Diff, err = r.read(ctx, "diff")
	return err
}

// pushDirect pushes to the base branch, never forcing: when the branch moved since the clone,
// it fetches it, rebases the commit on it and pushes again, Retries times at most.
func (r *gitopsRun) pushDirect(ctx context.Context) error {
	p := r.p
	push := "nightly-git " + shellWords(plan.PushArgs(p, ""))
	for attempt := 1; ; attempt++ {
		r.out.Attempts = attempt
		code, out, err := r.step(ctx, "pushing to "+p.Base, push)
		if err != nil {
			return err
		}
		if code == 0 {
			r.out.Pushed = true
			r.out.Result = fmt.Sprintf("pushed commit %s to %s of %s", r.out.Commit, p.Base, p.Repo.URL)
			if attempt > 1 {
				r.out.Result += fmt.Sprintf(" (rebased: the branch had moved; %d pushes)", attempt)
			}
			return nil
		}
		kind := plan.ClassifyGitFailure(out)
		if (kind != plan.GitMoved && kind != plan.GitTransient) || attempt > r.o.Retries {
			if kind == plan.GitMoved {
				return fmt.Errorf("pushing to %s of %s: the branch kept moving (%d pushes refused as stale); nothing was pushed, nothing was forced:\n%s",
					p.Base, p.Repo.URL, attempt, lastLines(out, 6))
			}
			return r.gitError("pushing to "+p.Base, p.Base, out)
		}
		if kind == plan.GitTransient {
			time.Sleep(backoff(attempt))
			continue
		}
		landed, err := r.rebase(ctx)
		if err != nil {
			return err
		}
		if landed {
			r.out.Changed = false
			r.out.Result = fmt.Sprintf("nothing to push: %s moved meanwhile and already has this stack file (commit %s)", p.Base, r.out.Commit)
			return nil
		}
	}
}

// rebase fetches the base branch and replays the commit on it. landed is true when the branch
// already holds the same change (the commit became empty and was dropped).
func (r *gitopsRun) rebase(ctx context.Context) (landed bool, err error) {
	p := r.p
	if err := r.retry(ctx, "fetching "+p.Base, p.Base, `nightly-git fetch --quiet --no-tags origin "refs/heads/$NIGHTLY_BASE"`); err != nil {
		return false, err
	}
	code, out, err := r.step(ctx, "rebasing on "+p.Base, `
if ! git rebase --quiet FETCH_HEAD > `+gitOut+`/rebase.log 2>&1; then
  cat `+gitOut+`/rebase.log; git rebase --abort; exit 3
fi
git rev-parse HEAD > `+gitOut+`/head
if [ "$(git rev-parse HEAD)" = "$(git rev-parse FETCH_HEAD)" ]; then echo true; else echo false; fi > `+gitOut+`/landed`)
	if err != nil {
		return false, err
	}
	if code != 0 {
		return false, fmt.Errorf("%s of %s changed %s since the clone, and rebasing this commit on it conflicts: nothing was pushed, "+
			"nothing was overwritten (look at the branch's last commits, then re-run):\n%s", p.Base, p.Repo.URL, p.StackPath, lastLines(out, 8))
	}
	if r.out.Commit, err = r.read(ctx, "head"); err != nil {
		return false, err
	}
	l, err := r.read(ctx, "landed")
	return l == "true", err
}

// pushBranch makes deployment-<gitCommitID> the base branch plus this commit. An existing branch
// that already is exactly that (same tree, same parent) is left alone; one that is not is
// replaced, but only if it still is where it was seen (--force-with-lease on that branch only).
func (r *gitopsRun) pushBranch(ctx context.Context) error {
	p := r.p
	for attempt := 1; ; attempt++ {
		err := r.retry(ctx, "reading branch "+p.Branch, p.Branch, `
nightly-git ls-remote --heads origin "refs/heads/$NIGHTLY_BRANCH" | cut -f1 > `+gitOut+`/lease
if [ -s `+gitOut+`/lease ]; then
  nightly-git fetch --quiet --no-tags --depth=1 origin "refs/heads/$NIGHTLY_BRANCH"
  # Up to date when it has our tree on our parent (the base tip we cloned).
  if [ "$(git rev-parse FETCH_HEAD^{tree})" = "$(git rev-parse HEAD^{tree})" ] &&
     [ "$(git cat-file -p FETCH_HEAD | sed -n 's/^parent //p')" = "$(git rev-parse HEAD~1)" ]; then
    echo true; else echo false; fi > `+gitOut+`/uptodate
else echo false > `+gitOut+`/uptodate
fi`)
		if err != nil {
			return err
		}
		lease, err := r.read(ctx, "lease")
		if err != nil {
			return err
		}
		upToDate, err := r.read(ctx, "uptodate")
		if err != nil {
			return err
		}
		if upToDate == "true" {
			r.out.Commit = lease
			r.out.Result = fmt.Sprintf("branch %s already holds this stack file on %s (commit %s); nothing was pushed", p.Branch, p.Base, lease)
			return nil
		}
		if r.o.DryRun {
			how := "create"
			if lease != "" {
				how = "update (from " + lease + ")"
			}
			r.out.Result = fmt.Sprintf("dry run: would %s branch %s with commit %s and open or reuse a pull request to %s", how, p.Branch, r.out.Commit, p.Base)
			return nil
		}
		r.out.Attempts = attempt
		code, out, err := r.step(ctx, "pushing "+p.Branch, "nightly-git "+shellWords(plan.PushArgs(p, lease)))
		if err != nil {
			return err
		}
		if code == 0 {
			r.out.Pushed = true
			verb := "created"
			if lease != "" {
				verb = "updated"
			}
			r.out.Result = fmt.Sprintf("%s branch %s with commit %s", verb, p.Branch, r.out.Commit)
			return nil
		}
		kind := plan.ClassifyGitFailure(out)
		if (kind != plan.GitMoved && kind != plan.GitTransient) || attempt > r.o.Retries {
			return r.gitError("pushing "+p.Branch, p.Branch, out)
		}
		if kind == plan.GitTransient {
			time.Sleep(backoff(attempt))
		}
	}
}

// forgePR is what nightly-forge prints.
type forgePR struct {
	Number  int64  `json:"number"`
	URL     string `json:"url"`
	Created bool   `json:"created"`
	Kind    string `json:"kind"`
	Error   string `json:"error"`
}

// pullRequest finds the open pull request from the deployment branch to the base, or opens it
// (tools/forge); a dry run only looks.
func (r *gitopsRun) pullRequest(ctx context.Context) error {
	p := r.p
	args := []string{"/usr/local/bin/nightly-forge", "pull-request", "-forge", p.Forge, "-api-url", p.APIURL,
		"-repo", p.Repo.Slug(), "-head", p.Branch, "-base", p.Base, "-title", p.Title, "-body-file", "/nightly/pr-body.md",
		"-retries", fmt.Sprint(r.o.Retries)}
	if r.o.DryRun {
		args = append(args, "-find-only")
	}
	ctr := dag.Container().From(r.o.GitImage).
		WithFile("/usr/local/bin/nightly-forge", forgeBinary(r.o.GolangImage)).
		WithNewFile("/nightly/pr-body.md", p.Body).
		WithEnvVariable("NIGHTLY_GITOPS_RUN", fmt.Sprint(time.Now().UnixNano())).
		WithSecretVariable(forgeTokenEnv, r.o.Token)
	if r.o.Service != nil {
		ctr = ctr.WithServiceBinding(p.Repo.Hostname, r.o.Service)
	}
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return fmt.Errorf("running the forge client for %s: %v", p.Repo.URL, err)
	}
	var pr forgePR
	if err := json.Unmarshal([]byte(lastLines(stdout, 1)), &pr); err != nil {
		stderr, _ := ctr.Stderr(ctx)
		return fmt.Errorf("the forge client for %s said nothing readable: %q %s", p.Repo.URL, stdout, lastLines(stderr, 5))
	}
	if pr.Error != "" {
		pushed := ""
		if r.out.Pushed {
			pushed = fmt.Sprintf(" (branch %s was pushed: a re-run opens the pull request)", p.Branch)
		}
		return fmt.Errorf("%s pull request from %s to %s%s: %s", p.Forge, p.Branch, p.Base, pushed, pr.Error)
	}
	r.out.PullRequest, r.out.PullRequestURL, r.out.PullRequestCreated = pr.Number, pr.URL, pr.Created
	switch {
	case r.o.DryRun && pr.Number == 0:
		r.out.Result += "; no pull request is open yet"
	case r.o.DryRun:
		r.out.Result += fmt.Sprintf("; pull request #%d is open", pr.Number)
	case pr.Created:
		r.out.Result += fmt.Sprintf("; opened pull request #%d to %s", pr.Number, p.Base)
	default:
		r.out.Result += fmt.Sprintf("; pull request #%d to %s was already open", pr.Number, p.Base)
	}
	return nil
}

// forgeBinary builds tools/forge (go-github and Gitea's SDK, too heavy for the module itself) from
// this module's source, in a Go image; the engine caches it, so it builds once per engine.
func forgeBinary(golangImage string) *dagger.File {
	return dag.Container().From(golangImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("nightly-go-mod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("nightly-go-build")).
		WithEnvVariable("CGO_ENABLED", "0").
		WithDirectory("/src", dag.CurrentModule().Source().Directory("tools/forge"), dagger.ContainerWithDirectoryOpts{
			Exclude: []string{"**/*_test.go", "**/testdata"},
		}).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/nightly-forge", "."}).
		File("/out/nightly-forge")
}

// shellWords quotes args for sh (single quotes; a ' closes, escapes and reopens).
func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
