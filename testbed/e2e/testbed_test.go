package e2e

import (
	"bytes"
	"context"
	"fmt"
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

// inputsRoot holds the host folders the tests hand to the engine (fixture copies, deployment
// projects), kept until the whole suite ends, so no call can meet a folder another test already
// removed. (This was the first guess at a flake — "lstat /tmp/TestLint…: no such file or
// directory" in another test's call — and it is not the cause: the same error later named a
// folder that existed, the test's own, so the engine asked a client that cannot see the host's
// files. README, Measurements, says what is known.)
var inputsRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nightly-e2e-inputs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	inputsRoot = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// inputDir is a new empty folder under inputsRoot, kept until the suite ends.
func inputDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp(inputsRoot, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	return dir
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
