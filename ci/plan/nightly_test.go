package plan

import (
	"strings"
	"testing"
	"time"
)

func TestParseNamespace(t *testing.T) {
	tests := []struct {
		ref, host, ns, wantErr string
	}{
		{"docker.io/graviteeio", "docker.io", "graviteeio", ""},
		{"docker.io/graviteeio/", "docker.io", "graviteeio", ""},
		{"127.0.0.1:47501/e2e1", "127.0.0.1:47501", "e2e1", ""},
		{"localhost/team/apps", "localhost", "team/apps", ""},
		{"registry:5000/a_b/c-d", "registry:5000", "a_b/c-d", ""},
		{"ghcr.io/gravitee-io/nightly.builds", "ghcr.io", "gravitee-io/nightly.builds", ""},
		{"127.0.0.1:99999/x", "", "", `port "99999"`},
		{"127.0.0.1:0/x", "", "", `port "0"`},
		{"127.0.0.1:abc/x", "", "", `port "abc"`},
		{"docker.io/GraviteeIO", "", "", "lower-case"},
		{"Docker.io/graviteeio", "", "", "lower-case"},
		{"docker.io/", "", "", "no namespace"},
		{"docker.io", "", "", "no namespace"},
		{"docker.io//x", "", "", "empty path component"},
		{"graviteeio/apps", "", "", "not a registry host"},
		{"not a registry", "", "", "no namespace"},
		{"not a/registry", "", "", "not a registry host"},
		{"docker.io/bad-/x", "", "", `component "bad-"`},
		{"-bad.io/x", "", "", "not a registry host"},
	}
	for _, tt := range tests {
		host, ns, err := ParseNamespace(tt.ref)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.ref) {
				t.Errorf("ParseNamespace(%q) = %q, %q, %v; want an error naming it and %q", tt.ref, host, ns, err, tt.wantErr)
			}
			continue
		}
		if err != nil || host != tt.host || ns != tt.ns {
			t.Errorf("ParseNamespace(%q) = %q, %q, %v; want %q, %q", tt.ref, host, ns, err, tt.host, tt.ns)
		}
	}
}

func TestNewestOrdersByDateThenID(t *testing.T) {
	d := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	tests := []struct {
		name          string
		builds        []Build
		nightly, prev string
	}{
		{"one build", []Build{{ID: "a", Created: d(1)}}, "a", ""},
		{"by date, whatever the hash", []Build{{ID: "f", Created: d(1)}, {ID: "1", Created: d(2)}}, "1", "f"},
		{"same date: the hash decides, the same way everywhere", []Build{{ID: "1", Created: d(1)}, {ID: "f", Created: d(1)}}, "f", "1"},
		{"an undated (old) build is older than any dated one", []Build{{ID: "f"}, {ID: "1", Created: d(0)}}, "1", "f"},
		{"duplicates count once", []Build{{ID: "a", Created: d(1)}, {ID: "a", Created: d(1)}}, "a", ""},
		{"three", []Build{{ID: "b", Created: d(2)}, {ID: "c", Created: d(3)}, {ID: "a", Created: d(1)}}, "c", "b"},
	}
	for _, tt := range tests {
		n, p := Newest(tt.builds)
		got := [2]string{n.ID, ""}
		if p != nil {
			got[1] = p.ID
		}
		if got != [2]string{tt.nightly, tt.prev} {
			t.Errorf("%s: Newest = %v, want [%s %s]", tt.name, got, tt.nightly, tt.prev)
		}
	}
}

func TestMovesToKeepsPreviousFirst(t *testing.T) {
	cur := TagState{Nightly: []string{"o1", "o2"}, Previous: []string{"q1", "q2"}}
	want := TagState{Nightly: []string{"n1", "n2"}, Previous: []string{"o1", "o2"}}
	moves := MovesTo("3.0.0", cur, want)
	var got []string
	for _, m := range moves {
		got = append(got, m.Tag+"@"+string(rune('0'+m.Image))+"="+m.Digest+"<"+m.From)
	}
	w := "3.0.0-nightly-previous@0=o1<q1 3.0.0-nightly-previous@1=o2<q2 3.0.0-nightly@0=n1<o1 3.0.0-nightly@1=n2<o2"
	if strings.Join(got, " ") != w {
		t.Errorf("MovesTo = %v, want %s", got, w)
	}
	if m := MovesTo("3.0.0", want, want); len(m) != 0 {
		t.Errorf("MovesTo(same) = %v, want none", m)
	}
}

func TestIsTransientPushError(t *testing.T) {
	for msg, want := range map[string]bool{
		"failed to push: unexpected status from PUT request: 503 Service Unavailable": true,
		"429 Too Many Requests": true,
		"write tcp 10.0.0.1:1->1.2.3.4:443: write: connection reset by peer": true,
		"unexpected EOF":   true,
		"401 Unauthorized": false,
		"denied: requested access to the resource is denied": false,
		"manifest invalid":              false,
		"503 but also 401 Unauthorized": false,
	} {
		if got := IsTransientPushError(msg); got != want {
			t.Errorf("IsTransientPushError(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestCheckPlatformsAndCreated(t *testing.T) {
	if err := CheckPlatforms([]string{"linux/amd64", "linux/arm64/v8"}); err != nil {
		t.Errorf("CheckPlatforms(valid) = %v", err)
	}
	for _, bad := range [][]string{{"linux"}, {"Linux/AMD64"}, {"linux/amd64", "linux/amd64"}} {
		if err := CheckPlatforms(bad); err == nil {
			t.Errorf("CheckPlatforms(%q) = nil, want an error", bad)
		}
	}
	if _, err := ParseCreated("2026-11-29T10:00:00+01:00"); err != nil {
		t.Errorf("ParseCreated(RFC 3339) = %v", err)
	}
	if _, err := ParseCreated("yesterday"); err == nil || !strings.Contains(err.Error(), "yesterday") {
		t.Errorf("ParseCreated(yesterday) = %v, want an error naming it", err)
	}
}

func TestBuildLabelsAndCommitTagID(t *testing.T) {
	id, created, ok := BuildLabels(map[string]string{"org.opencontainers.image.revision": strings.Repeat("ab", 20), "org.opencontainers.image.created": "2026-11-29T10:00:00Z"})
	if !ok || id != "ababababababab"+"a" || created.IsZero() {
		t.Errorf("BuildLabels = %q, %v, %v", id, created, ok)
	}
	if _, _, ok := BuildLabels(map[string]string{"x": "y"}); ok {
		t.Errorf("BuildLabels(no revision) ok")
	}
	if got := CommitTagID("3.0.0", "3.0.0-nightly-0123456789abcde"); got != "0123456789abcde" {
		t.Errorf("CommitTagID = %q", got)
	}
	for _, tag := range []string{"3.0.0-nightly", "3.0.0-nightly-previous", "3.1.0-nightly-0123456789abcde", "3.0.0-nightly-0123456789abcdef"} {
		if got := CommitTagID("3.0.0", tag); got != "" {
			t.Errorf("CommitTagID(%q) = %q, want none", tag, got)
		}
	}
}
