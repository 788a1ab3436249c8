package plan

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPlanPromotion(t *testing.T) {
	const a, b = "sha256:aaa", "sha256:bbb"
	tests := []struct {
		name            string
		current, pushed string
		want            []TagMove
		unchanged       bool
	}{
		{"first nightly", "", a, []TagMove{{"3.0.0-nightly", a}}, false},
		{"new build keeps the old as previous", a, b, []TagMove{{"3.0.0-nightly-previous", a}, {"3.0.0-nightly", b}}, false},
		{"re-run of the same build touches nothing", b, b, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanPromotion("3.0.0", tt.current, tt.pushed)
			if !reflect.DeepEqual(p.Moves, tt.want) || p.Unchanged() != tt.unchanged {
				t.Errorf("PlanPromotion(%q, %q) = %+v (unchanged %v), want %+v (unchanged %v)",
					tt.current, tt.pushed, p.Moves, p.Unchanged(), tt.want, tt.unchanged)
			}
		})
	}
}

func TestPlanRollback(t *testing.T) {
	moves, err := PlanRollback("3.0.0", "sha256:b", "sha256:a")
	if err != nil || !reflect.DeepEqual(moves, []TagMove{{"3.0.0-nightly", "sha256:a"}}) {
		t.Errorf("PlanRollback(b, a) = %v, %v", moves, err)
	}
	if moves, err := PlanRollback("3.0.0", "sha256:a", "sha256:a"); err != nil || moves != nil {
		t.Errorf("PlanRollback(a, a) = %v, %v, want nothing to do", moves, err)
	}
	if _, err := PlanRollback("3.0.0", "sha256:a", ""); err == nil || !strings.Contains(err.Error(), "3.0.0-nightly-previous") {
		t.Errorf("PlanRollback without previous: error = %v, want one naming 3.0.0-nightly-previous", err)
	}
}

func TestGitCommitID(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"27da477287db9c19aa1b2c3d4e5f60718293a4b5", "27da477287db9c1", ""},
		{" 27DA477287DB9C19 \n", "27da477287db9c1", ""},
		{"27da477287db9c1", "27da477287db9c1", ""},
		{"27da477", "", `commit "27da477"`},
		{"", "", `commit ""`},
		{"main", "", `commit "main"`},
		{"27da477287db9c19-dirty", "", `commit "27da477287db9c19-dirty"`},
	}
	for _, tt := range tests {
		got, err := GitCommitID(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("GitCommitID(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("GitCommitID(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	if got := CommitTag("3.0.0", "27da477287db9c1"); got != "3.0.0-nightly-27da477287db9c1" {
		t.Errorf("CommitTag() = %q", got)
	}
}

func TestSameVersion(t *testing.T) {
	api := Version{"3.0.0-SNAPSHOT", "3.0.0"}
	v, err := SameVersion(map[string]Version{"management-api": api, "webui": {"3.0.0-rc.1-SNAPSHOT", "3.0.0"}})
	if err != nil || v.Base != "3.0.0" {
		t.Errorf("SameVersion(same base) = %+v, %v", v, err)
	}
	_, err = SameVersion(map[string]Version{"management-api": api, "webui": {"3.1.0-SNAPSHOT", "3.1.0"}})
	for _, want := range []string{"management-api is 3.0.0-nightly", "webui is 3.1.0-nightly (3.1.0-SNAPSHOT)", "nothing was pushed"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("SameVersion(different) error = %v, want it to contain %q", err, want)
		}
	}
}

func TestResponseTimeout(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "", want: DefaultResponseTimeout},
		{in: "  ", want: DefaultResponseTimeout},
		{in: "3m", want: 3 * time.Minute},
		{in: "20s", want: 20 * time.Second},
		{in: " 1m30s ", want: 90 * time.Second},
		{in: "1h", want: time.Hour},
		{in: "90", wantErr: `response timeout "90": want a duration with its unit`},
		{in: "soon", wantErr: `response timeout "soon": want a duration with its unit`},
		{in: "500ms", wantErr: `response timeout "500ms": want between 1s and 1h`},
		{in: "-5s", wantErr: `response timeout "-5s": want between 1s and 1h`},
		{in: "2h", wantErr: `response timeout "2h": want between 1s and 1h`},
	} {
		got, err := ResponseTimeout(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ResponseTimeout(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ResponseTimeout(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
