package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// corpusDir holds real-world-style Dockerfiles, the base image configs and build args they are
// linted with, and what a real BuildKit (buildkitd + buildctl v0.34.2, testbed/lint-reference.sh)
// said of each.
const corpusDir = "../../fixtures/lint-corpus"

type corpus struct {
	Files    []FileSpec
	resolver *resolver
}

func loadCorpus(t *testing.T) corpus {
	t.Helper()
	var c corpus
	dt, err := os.ReadFile(filepath.Join(corpusDir, "corpus.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, &c); err != nil {
		t.Fatal(err)
	}
	var images []BaseImage
	if dt, err = os.ReadFile(filepath.Join(corpusDir, "images.json")); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dt, &images); err != nil {
		t.Fatal(err)
	}
	if c.resolver, err = newResolver(images); err != nil {
		t.Fatal(err)
	}
	return c
}

// osVersion is the one thing nightly cannot give BuildKit: the Dagger API reports a base image's
// platform as os/arch[/variant], without the OS version Windows images carry.
var osVersion = regexp.MustCompile(`"windows\([0-9.]+\)/`)

// TestBuildKitChecksMatchARealBuildKit compares dockerlint's BuildKit checks on the corpus with
// what buildkitd said of the same files with the same base images (reference/<file>.txt), warning
// by warning: rule, message, file:line and the lines marked.
func TestBuildKitChecksMatchARealBuildKit(t *testing.T) {
	c := loadCorpus(t)
	for _, f := range c.Files {
		t.Run(f.Path, func(t *testing.T) {
			dt, err := os.ReadFile(filepath.Join(corpusDir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			ref, err := os.ReadFile(filepath.Join(corpusDir, "reference", f.Path+".txt"))
			if err != nil {
				t.Fatalf("no reference output (run testbed/lint-reference.sh): %v", err)
			}
			results, err := lintBuildKit(f.Path, dt, f.BuildArgs, c.resolver)
			if err != nil {
				t.Fatal(err)
			}
			if results.Error != nil {
				t.Fatalf("BuildKit could not lint it: %s", results.Error.Message)
			}
			var ours bytes.Buffer
			if err := printBuildKit(&ours, results); err != nil {
				t.Fatal(err)
			}
			want := splitWarnings(osVersion.ReplaceAllString(string(ref), `"windows/`))
			if got := splitWarnings(ours.String()); strings.Join(got, "\n\n") != strings.Join(want, "\n\n") {
				t.Errorf("dockerlint:\n%s\nBuildKit:\n%s", ours.String(), ref)
			}
		})
	}
}

func splitWarnings(out string) []string {
	var ws []string
	for _, w := range strings.Split(out, "\nWARNING: ")[1:] {
		ws = append(ws, strings.TrimSpace(w))
	}
	sort.Strings(ws) // BuildKit reports base image checks from parallel goroutines
	return ws
}

// TestFilterAgreesWithBuildKitOnTheCorpus checks what the filter says BuildKit runs for every RUN of
// the corpus against BuildKit's own conversion, with the corpus's base image configs.
func TestFilterAgreesWithBuildKitOnTheCorpus(t *testing.T) {
	c := loadCorpus(t)
	for _, f := range c.Files {
		t.Run(f.Path, func(t *testing.T) {
			dt, err := os.ReadFile(filepath.Join(corpusDir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			crossCheck(t, dt, f.BuildArgs, c.resolver)
		})
	}
}

// TestShellCheckOnTheCorpus runs the whole dockerlint on the corpus with the real ShellCheck and
// checks where ShellCheck findings may be: only on lines a POSIX shell runs.
func TestShellCheckOnTheCorpus(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed (testbed/install-deps.sh installs it)")
	}
	c := loadCorpus(t)
	want := map[string][]string{
		"alpine-legacy.Dockerfile":          {"11:33 SC2086", "13:41 SC2086"},
		"go-multistage.Dockerfile":          nil,
		"java-base-image-arg.Dockerfile":    nil,
		"java-temurin.Dockerfile":           nil,
		"node-nginx-spa.Dockerfile":         nil,
		"python-heredocs.Dockerfile":        {"14:48 SC2086", "53:6 SC2086"}, // the two shell heredocs, not the JSON, Python or COPY ones
		"shell-switching.Dockerfile":        {"12:10 SC2086", "12:25 SC2012", "12:55 SC2162", "12:71 SC2086", "15:5 SC3010"},
		"windows-nanoserver-cmd.Dockerfile": nil, // cmd
		"windows-servercore.Dockerfile":     nil, // PowerShell
	}
	for _, f := range c.Files {
		t.Run(f.Path, func(t *testing.T) {
			dt, err := os.ReadFile(filepath.Join(corpusDir, f.Path))
			if err != nil {
				t.Fatal(err)
			}
			df, err := parseDockerfile(dt, f.BuildArgs, c.resolver)
			if err != nil {
				t.Fatal(err)
			}
			scripts, _ := shellScripts(df)
			fs, err := shellFindings(f.Path, scripts, "shellcheck")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, x := range fs {
				got = append(got, fmt.Sprintf("%d:%d %s", x.Line, x.Column, x.Code))
			}
			if strings.Join(got, ",") != strings.Join(want[f.Path], ",") {
				t.Errorf("ShellCheck findings = %v, want %v", got, want[f.Path])
			}
		})
	}
}
