package ci

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// LintOpts choose the linter and its images.
type LintOpts struct {
	// Linter is hadolint (the hadolint image) or buildkit (BuildKit's checks + ShellCheck).
	Linter string
	// Threshold: findings at or above it fail (error, warning, info, style, none).
	Threshold string
	// Config is an optional .hadolint.yaml (hadolint only).
	Config                                      *dagger.File
	HadolintImage, GolangImage, ShellcheckImage string
}

// LintRun is every finding on every Dockerfile, and the reports made of them.
type LintRun struct {
	Linter, Threshold string
	// Files linted: versioned paths as in the source, prepared ones as prepared/<image>/Dockerfile.
	Files    []string
	Findings []plan.Finding
	Failing  []plan.Finding
	// Notes say what the linter could not judge as the build would (a base image it could not
	// resolve, RUN lines no POSIX shell runs); the summary and the SARIF report carry them.
	Notes   []string
	JSON    string
	SARIF   string
	Summary string
}

// Err lists the findings at or above the threshold as file:line:rule; nil when there are none.
func (r *LintRun) Err() error {
	if len(r.Failing) == 0 {
		return nil
	}
	lines := make([]string, len(r.Failing))
	for i, f := range r.Failing {
		lines[i] = fmt.Sprintf("  %s:%d:%s [%s] %s", f.File, f.Line, f.Code, f.Level, f.Message)
	}
	return fmt.Errorf("%s: %d finding(s) at or above the failure threshold %q:\n%s",
		r.Linter, len(r.Failing), r.Threshold, strings.Join(lines, "\n"))
}

// Check validates the linter and threshold, so bad options fail before any build work.
func (o LintOpts) Check() (threshold string, err error) {
	if o.Linter != "hadolint" && o.Linter != "buildkit" {
		return "", fmt.Errorf("linter %q: want hadolint or buildkit", o.Linter)
	}
	return plan.ParseThreshold(o.Threshold)
}

// Lint lints every Dockerfile versioned in source and the Dockerfile of every prepared context.
func Lint(ctx context.Context, source *dagger.Directory, contexts []ImageContext, o LintOpts) (*LintRun, error) {
	threshold, err := o.Check()
	if err != nil {
		return nil, err
	}
	files, err := dockerfiles(ctx, source, contexts)
	if err != nil {
		return nil, err
	}
	// In a fixed order: the directory's cache key follows the order its files were added in, and
	// a map's order changes from run to run (the linter then ran again on unchanged sources).
	paths := slices.Sorted(maps.Keys(files))
	// Made from the files' text, not from the source's files: an engine that several runs share
	// holds one result for equal Dockerfiles (they rarely change from commit to commit), and a
	// folder made of another run's files made the engine load that run's source again, through a
	// client that cannot see it ("lstat …: no such file or directory"). Text ties it to no folder.
	dir := dag.Directory()
	for _, p := range paths {
		dir = dir.WithNewFile(p, files[p])
	}

	var findings []plan.Finding
	var notes []string
	var tool, uri string
	switch o.Linter {
	case "hadolint":
		tool, uri = "hadolint", "https://github.com/hadolint/hadolint"
		if findings, err = hadolint(ctx, dir, paths, threshold, o); err != nil {
			return nil, err
		}
	case "buildkit":
		tool, uri = "buildkit-dockerfile-checks+shellcheck", "https://docs.docker.com/reference/build-checks/"
		if findings, notes, err = buildkitLint(ctx, dir, paths, contexts, o); err != nil {
			return nil, err
		}
	}
	plan.SortFindings(findings)
	sarif, err := plan.SARIF(findings, tool, uri, notes)
	if err != nil {
		return nil, err
	}
	js, err := jsonIndent(findings)
	if err != nil {
		return nil, err
	}
	return &LintRun{
		Linter: o.Linter, Threshold: threshold, Files: paths, Findings: findings,
		Failing: plan.Failing(findings, threshold), Notes: notes, JSON: js, SARIF: string(sarif),
		Summary: plan.LintSummary(findings, threshold, notes),
	}, nil
}

// hadolint runs the hadolint image on every file, its threshold on the command line.
func hadolint(ctx context.Context, dir *dagger.Directory, paths []string, threshold string, o LintOpts) ([]plan.Finding, error) {
	args := []string{"hadolint", "--no-color", "--format", "json", "--failure-threshold", threshold}
	ctr := dag.Container().From(o.HadolintImage)
	if o.Config != nil {
		// The threshold stays on the command line: hadolint ignores it in config files.
		ctr = ctr.WithMountedFile("/nightly-lint-config/.hadolint.yaml", o.Config)
		args = append(args, "--config", "/nightly-lint-config/.hadolint.yaml")
	}
	ctr = ctr.WithDirectory("/lint", dir).WithWorkdir("/lint").
		WithExec(append(args, paths...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	out, err := toolOutput(ctx, ctr, "hadolint", 1) // hadolint exits 1 for findings over the threshold
	if err != nil {
		return nil, err
	}
	return plan.ParseHadolintJSON([]byte(out), "hadolint")
}

// buildkitLint runs tools/dockerlint: BuildKit's checks, and ShellCheck on what a POSIX shell
// runs. BuildKit's checks need each base image's config (UndefinedVar knows what the image's ENV
// defines): dockerlint lists the base images BuildKit asks for, nightly reads their configs through
// the engine (which pulls with its own mirrors and credentials), and dockerlint lints with them. An
// image the engine cannot resolve is linted with an empty config, and a note says so.
func buildkitLint(ctx context.Context, dir *dagger.Directory, paths []string, contexts []ImageContext, o LintOpts) ([]plan.Finding, []string, error) {
	baseImages := map[string]string{}
	for _, c := range contexts {
		baseImages[path.Clean(c.Source.Dockerfile)] = c.Source.BaseImage
	}
	files := plan.LintFiles(paths, baseImages)
	const bin, spec, notesFile = "/usr/local/bin/nightly-dockerlint", "/nightly-lint/spec.json", "/nightly-lint/notes.json"
	tool := dag.Container().From(o.ShellcheckImage).
		WithFile(bin, dockerlintBinary(o.GolangImage)).
		WithDirectory("/lint", dir).WithWorkdir("/lint")

	listSpec, err := plan.LintSpec(files, nil)
	if err != nil {
		return nil, nil, err
	}
	listed, err := tool.WithNewFile(spec, string(listSpec)).
		WithExec([]string{bin, "-list-bases", "-spec", spec}).
		Stdout(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("listing the base images of the Dockerfiles: %v", err)
	}
	refs, err := plan.ParseBaseImageRefs([]byte(listed))
	if err != nil {
		return nil, nil, err
	}
	lintSpec, err := plan.LintSpec(files, resolveBaseImages(ctx, refs))
	if err != nil {
		return nil, nil, err
	}
	ctr := tool.WithNewFile(spec, string(lintSpec)).
		WithExec([]string{bin, "-shellcheck", "shellcheck", "-spec", spec, "-notes", notesFile},
			dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	out, err := toolOutput(ctx, ctr, "the buildkit linter", 0)
	if err != nil {
		return nil, nil, err
	}
	findings, err := plan.ParseHadolintJSON([]byte(out), "the buildkit linter")
	if err != nil {
		return nil, nil, err
	}
	dt, err := ctr.File(notesFile).Contents(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the buildkit linter's notes: %v", err)
	}
	notes, err := plan.ParseLintNotes([]byte(dt))
	return findings, notes, err
}

// resolveBaseImages reads each base image's config through the engine, in parallel: only its
// config, no layer is pulled. One the engine cannot resolve carries the reason instead.
func resolveBaseImages(ctx context.Context, refs []plan.BaseImageRef) []plan.BaseImageConfig {
	out := make([]plan.BaseImageConfig, len(refs))
	var wg sync.WaitGroup
	for i, r := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = resolveBaseImage(ctx, r)
		}()
	}
	wg.Wait()
	return out
}

func resolveBaseImage(ctx context.Context, r plan.BaseImageRef) plan.BaseImageConfig {
	c := plan.BaseImageConfig{BaseImageRef: r}
	img := dag.Container(dagger.ContainerOpts{Platform: dagger.Platform(r.Platform)}).From(r.Ref)
	fail := func(err error) plan.BaseImageConfig {
		msg, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
		return plan.BaseImageConfig{BaseImageRef: r, Err: "the engine could not read its config: " + msg}
	}
	p, err := img.Platform(ctx)
	if err != nil {
		return fail(err)
	}
	c.ImagePlatform = string(p)
	vars, err := img.EnvVariables(ctx)
	if err != nil {
		return fail(err)
	}
	for _, v := range vars {
		name, err := v.Name(ctx)
		if err != nil {
			return fail(err)
		}
		value, err := v.Value(ctx)
		if err != nil {
			return fail(err)
		}
		c.Env = append(c.Env, name+"="+value)
	}
	if c.User, err = img.User(ctx); err != nil {
		return fail(err)
	}
	if c.WorkingDir, err = img.Workdir(ctx); err != nil {
		return fail(err)
	}
	if c.Entrypoint, err = img.Entrypoint(ctx); err != nil {
		return fail(err)
	}
	if c.Cmd, err = img.DefaultArgs(ctx); err != nil {
		return fail(err)
	}
	return c
}

// toolOutput is a linter's stdout when it exited 0 or ok (its "findings over the threshold").
func toolOutput(ctx context.Context, ctr *dagger.Container, name string, ok int) (string, error) {
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("running %s: %s", name, execErr(err))
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("reading %s's output: %v", name, err)
	}
	if code != 0 && code != ok {
		stderr, _ := ctr.Stderr(ctx)
		return "", fmt.Errorf("%s exited %d: %s", name, code, lastLines(stderr, 10))
	}
	return out, nil
}

// dockerfiles are the versioned Dockerfiles (any Dockerfile* or *.Dockerfile outside build output)
// and the prepared ones, by the path they are reported under: their text.
func dockerfiles(ctx context.Context, source *dagger.Directory, contexts []ImageContext) (map[string]string, error) {
	files := map[string]string{}
	for _, pattern := range []string{"**/Dockerfile*", "**/*.Dockerfile", "Dockerfile*", "*.Dockerfile"} {
		matches, err := source.Glob(ctx, pattern)
		if err != nil {
			return nil, fmt.Errorf("listing %s in the source: %v", pattern, err)
		}
		for _, p := range matches {
			if strings.Contains("/"+p+"/", "/target/") || strings.HasSuffix(p, "/") || strings.Contains(path.Base(p), ".dockerignore") {
				continue
			}
			if _, seen := files[p]; seen {
				continue
			}
			text, err := source.File(p).Contents(ctx)
			if err != nil {
				return nil, fmt.Errorf("reading %s in the source: %v", p, err)
			}
			files[p] = text
		}
	}
	for _, c := range contexts {
		files["prepared/"+c.Source.Name+"/Dockerfile"] = c.Dockerfile
	}
	return files, nil
}

// dockerlintBinary builds tools/dockerlint (BuildKit's checks + ShellCheck driver) from this
// module's own source, in a Go image; the engine caches it, so it builds once per engine.
func dockerlintBinary(golangImage string) *dagger.File {
	return goTool(golangImage, toolSource("tools/dockerlint"), ".", "nightly-dockerlint", "")
}
