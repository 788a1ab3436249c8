package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"strings"
	"testing"
)

// img is a base image config for tests, as nightly hands it over.
func img(ref, os string, env []string, shell ...string) BaseImage {
	cfg := map[string]any{"os": os, "architecture": "amd64", "config": map[string]any{"Env": env, "Shell": shell}}
	dt, _ := json.Marshal(cfg)
	return BaseImage{Ref: ref, Platform: "linux/amd64", Config: dt}
}

var testImages = []BaseImage{
	img("docker.io/library/debian:bookworm-slim", "linux", []string{"PATH=/usr/bin:/bin"}),
	img("docker.io/library/alpine:3.20.3", "linux", []string{"PATH=/usr/bin:/bin"}),
	img("mcr.microsoft.com/windows/servercore:ltsc2022", "windows", nil),
	img("docker.io/library/pwsh-based:1", "linux", nil, "pwsh", "-NoLogo", "-Command"),
	{Ref: "docker.io/library/gone:1", Platform: "linux/amd64", Error: "manifest unknown"},
}

// decisions runs the ShellCheck filter on a Dockerfile: each RUN as "LINE DIALECT" or
// "LINE skip: REASON".
func decisions(t *testing.T, dockerfileText string, buildArgs map[string]string) []string {
	t.Helper()
	res, err := newResolver(testImages)
	if err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile([]byte(dockerfileText), buildArgs, res)
	if err != nil {
		t.Fatalf("parseDockerfile: %v", err)
	}
	scripts, skips := shellScripts(df)
	var out []string
	for _, s := range scripts {
		out = append(out, fmt.Sprintf("%d %s", s.Line, s.Dialect))
	}
	for _, s := range skips {
		out = append(out, fmt.Sprintf("%d skip: %s", s.Line, s.Reason))
	}
	return out
}

type filterTest struct {
	name, dockerfile string
	buildArgs        map[string]string
	want             []string // in order: scripts first, then skips
	// unresolvedGuess: the filter guesses Windows from an unresolved image's name, which BuildKit
	// (given an empty Linux config) does not.
	unresolvedGuess bool
}

// filterTests cover every class of RUN: the shell in effect, its dialect, heredocs.
var filterTests = []filterTest{
	{name: "shell form runs /bin/sh -c: POSIX sh",
		dockerfile: "FROM debian:bookworm-slim\nRUN echo $HOME\n",
		want:       []string{"2 sh"}},
	{name: "exec form runs no shell",
		dockerfile: "FROM debian:bookworm-slim\nRUN [\"/bin/echo\", \"$HOME\"]\n",
		want:       []string{"2 skip: exec form (JSON array): no shell runs it"}},
	{name: "SHELL powershell: every later RUN of the stage is PowerShell",
		dockerfile: "FROM debian:bookworm-slim\nRUN true\nSHELL [\"powershell\", \"-Command\"]\nRUN Get-ChildItem $env:TEMP\nRUN Write-Host hi\n",
		want: []string{"2 sh",
			"4 skip: run by powershell -Command, not a shell ShellCheck checks",
			"5 skip: run by powershell -Command, not a shell ShellCheck checks"}},
	{name: "SHELL is per stage: FROM an image starts again with /bin/sh",
		dockerfile: "FROM debian:bookworm-slim AS a\nSHELL [\"pwsh\", \"-Command\"]\nRUN Write-Host a\nFROM debian:bookworm-slim\nRUN echo b\n",
		want:       []string{"5 sh", "3 skip: run by pwsh -Command, not a shell ShellCheck checks"}},
	{name: "FROM an earlier stage inherits its last SHELL (stage names are case-insensitive)",
		dockerfile: "FROM debian:bookworm-slim AS Build\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN [[ -d / ]]\nFROM build AS test\nRUN [[ -d /tmp ]]\n",
		want:       []string{"3 bash", "5 bash"}},
	{name: "FROM a stage named through a global ARG",
		dockerfile: "ARG STAGE=win\nFROM debian:bookworm-slim AS win\nSHELL [\"cmd\", \"/S\", \"/C\"]\nFROM ${STAGE}\nRUN dir\n",
		want:       []string{"5 skip: run by cmd /S /C, not a shell ShellCheck checks"}},
	{name: "SHELL switching back to sh mid-stage",
		dockerfile: "FROM debian:bookworm-slim\nSHELL [\"powershell\", \"-c\"]\nRUN ls\nSHELL [\"/bin/sh\", \"-c\"]\nRUN ls $X\n",
		want:       []string{"5 sh", "3 skip: run by powershell -c, not a shell ShellCheck checks"}},
	{name: "dialects: bash, dash, ash, ksh, mksh, env bash, a Windows path to pwsh.exe, zsh",
		dockerfile: "FROM debian:bookworm-slim\n" +
			"SHELL [\"/bin/bash\", \"-c\"]\nRUN a\n" +
			"SHELL [\"/bin/dash\", \"-c\"]\nRUN b\n" +
			"SHELL [\"/bin/ash\", \"-c\"]\nRUN c\n" +
			"SHELL [\"/bin/ksh\", \"-c\"]\nRUN d\n" +
			"SHELL [\"/bin/mksh\", \"-c\"]\nRUN e\n" +
			"SHELL [\"/usr/bin/env\", \"bash\", \"-c\"]\nRUN f\n" +
			"SHELL [\"C:\\\\Program Files\\\\PowerShell\\\\7\\\\pwsh.exe\", \"-Command\"]\nRUN g\n" +
			"SHELL [\"/bin/zsh\", \"-c\"]\nRUN h\n",
		want: []string{"3 bash", "5 dash", "7 dash", "9 ksh", "11 ksh", "13 bash",
			`15 skip: run by C:\Program Files\PowerShell\7\pwsh.exe -Command, not a shell ShellCheck checks`,
			"17 skip: run by /bin/zsh -c, not a shell ShellCheck checks"}},
	{name: "a Windows base image runs cmd /S /C by default",
		dockerfile: "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN setx /M PATH \"%PATH%;C:\\tools\"\n",
		want:       []string{"2 skip: run by cmd /S /C, not a shell ShellCheck checks"}},
	{name: "an unresolved base image named like Windows: cmd, said to be a guess",
		dockerfile:      "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nRUN dir\n",
		want:            []string{"2 skip: run by cmd /S /C (Windows' default; the OS is guessed from the unresolved base image's name), not a shell ShellCheck checks"},
		unresolvedGuess: true},
	{name: "an unresolved base image with --platform=windows/amd64",
		dockerfile: "FROM --platform=windows/amd64 example.com/app/base:1\nRUN dir\n",
		want:       []string{"2 skip: run by cmd /S /C, not a shell ShellCheck checks"}},
	{name: "an image config's own Shell (Docker's extension) is the stage's shell",
		dockerfile: "FROM pwsh-based:1\nRUN Get-Date\nFROM pwsh-based:1\nSHELL [\"/bin/sh\", \"-c\"]\nRUN date\n",
		want:       []string{"5 sh", "2 skip: run by pwsh -NoLogo -Command, not a shell ShellCheck checks"}},
	{name: "RUN <<EOF: the body is a script of the stage's shell",
		dockerfile: "FROM debian:bookworm-slim\nSHELL [\"/bin/bash\", \"-c\"]\nRUN <<EOF\nset -euo pipefail\necho ${X[@]}\nEOF\n",
		want:       []string{"3 bash"}},
	{name: "RUN <<EOF under PowerShell",
		dockerfile: "FROM debian:bookworm-slim\nSHELL [\"powershell\", \"-Command\"]\nRUN <<EOF\nWrite-Host $env:X\nEOF\n",
		want:       []string{"3 skip: run by powershell -Command, not a shell ShellCheck checks"}},
	{name: "a heredoc with a #! line runs as a file by its interpreter, whatever the shell",
		dockerfile: "FROM debian:bookworm-slim\nRUN <<EOF\n#!/usr/bin/env python3\nprint('hi')\nEOF\n" +
			"SHELL [\"powershell\", \"-Command\"]\nRUN <<EOF\n#!/bin/bash\necho $1\nEOF\n" +
			"RUN <<EOF\n#!/usr/bin/env -S bash -e\necho $1\nEOF\n" +
			"RUN <<EOF\n#!/bin/sh -e\necho $1\nEOF\n",
		want: []string{"7 bash", "11 bash", "15 sh",
			"2 skip: heredoc run as a file by its interpreter #!/usr/bin/env python3, not a shell ShellCheck checks"}},
	{name: "on Windows a #! heredoc is not a file: cmd gets its body",
		dockerfile: "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\n",
		want:       []string{"2 skip: run by cmd /S /C, not a shell ShellCheck checks"}},
	{name: "a heredoc fed to a command is data: the shell runs the command line with it",
		dockerfile: "FROM debian:bookworm-slim\nRUN cat <<EOF > /etc/app.json\n{\"a\": [1, 2]}\nEOF\nRUN python3 - <<'PY'\nimport sys\nPY\nRUN <<A <<B cat\none\nA\ntwo\nB\n",
		want:       []string{"2 sh", "5 sh", "8 sh"}},
	{name: "COPY <<EOF is a file and ONBUILD RUN runs in another build: no script",
		dockerfile: "FROM debian:bookworm-slim\nCOPY <<EOF /etc/motd\n$(not shell)\nEOF\nONBUILD RUN echo $X\n",
		want:       nil},
	{name: "the base image the module passes as a build arg decides the stage",
		dockerfile: "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN dir\n",
		buildArgs:  map[string]string{"BASE_IMAGE": "mcr.microsoft.com/windows/servercore:ltsc2022"},
		want:       []string{"3 skip: run by cmd /S /C, not a shell ShellCheck checks"}},
}

func TestShellCheckFilter(t *testing.T) {
	for _, tt := range filterTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decisions(t, tt.dockerfile, tt.buildArgs); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestScriptTexts checks what ShellCheck is given: exactly what the shell runs.
func TestScriptTexts(t *testing.T) {
	df := "FROM debian:bookworm-slim\n" +
		"RUN apt-get update && \\\n    # a comment line the parser drops\n    apt-get install -y curl\n" +
		"RUN cat <<EOF > /etc/app.json\n{\"home\": \"$HOME\"}\nEOF\n" +
		"RUN <<-EOT\n\tset -e\n\techo done\nEOT\n"
	res, _ := newResolver(testImages)
	parsed, err := parseDockerfile([]byte(df), nil, res)
	if err != nil {
		t.Fatal(err)
	}
	scripts, _ := shellScripts(parsed)
	want := []string{
		"apt-get update &&     apt-get install -y curl",
		"cat <<EOF > /etc/app.json\n{\"home\": \"$HOME\"}\nEOF",
		"set -e\necho done\n",
	}
	if len(scripts) != len(want) {
		t.Fatalf("%d scripts, want %d", len(scripts), len(want))
	}
	for i, s := range scripts {
		if s.Text != want[i] {
			t.Errorf("script %d = %q, want %q", i, s.Text, want[i])
		}
		if got := s.Argv[len(s.Argv)-1]; got != want[i] || s.Argv[0] != "/bin/sh" {
			t.Errorf("script %d argv = %q", i, s.Argv)
		}
	}
}

// TestScriptPositionsMapToTheDockerfile checks, for every $-expansion of every script, that its
// position in the script maps to the same text in the Dockerfile: continuation lines, dropped
// comment and empty lines, tabs, RUN flags, heredoc bodies (chomped or not).
func TestScriptPositionsMapToTheDockerfile(t *testing.T) {
	df := "FROM debian:bookworm-slim\n" +
		"RUN --mount=type=cache,target=/var/cache/apt \\\n" +
		"\t--mount=type=secret,id=token \\\n" +
		"    apt-get install -y $PKGS && \\\n" +
		"    # dropped comment\n" +
		"\n" +
		"    echo \"$TOKEN\"   $ONE	$TWO\n" +
		"RUN cat <<EOF > /x && echo $AFTER\n" +
		"body $NOT_SHELL\n" +
		"EOF\n" +
		"RUN <<EOF\n" +
		"echo $BODY1\n" +
		"  echo $BODY2\n" +
		"EOF\n" +
		"RUN <<-EOT\n" +
		"\t\techo $CHOMPED\n" +
		"EOT\n" +
		"FROM debian:bookworm-slim\n" +
		"RUN echo $LAST\n"
	res, _ := newResolver(testImages)
	parsed, err := parseDockerfile([]byte(df), nil, res)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(df, "\n")
	scripts, _ := shellScripts(parsed)
	checked := 0
	for _, s := range scripts {
		for i, sl := range strings.Split(s.Text, "\n") {
			for col := strings.Index(sl, "$"); col >= 0; {
				word := sl[col:]
				if end := strings.IndexAny(word, " \t\"/"); end > 0 {
					word = word[:end]
				}
				l, c := s.at(i+1, col+1)
				if l < 1 || l > len(lines) || c < 1 || !strings.HasPrefix(lines[l-1][c-1:], word) {
					t.Errorf("%s at script %d:%d maps to Dockerfile %d:%d, which is not it", word, i+1, col+1, l, c)
				}
				checked++
				next := strings.Index(sl[col+1:], "$")
				if next < 0 {
					break
				}
				col += next + 1
			}
		}
	}
	if checked != 10 {
		t.Errorf("checked %d expansions, want 10", checked)
	}
}

// TestShellCheckFindingsLandOnTheirLines runs the real ShellCheck (Debian's, on the test bed's
// host) on a Dockerfile and checks where its findings are reported.
func TestShellCheckFindingsLandOnTheirLines(t *testing.T) {
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Skip("shellcheck is not installed (testbed/install-deps.sh installs it)")
	}
	df := "FROM debian:bookworm-slim\n" +
		"RUN apt-get update && \\\n    apt-get install -y $PKGS\n" +
		"SHELL [\"powershell\", \"-Command\"]\n" +
		"RUN if ($x) { Write-Host `$y }\n" +
		"FROM debian:bookworm-slim\n" +
		"RUN cat <<EOF > /etc/app.json\n{\"a\": [1, 2], \"b\": {\"c\": true}}\nEOF\n" +
		"RUN <<EOF\n#!/usr/bin/env python3\nimport os; print(os.environ)\nEOF\n" +
		"RUN <<EOF\nset -e\n[[ -d /x ]] && echo $DIR\nEOF\n"
	res, _ := newResolver(testImages)
	parsed, err := parseDockerfile([]byte(df), nil, res)
	if err != nil {
		t.Fatal(err)
	}
	scripts, _ := shellScripts(parsed)
	fs, err := shellFindings("Dockerfile", scripts, "shellcheck")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%d:%d %s %s", f.Line, f.Column, f.Code, f.Level))
	}
	want := []string{"3:24 SC2086 info", "16:1 SC3010 warning", "16:21 SC2086 info"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ShellCheck findings =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
