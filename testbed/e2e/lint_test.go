package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The linter that runs here for real: BuildKit's Dockerfile checks + ShellCheck on RUN lines.
const buildkitLinter = "--linter=buildkit"

func TestLintFixtureIsCleanAndCoversVersionedAndPrepared(t *testing.T) {
	needTestbed(t)
	daggerCall(t, buildkitLinter, "lint").mustSucceed(t)
	files := daggerCall(t, buildkitLinter, "lint-report", "files").mustSucceed(t)
	for _, want := range []string{"docker/management-api/Dockerfile", "docker/webui/Dockerfile",
		"prepared/management-api/Dockerfile", "prepared/webui/Dockerfile"} {
		if !strings.Contains(files, want) {
			t.Errorf("lint did not cover %s; it linted:\n%s", want, files)
		}
	}
}

func TestLintFindingsOverThresholdFailWithFileLineRule(t *testing.T) {
	needTestbed(t)
	src := fixtureCopy(t, "lint-findings")
	r := daggerCall(t, "--source="+src, buildkitLinter, "lint")
	if r.exitCode == 0 {
		t.Fatal("lint of a Dockerfile with warnings exited 0 at threshold warning")
	}
	for _, want := range []string{"docker/webui/Dockerfile:3:FromAsCasing", "prepared/webui/Dockerfile:3:FromAsCasing",
		"docker/webui/Dockerfile:6:JSONArgsRecommended", `threshold "warning"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 20))
		}
	}
	if strings.Contains(r.stderr, "Dockerfile:5:SC2086") {
		t.Errorf("SC2086 is info, below the warning threshold, yet it is listed as failing")
	}
	// At threshold info, ShellCheck's finding on the RUN line fails too.
	r = daggerCall(t, "--source="+src, buildkitLinter, "--lint-threshold=info", "lint")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "docker/webui/Dockerfile:5:SC2086") {
		t.Errorf("at threshold info, lint must fail on docker/webui/Dockerfile:5:SC2086; exit %d:\n%s", r.exitCode, tail(r.stderr, 20))
	}

	// The reports exist for a red run: hadolint-shaped JSON and SARIF with the same findings.
	dir := t.TempDir()
	daggerCall(t, "--source="+src, buildkitLinter, "lint-report", "json", "export", "--path="+filepath.Join(dir, "lint.json")).mustSucceed(t)
	daggerCall(t, "--source="+src, buildkitLinter, "lint-report", "sarif", "export", "--path="+filepath.Join(dir, "lint.sarif")).mustSucceed(t)
	var findings []struct {
		File, Code, Level string
		Line              int
	}
	b, _ := os.ReadFile(filepath.Join(dir, "lint.json"))
	if err := json.Unmarshal(b, &findings); err != nil || len(findings) == 0 {
		t.Fatalf("lint.json: %v, %d findings:\n%s", err, len(findings), b)
	}
	var sarif struct {
		Version string
		Runs    []struct{ Results []struct{ RuleID string } }
	}
	b, _ = os.ReadFile(filepath.Join(dir, "lint.sarif"))
	if err := json.Unmarshal(b, &sarif); err != nil || sarif.Version != "2.1.0" || len(sarif.Runs[0].Results) != len(findings) {
		t.Errorf("lint.sarif: %v, version %q, %d results for %d findings", err, sarif.Version, len(sarif.Runs[0].Results), len(findings))
	}
}

// hadolint itself cannot be obtained on these machines: Debian has no package, npm's wrapper
// downloads the binary at run time, and the Go module proxy holds only its Haskell source. Its
// JSON parsing and thresholds are tested in ci/plan against hadolint's documented output.
func TestLintWithRealHadolintImage(t *testing.T) {
	t.Skip("needs the real hadolint/hadolint image, which cannot be obtained here (no registry; no Debian, npm or Go package ships the binary); " +
		"the hadolint path's parsing and thresholds are covered by ci/plan's TestParseHadolintJSONAndThresholds")
}

// lintReport runs lint-report on src (the buildkit linter, nothing failing) and returns its
// findings from the exported hadolint JSON, its summary and its SARIF.
func lintReport(t *testing.T, src string) (findings []lintFinding, summary, sarif string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--source=" + src, buildkitLinter, "--lint-threshold=none", "lint-report"}
	daggerCall(t, append(args, "json", "export", "--path="+filepath.Join(dir, "lint.json"))...).mustSucceed(t)
	daggerCall(t, append(args, "sarif", "export", "--path="+filepath.Join(dir, "lint.sarif"))...).mustSucceed(t)
	summary = daggerCall(t, append(args, "summary")...).mustSucceed(t)
	b, err := os.ReadFile(filepath.Join(dir, "lint.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &findings); err != nil {
		t.Fatalf("lint.json: %v\n%s", err, b)
	}
	s, _ := os.ReadFile(filepath.Join(dir, "lint.sarif"))
	return findings, summary, string(s)
}

type lintFinding struct {
	File, Code, Level, Message string
	Line, Column               int
}

func findingsOf(fs []lintFinding, file string) []lintFinding {
	var out []lintFinding
	for _, f := range fs {
		if f.File == file {
			out = append(out, f)
		}
	}
	return out
}

// TestLintOfRealWorldDockerfiles lints the lint-real-world overlay once and checks two things on
// its report.
func TestLintOfRealWorldDockerfiles(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	fs, summary, sarif := lintReport(t, fixtureCopy(t, "lint-real-world"))
	t.Run("reads real base image configs through the engine", func(t *testing.T) {
		lintReadsRealBaseImageConfigs(t, fs, summary, sarif)
	})
	t.Run("ShellChecks only what a POSIX shell runs", func(t *testing.T) {
		lintShellChecksOnlyWhatAPOSIXShellRuns(t, fs, summary)
	})
}

// lintReadsRealBaseImageConfigs: base images are resolved by the engine through
// the test bed's docker.io mirror (the mirror's eclipse-temurin:17.0.13_11-jre is Debian's JRE
// with JAVA_HOME=/opt/java/openjdk, as the real image; the fixture relies only on JAVA_HOME being
// defined); an image whose registry refuses connections
// falls back to an empty config, and the finding and the summary say so; an image's versioned
// Dockerfile without a default BASE_IMAGE is linted with the base image nightly passes.
func lintReadsRealBaseImageConfigs(t *testing.T, fs []lintFinding, summary, sarif string) {

	for _, file := range []string{"docker/temurin/Dockerfile", "docker/management-api/Dockerfile", "prepared/management-api/Dockerfile"} {
		for _, f := range findingsOf(fs, file) {
			if f.Code == "UndefinedVar" || f.Code == "BuildKitParse" || f.Level == "warning" || f.Level == "error" {
				t.Errorf("%s:%d %s [%s] %s: the base image's real config defines JAVA_HOME, and nightly passes BASE_IMAGE", file, f.Line, f.Code, f.Level, f.Message)
			}
		}
	}
	api := findingsOf(fs, "docker/management-api/Dockerfile")
	if len(api) != 1 || api[0].Code != "InvalidDefaultArgInFrom" || api[0].Level != "info" || api[0].Line != 4 ||
		!strings.Contains(api[0].Message, "nightly always passes BASE_IMAGE=eclipse-temurin:17.0.13_11-jre") {
		t.Errorf("docker/management-api/Dockerfile findings = %+v, want one InvalidDefaultArgInFrom at info saying nightly passes BASE_IMAGE", api)
	}

	un := findingsOf(fs, "docker/unreachable/Dockerfile")
	if len(un) != 1 || un[0].Code != "UndefinedVar" || un[0].Line != 3 ||
		!strings.Contains(un[0].Message, "base image 127.0.0.1:1/nightly/unreachable-base:1.0 for linux/amd64 could not be resolved (the engine could not read its config:") ||
		!strings.Contains(un[0].Message, "linted with an empty config") {
		t.Errorf("docker/unreachable/Dockerfile findings = %+v, want UndefinedVar at line 3 saying the base image could not be resolved", un)
	}
	wantNote := "note: docker/unreachable/Dockerfile:2: base image 127.0.0.1:1/nightly/unreachable-base:1.0 for linux/amd64 could not be resolved"
	if !strings.Contains(summary, wantNote) {
		t.Errorf("the summary lacks %q:\n%s", wantNote, summary)
	}
	if strings.Contains(summary, "eclipse-temurin:17.0.13_11-jre for linux/amd64 could not be resolved") {
		t.Errorf("the summary says the mirror's eclipse-temurin could not be resolved:\n%s", summary)
	}
	if !strings.Contains(sarif, "toolExecutionNotifications") || !strings.Contains(sarif, "127.0.0.1:1/nightly/unreachable-base:1.0") {
		t.Errorf("the SARIF report lacks the notes:\n%s", sarif)
	}
}

// lintShellChecksOnlyWhatAPOSIXShellRuns: PowerShell RUN lines, a JSON heredoc fed to cat and
// a Python heredoc get no ShellCheck finding; a shell heredoc's finding lands on its own line.
func lintShellChecksOnlyWhatAPOSIXShellRuns(t *testing.T, fs []lintFinding, summary string) {
	var sc []string
	for _, f := range findingsOf(fs, "docker/tools/Dockerfile") {
		sc = append(sc, fmt.Sprintf("%d:%d %s [%s]", f.Line, f.Column, f.Code, f.Level))
	}
	if want := []string{"17:6 SC2086 [info]"}; strings.Join(sc, ",") != strings.Join(want, ",") {
		t.Errorf("docker/tools/Dockerfile findings = %v, want %v (only the shell heredoc's unquoted $UNQUOTED)", sc, want)
	}
	for _, want := range []string{
		"note: docker/tools/Dockerfile: RUN at line(s) 4, 5 not ShellChecked: run by pwsh -NoLogo -Command",
		"note: docker/tools/Dockerfile: RUN at line(s) 11 not ShellChecked: heredoc run as a file by its interpreter #!/usr/bin/env python3",
	} {
		if !strings.Contains(summary, want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary)
		}
	}
}
