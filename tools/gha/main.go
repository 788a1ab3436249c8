// Command gha turns the nightly's report into GitHub Actions step outputs, annotations and the job
// summary. It runs on the CI host after `dagger call … run … files export --path=DIR`:
//
//	go run ./tools/gha [-source-dir=.] [-fail=true] DIR
//
// DIR holds report.json and report.md. Step outputs: status, passed, failed-stage, cause,
// nightly-tag, commit-tag, git-commit-id, digest-<image>, gitops-commit, pull-request,
// pull-request-url. Annotations: each lint finding at its file and line (an error when it is at
// or above the threshold), each failing test (at its source file when found), the failing stage.
// The job summary is report.md. It exits 1 when the report is red (so the job is red), unless
// -fail=false.
//
// Outside GitHub Actions (GITHUB_ACTIONS is not "true") it writes nothing and says so: no
// workflow command is printed and no file is touched (go-githubactions writes GITHUB_OUTPUT and
// GITHUB_STEP_SUMMARY, and panics when they are unset).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	githubactions "github.com/sethvargo/go-githubactions"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gha", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sourceDir := fs.String("source-dir", ".", "the product's source root (where run's --source pointed), relative to the repository root: prefixes the annotations' file paths")
	fail := fs.Bool("fail", true, "exit 1 when the report is red")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: gha [-source-dir=DIR] [-fail=false] REPORT-DIR (the folder run's files were exported to)")
		return 2
	}
	e := &emitter{getenv: getenv, sourceDir: *sourceDir, workspace: getenv("GITHUB_WORKSPACE")}
	code, err := e.emit(fs.Arg(0), githubactions.New(githubactions.WithGetenv(getenv), githubactions.WithWriter(stdout)), stderr)
	if err != nil {
		fmt.Fprintln(stderr, "gha:", err)
		return 2
	}
	if code != 0 && !*fail {
		return 0
	}
	return code
}
