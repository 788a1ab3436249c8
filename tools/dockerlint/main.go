// Command dockerlint lints Dockerfiles with BuildKit's own checks (the rules of
// `docker build --check`) and ShellCheck on what a POSIX shell runs, and prints the findings as
// hadolint's JSON (an array of {line, code, message, column, file, level}), so nightly reports
// them exactly like hadolint's.
//
//	dockerlint [-spec SPEC.json] [-shellcheck PATH] [-notes NOTES.json] [FILE...]
//	dockerlint -list-bases [-spec SPEC.json] [FILE...]
//	dockerlint -buildkit-text [-spec SPEC.json] [FILE...]
//
// SPEC.json names the files, the build args each is built with, and the base images' configs
// (resolved by the caller; nightly reads them through the Dagger engine). dockerlint itself never
// contacts a registry: a base image it was not given a config for is linted with an empty config,
// and -notes says so. -list-bases prints the base images BuildKit asks for, for the caller to
// resolve. -buildkit-text prints BuildKit's checks alone as `docker build --check` does, for
// comparing with a real BuildKit.
//
// Exit status 0 when every file could be linted (findings or not), 2 when a file or ShellCheck
// could not be run.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Spec is what to lint and with what.
type Spec struct {
	Files []FileSpec `json:"files"`
	// Images are the base images' configs (or why one could not be resolved).
	Images []BaseImage `json:"images,omitempty"`
}

// FileSpec is one Dockerfile to lint.
type FileSpec struct {
	Path string `json:"path"`
	// BuildArgs it is built with (nightly passes BASE_IMAGE to an image's versioned Dockerfile).
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
}

func main() {
	specFile := flag.String("spec", "", "JSON spec: files, their build args, base image configs")
	shellcheck := flag.String("shellcheck", "shellcheck", "ShellCheck binary (empty: skip RUN checks)")
	notesFile := flag.String("notes", "", "write notes (unresolved base images, RUNs not ShellChecked) to this JSON file")
	listBases := flag.Bool("list-bases", false, "print the base images BuildKit resolves, as JSON, and exit")
	buildkitText := flag.Bool("buildkit-text", false, "print BuildKit's checks as `docker build --check` does, and exit")
	flag.Parse()

	var spec Spec
	if *specFile != "" {
		dt, err := os.ReadFile(*specFile)
		if err != nil {
			fail(err)
		}
		if err := json.Unmarshal(dt, &spec); err != nil {
			fail(fmt.Errorf("reading %s: %w", *specFile, err))
		}
	}
	for _, f := range flag.Args() {
		spec.Files = append(spec.Files, FileSpec{Path: f})
	}
	if len(spec.Files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint [-spec SPEC.json] [-shellcheck PATH] [-notes NOTES.json] [-list-bases] [-buildkit-text] [FILE...]")
		os.Exit(2)
	}
	res, err := newResolver(spec.Images)
	if err != nil {
		fail(err)
	}

	all := []finding{}
	var notes []string
	for _, fs := range spec.Files {
		dt, err := os.ReadFile(fs.Path)
		if err != nil {
			fail(err)
		}
		results, err := lintBuildKit(fs.Path, dt, fs.BuildArgs, res)
		if err != nil {
			fail(fmt.Errorf("linting %s: %w", fs.Path, err))
		}
		if *listBases {
			continue
		}
		if *buildkitText {
			if err := printBuildKit(os.Stdout, results); err != nil {
				fail(err)
			}
			continue
		}
		df, perr := parseDockerfile(dt, fs.BuildArgs, res)
		if perr != nil {
			df = nil // BuildKit's checks already report a Dockerfile that does not parse
		}
		all = append(all, buildkitFindings(fs.Path, results, df, fs.BuildArgs)...)
		if df == nil {
			continue
		}
		notes = append(notes, fileNotes(fs.Path, df)...)
		if *shellcheck != "" {
			scripts, skips := shellScripts(df)
			notes = append(notes, skipNotes(fs.Path, skips)...)
			found, err := shellFindings(fs.Path, scripts, *shellcheck)
			if err != nil {
				fail(err)
			}
			all = append(all, found...)
		}
	}
	if *buildkitText {
		return
	}
	var out any = all
	if *listBases {
		out = res.bases()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
	if *notesFile != "" {
		if notes == nil {
			notes = []string{}
		}
		dt, _ := json.Marshal(notes)
		if err := os.WriteFile(*notesFile, dt, 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dockerlint:", err)
	os.Exit(2)
}

// fileNotes says which base images of a file were linted with an empty config.
func fileNotes(file string, df *dockerfile) []string {
	var out []string
	seen := map[string]bool{}
	for _, st := range df.stages {
		if st.Unresolved == "" || st.Parent >= 0 || seen[st.Unresolved] {
			continue
		}
		seen[st.Unresolved] = true
		n := fmt.Sprintf("%s:%d: %s: linted with an empty config (no environment, user or working directory)", file, st.Line, st.Unresolved)
		if st.Guessed {
			n += "; its name says Windows, so its RUN lines are taken to run under cmd, as on Windows"
		}
		out = append(out, n)
	}
	return out
}

// skipNotes says, per reason, which RUN lines ShellCheck did not see (exec form is not worth a note).
func skipNotes(file string, skips []skipped) []string {
	byReason := map[string][]string{}
	var reasons []string
	for _, s := range skips {
		if strings.HasPrefix(s.Reason, "exec form") {
			continue
		}
		if _, ok := byReason[s.Reason]; !ok {
			reasons = append(reasons, s.Reason)
		}
		byReason[s.Reason] = append(byReason[s.Reason], fmt.Sprint(s.Line))
	}
	sort.Strings(reasons)
	var out []string
	for _, r := range reasons {
		out = append(out, fmt.Sprintf("%s: RUN at line(s) %s not ShellChecked: %s", file, strings.Join(byReason[r], ", "), r))
	}
	return out
}
