package plan

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden report files in testdata/report")

const commit = "27da477287db9c19aa1b2c3d4e5f60718293a4b5"

var start = time.Date(2026, 11, 29, 2, 0, 0, 0, time.UTC)

// step is one thing a run records: pass, skip, fail or a concurrent part.
type step struct {
	op, stage, text string
	secs            float64
}

func record(r *Report, steps []step) {
	for _, s := range steps {
		d := time.Duration(s.secs * float64(time.Second))
		switch s.op {
		case "pass":
			r.Pass(s.stage, d, s.text)
		case "skip":
			r.Skip(s.stage, s.text)
		case "fail":
			r.Fail(s.stage, d, errors.New(s.text))
		case "part":
			r.AddPart(s.stage, s.text, d)
		}
	}
}

func statuses(r *Report) []string {
	var out []string
	for _, s := range r.Stages {
		out = append(out, s.Name+"="+s.Status)
	}
	return out
}

func TestReportStatus(t *testing.T) {
	all := func(status string, except map[string]string) []string {
		var out []string
		for _, n := range StageOrder {
			s := status
			if e, ok := except[n]; ok {
				s = e
			}
			out = append(out, n+"="+s)
		}
		return out
	}
	cases := []struct {
		name        string
		steps       []step
		passed      bool
		failedStage string
		cause       string
		want        []string
	}{
		{"every stage passed", []step{
			{"pass", StageTest, "Tests run: 4", 20}, {"pass", StageMavenDeploy, "deployed", 30}, {"pass", StageContexts, "2 contexts", 20},
			{"pass", StageLint, "0 finding(s)", 5}, {"pass", StagePublish, "moved", 40}, {"pass", StageStackConfig, "set", 10},
			{"pass", StageGitops, "pushed", 5}, {"pass", StageUp, "update #2", 30},
		}, true, "", "", all(StagePassed, nil)},
		{"nothing configured: the side-effecting stages skipped, still green", []step{
			{"pass", StageTest, "", 1}, {"skip", StageMavenDeploy, "no snapshot repository", 0}, {"pass", StageContexts, "", 1},
			{"pass", StageLint, "", 1}, {"skip", StagePublish, "no registry", 0},
		}, true, "", "", all(StageSkipped, map[string]string{StageTest: StagePassed, StageContexts: StagePassed, StageLint: StagePassed})},
		{"a failing test stops the run: every later stage not run", []step{
			{"fail", StageTest, "mvn clean test failed (Tests run: 4, Failures: 1):\n  a.B.c (failure): boom", 20},
		}, false, StageTest, "mvn clean test failed (Tests run: 4, Failures: 1): a.B.c (failure): boom",
			all(StageNotRun, map[string]string{StageTest: StageFailed})},
		{"lint over the threshold: publish and after not run", []step{
			{"pass", StageTest, "", 1}, {"pass", StageMavenDeploy, "", 1}, {"pass", StageContexts, "", 1},
			{"fail", StageLint, "buildkit: 1 finding(s) at or above the failure threshold \"warning\":\n  x", 2},
		}, false, StageLint, `buildkit: 1 finding(s) at or above the failure threshold "warning": x`,
			all(StageNotRun, map[string]string{StageTest: StagePassed, StageMavenDeploy: StagePassed, StageContexts: StagePassed, StageLint: StageFailed})},
		{"the first failure is the cause, even if another stage is recorded failed later", []step{
			{"pass", StageTest, "", 1}, {"fail", StageMavenDeploy, "first", 1}, {"fail", StageContexts, "second", 1},
		}, false, StageMavenDeploy, "first",
			all(StageNotRun, map[string]string{StageTest: StagePassed, StageMavenDeploy: StageFailed, StageContexts: StageFailed})},
		{"stages recorded out of order come back in run order; parts alone do not make a status", []step{
			{"part", StagePublish, "webui", 3}, {"pass", StageLint, "", 1}, {"pass", StageTest, "", 1},
		}, true, "", "", all(StageSkipped, map[string]string{StageTest: StagePassed, StageLint: StagePassed})},
		{"a skipped up after a green gitops stays skipped", []step{
			{"pass", StageGitops, "", 1}, {"skip", StageUp, "deploys through the deployment repository", 0},
		}, true, "", "", all(StageSkipped, map[string]string{StageGitops: StagePassed})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := NewReport(commit, false, start)
			record(r, c.steps)
			r.Close(time.Minute)
			if got := statuses(r); !reflect.DeepEqual(got, c.want) {
				t.Errorf("stages = %v, want %v", got, c.want)
			}
			if r.Passed != c.passed || r.FailedStage != c.failedStage || r.Cause != c.cause {
				t.Errorf("verdict = passed %v, failed stage %q, cause %q; want %v, %q, %q", r.Passed, r.FailedStage, r.Cause, c.passed, c.failedStage, c.cause)
			}
			want := StagePassed
			if !c.passed {
				want = StageFailed
			}
			if r.Status != want {
				t.Errorf("Status = %q, want %q", r.Status, want)
			}
		})
	}
}

func TestReportPartsKeepTheirTimes(t *testing.T) {
	r := NewReport(commit, true, start)
	r.AddPart(StagePublish, "management-api", 12*time.Second)
	r.AddPart(StagePublish, "webui", 3*time.Second)
	r.Pass(StagePublish, 14*time.Second, "would move 3.0.0-nightly\nsecond line")
	r.Close(time.Minute)
	s := r.Stage(StagePublish)
	if s.Status != StagePassed || s.Seconds != 14 || s.Summary != "would move 3.0.0-nightly" {
		t.Errorf("publish = %+v", s)
	}
	if want := []StagePart{{"management-api", 12}, {"webui", 3}}; !reflect.DeepEqual(s.Parts, want) {
		t.Errorf("parts = %v, want %v", s.Parts, want)
	}
}

func TestNewReportGitCommitID(t *testing.T) {
	r := NewReport(" 27DA477287DB9C19AA1B2C3D4E5F60718293A4B5\n", false, start)
	if r.Commit != commit || r.GitCommitID != "27da477287db9c1" || r.StartedAt != "2026-11-29T02:00:00Z" || r.Schema != ReportSchema {
		t.Errorf("NewReport = %+v", r)
	}
}

// redRun and greenRun are the golden reports: testdata/report/*.json is read by
// tools/gha's tests too, so the JSON contract is checked on both sides.
func redRun() *Report {
	r := NewReport(commit, false, start)
	r.Version, r.NightlyTag = "3.0.0-SNAPSHOT", "3.0.0-nightly"
	r.Pass(StageTest, 21300*time.Millisecond, "Tests run: 4, Failures: 0, Errors: 0, Skipped: 0")
	r.Tests = &TestsSection{Passed: true, Tests: 4, JUnitDir: "junit"}
	r.Pass(StageMavenDeploy, 30*time.Second, "deployed 3.0.0-SNAPSHOT to http://maven-repo:47502/maven/snapshots: 6 file(s)")
	r.MavenDeploy = &MavenDeploySection{Repository: "http://maven-repo:47502/maven/snapshots", Version: "3.0.0-SNAPSHOT", Attempts: 1,
		Artifacts: []string{"io.nightly.fixture:management-api:jar:3.0.0-20261129.020000-1"}}
	r.Pass(StageContexts, 18*time.Second, "management-api, webui")
	r.Lint = &LintSection{Linter: "buildkit", Threshold: "warning", Files: []string{"docker/webui/Dockerfile", "prepared/webui/Dockerfile"},
		Failing: 2, SarifFile: "lint/lint.sarif", Findings: []LintEntry{
			{File: "docker/webui/Dockerfile", Source: "docker/webui/Dockerfile", Line: 4, Column: 1, Code: "JSONArgsRecommended", Level: "warning",
				Message: "JSON arguments recommended for CMD | to prevent unintended behavior", Failing: true},
			{File: "prepared/webui/Dockerfile", Source: "docker/webui/Dockerfile", Line: 4, Column: 1, Code: "JSONArgsRecommended", Level: "warning",
				Message: "JSON arguments recommended for CMD | to prevent unintended behavior", Failing: true},
			{File: "docker/webui/Dockerfile", Source: "docker/webui/Dockerfile", Line: 2, Column: 1, Code: "SC2086", Level: "info", Message: "Double quote to prevent globbing"},
		}}
	r.Fail(StageLint, 4*time.Second, errors.New("buildkit: 2 finding(s) at or above the failure threshold \"warning\":\n  docker/webui/Dockerfile:4:JSONArgsRecommended [warning] JSON arguments recommended\n  prepared/webui/Dockerfile:4:JSONArgsRecommended [warning] JSON arguments recommended"))
	r.Close(73400 * time.Millisecond)
	return r
}

func greenRun() *Report {
	r := NewReport(commit, false, start)
	r.Version, r.NightlyTag = "3.0.0-SNAPSHOT", "3.0.0-nightly"
	r.Pass(StageTest, 20*time.Second, "Tests run: 4, Failures: 0, Errors: 0, Skipped: 0")
	r.Tests = &TestsSection{Passed: true, Tests: 4, JUnitDir: "junit"}
	r.Pass(StageMavenDeploy, 30*time.Second, "deployed")
	r.Pass(StageContexts, 18*time.Second, "management-api, webui")
	r.Pass(StageLint, 4*time.Second, "0 finding(s)")
	r.Lint = &LintSection{Linter: "buildkit", Threshold: "warning", Files: []string{"docker/webui/Dockerfile"}}
	r.AddPart(StagePublish, "management-api", 25*time.Second)
	r.AddPart(StagePublish, "webui", 4*time.Second)
	r.Pass(StagePublish, 31*time.Second, "pushed and moved 3.0.0-nightly")
	r.Images = &ImagesSection{NightlyTag: "3.0.0-nightly", PreviousTag: "3.0.0-nightly-previous", CommitTag: "3.0.0-nightly-27da477287db9c1",
		Created: "2026-11-29T01:55:00Z", Nightly: "27da477287db9c1", Previous: "1111111111111111", Images: []ImageEntry{
			{Name: "management-api", Repository: "docker.io/graviteeio/cockpit-management-api", Digest: "sha256:" + strings.Repeat("a", 64), Pushed: true,
				Moves: []TagEntry{{Tag: "3.0.0-nightly-previous", From: "sha256:" + strings.Repeat("0", 64), To: "sha256:" + strings.Repeat("1", 64)},
					{Tag: "3.0.0-nightly", From: "sha256:" + strings.Repeat("1", 64), To: "sha256:" + strings.Repeat("a", 64)}},
				NightlyDigest: "sha256:" + strings.Repeat("a", 64), PreviousDigest: "sha256:" + strings.Repeat("1", 64)},
			{Name: "webui", Repository: "docker.io/graviteeio/cockpit-webui", Digest: "sha256:" + strings.Repeat("b", 64), Pushed: true,
				Moves:         []TagEntry{{Tag: "3.0.0-nightly", To: "sha256:" + strings.Repeat("b", 64)}},
				NightlyDigest: "sha256:" + strings.Repeat("b", 64)},
		}}
	r.Pass(StageStackConfig, 9*time.Second, "Pulumi.nightly.yaml")
	r.Stack = &StackSection{Stack: "nightly", File: "Pulumi.nightly.yaml", Config: map[string]string{
		"graviteeio:docker_image_tag": "3.0.0-nightly", "graviteeio:api_git_commit_id": "27da477287db9c1"}}
	r.Pass(StageGitops, 6*time.Second, "created branch deployment-27da477287db9c1; opened pull request #3 to master")
	r.Gitops = &GitopsSection{Repository: "https://github.com/gravitee-lab/gravitee-cockpit-nightly-deployment.git", Forge: "github",
		Mode: "pull-request", Base: "master", Branch: "deployment-27da477287db9c1", Path: "Pulumi.nightly.yaml",
		Commit: "c0ffee0000000000000000000000000000000000", Changed: true, Pushed: true, Attempts: 1, PullRequest: 3,
		PullRequestURL: "https://github.com/gravitee-lab/gravitee-cockpit-nightly-deployment/pull/3", PullRequestCreated: true,
		Result: "created branch deployment-27da477287db9c1; opened pull request #3 to master",
		Diff:   "-  graviteeio:docker_image_tag: 2.9.0-nightly\n+  graviteeio:docker_image_tag: 3.0.0-nightly\n```"}
	r.Pass(StageUp, 40*time.Second, "update #7: 2 update, 3 same")
	r.Deployment = &DeploymentSection{Stack: "nightly", PreviewChanges: "2 update, 3 same", Changes: "2 update, 3 same", Changed: 2, Version: 7,
		PreviewDiff: "~ kubernetes:apps/v1:Deployment cockpit-api\n  ~ app.gravitee.io/git_commit_id: \"1111\" => \"27da477287db9c1\"",
		Outputs:     map[string]string{"namespace": "cockpit-nightly"},
		Workloads: []WorkloadEntry{{Kind: "apps/v1/Deployment", Namespace: "cockpit-nightly", Name: "cockpit-api", GitCommitID: "27da477287db9c1",
			RolledOut: true, State: "rolled out: 1/1 updated, 1 ready, 1 available"}}}
	r.Close(158 * time.Second)
	return r
}

func TestReportGoldenJSON(t *testing.T) {
	for name, r := range map[string]*Report{"red": redRun(), "green": greenRun()} {
		js, err := r.JSON()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "report", name+".json")
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, js, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestReportGoldenJSON -update once)", err)
		}
		if string(js) != string(want) {
			t.Errorf("%s report JSON differs from %s (go test -update rewrites it):\n%s", name, path, js)
		}
		back, err := ParseReport(js)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("%s: ParseReport(JSON()) = %+v, want %+v", name, back, r)
		}
	}
}

func TestParseReportRefusesOtherSchemas(t *testing.T) {
	for _, in := range []string{`{"schema":2}`, `{}`, `not json`} {
		if _, err := ParseReport([]byte(in)); err == nil {
			t.Errorf("ParseReport(%s) = nil error", in)
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	cases := []struct {
		name      string
		report    *Report
		want, not []string
	}{
		{"red at lint", redRun(), []string{
			"## ❌ nightly 3.0.0-nightly of 27da477287db9c1: failed at lint: buildkit: 2 finding(s) at or above the failure threshold \"warning\": docker/webui/Dockerfile:4:JSONArgsRecommended \\[warning\\] JSON arguments recommended (and 1 more line(s))",
			"Stage **lint** failed:\n\n```text\nbuildkit: 2 finding(s)",
			"| lint | ❌ failed | 4.0s |",
			"| publish | ⛔ not-run |  | not run: stage lint failed |",
			"| test | ✅ passed | 21.3s | Tests run: 4, Failures: 0, Errors: 0, Skipped: 0 |",
			// A | in a message must not split the table's cell.
			`| ` + "`docker/webui/Dockerfile`" + ` | 4 | JSONArgsRecommended | **warning** | JSON arguments recommended for CMD \| to prevent unintended behavior |`,
			"| `prepared/webui/Dockerfile` | 4 |",
			"| 2 | SC2086 | info | Double quote",
			"73.4s in all",
			"JUnit XML in `junit`",
		}, []string{"### Images", "### Deployment", "Dry run"}},
		{"green, every section", greenRun(), []string{
			"## ✅ nightly 3.0.0-nightly of 27da477287db9c1: passed",
			"| up | ✅ passed | 40.0s | update #7: 2 update, 3 same |",
			"2m38s in all",
			"| `docker.io/graviteeio/cockpit-management-api` | `sha256:aaaa",
			"`3.0.0-nightly-previous` `sha256:000000000000` → `sha256:111111111111`<br>`3.0.0-nightly`",
			"`3.0.0-nightly` (new) → `sha256:bbbbbbbbbbbb`",
			"`3.0.0-nightly` is commit `27da477287db9c1`, `3.0.0-nightly-previous` is commit `1111111111111111`",
			"- `graviteeio:api_git_commit_id` = `27da477287db9c1`\n- `graviteeio:docker_image_tag` = `3.0.0-nightly`",
			"- pull request: [#3](https://github.com/gravitee-lab/gravitee-cockpit-nightly-deployment/pull/3)",
			"| apps/v1/Deployment `cockpit-nightly/cockpit-api` | `27da477287db9c1` | rolled out: 1/1 updated, 1 ready, 1 available |",
			"<details><summary>pulumi preview --diff</summary>",
			// A fence in the diff must not close the block early.
			"+  graviteeio:docker_image_tag: 3.0.0-nightly\n`\u200b``\n```\n</details>",
		}, []string{"failed", "not-run"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			md := c.report.Markdown()
			for _, w := range c.want {
				if !strings.Contains(md, w) {
					t.Errorf("Markdown() lacks %q:\n%s", w, md)
				}
			}
			for _, n := range c.not {
				if strings.Contains(md, n) {
					t.Errorf("Markdown() contains %q:\n%s", n, md)
				}
			}
		})
	}
}

func TestReportDryRunAndText(t *testing.T) {
	r := NewReport(commit, true, start)
	r.NightlyTag = "3.0.0-nightly"
	r.Pass(StageTest, 2*time.Second, "ok")
	r.Skip(StagePublish, "no registry: call with-registry")
	r.Close(3 * time.Second)
	if h := r.Headline(); h != "nightly 3.0.0-nightly of 27da477287db9c1 (dry run): passed" {
		t.Errorf("Headline() = %q", h)
	}
	md := r.Markdown()
	if !strings.Contains(md, "**Dry run: nothing was published, pushed, committed or deployed.**") {
		t.Errorf("dry-run Markdown lacks the dry-run line:\n%s", md)
	}
	text := r.Text()
	for _, w := range []string{"  test          passed      2.0s  ok\n", "  publish       skipped           no registry: call with-registry\n"} {
		if !strings.Contains(text, w) {
			t.Errorf("Text() lacks %q:\n%s", w, text)
		}
	}
}

func TestMarkdownEscapesTheHeadline(t *testing.T) {
	r := NewReport(commit, false, start)
	r.Fail(StageTest, time.Second, errors.New("pom.xml: <version> of *module* [x]_y"))
	r.Close(time.Second)
	md := r.Markdown()
	if !strings.Contains(md, `pom.xml: &lt;version> of \*module\* \[x\]\_y`) {
		t.Errorf("headline not escaped:\n%s", md)
	}
}

// A red test run the engine's cache held is not reused: the report says the tests ran again.
func TestReportSaysARedRunRanAgain(t *testing.T) {
	r := NewReport(commit, false, start)
	r.Tests = &TestsSection{Tests: 5, Failures: 1, ExitCode: 1, RanAgain: true,
		Failed: []FailedTestEntry{{Class: "io.x.VersionTest", Name: "released", Kind: "failure", Message: "boom"}}}
	r.Fail(StageTest, time.Second, errors.New("mvn clean test failed"))
	r.Close(time.Second)
	if md := r.Markdown(); !strings.Contains(md, "it was not reused: the tests ran again") {
		t.Errorf("Markdown() does not say the tests ran again:\n%s", md)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"ranAgain":true`) {
		t.Errorf("JSON lacks ranAgain: %s", raw)
	}
	r.Tests.RanAgain = false
	if raw, _ := json.Marshal(r); strings.Contains(string(raw), "ranAgain") {
		t.Errorf("JSON of a run that did not run again names ranAgain: %s", raw)
	}
}
