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
	b, err := SARIF(fs, "hadolint", "https://github.com/hadolint/hadolint")
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
	if b, _ := SARIF(nil, "hadolint", ""); !strings.Contains(string(b), `"results": []`) || !strings.Contains(string(b), `"rules": []`) {
		t.Errorf("SARIF(no findings) must have an empty results array: %s", b)
	}
}

func TestLintSummary(t *testing.T) {
	fs, _ := ParseHadolintJSON([]byte(hadolintJSON), "hadolint")
	SortFindings(fs)
	got := LintSummary(fs, "warning")
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
