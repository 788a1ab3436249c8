package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// hadolint's documented JSON output (--format json).
const hadolintJSON = `[{"line":3,"code":"DL3006","message":"Always tag the version of an image explicitly","column":1,"file":"Dockerfile","level":"warning"},
{"line":5,"code":"SC2086","message":"Double quote to prevent globbing and word splitting.","column":1,"file":"Dockerfile","level":"info"},
{"line":7,"code":"DL3020","message":"Use COPY instead of ADD for files and folders","column":1,"file":"docker/webui/Dockerfile","level":"error"},
{"line":2,"code":"DL3048","message":"Invalid label key.","column":1,"file":"Dockerfile","level":"style"}]`

func TestParseHadolintJSONAndThresholds(t *testing.T) {
	fs, err := ParseHadolintJSON([]byte(hadolintJSON), "hadolint")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 4 || fs[0] != (Finding{"Dockerfile", 3, 1, "DL3006", "warning", "Always tag the version of an image explicitly"}) {
		t.Fatalf("ParseHadolintJSON() = %+v", fs)
	}
	codes := func(fs []Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Code)
		}
		return out
	}
	tests := []struct {
		threshold string
		want      []string
	}{
		{"error", []string{"DL3020"}},
		{"warning", []string{"DL3006", "DL3020"}},
		{"info", []string{"DL3006", "SC2086", "DL3020"}},
		{"style", []string{"DL3006", "SC2086", "DL3020", "DL3048"}},
		{"none", nil},
	}
	for _, tt := range tests {
		if got := codes(Failing(fs, tt.threshold)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Failing(%s) = %v, want %v", tt.threshold, got, tt.want)
		}
	}
}

func TestParseHadolintJSONBadInputs(t *testing.T) {
	if fs, err := ParseHadolintJSON([]byte("  \n"), "hadolint"); err != nil || fs != nil {
		t.Errorf("empty output = %v, %v, want no findings", fs, err)
	}
	if _, err := ParseHadolintJSON([]byte("hadolint: openBinaryFile: does not exist"), "hadolint docker/x/Dockerfile"); err == nil ||
		!strings.Contains(err.Error(), "hadolint docker/x/Dockerfile") || !strings.Contains(err.Error(), "openBinaryFile") {
		t.Errorf("non-JSON output error = %v, want it to name the source and quote the output", err)
	}
	if _, err := ParseHadolintJSON([]byte(`[{"line":1,"code":"DL1","level":"fatal"}]`), "hadolint"); err == nil || !strings.Contains(err.Error(), `"fatal"`) {
		t.Errorf("unknown level error = %v", err)
	}
}

func TestParseThreshold(t *testing.T) {
	for in, want := range map[string]string{"error": "error", "Warning": "warning", " style ": "style", "ignore": "none", "none": "none"} {
		if got, err := ParseThreshold(in); err != nil || got != want {
			t.Errorf("ParseThreshold(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseThreshold("critical"); err == nil || !strings.Contains(err.Error(), `"critical"`) {
		t.Errorf("ParseThreshold(critical) error = %v", err)
	}
}

func TestSARIF(t *testing.T) {
	fs, _ := ParseHadolintJSON([]byte(hadolintJSON), "hadolint")
	b, err := SARIF(fs, "hadolint", "https://github.com/hadolint/hadolint", nil)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version string
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string
					Rules []struct{ ID string }
				}
			}
			Results []struct {
				RuleID    string
				Level     string
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	run := doc.Runs[0]
	if doc.Version != "2.1.0" || run.Tool.Driver.Name != "hadolint" || len(run.Tool.Driver.Rules) != 4 || len(run.Results) != 4 {
		t.Fatalf("SARIF = %s", b)
	}
	r := run.Results[2]
	loc := r.Locations[0].PhysicalLocation
	if r.RuleID != "DL3020" || r.Level != "error" || loc.ArtifactLocation.URI != "docker/webui/Dockerfile" || loc.Region.StartLine != 7 {
		t.Errorf("SARIF result = %+v", r)
	}
	if run.Results[1].Level != "note" || run.Results[3].Level != "note" {
		t.Errorf("info and style must map to SARIF note: %+v", run.Results)
	}
	if b, _ := SARIF(nil, "hadolint", "", nil); !strings.Contains(string(b), `"results": []`) || !strings.Contains(string(b), `"rules": []`) {
		t.Errorf("SARIF(no findings) must have an empty results array: %s", b)
	}
}

func TestLintSummary(t *testing.T) {
	fs, _ := ParseHadolintJSON([]byte(hadolintJSON), "hadolint")
	SortFindings(fs)
	got := LintSummary(fs, "warning", nil)
	want := `4 finding(s), 2 at or above the failure threshold "warning"
Dockerfile:2:1 DL3048 [style] Invalid label key.
Dockerfile:3:1 DL3006 [warning] Always tag the version of an image explicitly
Dockerfile:5:1 SC2086 [info] Double quote to prevent globbing and word splitting.
docker/webui/Dockerfile:7:1 DL3020 [error] Use COPY instead of ADD for files and folders
`
	if got != want {
		t.Errorf("LintSummary() =\n%s\nwant\n%s", got, want)
	}
}

func TestLintNotesInSummaryAndSARIF(t *testing.T) {
	fs := []Finding{{"Dockerfile", 2, 1, "UndefinedVar", "warning", "Usage of undefined variable '$JAVA_HOME'"}}
	notes := []string{"Dockerfile:1: base image docker.io/library/x:1 for linux/amd64 could not be resolved (…)"}
	want := "1 finding(s), 1 at or above the failure threshold \"warning\"\n" +
		"note: " + notes[0] + "\n" +
		"Dockerfile:2:1 UndefinedVar [warning] Usage of undefined variable '$JAVA_HOME'\n"
	if got := LintSummary(fs, "warning", notes); got != want {
		t.Errorf("LintSummary() =\n%s\nwant\n%s", got, want)
	}
	b, err := SARIF(fs, "buildkit", "", notes)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []struct {
			Invocations []struct {
				ExecutionSuccessful        bool
				ToolExecutionNotifications []struct {
					Level   string
					Message struct{ Text string }
				}
			}
			Results []any
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	inv := doc.Runs[0].Invocations
	if len(inv) != 1 || !inv[0].ExecutionSuccessful || len(inv[0].ToolExecutionNotifications) != 1 ||
		inv[0].ToolExecutionNotifications[0].Message.Text != notes[0] || inv[0].ToolExecutionNotifications[0].Level != "note" ||
		len(doc.Runs[0].Results) != 1 {
		t.Errorf("SARIF with notes = %s", b)
	}
	if b, _ := SARIF(fs, "buildkit", "", nil); strings.Contains(string(b), "invocations") {
		t.Errorf("SARIF without notes has invocations: %s", b)
	}
}

// TestLintFilesBaseImageWouldPass: an image's versioned Dockerfile is linted with the BASE_IMAGE
// nightly passes; prepared and other Dockerfiles as they are.
func TestLintFilesBaseImageWouldPass(t *testing.T) {
	got := LintFiles([]string{"docker/management-api/Dockerfile", "docker/tools/Dockerfile", "prepared/management-api/Dockerfile", "docker/webui/Dockerfile"},
		map[string]string{"docker/management-api/Dockerfile": "eclipse-temurin:17.0.13_11-jre", "docker/webui/Dockerfile": ""})
	want := []LintFile{
		{Path: "docker/management-api/Dockerfile", BuildArgs: map[string]string{"BASE_IMAGE": "eclipse-temurin:17.0.13_11-jre"}},
		{Path: "docker/tools/Dockerfile"},
		{Path: "prepared/management-api/Dockerfile"},
		{Path: "docker/webui/Dockerfile"}, // no base image configured: nothing is passed
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LintFiles() = %+v, want %+v", got, want)
	}
}

func TestParseBaseImageRefs(t *testing.T) {
	refs, err := ParseBaseImageRefs([]byte(`[{"ref":"docker.io/library/busybox:1.37.0","platform":"linux/amd64"},{"ref":"mcr.microsoft.com/windows/servercore:ltsc2022","platform":"windows/amd64"}]` + "\n"))
	if err != nil || len(refs) != 2 || refs[1] != (BaseImageRef{"mcr.microsoft.com/windows/servercore:ltsc2022", "windows/amd64"}) {
		t.Errorf("ParseBaseImageRefs() = %+v, %v", refs, err)
	}
	if refs, err := ParseBaseImageRefs([]byte("[]")); err != nil || len(refs) != 0 {
		t.Errorf("no base images (FROM scratch only) = %+v, %v", refs, err)
	}
	for _, bad := range []string{"dockerlint: open x: no such file", `[{"ref":"x"}]`} {
		if _, err := ParseBaseImageRefs([]byte(bad)); err == nil {
			t.Errorf("ParseBaseImageRefs(%q) accepted it", bad)
		}
	}
}

// TestLintSpecBaseImageConfigs: what the engine reads of a base image becomes an OCI image config
// dockerlint hands to BuildKit; an image it could not read carries the reason, no config.
func TestLintSpecBaseImageConfigs(t *testing.T) {
	files := []LintFile{{Path: "Dockerfile", BuildArgs: map[string]string{"BASE_IMAGE": "eclipse-temurin:17.0.13_11-jre"}}}
	images := []BaseImageConfig{
		{BaseImageRef: BaseImageRef{"docker.io/library/eclipse-temurin:17.0.13_11-jre", "linux/amd64"}, ImagePlatform: "linux/amd64",
			Env: []string{"PATH=/usr/bin:/bin", "JAVA_HOME=/opt/java/openjdk"}, User: "", WorkingDir: "/", Cmd: []string{"jshell"}},
		{BaseImageRef: BaseImageRef{"docker.io/library/alpine:3.20.3", "linux/arm64/v8"}, ImagePlatform: "linux/arm64/v8"},
		{BaseImageRef: BaseImageRef{"127.0.0.1:1/nightly/missing:1", "linux/amd64"}, Err: "the engine could not read its config: connection refused"},
	}
	b, err := LintSpec(files, images)
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Files  []LintFile
		Images []struct {
			Ref, Platform, Error string
			Config               *struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
				Variant      string `json:"variant"`
				Config       struct {
					Env        []string
					WorkingDir string
					Cmd        []string
				} `json:"config"`
			}
		}
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if !reflect.DeepEqual(spec.Files, files) || len(spec.Images) != 3 {
		t.Fatalf("LintSpec() = %s", b)
	}
	temurin, alpine, missing := spec.Images[0], spec.Images[1], spec.Images[2]
	if c := temurin.Config; c == nil || c.OS != "linux" || c.Architecture != "amd64" || c.Variant != "" ||
		!reflect.DeepEqual(c.Config.Env, images[0].Env) || c.Config.WorkingDir != "/" || !reflect.DeepEqual(c.Config.Cmd, []string{"jshell"}) {
		t.Errorf("temurin = %+v", temurin.Config)
	}
	if c := alpine.Config; c == nil || c.OS != "linux" || c.Architecture != "arm64" || c.Variant != "v8" || alpine.Platform != "linux/arm64/v8" {
		t.Errorf("alpine = %+v", alpine)
	}
	if missing.Config != nil || missing.Error != images[2].Err {
		t.Errorf("missing = %+v", missing)
	}
	if _, err := LintSpec(nil, []BaseImageConfig{{BaseImageRef: BaseImageRef{"x:1", "linux/amd64"}, ImagePlatform: "linux"}}); err == nil ||
		!strings.Contains(err.Error(), "x:1") {
		t.Errorf("a platform without architecture: %v", err)
	}
	if b, _ := LintSpec(files, nil); !strings.Contains(string(b), `"images": []`) {
		t.Errorf("LintSpec(no images) = %s", b)
	}
}

func TestParseLintNotes(t *testing.T) {
	if n, err := ParseLintNotes([]byte(`["a","b"]`)); err != nil || !reflect.DeepEqual(n, []string{"a", "b"}) {
		t.Errorf("ParseLintNotes() = %q, %v", n, err)
	}
	if _, err := ParseLintNotes([]byte("oops")); err == nil {
		t.Error("ParseLintNotes(oops) accepted it")
	}
}
