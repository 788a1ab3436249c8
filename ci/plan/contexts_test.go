package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrepareDockerfile(t *testing.T) {
	const base = "registry.local/jre:17"
	df := "# comment\nARG BASE_IMAGE=eclipse-temurin:17-jre\nFROM ${BASE_IMAGE}\n"
	tests := []struct{ name, in, want string }{
		{"default replaced", df, "# comment\nARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"ARG without default", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", "ARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"no ARG: unchanged", "FROM alpine:3.22\n", "FROM alpine:3.22\n"},
		{"other ARG untouched", "ARG BASE_IMAGE_TAG=1\nFROM x\n", "ARG BASE_IMAGE_TAG=1\nFROM x\n"},
		{"other args after it kept", "ARG BASE_IMAGE=x OTHER=y\nFROM $BASE_IMAGE\n", "ARG BASE_IMAGE=registry.local/jre:17 OTHER=y\nFROM $BASE_IMAGE\n"},
		{"other args before it kept", "ARG OTHER=y\tBASE_IMAGE=x  LAST\nFROM ${BASE_IMAGE}\n", "ARG OTHER=y\tBASE_IMAGE=registry.local/jre:17  LAST\nFROM ${BASE_IMAGE}\n"},
		{"lower-case arg", "arg BASE_IMAGE=x\nfrom ${BASE_IMAGE}\n", "arg BASE_IMAGE=registry.local/jre:17\nfrom ${BASE_IMAGE}\n"},
		{"names are case-sensitive", "ARG base_image=x\nFROM ${base_image}\n", "ARG base_image=x\nFROM ${base_image}\n"},
		{"indented", "  ARG BASE_IMAGE=x\nFROM ${BASE_IMAGE}\n", "  ARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"double-quoted value", `ARG BASE_IMAGE="eclipse-temurin:17" OTHER="a b"` + "\nFROM ${BASE_IMAGE}\n", `ARG BASE_IMAGE=registry.local/jre:17 OTHER="a b"` + "\nFROM ${BASE_IMAGE}\n"},
		{"single-quoted value with a space", `ARG BASE_IMAGE='my image' OTHER=1` + "\nFROM x\n", `ARG BASE_IMAGE=registry.local/jre:17 OTHER=1` + "\nFROM x\n"},
		{"escaped space in another value", `ARG OTHER=a\ b BASE_IMAGE=x` + "\nFROM x\n", `ARG OTHER=a\ b BASE_IMAGE=registry.local/jre:17` + "\nFROM x\n"},
		{"line continuation", "ARG OTHER=1 \\\n    BASE_IMAGE=x \\\n    LAST=2\nFROM ${BASE_IMAGE}\n", "ARG OTHER=1 \\\n    BASE_IMAGE=registry.local/jre:17 \\\n    LAST=2\nFROM ${BASE_IMAGE}\n"},
		{"continuation with a comment and an empty line inside", "ARG OTHER=1 \\\n# why\n\n  BASE_IMAGE=x\nFROM ${BASE_IMAGE}\n", "ARG OTHER=1 \\\n# why\n\n  BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"trailing spaces after the continuation", "ARG OTHER=1 \\  \nBASE_IMAGE=x\nFROM ${BASE_IMAGE}\n", "ARG OTHER=1 \\  \nBASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"escape directive", "# escape=`\nARG DIR=C:\\ OTHER=1 `\n  BASE_IMAGE=mcr.microsoft.com/windows/nanoserver:ltsc2022\nFROM ${BASE_IMAGE}\n", "# escape=`\nARG DIR=C:\\ OTHER=1 `\n  BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"CRLF kept", "ARG BASE_IMAGE=x\r\nFROM ${BASE_IMAGE}\r\n", "ARG BASE_IMAGE=registry.local/jre:17\r\nFROM ${BASE_IMAGE}\r\n"},
		{"no final newline", "FROM ${BASE_IMAGE}", ""},
		{"only global ARGs", "ARG BASE_IMAGE=a\nFROM ${BASE_IMAGE} AS build\nARG BASE_IMAGE=b\nRUN echo $BASE_IMAGE\n", "ARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE} AS build\nARG BASE_IMAGE=b\nRUN echo $BASE_IMAGE\n"},
		{"every global declaration", "ARG BASE_IMAGE=a\nARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", "ARG BASE_IMAGE=registry.local/jre:17\nARG BASE_IMAGE=registry.local/jre:17\nFROM ${BASE_IMAGE}\n"},
		{"a heredoc body is not an instruction", "FROM alpine:3.22\nRUN <<EOF\nFROM ${BASE_IMAGE}\nEOF\nARG BASE_IMAGE=x\n", "FROM alpine:3.22\nRUN <<EOF\nFROM ${BASE_IMAGE}\nEOF\nARG BASE_IMAGE=x\n"},
		{"a continuation before the value's own line", "ARG BASE_IMAGE= \\\n  OTHER=1\nFROM ${BASE_IMAGE}\n", "ARG BASE_IMAGE=registry.local/jre:17 \\\n  OTHER=1\nFROM ${BASE_IMAGE}\n"},
		{"a # in the line is not a comment", "ARG BASE_IMAGE=x # the runtime\nFROM ${BASE_IMAGE}\n", "ARG BASE_IMAGE=registry.local/jre:17 # the runtime\nFROM ${BASE_IMAGE}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PrepareDockerfile(tt.in, base)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("PrepareDockerfile(%q) = %q, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("PrepareDockerfile(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
		})
	}
	if got, err := PrepareDockerfile(df, ""); err != nil || got != df {
		t.Errorf("PrepareDockerfile(df, \"\") = %q, %v, want it unchanged", got, err)
	}
}

func TestPrepareDockerfileRefusesWhatItCannotRewrite(t *testing.T) {
	tests := []struct{ name, in, base, wantErr string }{
		{"split by a continuation", "# x\nARG OTHER=1 BASE_IMAGE=eclipse-\\\ntemurin:17\nFROM ${BASE_IMAGE}\n", "b:1", "line 2: ARG BASE_IMAGE=eclipse-temurin:17 is split across lines"},
		{"unterminated quote", "ARG OTHER=1 BASE_IMAGE=\"x\nFROM ${BASE_IMAGE}\n", "b:1", "line 1: ARG BASE_IMAGE=\"x: unterminated quote"},
		{"quoted name", "ARG \"BASE_IMAGE=x\"\nFROM ${BASE_IMAGE}\n", "b:1", "line 1: ARG \"BASE_IMAGE=x\": a quoted or escaped name"},
		{"FROM uses it with no global ARG", "FROM ${BASE_IMAGE}\n", "b:1", "line 1: FROM uses $BASE_IMAGE but no ARG BASE_IMAGE"},
		{"declared only in a stage", "FROM alpine AS a\nARG BASE_IMAGE=x\nFROM $BASE_IMAGE\n", "b:1", "line 3: FROM uses $BASE_IMAGE"},
		{"default with :-", "FROM ${BASE_IMAGE:-alpine}\n", "b:1", "line 1: FROM uses"},
		{"bad escape directive", "# escape=x\nFROM a\n", "b:1", "escape directive"},
		{"base image with a space", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", "a b", `base image "a b"`},
		{"base image with a quote", "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n", `a"b`, `base image "a\"b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := PrepareDockerfile(tt.in, tt.base)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("PrepareDockerfile(%q) = %q, %v, want an error containing %q", tt.in, got, err, tt.wantErr)
			}
		})
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

func TestPrepareDockerfileOnTheFixtures(t *testing.T) {
	tests := []struct{ file, base, want string }{
		{"product/docker/management-api/Dockerfile", "eclipse-temurin:17.0.13_11-jre", "\nARG BASE_IMAGE=eclipse-temurin:17.0.13_11-jre\nFROM ${BASE_IMAGE}\n"},
		{"nested-layout/docker/management-api/Dockerfile", "registry.local/jre:17", "\narg BASE_IMAGE=registry.local/jre:17 \\\n    APP_HOME=/opt/platform\nfrom ${BASE_IMAGE}\n"},
		{"nested-layout/docker/webui/Dockerfile", "registry.local/busybox:1", "\nARG WEB_ROOT=/www BASE_IMAGE=registry.local/busybox:1\nFROM ${BASE_IMAGE}\n"},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := PrepareDockerfile(string(b), tt.base)
		if err != nil || !strings.Contains(got, tt.want) {
			t.Errorf("PrepareDockerfile(%s) = %q, %v, want it to contain %q", tt.file, got, err, tt.want)
		}
	}
}
