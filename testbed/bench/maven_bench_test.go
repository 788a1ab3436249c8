// Package bench measures the pipeline's speed targets on the test bed. Run with `make bench`.
package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func repoRoot(b *testing.B) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// freshSource copies the fixture product with a nonce file, so the engine cannot answer the
// Maven run from its cache: each iteration is a new commit as far as the engine can tell.
func freshSource(b *testing.B) string {
	b.Helper()
	dst := b.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(b), "fixtures", "product")+"/.", dst).CombinedOutput(); err != nil {
		b.Fatalf("copying the fixture: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dst, "nonce.txt"), []byte(fmt.Sprint(time.Now().UnixNano())), 0o644); err != nil {
		b.Fatal(err)
	}
	return dst
}

func dagger(b *testing.B, args ...string) string {
	b.Helper()
	cmd := exec.Command(os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("dagger %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

var mavenTotalRE = regexp.MustCompile(`Total time:\s+([0-9.]+) s`)

// testRun runs `dagger call … test-report downloaded` (timed) and returns the files Maven fetched
// and Maven's own "Total time" (read untimed from the same, cached, run's log).
func testRun(b *testing.B, cache string, mavenArgs ...string) (downloads int, mavenSeconds float64) {
	b.Helper()
	args := []string{"call", "-m", repoRoot(b), "--source=" + freshSource(b), "--maven-cache=" + cache}
	for _, a := range mavenArgs {
		args = append(args, "--maven-args="+a)
	}
	out := dagger(b, append(args, "test-report", "downloaded")...)
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		b.Fatalf("test-report downloaded = %q", out)
	}
	b.StopTimer()
	defer b.StartTimer()
	m := mavenTotalRE.FindStringSubmatch(dagger(b, append(args, "test-report", "output")...))
	if m == nil {
		b.Fatal("no Total time in the Maven log")
	}
	secs, _ := strconv.ParseFloat(m[1], 64)
	return n, secs
}

// BenchmarkMavenTest compares `mvn clean test` on an empty Maven cache (cold: a new cache volume
// each iteration) with a primed one (warm), and surefire forking a JVM (its default) with
// -DforkCount=0 (tests in Maven's JVM; surefire 2.22's forked JVM idles ~10 s on exit).
func BenchmarkMavenTest(b *testing.B) {
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		b.Skip("needs the test bed: make bench")
	}
	for _, c := range []struct {
		name string
		warm bool
		args []string
	}{
		{"cold/fork", false, nil},
		{"warm/fork", true, nil},
		{"cold/forkCount=0", false, []string{"-DforkCount=0"}},
		{"warm/forkCount=0", true, []string{"-DforkCount=0"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			warmCache := fmt.Sprintf("nightly-bench-warm-%d", time.Now().UnixNano())
			if c.warm {
				testRun(b, warmCache, c.args...) // prime it
			}
			b.ResetTimer()
			downloaded, mavenSeconds := 0, 0.0
			for i := 0; i < b.N; i++ {
				cache := warmCache
				if !c.warm {
					cache = fmt.Sprintf("nightly-bench-cold-%d-%d", time.Now().UnixNano(), i)
				}
				n, secs := testRun(b, cache, c.args...)
				downloaded += n
				mavenSeconds += secs
			}
			b.ReportMetric(float64(downloaded)/float64(b.N), "downloads/op")
			b.ReportMetric(mavenSeconds/float64(b.N), "mvn-s/op")
		})
	}
}

// changedModule copies the module (what dagger.json uploads, plus the fixtures named) with file, a
// path in it, changed: the engine must recompile the module. Only the files git tracks or would
// track are copied, so a tool binary built in the checkout is not uploaded with the module.
func changedModule(b *testing.B, file string, fixtures ...string) string {
	b.Helper()
	root, mod := repoRoot(b), b.TempDir()
	paths := append([]string{"dagger.json", "go.mod", "go.sum", "main.go", "dagger.gen.go", "ci", "internal", "tools"}, fixtures...)
	list, err := exec.Command("git", append([]string{"-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "--"}, paths...)...).Output()
	if err != nil {
		b.Fatalf("listing the module's files: %v", err)
	}
	for _, f := range strings.Fields(string(list)) {
		body, err := os.ReadFile(filepath.Join(root, f))
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		if err != nil {
			b.Fatal(err)
		}
		if f == file {
			body = append(body, []byte(fmt.Sprintf("\n// bench change %d\n", time.Now().UnixNano()))...)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mod, f)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mod, f), body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return mod
}

// BenchmarkTestReportOf300TestClasses: a warm `test-report tests` (the Maven run cached) of the
// product with 300 more test classes, so 301 surefire XML reports in one module. What is left
// when nothing runs is reading the reports: one bundle a call, not one engine call a file.
func BenchmarkTestReportOf300TestClasses(b *testing.B) {
	if os.Getenv("_EXPERIMENTAL_DAGGER_RUNNER_HOST") == "" {
		b.Skip("needs the test bed: make bench")
	}
	src := freshSource(b)
	dir := filepath.Join(src, "management-api", "src", "test", "java", "io", "nightly", "fixture", "api")
	for i := 1; i <= 300; i++ {
		body := fmt.Sprintf("package io.nightly.fixture.api;\n\nimport static org.junit.Assert.assertEquals;\n\nimport org.junit.Test;\n\n"+
			"public class Generated%dTest {\n    @Test\n    public void portIsParsed() {\n        assertEquals(9000, ManagementApi.port(\"9000\"));\n    }\n}\n", i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("Generated%dTest.java", i)), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	args := []string{"call", "-m", repoRoot(b), "--source=" + src, "--maven-cache=nightly-bench-many", "test-report", "tests"}
	if got := strings.TrimSpace(dagger(b, args...)); got != "304" { // untimed: the Maven run itself
		b.Fatalf("test-report tests = %q, want 304", got)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dagger(b, args...)
	}
}
