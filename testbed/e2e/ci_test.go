package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// CircleCI and GitHub Actions cannot run here. These tests execute the exact commands of each
// config's steps (the YAML is parsed; every `run:` step's script runs with the CI's shell and
// its environment variables: CIRCLE_SHA1, CIRCLE_BRANCH…, GITHUB_SHA, GITHUB_OUTPUT…) against the
// test bed. What a CI does itself is emulated and said so: `checkout` / actions/checkout (a git
// clone of the fixture), store_test_results / store_artifacts / actions/upload-artifact (the
// test checks the paths they name hold what CI would keep), the context's or repository's
// settings (the test bed's servers, with the *_OPTS each config takes for a server on this
// machine). The Dagger CLI is the test bed's v0.19.10, which the configs' install step finds.

// ciStep is one step of a CI job, as the config says it.
type ciStep struct {
	name string
	// kind: run, or what the CI does itself (checkout, uses:…, store_test_results, store_artifacts).
	kind string
	run  string
	env  map[string]string
	// always: runs after a failed step (GitHub `if: always()`, CircleCI `when: always`, and
	// CircleCI's store_* steps, which always run).
	always bool
	// path is what a store_* / upload-artifact step keeps.
	path string
	id   string
}

// stepResult is what one step did.
type stepResult struct {
	step           ciStep
	code           int
	stdout, stderr string
	// outputs are the step's GITHUB_OUTPUT values; summary its GITHUB_STEP_SUMMARY.
	outputs map[string]string
	summary string
	skipped bool
}

// ciJob runs steps in order, as the CI would: a step after a failure runs only when always.
type ciJob struct {
	t       *testing.T
	dir     string            // the checkout, where steps run
	env     map[string]string // the CI's variables, the job's and the settings
	shell   []string          // the CI's shell for run steps
	github  bool
	emulate func(s ciStep) error // checkout, uses:, store_* steps
}

func (j *ciJob) run(steps []ciStep) []stepResult {
	t := j.t
	var out []stepResult
	failed := false
	for _, s := range steps {
		r := stepResult{step: s}
		if failed && !s.always {
			r.skipped = true
			out = append(out, r)
			continue
		}
		if s.kind != "run" {
			if err := j.emulate(s); err != nil {
				t.Errorf("step %q (%s, emulated): %v", s.name, s.kind, err)
				r.code = 1
				failed = true
			}
			out = append(out, r)
			continue
		}
		retryOnEngineFlake(t, fmt.Sprintf("step %q", s.name), func() string {
			r = j.exec(s)
			return r.stderr + r.stdout
		})
		t.Logf("step %q → exit %d", s.name, r.code)
		if r.code != 0 {
			failed = true
		}
		out = append(out, r)
	}
	return out
}

func (j *ciJob) exec(s ciStep) stepResult {
	t := j.t
	r := stepResult{step: s}
	env := map[string]string{}
	for k, v := range j.env {
		env[k] = v
	}
	for k, v := range s.env {
		env[k] = v
	}
	tmp := t.TempDir()
	if j.github {
		// GitHub gives every step its own output and summary files.
		env["GITHUB_OUTPUT"], env["GITHUB_STEP_SUMMARY"] = filepath.Join(tmp, "output"), filepath.Join(tmp, "summary")
	}
	script := filepath.Join(tmp, "script.sh")
	if err := os.WriteFile(script, []byte(s.run), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, j.shell[0], append(j.shell[1:], script)...)
	cmd.Dir = j.dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r.stdout, r.stderr = stdout.String(), stderr.String()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("step %q: %v", s.name, err)
		}
		r.code = ee.ExitCode()
	}
	if j.github {
		r.outputs = readGitHubFile(env["GITHUB_OUTPUT"])
		b, _ := os.ReadFile(env["GITHUB_STEP_SUMMARY"])
		r.summary = string(b)
		// GITHUB_PATH and GITHUB_ENV carry over to the next steps.
		if b, err := os.ReadFile(env["GITHUB_PATH"]); err == nil {
			for _, p := range strings.Fields(string(b)) {
				j.env["PATH"] = p + ":" + j.env["PATH"]
			}
			os.Remove(env["GITHUB_PATH"])
		}
		for k, v := range readGitHubFile(env["GITHUB_ENV"]) {
			j.env[k] = v
		}
		os.Remove(env["GITHUB_ENV"])
	}
	return r
}

// readGitHubFile reads name<<DELIM … DELIM blocks (and name=value lines) of a GitHub file command.
func readGitHubFile(path string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if name, delim, ok := strings.Cut(lines[i], "<<"); ok {
			var val []string
			for i++; i < len(lines) && lines[i] != delim; i++ {
				val = append(val, lines[i])
			}
			out[name] = strings.Join(val, "\n")
		} else if k, v, ok := strings.Cut(lines[i], "="); ok {
			out[k] = v
		}
	}
	return out
}

// baseEnv is what every CI job's shell starts with on this machine: PATH (with the test bed's
// dagger), HOME and the test bed's engine variables; nothing else of the test's environment.
func baseEnv(t *testing.T, home string) map[string]string {
	env := map[string]string{"PATH": os.Getenv("PATH"), "HOME": home, "LANG": "C.UTF-8"}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "_EXPERIMENTAL_DAGGER_") || strings.HasPrefix(k, "DAGGER_") ||
			k == "DO_NOT_TRACK" || k == "GOCACHE" || k == "GOPATH" {
			env[k] = v
		}
	}
	return env
}

// ── GitHub Actions ──────────────────────────────────────────────────────────────────────────

type ghWorkflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Steps []struct {
			Name string            `yaml:"name"`
			ID   string            `yaml:"id"`
			Uses string            `yaml:"uses"`
			Run  string            `yaml:"run"`
			If   string            `yaml:"if"`
			Env  map[string]string `yaml:"env"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
	Concurrency struct {
		Group            string `yaml:"group"`
		CancelInProgress bool   `yaml:"cancel-in-progress"`
	} `yaml:"concurrency"`
}

var ghExpr = regexp.MustCompile(`\$\{\{\s*([a-zA-Z0-9_.-]+)\s*\}\}`)

// ghEval substitutes ${{ context.name }} expressions from values ("" when absent, as GitHub does).
func ghEval(s string, values map[string]string) string {
	return ghExpr.ReplaceAllStringFunc(s, func(m string) string { return values[ghExpr.FindStringSubmatch(m)[1]] })
}

func githubSteps(t *testing.T, path, job string, values map[string]string) (map[string]string, []ciStep, ghWorkflow) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var w ghWorkflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	env := map[string]string{}
	for k, v := range w.Env {
		env[k] = ghEval(v, values)
	}
	var steps []ciStep
	for _, s := range w.Jobs[job].Steps {
		st := ciStep{name: s.Name, id: s.ID, run: s.Run, kind: "run", always: strings.Contains(s.If, "always()"), env: map[string]string{}}
		for k, v := range s.Env {
			st.env[k] = ghEval(v, values)
		}
		if s.Uses != "" {
			st.kind, st.path = "uses:"+s.Uses, ghEval(s.With["path"], values)
		}
		steps = append(steps, st)
	}
	return env, steps, w
}

// ── CircleCI ────────────────────────────────────────────────────────────────────────────────

type circleConfig struct {
	Parameters map[string]struct {
		Default any `yaml:"default"`
	} `yaml:"parameters"`
	Commands  map[string]struct{ Steps []yaml.Node } `yaml:"commands"`
	Executors map[string]struct {
		Environment map[string]string `yaml:"environment"`
	} `yaml:"executors"`
	Jobs map[string]struct {
		Executor    string            `yaml:"executor"`
		Environment map[string]string `yaml:"environment"`
		Steps       []yaml.Node       `yaml:"steps"`
	} `yaml:"jobs"`
	Workflows map[string]struct {
		Jobs []map[string]struct {
			Context     []string `yaml:"context"`
			SerialGroup string   `yaml:"serial-group"`
			Filters     struct {
				Branches struct {
					Only   any `yaml:"only"`
					Ignore any `yaml:"ignore"`
				} `yaml:"branches"`
			} `yaml:"filters"`
		} `yaml:"jobs"`
	} `yaml:"workflows"`
}

var circleParam = regexp.MustCompile(`<<\s*pipeline\.parameters\.([a-z0-9_-]+)\s*>>`)

func circleSteps(t *testing.T, path, job string) (map[string]string, []ciStep, circleConfig) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c circleConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, ok := c.Jobs[job]
	if !ok {
		t.Fatalf("%s has no job %s", path, job)
	}
	env := map[string]string{}
	for k, v := range c.Executors[j.Executor].Environment {
		env[k] = v
	}
	for k, v := range j.Environment {
		env[k] = circleParam.ReplaceAllStringFunc(v, func(m string) string {
			return fmt.Sprint(c.Parameters[circleParam.FindStringSubmatch(m)[1]].Default)
		})
	}
	var steps []ciStep
	var walk func(nodes []yaml.Node)
	walk = func(nodes []yaml.Node) {
		for _, n := range nodes {
			if n.Kind == yaml.ScalarNode {
				if cmd, ok := c.Commands[n.Value]; ok {
					walk(cmd.Steps)
					continue
				}
				steps = append(steps, ciStep{name: n.Value, kind: n.Value})
				continue
			}
			var m map[string]yaml.Node
			if err := n.Decode(&m); err != nil {
				t.Fatalf("%s: step: %v", path, err)
			}
			for kind, body := range m {
				switch kind {
				case "run":
					var r struct {
						Name        string            `yaml:"name"`
						Command     string            `yaml:"command"`
						When        string            `yaml:"when"`
						Environment map[string]string `yaml:"environment"`
					}
					if body.Kind == yaml.ScalarNode {
						r.Command = body.Value
					} else if err := body.Decode(&r); err != nil {
						t.Fatalf("%s: run step: %v", path, err)
					}
					steps = append(steps, ciStep{name: r.Name, kind: "run", run: r.Command, env: r.Environment, always: r.When == "always"})
				case "store_test_results", "store_artifacts":
					var s struct {
						Path string `yaml:"path"`
					}
					if err := body.Decode(&s); err != nil {
						t.Fatalf("%s: %s: %v", path, kind, err)
					}
					steps = append(steps, ciStep{name: kind, kind: kind, path: s.Path, always: true})
				default:
					t.Fatalf("%s: step %s: this test does not know it", path, kind)
				}
			}
		}
	}
	walk(j.Steps)
	return env, steps, c
}

// circleEnv is what CircleCI sets in every job (https://circleci.com/docs/variables/#built-in-environment-variables).
func circleEnv(home, dir, sha, branch, project, job string) map[string]string {
	_ = os.WriteFile(filepath.Join(home, ".circleci-bash-env"), nil, 0o644)
	return map[string]string{"CI": "true", "CIRCLECI": "true", "CIRCLE_SHA1": sha, "CIRCLE_BRANCH": branch,
		"CIRCLE_PROJECT_USERNAME": "nightly", "CIRCLE_PROJECT_REPONAME": project, "CIRCLE_JOB": job,
		"CIRCLE_BUILD_NUM": "1", "CIRCLE_WORKING_DIRECTORY": dir, "BASH_ENV": filepath.Join(home, ".circleci-bash-env")}
}

// expandHome resolves the ~ CircleCI accepts in paths.
func expandHome(p, home string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return home + p[1:]
	}
	return p
}

// productCheckout is the product's repository as a CI checkout holds it: the fixture (with
// overlays) committed on master, with a fixed commit date.
func productCheckout(t *testing.T, overlays ...string) (dir, sha, date string) {
	t.Helper()
	dir = fixtureCopy(t, overlays...)
	date = "2026-11-29T01:30:00+00:00"
	for _, args := range [][]string{{"init", "--quiet", "--initial-branch=master"}, {"add", "-A"},
		{"-c", "user.name=dev", "-c", "user.email=dev@localhost", "commit", "--quiet", "-m", "product"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_COMMITTER_DATE="+date, "GIT_AUTHOR_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return dir, strings.TrimSpace(string(out)), date
}

func stepByName(t *testing.T, rs []stepResult, prefix string) stepResult {
	t.Helper()
	for _, r := range rs {
		if strings.HasPrefix(r.step.name, prefix) {
			return r
		}
	}
	t.Fatalf("no step %q", prefix)
	return stepResult{}
}

func logSteps(t *testing.T, rs []stepResult) {
	for _, r := range rs {
		if r.code != 0 {
			t.Logf("step %q exit %d\nstdout:\n%s\nstderr (tail):\n%s", r.step.name, r.code, tail(r.stdout, 30), tail(r.stderr, 40))
		}
	}
}

// TestCICircleCIProductNightlyThenDeploymentRepositoryUp runs both CircleCI configs, the seed's
// GitOps flow end to end: the product's nightly on master (tests, SNAPSHOTs, images promoted,
// stack file in a deployment-<commit> pull request), the pull request merged, then the deployment
// repository's job on master (one pulumi up): pods of the commit Ready on the API server.
func TestCICircleCIProductNightlyThenDeploymentRepositoryUp(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, "forge", "deploy")
	dir, sha, _ := productCheckout(t)
	id := sha[:15]
	home := t.TempDir()

	env, steps, cfg := circleSteps(t, filepath.Join(repoRoot(t), ".circleci", "config.yml"), "nightly")
	wf := cfg.Workflows["nightly"].Jobs[0]["nightly"]
	if !strings.Contains(wf.SerialGroup, "nightly") || fmt.Sprint(wf.Filters.Branches.Only) != "master" {
		t.Errorf("the nightly is not queued per project on master: serial-group %q, branches %v", wf.SerialGroup, wf.Filters.Branches.Only)
	}
	for k, v := range baseEnv(t, home) {
		env[k] = v
	}
	for k, v := range circleEnv(home, dir, sha, "master", "cockpit", "nightly") {
		env[k] = v
	}
	for k, v := range s.contextEnv(t) {
		env[k] = v
	}
	job := &ciJob{t: t, dir: dir, env: env, shell: []string{"/bin/bash", "-eo", "pipefail"}, emulate: func(st ciStep) error {
		switch st.kind {
		case "checkout":
			return nil // the product checkout is the job's folder
		case "store_test_results":
			return hasFiles(expandHome(st.path, home), "TEST-*.xml")
		case "store_artifacts":
			return hasFiles(expandHome(st.path, home), "report.json")
		}
		return fmt.Errorf("not emulated")
	}}
	rs := job.run(steps)
	logSteps(t, rs)
	for _, r := range rs {
		if r.code != 0 || r.skipped {
			t.Fatalf("step %q: exit %d, skipped %v", r.step.name, r.code, r.skipped)
		}
	}
	if v := stepByName(t, rs, "Verdict"); !strings.HasPrefix(v.stdout, "passed\n") {
		t.Errorf("verdict printed %q", v.stdout)
	}
	rep := readReport(t, filepath.Join(home, "nightly-report"))
	s.assertPublished(t, rep, sha)
	pr := s.assertPullRequest(t, rep, id)

	// The pull request is merged (by a person, here through the forge's API); the deployment
	// repository's CircleCI runs its deploy job on master.
	if code := s.repo.f.api(t, "POST", fmt.Sprintf("/repos/%s/%s/pulls/%d/merge", s.repo.owner, s.repo.name, pr.Number),
		map[string]any{"Do": "merge"}, nil); code != 200 {
		t.Fatalf("merging pull request #%d: HTTP %d", pr.Number, code)
	}
	master := s.repo.tip(t, "master")
	deployDir := t.TempDir()
	s.repo.git(t, deployDir, "clone", "--quiet", "--branch=master", s.repo.hostURL(), ".")
	denv, dsteps, dcfg := circleSteps(t, filepath.Join(repoRoot(t), "fixtures", "deployment", ".circleci", "config.yml"), "deploy")
	for _, j := range dcfg.Workflows["deployment"].Jobs {
		if d, ok := j["deploy"]; ok && (d.SerialGroup == "" || fmt.Sprint(d.Filters.Branches.Only) != "master") {
			t.Errorf("the deployment repository's deploy job is not queued on master: %+v", d)
		}
	}
	dhome := t.TempDir()
	for k, v := range baseEnv(t, dhome) {
		denv[k] = v
	}
	for k, v := range circleEnv(dhome, deployDir, master, "master", s.repo.name, "deploy") {
		denv[k] = v
	}
	for k, v := range s.deploymentContextEnv(t) {
		denv[k] = v
	}
	djob := &ciJob{t: t, dir: deployDir, env: denv, shell: []string{"/bin/bash", "-eo", "pipefail"}, emulate: func(st ciStep) error {
		if st.kind == "checkout" {
			return nil
		}
		return fmt.Errorf("not emulated")
	}}
	drs := djob.run(dsteps)
	logSteps(t, drs)
	up := stepByName(t, drs, "Deploy")
	if up.code != 0 {
		t.Fatalf("deploy job failed")
	}
	mustContain(t, "deploy job output", up.stdout, "stack "+s.stack+": update #", "app.gravitee.io/git_commit_id="+id)
	s.assertRolledOut(t, sha)
}

// TestCIGitHubActionsRedNightlyFailsTheJobAndKeepsTheReport runs the workflow on a product whose
// test fails: the nightly step still exports the report, the report step (tools/gha) writes the
// outputs, the failing test's annotation at its source and the job summary, and fails the job;
// nothing after the test stage ran (no SNAPSHOT, no image, no commit).
func TestCIGitHubActionsRedNightlyFailsTheJobAndKeepsTheReport(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, "forge")
	dir, sha, _ := productCheckout(t, "failing-test")
	home, runnerTemp := t.TempDir(), t.TempDir()
	values := map[string]string{"github.sha": sha, "github.ref": "refs/heads/master", "runner.temp": runnerTemp}
	for k, v := range s.contextEnv(t) {
		values["vars."+k], values["secrets."+k] = v, v
	}
	env, steps, w := githubSteps(t, filepath.Join(repoRoot(t), ".github", "workflows", "nightly.yml"), "nightly", values)
	if w.Concurrency.Group == "" || w.Concurrency.CancelInProgress {
		t.Errorf("overlapping nightlies are not queued: concurrency %+v", w.Concurrency)
	}
	for k, v := range baseEnv(t, home) {
		env[k] = v
	}
	for k, v := range map[string]string{"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_SHA": sha, "GITHUB_REF": "refs/heads/master",
		"GITHUB_REF_NAME": "master", "GITHUB_WORKSPACE": dir, "GITHUB_REPOSITORY": "nightly/cockpit", "GITHUB_RUN_ID": "1",
		"GITHUB_ENV": filepath.Join(home, "github-env"), "GITHUB_PATH": filepath.Join(home, "github-path"), "RUNNER_TEMP": runnerTemp} {
		env[k] = v
	}
	job := &ciJob{t: t, dir: dir, env: env, shell: []string{"bash", "--noprofile", "--norc", "-eo", "pipefail"}, github: true,
		emulate: func(st ciStep) error {
			switch {
			case strings.HasPrefix(st.kind, "uses:actions/checkout@"):
				return nil
			case strings.HasPrefix(st.kind, "uses:actions/upload-artifact@"):
				return hasFiles(st.path, "report.json")
			}
			return fmt.Errorf("not emulated")
		}}
	rs := job.run(steps)
	logSteps(t, rs)
	if r := stepByName(t, rs, "Nightly"); r.code != 0 {
		t.Fatalf("the nightly step exited %d: a red nightly must still export its report", r.code)
	}
	rep := stepByName(t, rs, "Report")
	if rep.code != 1 {
		t.Fatalf("the report step exited %d, want 1: a red nightly fails the job", rep.code)
	}
	id := sha[:15]
	for k, want := range map[string]string{"status": "failed", "failed-stage": "test", "nightly-tag": "3.0.0-nightly",
		"git-commit-id": id, "commit-tag": "", "pull-request-url": ""} {
		if rep.outputs[k] != want {
			t.Errorf("step output %s = %q, want %q", k, rep.outputs[k], want)
		}
	}
	mustContain(t, "report step's annotations", rep.stdout,
		"::error file=management-api/src/test/java/io/nightly/fixture/api/VersionContractTest.java,title=VersionContractTest.",
		"failed at test: mvn clean test failed")
	mustContain(t, "job summary", rep.summary, "## ❌ nightly 3.0.0-nightly of "+id+": failed at test", "| publish | ⛔ not-run |")
	report := readReport(t, filepath.Join(runnerTemp, "nightly-report"))
	if report["failedStage"] != "test" {
		t.Errorf("report.json failedStage = %v", report["failedStage"])
	}
	// Nothing after the failing stage: no SNAPSHOT, no image, no branch or pull request.
	s.assertNothingPublished(t)
}

func hasFiles(dir, pattern string) error {
	var found []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if ok, _ := filepath.Match(pattern, info.Name()); ok {
				found = append(found, p)
			}
		}
		return nil
	})
	if len(found) == 0 {
		return fmt.Errorf("%s holds no %s", dir, pattern)
	}
	return nil
}
