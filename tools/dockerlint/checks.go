package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/frontend/subrequests/lint"
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

// lintBuildKit runs BuildKit's own Dockerfile checks (dockerfile2llb.DockerfileLint, the rules of
// `docker build --check`) with buildArgs and base image configs from res.
//
// It runs on one OS thread: BuildKit v0.34.2 resolves base images in parallel goroutines that
// append their InvalidBaseImagePlatform warnings to one slice without a lock (a data race the race
// detector shows), so a Dockerfile with two such stages sometimes lost one. The resolver answers
// from memory at once, so with one thread each goroutine finishes before the next one runs.
func lintBuildKit(file string, dt []byte, buildArgs map[string]string, res *resolver) (*lint.LintResults, error) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	scratch := llb.Scratch()
	sm := llb.NewSourceMap(&scratch, file, "Dockerfile", dt)
	sm.Definition = &llb.Definition{} // DockerfileLint needs one; nothing is solved
	return dockerfile2llb.DockerfileLint(context.Background(), dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{BuildArgs: buildArgs},
		SourceMap:    sm,
		MetaResolver: res,
	})
}

// printBuildKit prints results as `docker build --check` (buildctl's lint subrequest) prints them.
func printBuildKit(w io.Writer, results *lint.LintResults) error {
	return results.PrintTo(w, nil)
}

// buildkitFindings turns BuildKit's results into findings. A parse or build error is an error
// finding. Two findings are told more than BuildKit says:
//   - UndefinedVar in a stage whose base image config could not be resolved says so: the variable
//     may well be defined by the image;
//   - InvalidDefaultArgInFrom about FROM lines whose every variable is a build arg nightly passes
//     (BASE_IMAGE) is info, not warning: nightly never builds the file without it.
func buildkitFindings(file string, results *lint.LintResults, df *dockerfile, buildArgs map[string]string) []finding {
	var out []finding
	for _, w := range results.Warnings {
		f := finding{File: file, Code: w.RuleName, Level: "warning", Message: w.Detail}
		if w.URL != "" {
			f.Message += " (" + w.URL + ")"
		}
		if len(w.Location.Ranges) > 0 {
			f.Line = int(w.Location.Ranges[0].Start.Line)
			f.Column = int(w.Location.Ranges[0].Start.Character) + 1
		}
		if df != nil {
			st := df.stageAt(f.Line)
			switch {
			case w.RuleName == "UndefinedVar" && st != nil && st.Unresolved != "":
				f.Message += "; note: " + st.Unresolved + ", so it was linted with an empty config and this variable may be defined by the image"
			case w.RuleName == "InvalidDefaultArgInFrom" && st != nil && st.Line == f.Line:
				if args := suppliedArgs(df, st.Stage, buildArgs); args != "" {
					f.Level = "info"
					f.Message += "; nightly always passes " + args + " when it builds this Dockerfile"
				}
			}
		}
		out = append(out, f)
	}
	if results.Error != nil {
		f := finding{File: file, Code: "BuildKitParse", Level: "error", Message: results.Error.Message, Line: 1, Column: 1}
		if len(results.Error.Location.Ranges) > 0 {
			f.Line = int(results.Error.Location.Ranges[0].Start.Line)
		}
		out = append(out, f)
	}
	return out
}

// suppliedArgs lists NAME=value for the variables of a FROM line when every one of them is a build
// arg given, and "" otherwise.
func suppliedArgs(df *dockerfile, st instructions.Stage, buildArgs map[string]string) string {
	if len(buildArgs) == 0 {
		return ""
	}
	m, err := shell.NewLex(df.escape).ProcessWordWithMatches(st.BaseName+" "+st.Platform, df.args)
	if err != nil {
		return ""
	}
	var names []string
	for n := range m.Matched {
		names = append(names, n)
	}
	for n := range m.Unmatched {
		names = append(names, n)
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	var kv []string
	for _, n := range names {
		v, ok := buildArgs[n]
		if !ok {
			return ""
		}
		kv = append(kv, fmt.Sprintf("%s=%s", n, v))
	}
	return strings.Join(kv, ", ")
}
