package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden reports ci/plan's tests write (the JSON contract, from the side that produces it).
var golden = filepath.Join("..", "..", "ci", "plan", "testdata", "report")

// reportDir lays out a folder as run's files export it: report.json and report.md.
func reportDir(t *testing.T, json []byte) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "report.json"), json, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte("## the report\n\n| a | b |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func goldenDir(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(golden, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return reportDir(t, b)
}

// ghEnv is a GitHub Actions environment whose files are temporary files.
type ghEnv struct {
	vars            map[string]string
	output, summary string
	stdout, stderr  bytes.Buffer
}

func newGHEnv(t *testing.T, actions bool) *ghEnv {
	dir := t.TempDir()
	e := &ghEnv{output: filepath.Join(dir, "output"), summary: filepath.Join(dir, "summary"), vars: map[string]string{}}
	e.vars["GITHUB_OUTPUT"], e.vars["GITHUB_STEP_SUMMARY"] = e.output, e.summary
	e.vars["GITHUB_ENV"], e.vars["GITHUB_PATH"] = filepath.Join(dir, "env"), filepath.Join(dir, "path")
	if actions {
		e.vars["GITHUB_ACTIONS"] = "true"
	}
	return e
}

func (e *ghEnv) run(args ...string) int {
	return run(args, func(k string) string { return e.vars[k] }, &e.stdout, &e.stderr)
}

// readOutputs parses GITHUB_OUTPUT's name<<DELIM / value / DELIM blocks.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		name, delim, ok := strings.Cut(lines[i], "<<")
		if !ok {
			continue
		}
		var val []string
		for i++; i < len(lines) && lines[i] != delim; i++ {
			val = append(val, lines[i])
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

func TestGreenReport(t *testing.T) {
	e := newGHEnv(t, true)
	if code := e.run(goldenDir(t, "green")); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, e.stderr.String())
	}
	got := readOutputs(t, e.output)
	want := map[string]string{
		"status": "passed", "passed": "true", "failed-stage": "", "cause": "", "dry-run": "false",
		"nightly-tag": "3.0.0-nightly", "git-commit-id": "27da477287db9c1", "commit-tag": "3.0.0-nightly-27da477287db9c1",
		"digest-management-api": "sha256:" + strings.Repeat("a", 64), "digest-webui": "sha256:" + strings.Repeat("b", 64),
		"gitops-commit": "c0ffee0000000000000000000000000000000000", "pull-request": "3",
		"pull-request-url": "https://github.com/gravitee-lab/gravitee-cockpit-nightly-deployment/pull/3",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("outputs = %v, want exactly %v", got, want)
	}
	summary, err := os.ReadFile(e.summary)
	if err != nil || string(summary) != "## the report\n\n| a | b |\n\n" {
		t.Errorf("job summary = %q (%v), want report.md", summary, err)
	}
	if strings.Contains(e.stdout.String(), "::error") || strings.Contains(e.stdout.String(), "::warning") {
		t.Errorf("a green report annotated errors or warnings:\n%s", e.stdout.String())
	}
	if !strings.Contains(e.stdout.String(), "nightly 3.0.0-nightly of 27da477287db9c1: passed") {
		t.Errorf("stdout lacks the verdict:\n%s", e.stdout.String())
	}
}

func TestRedLintReport(t *testing.T) {
	e := newGHEnv(t, true)
	if code := e.run("-source-dir=services/cockpit", goldenDir(t, "red")); code != 1 {
		t.Fatalf("exit %d, want 1 (a red report fails the step); stderr %s", code, e.stderr.String())
	}
	out := e.stdout.String()
	for _, want := range []string{
		// Failing findings are errors at the file and line of the repository, prefixed by the source dir.
		"::error col=1,file=services/cockpit/docker/webui/Dockerfile,line=4,title=JSONArgsRecommended (buildkit)::JSON arguments recommended for CMD | to prevent unintended behavior\n",
		// A prepared Dockerfile's finding lands on the versioned Dockerfile it was prepared from.
		"::error col=1,file=services/cockpit/docker/webui/Dockerfile,line=4,title=JSONArgsRecommended (buildkit)::JSON arguments recommended for CMD | to prevent unintended behavior (in prepared/webui/Dockerfile)\n",
		// Under the threshold: a notice.
		"::notice col=1,file=services/cockpit/docker/webui/Dockerfile,line=2,title=SC2086 (buildkit)::Double quote to prevent globbing\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("annotations lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "title=nightly: stage") {
		t.Errorf("a lint failure is annotated finding by finding, not as a stage:\n%s", out)
	}
	got := readOutputs(t, e.output)
	if got["status"] != "failed" || got["failed-stage"] != "lint" || !strings.HasPrefix(got["cause"], "buildkit: 2 finding(s)") || got["commit-tag"] != "" {
		t.Errorf("outputs = %v", got)
	}
}

func TestFailingTestsAnnotatedAtTheirSource(t *testing.T) {
	ws := t.TempDir()
	src := filepath.Join(ws, "management-api", "src", "test", "java", "io", "nightly", "fixture", "api")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "VersionContractTest.java"), []byte("class VersionContractTest {}"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A copy under target/ must not be picked.
	if err := os.MkdirAll(filepath.Join(ws, "target", "src", "test", "java", "io", "nightly", "fixture", "api"), 0o755); err != nil {
		t.Fatal(err)
	}
	rep := `{"schema":1,"status":"failed","passed":false,"gitCommitId":"27da477287db9c1","nightlyTag":"3.0.0-nightly",
	  "failedStage":"test","cause":"mvn clean test failed (Tests run: 4, Failures: 1, Errors: 1, Skipped: 0): x",
	  "stages":[{"name":"test","status":"failed","error":"mvn clean test failed"}],
	  "tests":{"failed":[
	    {"class":"io.nightly.fixture.api.VersionContractTest","name":"versionIsThree","kind":"failure","message":"expected: <3> but was: <4>"},
	    {"class":"io.nightly.fixture.api.Missing$Inner","name":"boom","kind":"error"}]}}`
	e := newGHEnv(t, true)
	e.vars["GITHUB_WORKSPACE"] = ws
	if code := e.run(reportDir(t, []byte(rep))); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", code, e.stderr.String())
	}
	out := e.stdout.String()
	for _, want := range []string{
		"::error file=management-api/src/test/java/io/nightly/fixture/api/VersionContractTest.java,title=VersionContractTest.versionIsThree (failure)::io.nightly.fixture.api.VersionContractTest.versionIsThree: expected: <3> but was: <4>\n",
		"::error title=Missing$Inner.boom (error)::io.nightly.fixture.api.Missing$Inner.boom: error\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("annotations lack %q:\n%s", want, out)
		}
	}
}

func TestOtherFailingStageAnnotated(t *testing.T) {
	rep := `{"schema":1,"status":"failed","passed":false,"failedStage":"publish","cause":"registry refused the credentials",
	  "stages":[{"name":"publish","status":"failed","error":"registry refused the credentials\nnothing was pushed"}]}`
	e := newGHEnv(t, true)
	if code := e.run("-fail=false", reportDir(t, []byte(rep))); code != 0 {
		t.Fatalf("-fail=false: exit %d, want 0", code)
	}
	if want := "::error title=nightly%3A stage publish failed::registry refused the credentials%0Anothing was pushed\n"; !strings.Contains(e.stdout.String(), want) {
		t.Errorf("annotations lack %q:\n%s", want, e.stdout.String())
	}
}

func TestOutsideGitHubActionsDoesNothingAndSaysSo(t *testing.T) {
	e := newGHEnv(t, false)
	if code := e.run(goldenDir(t, "red")); code != 0 {
		t.Fatalf("exit %d, want 0 outside GitHub Actions", code)
	}
	if e.stdout.Len() != 0 {
		t.Errorf("printed workflow commands outside GitHub Actions:\n%s", e.stdout.String())
	}
	if !strings.Contains(e.stderr.String(), `not running in GitHub Actions (GITHUB_ACTIONS is not "true")`) ||
		!strings.Contains(e.stderr.String(), "failed at lint") {
		t.Errorf("stderr = %q", e.stderr.String())
	}
	for _, f := range []string{e.output, e.summary} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s was written outside GitHub Actions (%v)", f, err)
		}
	}
}

func TestBadSetups(t *testing.T) {
	cases := []struct {
		name string
		prep func(e *ghEnv) []string
		want string
	}{
		{"GITHUB_OUTPUT unset: an error, not a panic", func(e *ghEnv) []string {
			delete(e.vars, "GITHUB_OUTPUT")
			return []string{goldenDir(t, "green")}
		}, "GITHUB_OUTPUT is not set"},
		{"no report", func(e *ghEnv) []string { return []string{t.TempDir()} }, "export run's files there"},
		{"another schema", func(e *ghEnv) []string { return []string{reportDir(t, []byte(`{"schema":9}`))} }, "schema 9"},
		{"no folder", func(e *ghEnv) []string { return nil }, "usage: gha"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newGHEnv(t, true)
			if code := e.run(c.prep(e)...); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(e.stderr.String(), c.want) {
				t.Errorf("stderr = %q, want it to contain %q", e.stderr.String(), c.want)
			}
			if _, err := os.Stat(e.output); !os.IsNotExist(err) {
				t.Errorf("GITHUB_OUTPUT written on error")
			}
		})
	}
}
