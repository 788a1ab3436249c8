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

// Each git step is one container exec running a short script: few steps, because on a busy
// engine every exec costs. A script writes git's output and its results, as "::nightly:KEY=VALUE"
// lines, to one log that is read back once.
const (
	stepLog    = gitOut + "/log"
	resultMark = "::nightly:"
)

func (r *gitopsRun) run(ctx context.Context) error {
	p := r.p
	r.ctr = r.container()
	if err := r.cloneAndCommit(ctx); err != nil {
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

// container is the git image with the wrapper, the token, the author, the stack file, the
// service and the plan's values as variables (scripts read them; nothing is spliced into a
// command line).
func (r *gitopsRun) container() *dagger.Container {
	p := r.p
	ctr := dag.Container().From(r.o.GitImage).
		WithNewFile("/usr/local/bin/nightly-git", gitWrapper, dagger.ContainerWithNewFileOpts{Permissions: 0o755}).
		WithNewFile("/nightly/message", p.Message).
		WithFile("/nightly/stack", r.o.StackFile, dagger.ContainerWithFileOpts{Permissions: 0o644}).
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

// stepResult is what a step printed: git's output, and its results.
type stepResult struct {
	code int
	log  string
	vals map[string]string
}

// step runs script whatever its exit code; the container after it becomes the run's when it
// succeeded.
func (r *gitopsRun) step(ctx context.Context, what, script string) (stepResult, error) {
	ctr := r.ctr.
		WithEnvVariable("NIGHTLY_STEP", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"sh", "-c", "mkdir -p " + gitOut + "\nexec >" + stepLog + " 2>&1\nset -eu\n" + script},
			dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return stepResult{}, fmt.Errorf("%s (%s): %s", what, r.p.Repo.URL, execErr(err))
	}
	out, err := ctr.File(stepLog).Contents(ctx)
	if err != nil {
		return stepResult{}, fmt.Errorf("%s (%s): reading its log: %v", what, r.p.Repo.URL, err)
	}
	res := stepResult{code: code, vals: map[string]string{}}
	var log []string
	for _, l := range strings.Split(out, "\n") {
		if kv, ok := strings.CutPrefix(l, resultMark); ok {
			k, v, _ := strings.Cut(kv, "=")
			res.vals[k] = v
		} else {
			log = append(log, l)
		}
	}
	res.log = strings.Join(log, "\n")
	if code == 0 {
		r.ctr = ctr
	}
	return res, nil
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

// cloneAndCommit clones the base branch's tip, writes the stack file and commits it when it
// differs; a transient failure is retried (bounded, with backoff).
func (r *gitopsRun) cloneAndCommit(ctx context.Context) error {
	p := r.p
	script := `
nightly-git clone --quiet --depth=1 --single-branch --no-tags --branch "$NIGHTLY_BASE" "$NIGHTLY_URL" ` + gitRepo + `
cd ` + gitRepo + `
mkdir -p "$(dirname "$NIGHTLY_STACK_PATH")"
cp /nightly/stack "$NIGHTLY_STACK_PATH"
git add -- "$NIGHTLY_STACK_PATH"
git diff --cached --no-color > ` + gitOut + `/diff
if git diff --cached --quiet; then echo ` + resultMark + `changed=false
else git commit --quiet --no-verify --file=/nightly/message; echo ` + resultMark + `changed=true
fi
echo "` + resultMark + `head=$(git rev-parse HEAD)"`
	for attempt := 1; ; attempt++ {
		res, err := r.step(ctx, "cloning branch "+p.Base, script)
		if err != nil {
			return err
		}
		if res.code == 0 {
			r.out.Changed = res.vals["changed"] == "true"
			r.out.Commit = res.vals["head"]
			diff, err := r.ctr.File(gitOut + "/diff").Contents(ctx)
			if err != nil {
				return fmt.Errorf("reading the diff of %s: %v", p.StackPath, err)
			}
			r.out.Diff = diff
			return nil
		}
		if plan.ClassifyGitFailure(res.log) != plan.GitTransient || attempt > r.o.Retries {
			return r.gitError("cloning branch "+p.Base, p.Base, res.log)
		}
		time.Sleep(backoff(attempt))
	}
}

// pushDirect pushes to the base branch, never forcing. When the branch moved since the clone, the
// next step fetches it, rebases the commit on it and pushes again, Retries times at most.
func (r *gitopsRun) pushDirect(ctx context.Context) error {
	p := r.p
	push := "cd " + gitRepo + "\nnightly-git " + shellWords(plan.PushArgs(p, ""))
	rebaseAndPush := `cd ` + gitRepo + `
nightly-git fetch --quiet --no-tags origin "refs/heads/$NIGHTLY_BASE"
if ! git rebase --quiet FETCH_HEAD; then
  git rebase --abort || true
  echo ` + resultMark + `conflict=true
  exit 3
fi
echo "` + resultMark + `head=$(git rev-parse HEAD)"
if [ "$(git rev-parse HEAD)" = "$(git rev-parse FETCH_HEAD)" ]; then echo ` + resultMark + `landed=true; exit 0; fi
` + push
	script, what := push, "pushing to "+p.Base
	for attempt := 1; ; attempt++ {
		r.out.Attempts = attempt
		res, err := r.step(ctx, what, script)
		if err != nil {
			return err
		}
		if h := res.vals["head"]; h != "" {
			r.out.Commit = h
		}
		switch {
		case res.vals["conflict"] == "true":
			return fmt.Errorf("%s of %s changed %s since the clone, and rebasing this commit on it conflicts: nothing was pushed, "+
				"nothing was overwritten (look at the branch's last commits, then re-run):\n%s", p.Base, p.Repo.URL, p.StackPath, lastLines(res.log, 8))
		case res.code == 0 && res.vals["landed"] == "true":
			r.out.Changed = false
			r.out.Result = fmt.Sprintf("nothing to push: %s moved meanwhile and already has this stack file (commit %s)", p.Base, r.out.Commit)
			return nil
		case res.code == 0:
			r.out.Pushed = true
			r.out.Result = fmt.Sprintf("pushed commit %s to %s of %s", r.out.Commit, p.Base, p.Repo.URL)
			if attempt > 1 {
				r.out.Result += fmt.Sprintf(" (rebased: the branch had moved; %d pushes)", attempt)
			}
			return nil
		}
		kind := plan.ClassifyGitFailure(res.log)
		if kind == plan.GitMoved && attempt > r.o.Retries {
			return fmt.Errorf("pushing to %s of %s: the branch kept moving (%d pushes refused as stale); nothing was pushed, nothing was forced:\n%s",
				p.Base, p.Repo.URL, attempt, lastLines(res.log, 6))
		}
		if (kind != plan.GitMoved && kind != plan.GitTransient) || attempt > r.o.Retries {
			return r.gitError("pushing to "+p.Base, p.Base, res.log)
		}
		if kind == plan.GitTransient {
			time.Sleep(backoff(attempt))
		}
		// Whatever failed, the next try starts from the branch as it is now.
		script, what = rebaseAndPush, "rebasing on "+p.Base+" and pushing"
	}
}

// pushBranch makes deployment-<gitCommitID> the base branch plus this commit. An existing branch
// that already is exactly that (same tree, same parent) is left alone; one that is not is
// replaced, but only if it still is where it was seen (--force-with-lease on that branch only).
func (r *gitopsRun) pushBranch(ctx context.Context) error {
	p := r.p
	// The lease is read in the same step as the push: '...'"$lease"'...' in the quoted command.
	push := "nightly-git " + strings.ReplaceAll(shellWords(plan.PushArgs(p, "@LEASE@")), "@LEASE@", `'"$lease"'`)
	script := `cd ` + gitRepo + `
lease=$(nightly-git ls-remote --heads origin "refs/heads/$NIGHTLY_BRANCH" | cut -f1)
echo "` + resultMark + `lease=$lease"
if [ -n "$lease" ]; then
  nightly-git fetch --quiet --no-tags --depth=1 origin "refs/heads/$NIGHTLY_BRANCH"
  # Up to date when it has our tree on our parent (the base tip we cloned).
  if [ "$(git rev-parse 'FETCH_HEAD^{tree}')" = "$(git rev-parse 'HEAD^{tree}')" ] &&
     [ "$(git cat-file -p FETCH_HEAD | sed -n 's/^parent //p')" = "$(git rev-parse HEAD~1)" ]; then
    echo ` + resultMark + `uptodate=true
    exit 0
  fi
fi
`
	if !r.o.DryRun {
		script += push + "\necho " + resultMark + "pushed=true\n"
	}
	for attempt := 1; ; attempt++ {
		res, err := r.step(ctx, "pushing "+p.Branch, script)
		if err != nil {
			return err
		}
		lease := res.vals["lease"]
		switch {
		case res.code == 0 && res.vals["uptodate"] == "true":
			r.out.Commit = lease
			r.out.Result = fmt.Sprintf("branch %s already holds this stack file on %s (commit %s); nothing was pushed", p.Branch, p.Base, lease)
			return nil
		case res.code == 0 && r.o.DryRun:
			how := "create"
			if lease != "" {
				how = "update (from " + lease + ")"
			}
			r.out.Result = fmt.Sprintf("dry run: would %s branch %s with commit %s and open or reuse a pull request to %s", how, p.Branch, r.out.Commit, p.Base)
			return nil
		case res.code == 0:
			r.out.Attempts = attempt
			r.out.Pushed = true
			verb := "created"
			if lease != "" {
				verb = "updated"
			}
			r.out.Result = fmt.Sprintf("%s branch %s with commit %s", verb, p.Branch, r.out.Commit)
			return nil
		}
		r.out.Attempts = attempt
		kind := plan.ClassifyGitFailure(res.log)
		if (kind != plan.GitMoved && kind != plan.GitTransient) || attempt > r.o.Retries {
			return r.gitError("pushing "+p.Branch, p.Branch, res.log)
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
		return fmt.Errorf("running the forge client for %s: %s", p.Repo.URL, execErr(err))
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
	return goTool(golangImage, toolSource("tools/forge"), ".", "nightly-forge", "")
}

// shellWords quotes args for sh (single quotes; a ' closes, escapes and reopens).
func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
