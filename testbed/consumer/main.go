// A small Dagger module that uses nightly from code: it depends on the nightly module
// (dagger.json) and calls its functions through the generated client (dag.Nightly()), as another
// team's pipeline would. testbed/e2e/run_test.go runs it.
package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/consumer/internal/dagger"
)

type Consumer struct{}

// Run nightly's version, its test check and a dry run of the whole nightly on a product, through
// the generated client, and summarize what came back (typed fields, the report's files). Never
// cached, as nightly's run is not: a summary of a red run must not be handed back by the next call
// +cache="never"
func (m *Consumer) Verdict(ctx context.Context,
	// The product's source tree (the folder of its parent pom.xml)
	source *dagger.Directory,
	// The commit being built
	commit string,
	// The cache volume of Maven's local repository
	// +default="nightly-maven-m2"
	mavenCache string,
) (string, error) {
	n := dag.Nightly(dagger.NightlyOpts{Source: source, Linter: "buildkit", MavenCache: mavenCache})
	tag, err := n.Version().NightlyTag(ctx)
	if err != nil {
		return "", fmt.Errorf("nightly version: %w", err)
	}
	tests, err := n.Test(ctx)
	if err != nil {
		return "", fmt.Errorf("nightly test: %w", err)
	}
	report := n.Run(commit, dagger.NightlyRunOpts{DryRun: true})
	passed, err := report.Passed(ctx)
	if err != nil {
		return "", fmt.Errorf("nightly run: %w", err)
	}
	stages, err := report.Stages(ctx)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, s := range stages {
		name, err := s.Name(ctx)
		if err != nil {
			return "", err
		}
		status, err := s.Status(ctx)
		if err != nil {
			return "", err
		}
		lines = append(lines, name+"="+status)
	}
	// The report's files, as a CI would export them.
	status, err := report.Files().File("status").Contents(ctx)
	if err != nil {
		return "", err
	}
	junit, err := report.Files().Glob(ctx, "junit/**/TEST-*.xml")
	if err != nil {
		return "", err
	}
	out := fmt.Sprintf("nightly-tag: %s\ntests: %s\npassed: %v\nstages: %s\nstatus file: %s\njunit files: %d\n",
		tag, tests, passed, strings.Join(lines, " "), strings.SplitN(status, "\n", 2)[0], len(junit))
	if !passed {
		// A red run says why, as a CI log would.
		stage, err := report.FailedStage(ctx)
		if err != nil {
			return "", err
		}
		cause, err := report.Cause(ctx)
		if err != nil {
			return "", err
		}
		out += fmt.Sprintf("failed at %s: %s\n", stage, cause)
	}
	return out, nil
}
