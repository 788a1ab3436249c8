package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
)

// temurin is eclipse-temurin:17.0.13_11-jre's config as the engine reads it (Env as the real
// image has it).
var temurin = img("docker.io/library/eclipse-temurin:17.0.13_11-jre", "linux",
	[]string{"PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"JAVA_HOME=/opt/java/openjdk", "LANG=en_US.UTF-8", "JAVA_VERSION=jdk-17.0.13+11"})

// lintFile runs BuildKit's checks as dockerlint does and returns "LINE CODE [LEVEL] MESSAGE".
func lintFile(t *testing.T, dockerfile string, buildArgs map[string]string, images ...BaseImage) []string {
	t.Helper()
	res, err := newResolver(images)
	if err != nil {
		t.Fatal(err)
	}
	dt := []byte(dockerfile)
	results, err := lintBuildKit("Dockerfile", dt, buildArgs, res)
	if err != nil {
		t.Fatal(err)
	}
	df, _ := parseDockerfile(dt, buildArgs, res)
	var out []string
	for _, f := range buildkitFindings("Dockerfile", results, df, buildArgs) {
		msg, _, _ := strings.Cut(f.Message, " (https://")
		if _, note, ok := strings.Cut(f.Message, "; "); ok {
			msg += "; " + note
		}
		out = append(out, fmt.Sprintf("%d %s [%s] %s", f.Line, f.Code, f.Level, msg))
	}
	return out
}

func TestBaseImageConfigs(t *testing.T) {
	const javaHome = "FROM eclipse-temurin:17.0.13_11-jre\nENV PATH=\"$JAVA_HOME/bin:$PATH\"\n"
	tests := []struct {
		name       string
		dockerfile string
		buildArgs  map[string]string
		images     []BaseImage
		want       []string
	}{
		{name: "the image's real config defines JAVA_HOME: no finding, as docker build --check",
			dockerfile: javaHome, images: []BaseImage{temurin}, want: nil},
		{name: "a config the engine could not read: UndefinedVar, saying why",
			dockerfile: javaHome,
			images:     []BaseImage{{Ref: temurin.Ref, Platform: "linux/amd64", Error: "the engine could not read its config: connection refused"}},
			want: []string{"2 UndefinedVar [warning] Usage of undefined variable '$JAVA_HOME'; note: base image docker.io/library/eclipse-temurin:17.0.13_11-jre for linux/amd64 " +
				"could not be resolved (the engine could not read its config: connection refused), so it was linted with an empty config and this variable may be defined by the image"}},
		{name: "a config nobody resolved: the same fallback, said",
			dockerfile: javaHome,
			want: []string{"2 UndefinedVar [warning] Usage of undefined variable '$JAVA_HOME'; note: base image docker.io/library/eclipse-temurin:17.0.13_11-jre for linux/amd64 " +
				"could not be resolved (its config was not given to the linter), so it was linted with an empty config and this variable may be defined by the image"}},
		{name: "a stage FROM a stage whose base is unresolved inherits the note",
			dockerfile: "FROM eclipse-temurin:17.0.13_11-jre AS jre\nFROM jre\nENV X=$JAVA_HOME\n",
			want: []string{"3 UndefinedVar [warning] Usage of undefined variable '$JAVA_HOME'; note: base image docker.io/library/eclipse-temurin:17.0.13_11-jre for linux/amd64 " +
				"could not be resolved (its config was not given to the linter), so it was linted with an empty config and this variable may be defined by the image"}},
		{name: "a variable the image does not define is still undefined, with no note",
			dockerfile: "FROM eclipse-temurin:17.0.13_11-jre\nENV X=$CATALINA_HOME\n", images: []BaseImage{temurin},
			want: []string{"2 UndefinedVar [warning] Usage of undefined variable '$CATALINA_HOME'"}},
		{name: "a real Windows base image on a Linux builder: InvalidBaseImagePlatform, as BuildKit says",
			dockerfile: "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir\n", images: testImages,
			want: []string{"1 InvalidBaseImagePlatform [warning] Base image mcr.microsoft.com/windows/servercore:ltsc2022 was pulled with platform \"windows/amd64\", expected \"linux/amd64\" for current build"}},
		{name: "ARG BASE_IMAGE without a default, built as nightly builds it: info, not an unbuildable file",
			dockerfile: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nENV PATH=\"$JAVA_HOME/bin:$PATH\"\n",
			buildArgs:  map[string]string{"BASE_IMAGE": "eclipse-temurin:17.0.13_11-jre"}, images: []BaseImage{temurin},
			want: []string{"2 InvalidDefaultArgInFrom [info] Default value for ARG ${BASE_IMAGE} results in empty or invalid base image name; " +
				"nightly always passes BASE_IMAGE=eclipse-temurin:17.0.13_11-jre when it builds this Dockerfile"}},
		{name: "the same file linted on its own is what BuildKit says of it: unbuildable",
			dockerfile: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n",
			want: []string{"2 InvalidDefaultArgInFrom [warning] Default value for ARG ${BASE_IMAGE} results in empty or invalid base image name",
				"2 BuildKitParse [error] base name (${BASE_IMAGE}) should not be blank"}},
		{name: "a FROM that also needs an ARG nightly does not pass keeps its warning",
			dockerfile: "ARG BASE_IMAGE\nARG FLAVOR\nFROM ${BASE_IMAGE}${FLAVOR}\n",
			buildArgs:  map[string]string{"BASE_IMAGE": "eclipse-temurin:17.0.13_11-jre"}, images: []BaseImage{temurin},
			want: []string{"3 InvalidDefaultArgInFrom [warning] Default value for ARG ${BASE_IMAGE}${FLAVOR} results in empty or invalid base image name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lintFile(t, tt.dockerfile, tt.buildArgs, tt.images...); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestListBases: the base images BuildKit asks for, with their platform, after ARG expansion and
// with stages and scratch left out.
func TestListBases(t *testing.T) {
	df := "ARG BASE_IMAGE\nARG GO=1.23.4\n" +
		"FROM --platform=$BUILDPLATFORM golang:${GO}-bookworm AS build\n" +
		"FROM build AS test\n" +
		"FROM --platform=linux/arm64 alpine:3.20.3 AS arm\n" +
		"FROM scratch AS empty\n" +
		"FROM ${BASE_IMAGE}\n"
	res, _ := newResolver(nil)
	if _, err := lintBuildKit("Dockerfile", []byte(df), map[string]string{"BASE_IMAGE": "eclipse-temurin:17.0.13_11-jre"}, res); err != nil {
		t.Fatal(err)
	}
	want := []BaseRef{
		{"docker.io/library/alpine:3.20.3", "linux/arm64"},
		{"docker.io/library/eclipse-temurin:17.0.13_11-jre", "linux/amd64"},
		{"docker.io/library/golang:1.23.4-bookworm", "linux/amd64"},
	}
	if got := res.bases(); !reflect.DeepEqual(got, want) {
		t.Errorf("bases() = %+v, want %+v", got, want)
	}
}

// TestUnknownImageGetsTheRequestedPlatform: the fallback config is empty, of the platform asked
// for (an unresolved FROM --platform=windows/amd64 image is a Windows image to BuildKit).
func TestUnknownImageGetsTheRequestedPlatform(t *testing.T) {
	res, _ := newResolver(nil)
	got := lintFile(t, "FROM --platform=windows/amd64 example.com/base:1\nRUN dir\n", nil)
	for _, f := range got {
		if strings.Contains(f, "InvalidBaseImagePlatform") {
			t.Errorf("an unresolved image must not be judged by a platform it was not resolved for: %s", f)
		}
	}
	_, _, dt, err := res.ResolveImageConfig(t.Context(), "example.com/base:1", resolveOpt("windows/amd64"))
	var cfg struct {
		OS, Architecture string
		Config           map[string]any
	}
	if err != nil || json.Unmarshal(dt, &cfg) != nil || cfg.OS != "windows" || cfg.Architecture != "amd64" {
		t.Errorf("ResolveImageConfig(unknown) = %s, %v", dt, err)
	}
}

func resolveOpt(platform string) sourceresolver.Opt {
	p, err := platforms.Parse(platform)
	if err != nil {
		panic(err)
	}
	return sourceresolver.Opt{ImageOpt: &sourceresolver.ResolveImageOpt{Platform: &p}}
}

func TestBadImageConfig(t *testing.T) {
	if _, err := newResolver([]BaseImage{{Ref: "docker.io/library/x:1", Platform: "linux/amd64", Config: json.RawMessage(`{"os": 1}`)}}); err == nil ||
		!strings.Contains(err.Error(), "docker.io/library/x:1") {
		t.Errorf("newResolver(bad config) = %v, want an error naming the image", err)
	}
}

// TestNoWarningLostToBuildKitsRace: two stages on base images of the wrong platform give two
// InvalidBaseImagePlatform warnings, every time (BuildKit appends them from parallel goroutines).
func TestNoWarningLostToBuildKitsRace(t *testing.T) {
	res, _ := newResolver(testImages)
	df := []byte("FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS a\nFROM mcr.microsoft.com/windows/servercore:ltsc2022 AS b\n" +
		"FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS c\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\n")
	for i := 0; i < 300; i++ {
		r, err := lintBuildKit("Dockerfile", df, nil, res)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 4 {
			t.Fatalf("run %d: %d warnings, want 4", i, len(r.Warnings))
		}
	}
}
