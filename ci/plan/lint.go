package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Finding is one Dockerfile lint finding, whichever linter made it (hadolint, BuildKit's checks,
// ShellCheck on RUN lines), in hadolint's JSON shape.
type Finding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Code    string `json:"code"`
	Level   string `json:"level"`
	Message string `json:"message"`
}

// Severity levels, most severe first, as hadolint names them.
var levels = []string{"error", "warning", "info", "style"}

func levelRank(level string) int {
	for i, l := range levels {
		if l == level {
			return i
		}
	}
	return len(levels)
}

// ParseThreshold checks a --failure-threshold value: error, warning, info, style, or none (also
// hadolint's "ignore"), which fails on nothing.
func ParseThreshold(s string) (string, error) {
	switch t := strings.ToLower(strings.TrimSpace(s)); t {
	case "error", "warning", "info", "style", "none":
		return t, nil
	case "ignore":
		return "none", nil
	}
	return "", fmt.Errorf("failure threshold %q: want error, warning, info, style or none", s)
}

// Failing lists the findings at or above threshold (a value ParseThreshold accepted).
func Failing(findings []Finding, threshold string) []Finding {
	if threshold == "none" {
		return nil
	}
	var out []Finding
	for _, f := range findings {
		if levelRank(f.Level) <= levelRank(threshold) {
			out = append(out, f)
		}
	}
	return out
}

// ParseHadolintJSON reads `hadolint --format json` output: an array of
// {line, code, message, column, file, level}. source names the output in errors.
func ParseHadolintJSON(out []byte, source string) ([]Finding, error) {
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, nil // hadolint prints nothing when it has nothing to say
	}
	var fs []Finding
	if err := json.Unmarshal(out, &fs); err != nil {
		return nil, fmt.Errorf("reading hadolint JSON from %s: %w (output starts %q)", source, err, firstLine(string(out)))
	}
	for i, f := range fs {
		if levelRank(f.Level) == len(levels) {
			return nil, fmt.Errorf("reading hadolint JSON from %s: finding %d (%s) has unknown level %q", source, i, f.Code, f.Level)
		}
	}
	return fs, nil
}

// SortFindings orders findings by file, line, column and code, for stable reports.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Code < b.Code
	})
}

// LintSummary is the readable report: one file:line:column code [level] message a line, then a
// count, and the findings that fail the threshold said first.
func LintSummary(fs []Finding, threshold string) string {
	var b strings.Builder
	failing := Failing(fs, threshold)
	fmt.Fprintf(&b, "%d finding(s), %d at or above the failure threshold %q\n", len(fs), len(failing), threshold)
	for _, f := range fs {
		fmt.Fprintf(&b, "%s:%d:%d %s [%s] %s\n", f.File, f.Line, f.Column, f.Code, f.Level, f.Message)
	}
	return b.String()
}

// SARIF renders findings as SARIF 2.1.0 (what GitHub code scanning uploads), tool named tool.
func SARIF(fs []Finding, tool, infoURI string) ([]byte, error) {
	type rule struct {
		ID   string `json:"id"`
		Help struct {
			Text string `json:"text"`
		} `json:"help"`
	}
	type result struct {
		RuleID  string `json:"ruleId"`
		Level   string `json:"level"`
		Message struct {
			Text string `json:"text"`
		} `json:"message"`
		Locations []map[string]any `json:"locations"`
	}
	rules := []rule{}
	seen := map[string]bool{}
	results := []result{}
	for _, f := range fs {
		if !seen[f.Code] {
			seen[f.Code] = true
			r := rule{ID: f.Code}
			r.Help.Text = f.Message
			rules = append(rules, r)
		}
		r := result{RuleID: f.Code, Level: sarifLevel(f.Level)}
		r.Message.Text = f.Message
		region := map[string]any{"startLine": max(f.Line, 1)}
		if f.Column > 0 {
			region["startColumn"] = f.Column
		}
		r.Locations = []map[string]any{{"physicalLocation": map[string]any{
			"artifactLocation": map[string]any{"uri": f.File},
			"region":           region,
		}}}
		results = append(results, r)
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []any{map[string]any{
			"tool":    map[string]any{"driver": map[string]any{"name": tool, "informationUri": infoURI, "rules": rules}},
			"results": results,
		}},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// sarifLevel maps hadolint levels to SARIF's error, warning and note.
func sarifLevel(level string) string {
	switch level {
	case "error", "warning":
		return level
	}
	return "note"
}
