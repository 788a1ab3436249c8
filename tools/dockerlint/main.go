// Command dockerlint lints Dockerfiles with BuildKit's own checks (the rules of
// `docker build --check`) and ShellCheck on every shell-form RUN, and prints the findings as
// hadolint's JSON (an array of {line, code, message, column, file, level}), so nightly reports
// them exactly like hadolint's.
//
//	dockerlint [-shellcheck PATH] FILE...
//
// It never contacts a registry: base images resolve to an empty config. Exit status 0 when it
// could lint every file (findings or not), 2 when a file or ShellCheck could not be run.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/opencontainers/go-digest"
)

// finding is hadolint's JSON shape.
type finding struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Column  int    `json:"column"`
	File    string `json:"file"`
	Level   string `json:"level"`
}

func main() {
	shellcheck := flag.String("shellcheck", "shellcheck", "ShellCheck binary (empty: skip RUN checks)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint [-shellcheck PATH] FILE...")
		os.Exit(2)
	}
	all := []finding{}
	for _, file := range flag.Args() {
		dt, err := os.ReadFile(file)
		if err != nil {
			fail(err)
		}
		fs, err := buildkitChecks(file, dt)
		if err != nil {
			fail(err)
		}
		all = append(all, fs...)
		if *shellcheck != "" {
			fs, err := shellChecks(file, dt, *shellcheck)
			if err != nil {
				fail(err)
			}
			all = append(all, fs...)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(all); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dockerlint:", err)
	os.Exit(2)
}

// offlineResolver answers every base image with an empty linux/amd64 config: linting must not
// reach a registry.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, digest.FromString(ref), []byte(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers"}}`), nil
}

// buildkitChecks runs BuildKit's Dockerfile checks (warnings) and reports a Dockerfile BuildKit
// cannot parse as an error.
func buildkitChecks(file string, dt []byte) ([]finding, error) {
	scratch := llb.Scratch()
	sm := llb.NewSourceMap(&scratch, file, "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // DockerfileLint needs one; nothing is solved
	res, err := dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sm,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return nil, fmt.Errorf("linting %s: %w", file, err)
	}
	var out []finding
	for _, w := range res.Warnings {
		f := finding{File: file, Code: w.RuleName, Level: "warning", Message: w.Detail}
		if w.URL != "" {
			f.Message += " (" + w.URL + ")"
		}
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			f.Line = int(w.Location.Ranges[0].Start.Line)
			f.Column = int(w.Location.Ranges[0].Start.Character) + 1
		}
		out = append(out, f)
	}
	if res.Error != nil {
		f := finding{File: file, Code: "BuildKitParse", Level: "error", Message: res.Error.Message, Line: 1, Column: 1}
		if len(res.Error.Location.Ranges) > 0 {
			f.Line = int(res.Error.Location.Ranges[0].Start.Line)
		}
		out = append(out, f)
	}
	return out, nil
}

type shellcheckOutput struct {
	Comments []struct {
		Line, Column int
		Level        string
		Code         int
		Message      string
	} `json:"comments"`
}

// shellChecks runs ShellCheck on each shell-form RUN (and RUN heredoc), in the shell the
// Dockerfile's SHELL instruction names (sh unless it names bash, dash or ksh).
func shellChecks(file string, dt []byte, shellcheck string) ([]finding, error) {
	ast, err := parser.Parse(bytes.NewReader(dt))
	if err != nil {
		return nil, nil // BuildKit's checks already report a Dockerfile that does not parse
	}
	var out []finding
	shell := "sh"
	for _, node := range ast.AST.Children {
		switch strings.ToLower(node.Value) {
		case "from":
			shell = "sh"
		case "shell":
			shell = shellDialect(node)
		case "run":
			inst, err := instructions.ParseInstruction(node)
			if err != nil {
				continue
			}
			run, ok := inst.(*instructions.RunCommand)
			if !ok || !run.PrependShell {
				continue // exec form runs no shell
			}
			scripts := []struct {
				text string
				line int
			}{{strings.Join(run.CmdLine, " "), node.StartLine}}
			if len(run.Files) > 0 {
				scripts = scripts[:0]
				for _, f := range run.Files {
					scripts = append(scripts, struct {
						text string
						line int
					}{f.Data, node.StartLine + 1})
				}
			}
			for _, s := range scripts {
				fs, err := runShellcheck(shellcheck, shell, s.text)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %w", file, node.StartLine, err)
				}
				for _, c := range fs.Comments {
					out = append(out, finding{File: file, Line: s.line + c.Line - 1, Column: c.Column,
						Code: fmt.Sprintf("SC%d", c.Code), Level: c.Level, Message: c.Message})
				}
			}
		}
	}
	return out, nil
}

func shellDialect(node *parser.Node) string {
	for n := node.Next; n != nil; n = n.Next {
		for _, d := range []string{"bash", "dash", "ksh"} {
			if strings.HasSuffix(n.Value, "/"+d) || n.Value == d {
				return d
			}
		}
	}
	return "sh"
}

func runShellcheck(bin, shell, script string) (shellcheckOutput, error) {
	cmd := exec.Command(bin, "--shell="+shell, "--format=json1", "-")
	cmd.Stdin = strings.NewReader(script + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// ShellCheck exits 1 when it has findings; anything else is a failure to run.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		return shellcheckOutput{}, fmt.Errorf("running %s: %v: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	var out shellcheckOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return shellcheckOutput{}, fmt.Errorf("reading ShellCheck's JSON: %w", err)
	}
	return out, nil
}
