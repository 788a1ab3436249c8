package ci

import (
	"path"
	"strings"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// The report's files, as CI exports them (dagger call … run files export --path=nightly-report):
//
//	report.json, report.md   the report (plan.Report), as data and for people
//	status                   "passed" or "failed" on the first line, then the verdict: a CI step's exit code
//	junit/                   every module's surefire XML (JUnit), paths kept: store_test_results
//	lint/hadolint.json, lint/lint.sarif   the lint findings
//	deploy/preview.diff      pulumi preview --diff
//	Pulumi.<stack>.yaml      the stack file the GitOps stage commits
const (
	reportJSON     = "report.json"
	reportMarkdown = "report.md"
	reportStatus   = "status"
	junitDir       = "junit"
	lintDir        = "lint"
	previewDiff    = "deploy/preview.diff"
)

// testsSection is mvn clean test's result in the report.
func testsSection(run *TestRun) *plan.TestsSection {
	s := &plan.TestsSection{Passed: run.Passed(), Tests: run.Summary.Tests, Failures: run.Summary.Failures,
		Errors: run.Summary.Errors, Skipped: run.Summary.Skipped, ExitCode: run.ExitCode, JUnitDir: junitDir,
		RanAgain: run.RanAgain}
	for _, f := range run.Summary.Failed {
		s.Failed = append(s.Failed, plan.FailedTestEntry{Class: f.Class, Name: f.Name, Kind: f.Kind, Message: f.Message})
	}
	return s
}

func mavenDeploySection(run *DeployRun) *plan.MavenDeploySection {
	s := &plan.MavenDeploySection{Repository: run.Repository, Version: run.Version.POM, DryRun: run.DryRun, Attempts: run.Attempts,
		Artifacts: []string{}}
	for _, a := range run.Artifacts {
		s.Artifacts = append(s.Artifacts, a.Coordinates())
	}
	return s
}

// lintSection lists the findings; a prepared Dockerfile's findings point back at the image's
// versioned Dockerfile, whose lines the preparation keeps (plan.PrepareDockerfile edits in place).
func lintSection(run *LintRun, images []ImageSource) *plan.LintSection {
	source := map[string]string{}
	for _, img := range images {
		source["prepared/"+img.Name+"/Dockerfile"] = path.Clean(img.Dockerfile)
	}
	failing := map[plan.Finding]bool{}
	for _, f := range run.Failing {
		failing[f] = true
	}
	s := &plan.LintSection{Linter: run.Linter, Threshold: run.Threshold, Files: run.Files, Failing: len(run.Failing),
		Notes: run.Notes, Findings: []plan.LintEntry{}, SarifFile: lintDir + "/lint.sarif"}
	for _, f := range run.Findings {
		src := f.File
		if v, ok := source[f.File]; ok {
			src = v
		}
		s.Findings = append(s.Findings, plan.LintEntry{File: f.File, Source: src, Line: f.Line, Column: f.Column,
			Code: f.Code, Level: f.Level, Message: f.Message, Failing: failing[f]})
	}
	return s
}

func imagesSection(p *Publication) *plan.ImagesSection {
	s := &plan.ImagesSection{NightlyTag: p.Version.NightlyTag(), PreviousTag: p.Version.PreviousTag(),
		Created: p.Created.UTC().Format("2006-01-02T15:04:05Z07:00"), DryRun: p.DryRun, Yielded: p.Yielded,
		Faults: p.Faults, Conflicts: p.Conflicts}
	if p.Nightly != nil {
		s.Nightly = p.Nightly.ID
	}
	if p.Previous != nil {
		s.Previous = p.Previous.ID
	}
	for _, img := range p.Images {
		s.CommitTag = img.CommitTag
		e := plan.ImageEntry{Name: img.Name, Repository: img.Repository, Digest: img.Digest, Pushed: img.Pushed,
			NightlyDigest: img.NightlyAfter, PreviousDigest: img.PreviousAfter}
		for _, mv := range img.Moves {
			e.Moves = append(e.Moves, plan.TagEntry{Tag: mv.Tag, From: mv.From, To: mv.Digest})
		}
		s.Images = append(s.Images, e)
	}
	return s
}

func gitopsSection(o *plan.GitopsOutcome) *plan.GitopsSection {
	p := o.Plan
	return &plan.GitopsSection{Repository: p.Repo.URL, Forge: p.Forge, Mode: p.Mode, Base: p.Base, Branch: p.Branch,
		Path: p.StackPath, Commit: o.Commit, Changed: o.Changed, Pushed: o.Pushed, DryRun: o.DryRun, Attempts: o.Attempts,
		PullRequest: o.PullRequest, PullRequestURL: o.PullRequestURL, PullRequestCreated: o.PullRequestCreated,
		Result: o.Result, Diff: o.Diff}
}

func deploymentSection(r *UpResult) *plan.DeploymentSection {
	s := &plan.DeploymentSection{Stack: r.Stack, DryRun: r.DryRun, PreviewChanges: r.PreviewChanges.String(),
		Version: r.Version, PreviewDiff: r.PreviewDiff, LockWaits: r.LockWaits, Pending: r.Pending, Recovered: r.Recovered}
	if r.Updated {
		s.Changes, s.Changed = r.Changes.String(), r.Changes.Changed()
	}
	if len(r.Outputs) > 0 {
		s.Outputs = map[string]string{}
		for k, v := range r.Outputs {
			s.Outputs[k] = plainValue(v)
		}
	}
	for _, w := range r.Workloads {
		s.Workloads = append(s.Workloads, plan.WorkloadEntry{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
			GitCommitID: w.GitCommitID, RolledOut: w.Done, State: w.State})
	}
	return s
}

// plainValue prints a stack output: strings as they are, anything else as JSON would.
func plainValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	js, err := jsonIndent(v)
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(js), " ")
}

// reportFiles is the report's folder: the report itself and what the stages produced.
func reportFiles(rep *plan.Report, produced *dagger.Directory) (*dagger.Directory, error) {
	js, err := rep.JSON()
	if err != nil {
		return nil, err
	}
	status := rep.Status + "\n" + rep.Headline() + "\n"
	return produced.
		WithNewFile(reportJSON, string(js)).
		WithNewFile(reportMarkdown, rep.Markdown()).
		WithNewFile(reportStatus, status), nil
}

// GhaBinary builds tools/gha, the program that turns the report into GitHub Actions outputs,
// annotations and the job summary, for the CI host (a static binary for goarch); the engine
// caches it.
func GhaBinary(golangImage, goarch string) *dagger.File {
	return goTool(golangImage, toolSource("tools/gha"), ".", "gha", goarch)
}
