package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

type shellcheckOutput struct {
	Comments []struct {
		Line, Column int
		Level        string
		Code         int
		Message      string
	} `json:"comments"`
}

// shellFindings runs ShellCheck on every script, in its dialect, and reports its comments at their
// place in the Dockerfile.
func shellFindings(file string, scripts []script, shellcheck string) ([]finding, error) {
	var out []finding
	for _, s := range scripts {
		res, err := runShellcheck(shellcheck, s.Dialect, s.Text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, s.Line, err)
		}
		for _, c := range res.Comments {
			line, col := s.at(c.Line, c.Column)
			out = append(out, finding{File: file, Line: line, Column: col,
				Code: fmt.Sprintf("SC%d", c.Code), Level: c.Level, Message: c.Message})
		}
	}
	return out, nil
}

func runShellcheck(bin, dialect, text string) (shellcheckOutput, error) {
	cmd := exec.Command(bin, "--shell="+dialect, "--format=json1", "-")
	cmd.Stdin = strings.NewReader(text + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// ShellCheck exits 1 when it has findings; anything else is a failure to run.
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		return shellcheckOutput{}, fmt.Errorf("running %s: %v: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	var out shellcheckOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return shellcheckOutput{}, fmt.Errorf("reading ShellCheck's JSON: %w", err)
	}
	return out, nil
}
