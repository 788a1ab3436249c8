package main

import (
	"context"
	"reflect"
	"sort"
	"testing"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	"github.com/opencontainers/go-digest"
)

// buildkitRuns converts a Dockerfile to LLB with BuildKit itself (once per named stage as the
// target, and once for the default target) and returns the argv of every process it would run,
// by the Dockerfile line of the RUN that makes it.
func buildkitRuns(t *testing.T, dt []byte, buildArgs map[string]string, res *resolver) map[int][]string {
	t.Helper()
	parsed, err := parseDockerfile(dt, buildArgs, res)
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{""}
	for _, st := range parsed.stages {
		if st.Name != "" {
			targets = append(targets, st.Name)
		}
	}
	runs := map[int][]string{}
	for _, target := range targets {
		src := llb.Scratch()
		sm := llb.NewSourceMap(&src, "Dockerfile", "Dockerfile", dt)
		out, err := dockerfile2llb.Dockerfile2LLB(context.Background(), dt, dockerfile2llb.ConvertOpt{
			Config: dockerui.Config{BuildArgs: buildArgs, Target: target}, SourceMap: sm, MetaResolver: res,
		})
		if err != nil {
			t.Fatalf("Dockerfile2LLB(target %q): %v", target, err)
		}
		def, err := out.State.Marshal(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range def.Def {
			var op pb.Op
			if err := op.UnmarshalVT(b); err != nil {
				t.Fatal(err)
			}
			exec := op.GetExec()
			if exec == nil {
				continue
			}
			locs := def.Source.Locations[digest.FromBytes(b).String()]
			if locs == nil || len(locs.Locations) == 0 || len(locs.Locations[0].Ranges) == 0 {
				t.Fatalf("exec %q has no source location", exec.Meta.Args)
			}
			line := int(locs.Locations[0].Ranges[0].Start.Line)
			if prev, ok := runs[line]; ok && !reflect.DeepEqual(prev, exec.Meta.Args) {
				t.Fatalf("line %d runs %q for one target and %q for another", line, prev, exec.Meta.Args)
			}
			runs[line] = exec.Meta.Args
		}
	}
	return runs
}

// crossCheck compares what the ShellCheck filter says BuildKit runs for each RUN with what
// BuildKit's own conversion runs.
func crossCheck(t *testing.T, dt []byte, buildArgs map[string]string, res *resolver) {
	t.Helper()
	parsed, err := parseDockerfile(dt, buildArgs, res)
	if err != nil {
		t.Fatal(err)
	}
	ours := map[int][]string{}
	scripts, skips := shellScripts(parsed)
	for _, s := range scripts {
		ours[s.Line] = s.Argv
	}
	for _, s := range skips {
		ours[s.Line] = s.Argv
	}
	theirs := buildkitRuns(t, dt, buildArgs, res)
	var lines []int
	for l := range theirs {
		lines = append(lines, l)
	}
	sort.Ints(lines)
	for _, l := range lines {
		if !reflect.DeepEqual(ours[l], theirs[l]) {
			t.Errorf("line %d: the filter says BuildKit runs\n  %q\nBuildKit runs\n  %q", l, ours[l], theirs[l])
		}
	}
	if len(theirs) == 0 && len(ours) > 0 {
		t.Errorf("BuildKit runs nothing, the filter has %d RUNs", len(ours))
	}
}

// TestFilterAgreesWithBuildKitConversion checks the filter's view of every RUN of the filter's
// table tests against BuildKit's own Dockerfile-to-LLB conversion.
func TestFilterAgreesWithBuildKitConversion(t *testing.T) {
	res, err := newResolver(testImages)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range filterTests {
		if tt.unresolvedGuess {
			continue // BuildKit sees an unresolved base image as an empty Linux image; the filter guesses
		}
		t.Run(tt.name, func(t *testing.T) { crossCheck(t, []byte(tt.dockerfile), tt.buildArgs, res) })
	}
}
