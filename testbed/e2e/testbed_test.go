package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// repoRoot is the nightly module's folder (two levels above this file).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// needTestbed skips unless the test bed's environment (testbed/up.sh → .testbed/env) is loaded.
func needTestbed(t *testing.T) {
	t.Helper()
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" || os.Getenv("NIGHTLY_TESTBED_HUB") == "" {
		t.Skip("needs the test bed: run `make test` (or `make testbed` and source .testbed/env)")
	}
}

type callResult struct {
	stdout, stderr string
	exitCode       int
}

// daggerCall runs `dagger call` on the nightly module with args, from the repository root.
func daggerCall(t *testing.T, args ...string) callResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"),
		append([]string{"call", "--progress=plain", "-m", repoRoot(t)}, args...)...)
	cmd.Dir = repoRoot(t)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := callResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("dagger call %v: %v", args, err)
		}
		res.exitCode = ee.ExitCode()
	}
	t.Logf("dagger call %s → exit %d in %.1f s", strings.Join(args, " "), res.exitCode, time.Since(start).Seconds())
	return res
}

func (r callResult) mustSucceed(t *testing.T) string {
	t.Helper()
	if r.exitCode != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr (tail):\n%s", r.exitCode, r.stdout, tail(r.stderr, 40))
	}
	return r.stdout
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
