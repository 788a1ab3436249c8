package main

import (
	"fmt"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// dockerfile is a parsed Dockerfile and what BuildKit decides about each of its build stages: the
// same decisions dockerfile2llb makes (convert.go, v0.34.2), made here without building anything.
type dockerfile struct {
	lines  []string // physical lines, without line endings
	escape rune
	stages []stage
	// args are the global ARGs (declared before the first FROM) with the build args applied, plus
	// BuildKit's automatic platform args: what FROM lines expand with.
	args *llb.EnvList
}

// stage is one FROM … and its instructions.
type stage struct {
	instructions.Stage
	Line, EndLine int // the FROM line and the stage's last line
	// Parent is the index of the earlier stage this one builds on (FROM <stage>), or -1.
	Parent int
	// Ref is the normalized base image reference (docker.io/library/x:tag), empty for a stage
	// parent or scratch; Platform is the platform it is resolved for.
	Ref, Platform string
	// OS is the operating system BuildKit sees for the stage's image: its base image's config, its
	// parent stage's, or the requested platform's when the base image is unknown.
	OS string
	// Shell is the shell in effect at the stage's start: the base image config's Shell (Docker's
	// extension), the parent stage's final SHELL, or BuildKit's default for OS.
	Shell []string
	// Unresolved says why the base image config (of this stage or a stage it builds on) is unknown.
	Unresolved string
	// Guessed is set when OS was guessed from an unresolved base image's name.
	Guessed bool
}

// targetPlatform is the platform BuildKit lints for: this binary's (the engine's platform, since
// the linter runs in a container on it), as dockerfile2llb defaults it.
var targetPlatform = platforms.Normalize(platforms.DefaultSpec())

// parseDockerfile parses dt and works out each stage's base, OS and initial shell, as BuildKit
// would with buildArgs and the base image configs images knows. A Dockerfile BuildKit cannot parse
// is an error (BuildKit's own checks report it).
func parseDockerfile(dt []byte, buildArgs map[string]string, images *resolver) (*dockerfile, error) {
	res, err := parser.Parse(strings.NewReader(string(dt)))
	if err != nil {
		return nil, err
	}
	stages, metaArgs, err := instructions.Parse(res.AST, linter.New(&linter.Config{}))
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(string(dt), "\uFEFF")
	df := &dockerfile{lines: strings.Split(text, "\n"), escape: res.EscapeToken}
	for i, l := range df.lines {
		df.lines[i] = strings.TrimSuffix(l, "\r")
	}
	df.args = globalArgs(metaArgs, buildArgs, res.EscapeToken, stages)
	lex := shell.NewLex(res.EscapeToken)
	byName := map[string]int{}
	for i, st := range stages {
		s := stage{Stage: st, Parent: -1}
		if len(st.Location) > 0 {
			s.Line = st.Location[0].Start.Line
			s.EndLine = st.Location[len(st.Location)-1].End.Line
		}
		for _, c := range st.Commands {
			if loc := c.Location(); len(loc) > 0 {
				s.EndLine = max(s.EndLine, loc[len(loc)-1].End.Line)
			}
		}
		platform := targetPlatform
		if st.Platform != "" {
			if m, err := lex.ProcessWordWithMatches(st.Platform, df.args); err == nil {
				if p, err := platforms.Parse(m.Result); err == nil {
					platform = platforms.Normalize(p)
				}
			}
		}
		s.Platform = platforms.Format(platform)
		base := st.BaseName
		if m, err := lex.ProcessWordWithMatches(st.BaseName, df.args); err == nil {
			base = m.Result
		}
		// convert.go: a base name that is an earlier stage's name builds on that stage.
		if p, ok := byName[strings.ToLower(base)]; ok {
			parent := df.stages[p]
			s.Parent, s.OS, s.Shell = p, parent.OS, finalShell(parent)
			s.Unresolved, s.Guessed = parent.Unresolved, parent.Guessed
		} else if strings.EqualFold(base, "scratch") {
			s.OS, s.Shell = platform.OS, defaultShell(platform.OS)
		} else {
			s.OS, s.Shell = platform.OS, defaultShell(platform.OS)
			if ref, err := reference.ParseNormalizedNamed(base); err == nil {
				s.Ref = reference.TagNameOnly(ref).String()
				img, reason := images.lookup(s.Ref, s.Platform)
				if img != nil {
					if img.OS != "" {
						s.OS = img.OS
					}
					s.Shell = defaultShell(s.OS)
					if len(img.Config.Shell) > 0 {
						s.Shell = img.Config.Shell
					}
				} else {
					s.Unresolved = fmt.Sprintf("base image %s for %s could not be resolved (%s)", s.Ref, s.Platform, reason)
					if st.Platform == "" && looksLikeWindows(s.Ref) {
						s.OS, s.Shell, s.Guessed = "windows", defaultShell("windows"), true
					}
				}
			}
		}
		if st.Name != "" {
			byName[strings.ToLower(st.Name)] = i
		}
		df.stages = append(df.stages, s)
	}
	return df, nil
}

// globalArgs replicates dockerfile2llb's defaultArgs + buildMetaArgs: the automatic platform args,
// then each global ARG, taking a build arg's value over its default.
func globalArgs(metaArgs []instructions.ArgCommand, buildArgs map[string]string, escape rune, stages []instructions.Stage) *llb.EnvList {
	target := "default"
	if len(stages) > 0 && stages[len(stages)-1].Name != "" {
		target = stages[len(stages)-1].Name
	}
	tp := targetPlatform
	env := &llb.EnvList{}
	for _, kv := range [][2]string{
		{"BUILDPLATFORM", platforms.Format(tp)}, {"BUILDOS", tp.OS}, {"BUILDOSVERSION", tp.OSVersion},
		{"BUILDARCH", tp.Architecture}, {"BUILDVARIANT", tp.Variant},
		{"TARGETPLATFORM", platforms.FormatAll(tp)}, {"TARGETOS", tp.OS}, {"TARGETOSVERSION", tp.OSVersion},
		{"TARGETARCH", tp.Architecture}, {"TARGETVARIANT", tp.Variant}, {"TARGETSTAGE", target},
	} {
		v := kv[1]
		if o, ok := buildArgs[kv[0]]; ok {
			v = o
		}
		env = env.AddOrReplace(kv[0], v)
	}
	lex := shell.NewLex(escape)
	for _, cmd := range metaArgs {
		for _, kp := range cmd.Args {
			if v, ok := buildArgs[kp.Key]; ok {
				env = env.AddOrReplace(kp.Key, v)
			} else if kp.Value != nil {
				if m, err := lex.ProcessWordWithMatches(*kp.Value, env); err == nil {
					env = env.AddOrReplace(kp.Key, m.Result)
				}
			}
		}
	}
	return env
}

// finalShell is the shell in effect at the end of a stage: its last SHELL, or the one it began with.
func finalShell(s stage) []string {
	sh := s.Shell
	for _, c := range s.Commands {
		if c, ok := c.(*instructions.ShellCommand); ok {
			sh = c.Shell
		}
	}
	return sh
}

// stageAt is the stage holding line (nil before the first FROM).
func (df *dockerfile) stageAt(line int) *stage {
	var found *stage
	for i := range df.stages {
		if df.stages[i].Line <= line {
			found = &df.stages[i]
		}
	}
	return found
}

// defaultShell is BuildKit's default shell for an OS (dockerfile2llb/defaultshell.go).
func defaultShell(os string) []string {
	if os == "windows" {
		return []string{"cmd", "/S", "/C"}
	}
	return []string{"/bin/sh", "-c"}
}

// looksLikeWindows says whether an image reference names one of Microsoft's Windows base images
// (or an image tagged as built on one), used only when its config cannot be resolved.
func looksLikeWindows(ref string) bool {
	r := strings.ToLower(ref)
	for _, s := range []string{"mcr.microsoft.com/windows", "/windows/servercore", "/windows/nanoserver",
		"/windows/server:", "/dotnet/framework/", "nanoserver", "windowsservercore", "servercore-ltsc"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}
