package ci

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

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
	JSON     string
	SARIF    string
	Summary  string
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
	paths := make([]string, 0, len(files))
	dir := dag.Directory()
	for p, f := range files {
		paths = append(paths, p)
		dir = dir.WithFile(p, f)
	}
	sort.Strings(paths)

	var ctr *dagger.Container
	var tool, uri string
	switch o.Linter {
	case "hadolint":
		tool, uri = "hadolint", "https://github.com/hadolint/hadolint"
		args := []string{"hadolint", "--no-color", "--format", "json", "--failure-threshold", threshold}
		ctr = dag.Container().From(o.HadolintImage)
		if o.Config != nil {
			// The threshold stays on the command line: hadolint ignores it in config files.
			ctr = ctr.WithMountedFile("/nightly-lint-config/.hadolint.yaml", o.Config)
			args = append(args, "--config", "/nightly-lint-config/.hadolint.yaml")
		}
		ctr = ctr.WithDirectory("/lint", dir).WithWorkdir("/lint").
			WithExec(append(args, paths...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	case "buildkit":
		tool, uri = "buildkit-dockerfile-checks+shellcheck", "https://docs.docker.com/reference/build-checks/"
		ctr = dag.Container().From(o.ShellcheckImage).
			WithFile("/usr/local/bin/nightly-dockerlint", dockerlintBinary(o.GolangImage)).
			WithDirectory("/lint", dir).WithWorkdir("/lint").
			WithExec(append([]string{"/usr/local/bin/nightly-dockerlint", "-shellcheck", "shellcheck"}, paths...),
				dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	}
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, fmt.Errorf("running %s: %v", o.Linter, err)
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading %s's output: %v", o.Linter, err)
	}
	if code != 0 && code != 1 { // hadolint exits 1 for findings over the threshold
		stderr, _ := ctr.Stderr(ctx)
		return nil, fmt.Errorf("%s exited %d: %s", o.Linter, code, lastLines(stderr, 10))
	}
	findings, err := plan.ParseHadolintJSON([]byte(out), o.Linter)
	if err != nil {
		return nil, err
	}
	plan.SortFindings(findings)
	sarif, err := plan.SARIF(findings, tool, uri)
	if err != nil {
		return nil, err
	}
	js, err := jsonIndent(findings)
	if err != nil {
		return nil, err
	}
	return &LintRun{
		Linter: o.Linter, Threshold: threshold, Files: paths, Findings: findings,
		Failing: plan.Failing(findings, threshold), JSON: js, SARIF: string(sarif),
		Summary: plan.LintSummary(findings, threshold),
	}, nil
}

// dockerfiles are the versioned Dockerfiles (any Dockerfile* or *.Dockerfile outside build output)
// and the prepared ones, by the path they are reported under.
func dockerfiles(ctx context.Context, source *dagger.Directory, contexts []ImageContext) (map[string]*dagger.File, error) {
	files := map[string]*dagger.File{}
	for _, pattern := range []string{"**/Dockerfile*", "**/*.Dockerfile", "Dockerfile*", "*.Dockerfile"} {
		matches, err := source.Glob(ctx, pattern)
		if err != nil {
			return nil, fmt.Errorf("listing %s in the source: %v", pattern, err)
		}
		for _, p := range matches {
			if strings.Contains("/"+p+"/", "/target/") || strings.HasSuffix(p, "/") || strings.Contains(path.Base(p), ".dockerignore") {
				continue
			}
			files[p] = source.File(p)
		}
	}
	for _, c := range contexts {
		files["prepared/"+c.Source.Name+"/Dockerfile"] = c.Dir.File("Dockerfile")
	}
	return files, nil
}

// dockerlintBinary builds tools/dockerlint (BuildKit's checks + ShellCheck driver) from this
// module's own source, in a Go image; the engine caches it, so it builds once per engine.
func dockerlintBinary(golangImage string) *dagger.File {
	return dag.Container().From(golangImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("nightly-go-mod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("nightly-go-build")).
		WithEnvVariable("CGO_ENABLED", "0").
		WithDirectory("/src", dag.CurrentModule().Source().Directory("tools/dockerlint")).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/nightly-dockerlint", "."}).
		File("/out/nightly-dockerlint")
}
