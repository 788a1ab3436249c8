package main

import (
	"encoding/json"
	"fmt"
)

// report is the part of the nightly's report (ci/plan/report.go, schema 1) this program reads.
// It decodes the JSON on its own, as any CI tool would: the JSON is the contract, and the tests
// read the golden reports ci/plan's tests write.
type report struct {
	Schema      int     `json:"schema"`
	Status      string  `json:"status"`
	Passed      bool    `json:"passed"`
	DryRun      bool    `json:"dryRun"`
	Commit      string  `json:"commit"`
	GitCommitID string  `json:"gitCommitId"`
	NightlyTag  string  `json:"nightlyTag"`
	FailedStage string  `json:"failedStage"`
	Cause       string  `json:"cause"`
	Stages      []stage `json:"stages"`
	Tests       *struct {
		Failed []struct {
			Class   string `json:"class"`
			Name    string `json:"name"`
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"failed"`
	} `json:"tests"`
	Lint *struct {
		Linter   string `json:"linter"`
		Findings []struct {
			File    string `json:"file"`
			Source  string `json:"source"`
			Line    int    `json:"line"`
			Column  int    `json:"column"`
			Code    string `json:"code"`
			Level   string `json:"level"`
			Message string `json:"message"`
			Failing bool   `json:"failing"`
		} `json:"findings"`
	} `json:"lint"`
	Images *struct {
		CommitTag string `json:"commitTag"`
		Images    []struct {
			Name   string `json:"name"`
			Digest string `json:"digest"`
		} `json:"images"`
	} `json:"images"`
	Gitops *struct {
		Commit         string `json:"commit"`
		PullRequest    int64  `json:"pullRequest"`
		PullRequestURL string `json:"pullRequestUrl"`
	} `json:"gitops"`
}

type stage struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

const schema = 1

func parseReport(b []byte) (*report, error) {
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading the nightly report: %w", err)
	}
	if r.Schema != schema {
		return nil, fmt.Errorf("nightly report schema %d: this program reads schema %d", r.Schema, schema)
	}
	return &r, nil
}
