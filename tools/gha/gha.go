package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	githubactions "github.com/sethvargo/go-githubactions"
)

// maxAnnotations bounds the annotations of one kind: GitHub shows few per step anyway, and a
// flood hides the one that matters. The summary lists everything.
const maxAnnotations = 50

type emitter struct {
	getenv func(string) string
	// sourceDir prefixes the report's paths (relative to the product's source root).
	sourceDir string
	// workspace is the checkout, where failing tests' source files are looked for.
	workspace string
}

// emit reads DIR/report.json and DIR/report.md and writes the outputs, annotations and summary.
// It returns the exit code the report asks for (1 when red).
func (e *emitter) emit(dir string, a *githubactions.Action, stderr io.Writer) (int, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return 0, fmt.Errorf("%v (export run's files there: dagger call … run … files export --path=%s)", err, dir)
	}
	rep, err := parseReport(raw)
	if err != nil {
		return 0, fmt.Errorf("%s: %v", filepath.Join(dir, "report.json"), err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		return 0, err
	}
	code := 0
	if !rep.Passed {
		code = 1
	}
	verdict := verdictLine(rep)
	if e.getenv("GITHUB_ACTIONS") != "true" {
		fmt.Fprintf(stderr, "not running in GitHub Actions (GITHUB_ACTIONS is not \"true\"): no step output, annotation or job summary written\n%s\n", verdict)
		return 0, nil
	}
	for _, v := range []string{"GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"} {
		if e.getenv(v) == "" {
			return 0, fmt.Errorf("running in GitHub Actions but %s is not set: nothing written", v)
		}
	}
	for _, kv := range outputs(rep) {
		a.SetOutput(kv[0], kv[1])
	}
	e.annotate(a, rep)
	a.AddStepSummary(string(md))
	a.Infof("%s", verdict)
	return code, nil
}

func verdictLine(r *report) string {
	what := "nightly " + r.NightlyTag + " of " + r.GitCommitID
	if r.DryRun {
		what += " (dry run)"
	}
	if r.Passed {
		return what + ": passed"
	}
	return what + ": failed at " + r.FailedStage + ": " + r.Cause
}

// outputs are the step outputs, in a stable order.
func outputs(r *report) [][2]string {
	out := [][2]string{
		{"status", r.Status}, {"passed", strconv.FormatBool(r.Passed)}, {"failed-stage", r.FailedStage}, {"cause", r.Cause},
		{"dry-run", strconv.FormatBool(r.DryRun)}, {"nightly-tag", r.NightlyTag}, {"git-commit-id", r.GitCommitID},
	}
	commitTag := ""
	if r.Images != nil {
		commitTag = r.Images.CommitTag
	}
	out = append(out, [2]string{"commit-tag", commitTag})
	if r.Images != nil {
		for _, img := range r.Images.Images {
			out = append(out, [2]string{"digest-" + img.Name, img.Digest})
		}
	}
	var commit, prURL, pr string
	if g := r.Gitops; g != nil {
		commit, prURL = g.Commit, g.PullRequestURL
		if g.PullRequest > 0 {
			pr = strconv.FormatInt(g.PullRequest, 10)
		}
	}
	return append(out, [2]string{"gitops-commit", commit}, [2]string{"pull-request", pr}, [2]string{"pull-request-url", prURL})
}

// annotate writes the failing stage, each lint finding and each failing test as annotations.
func (e *emitter) annotate(a *githubactions.Action, r *report) {
	if !r.Passed && r.FailedStage != "lint" && r.FailedStage != "test" {
		a.WithFieldsMap(map[string]string{"title": "nightly: stage " + r.FailedStage + " failed"}).Errorf("%s", stageError(r))
	}
	if r.Lint != nil {
		n := 0
		for _, f := range r.Lint.Findings {
			if n++; n > maxAnnotations {
				a.Warningf("%d more lint finding(s): see the job summary", len(r.Lint.Findings)-maxAnnotations)
				break
			}
			src := f.Source
			if src == "" {
				src = f.File
			}
			fields := map[string]string{"file": e.repoPath(src), "line": strconv.Itoa(f.Line), "title": f.Code + " (" + r.Lint.Linter + ")"}
			if f.Column > 0 {
				fields["col"] = strconv.Itoa(f.Column)
			}
			msg := f.Message
			if f.File != src {
				msg += " (in " + f.File + ")"
			}
			aa := a.WithFieldsMap(fields)
			switch {
			case f.Failing:
				aa.Errorf("%s", msg)
			case f.Level == "error" || f.Level == "warning":
				aa.Warningf("%s", msg)
			default:
				aa.Noticef("%s", msg)
			}
		}
	}
	if r.Tests != nil {
		for i, t := range r.Tests.Failed {
			if i == maxAnnotations {
				a.Errorf("%d more failing test(s): see the job summary", len(r.Tests.Failed)-maxAnnotations)
				break
			}
			fields := map[string]string{"title": fmt.Sprintf("%s.%s (%s)", simpleName(t.Class), t.Name, t.Kind)}
			if f := e.testSource(t.Class); f != "" {
				fields["file"] = f
			}
			msg := t.Message
			if msg == "" {
				msg = t.Kind
			}
			a.WithFieldsMap(fields).Errorf("%s.%s: %s", t.Class, t.Name, msg)
		}
	}
}

func stageError(r *report) string {
	for _, s := range r.Stages {
		if s.Name == r.FailedStage && s.Error != "" {
			return s.Error
		}
	}
	return r.Cause
}

// repoPath is a path of the product's source tree as the repository sees it.
func (e *emitter) repoPath(p string) string {
	return path.Clean(path.Join(filepath.ToSlash(e.sourceDir), p))
}

func simpleName(class string) string {
	if i := strings.LastIndex(class, "."); i >= 0 {
		return class[i+1:]
	}
	return class
}

// testSource finds a test class's source file in the workspace: <module>/src/test/<lang>/<package
// path>/<Outer>.<java|kt|groovy|scala>, skipping build output. "" when not found (or no workspace).
func (e *emitter) testSource(class string) string {
	if e.workspace == "" || class == "" {
		return ""
	}
	outer, _, _ := strings.Cut(class, "$")
	rel := strings.ReplaceAll(outer, ".", "/")
	root := filepath.Join(e.workspace, e.sourceDir)
	var found []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "target", "node_modules", "build", "nightly-report":
				return filepath.SkipDir
			}
			return nil
		}
		slash := filepath.ToSlash(p)
		for _, ext := range []string{".java", ".kt", ".groovy", ".scala"} {
			if strings.HasSuffix(slash, "/"+rel+ext) && strings.Contains(slash, "/src/test/") {
				if r, err := filepath.Rel(e.workspace, p); err == nil {
					found = append(found, filepath.ToSlash(r))
				}
			}
		}
		return nil
	})
	if len(found) == 0 {
		return ""
	}
	sort.Strings(found)
	return found[0]
}
