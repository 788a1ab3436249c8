package plan

import (
	"strings"
	"testing"
)

func TestPrepareDockerfile(t *testing.T) {
	df := "# comment\nARG BASE_IMAGE=eclipse-temurin:17-jre\nFROM ${BASE_IMAGE}\n"
	tests := []struct{ name, in, base, want string }{
		{"default replaced", df, "registry.local/jre:17", "# comment\nARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"ARG without default", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", "busybox:1.37.0", "ARG BASE_IMAGE=busybox:1.37.0\nFROM ${BASE_IMAGE}\n"},
		{"no ARG: unchanged", "FROM alpine:3.22\n", "busybox:1.37.0", "FROM alpine:3.22\n"},
		{"empty base: unchanged", df, "", df},
		{"other ARG untouched", "ARG BASE_IMAGE_TAG=1\nFROM x\n", "y", "ARG BASE_IMAGE_TAG=1\nFROM x\n"},
	}
	for _, tt := range tests {
		if got := PrepareDockerfile(tt.in, tt.base); got != tt.want {
			t.Errorf("%s: PrepareDockerfile() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPickArtifact(t *testing.T) {
	tests := []struct {
		matches       []string
		want, wantErr string
	}{
		{[]string{"api/target/api-3.0.0-SNAPSHOT.jar"}, "api/target/api-3.0.0-SNAPSHOT.jar", ""},
		{[]string{"api/target/api-3.0.0-SNAPSHOT-sources.jar", "api/target/api-3.0.0-SNAPSHOT.jar", "api/target/original-api-3.0.0-SNAPSHOT.jar"}, "api/target/api-3.0.0-SNAPSHOT.jar", ""},
		{nil, "", "no file matches"},
		{[]string{"api/target/a.jar", "api/target/b.jar"}, "", "2 files match"},
	}
	for _, tt := range tests {
		got, err := PickArtifact("api/target/*.jar", tt.matches)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"api/target/*.jar"`) {
				t.Errorf("PickArtifact(%q) error = %v, want %q naming the glob", tt.matches, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PickArtifact(%q) = %q, %v, want %q", tt.matches, got, err, tt.want)
		}
	}
}
