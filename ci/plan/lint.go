package plan

import (
	"encoding/json"
	"fmt"
	"path"
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

// LintSummary is the readable report: a count, the linter's notes (what it could not judge as the
// build would, e.g. a base image it could not resolve), then one file:line:column code [level]
// message a line.
func LintSummary(fs []Finding, threshold string, notes []string) string {
	var b strings.Builder
	failing := Failing(fs, threshold)
	fmt.Fprintf(&b, "%d finding(s), %d at or above the failure threshold %q\n", len(fs), len(failing), threshold)
	for _, n := range notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "%s:%d:%d %s [%s] %s\n", f.File, f.Line, f.Column, f.Code, f.Level, f.Message)
	}
	return b.String()
}

// SARIF renders findings as SARIF 2.1.0 (what GitHub code scanning uploads), tool named tool; the
// linter's notes become the invocation's tool execution notifications.
func SARIF(fs []Finding, tool, infoURI string, notes []string) ([]byte, error) {
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
	run := map[string]any{
		"tool":    map[string]any{"driver": map[string]any{"name": tool, "informationUri": infoURI, "rules": rules}},
		"results": results,
	}
	if len(notes) > 0 {
		var ns []any
		for _, n := range notes {
			ns = append(ns, map[string]any{"level": "note", "message": map[string]any{"text": n}})
		}
		run["invocations"] = []any{map[string]any{"executionSuccessful": true, "toolExecutionNotifications": ns}}
	}
	doc := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs":    []any{run},
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

// LintFile is one Dockerfile for tools/dockerlint, and the build args nightly builds it with.
type LintFile struct {
	Path      string            `json:"path"`
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
}

// LintFiles says how each linted Dockerfile is built. An image's versioned Dockerfile (path as in
// baseImages: versioned Dockerfile → the image's configured base image) is linted with
// BASE_IMAGE set to that base image, as nightly passes it, so a Dockerfile whose ARG BASE_IMAGE
// has no default is judged with the base image it is built on; every other file (the prepared
// ones, whose ARG default nightly already set) as it is.
func LintFiles(paths []string, baseImages map[string]string) []LintFile {
	out := make([]LintFile, 0, len(paths))
	for _, p := range paths {
		f := LintFile{Path: p}
		if base := baseImages[path.Clean(p)]; base != "" {
			f.BuildArgs = map[string]string{"BASE_IMAGE": base}
		}
		out = append(out, f)
	}
	return out
}

// BaseImageRef is a base image BuildKit resolves while linting: a normalized reference and the
// platform it is resolved for (tools/dockerlint -list-bases).
type BaseImageRef struct {
	Ref      string `json:"ref"`
	Platform string `json:"platform"`
}

// ParseBaseImageRefs reads `dockerlint -list-bases` output.
func ParseBaseImageRefs(out []byte) ([]BaseImageRef, error) {
	var refs []BaseImageRef
	if err := json.Unmarshal(out, &refs); err != nil {
		return nil, fmt.Errorf("reading the base images dockerlint lists: %w (output starts %q)", err, firstLine(string(out)))
	}
	for _, r := range refs {
		if r.Ref == "" || r.Platform == "" {
			return nil, fmt.Errorf("reading the base images dockerlint lists: an entry lacks its reference or platform: %+v", r)
		}
	}
	return refs, nil
}

// BaseImageConfig is what nightly reads of a base image's config through the engine, or why it
// could not (Err).
type BaseImageConfig struct {
	BaseImageRef
	// Platform the engine resolved: os/arch[/variant]
	ImagePlatform string
	Env           []string
	User          string
	WorkingDir    string
	Entrypoint    []string
	Cmd           []string
	Err           string
}

// LintSpec is tools/dockerlint's -spec: the files, their build args, and each base image's
// config as an OCI image config (os, architecture, variant, config.Env …), or the error that kept
// nightly from reading it.
func LintSpec(files []LintFile, images []BaseImageConfig) ([]byte, error) {
	type ociConfig struct {
		Env        []string `json:"Env,omitempty"`
		User       string   `json:"User,omitempty"`
		WorkingDir string   `json:"WorkingDir,omitempty"`
		Entrypoint []string `json:"Entrypoint,omitempty"`
		Cmd        []string `json:"Cmd,omitempty"`
	}
	type ociImage struct {
		OS           string    `json:"os"`
		Architecture string    `json:"architecture"`
		Variant      string    `json:"variant,omitempty"`
		Config       ociConfig `json:"config"`
	}
	type image struct {
		Ref      string          `json:"ref"`
		Platform string          `json:"platform"`
		Config   json.RawMessage `json:"config,omitempty"`
		Error    string          `json:"error,omitempty"`
	}
	out := struct {
		Files  []LintFile `json:"files"`
		Images []image    `json:"images"`
	}{Files: files, Images: []image{}}
	for _, img := range images {
		e := image{Ref: img.Ref, Platform: img.Platform, Error: img.Err}
		if img.Err == "" {
			parts := strings.SplitN(img.ImagePlatform, "/", 3)
			if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
				return nil, fmt.Errorf("base image %s: the engine reports platform %q, want os/arch[/variant]", img.Ref, img.ImagePlatform)
			}
			c := ociImage{OS: parts[0], Architecture: parts[1], Config: ociConfig{
				Env: img.Env, User: img.User, WorkingDir: img.WorkingDir, Entrypoint: img.Entrypoint, Cmd: img.Cmd}}
			if len(parts) == 3 {
				c.Variant = parts[2]
			}
			dt, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			e.Config = dt
		}
		out.Images = append(out.Images, e)
	}
	return json.MarshalIndent(out, "", "  ")
}

// ParseLintNotes reads tools/dockerlint's -notes file (a JSON array of strings).
func ParseLintNotes(dt []byte) ([]string, error) {
	var notes []string
	if err := json.Unmarshal(dt, &notes); err != nil {
		return nil, fmt.Errorf("reading dockerlint's notes: %w (they start %q)", err, firstLine(string(dt)))
	}
	return notes, nil
}
