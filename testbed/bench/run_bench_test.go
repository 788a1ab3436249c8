package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The whole nightly's speed targets (issue 11): a warm re-run of `run --dry-run` with unchanged
// sources ≤ 10 % of the cold run; the two images' concurrent work ≤ 1.15 × the longer of the two
// alone; the first call after a module code change on a warm engine ≤ 15 s.

// runBed is the test bed's registry and Maven server, as `run` reaches them.
type runBed struct{ registryArgs, mavenArgs []string }

func newRunBed(b *testing.B) runBed {
	hub := os.Getenv("NIGHTLY_TESTBED_HUB")
	if hub == "" {
		b.Skip("needs the test bed: make bench")
	}
	pw, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_HUB_PASSWORD_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	os.Setenv("BENCH_HUB_PASSWORD", strings.TrimSpace(string(pw)))
	ns := fmt.Sprintf("bench%d", time.Now().UnixNano())
	port := os.Getenv("NIGHTLY_TESTBED_MAVEN_PORT")
	return runBed{
		registryArgs: []string{"with-registry", "--registry=" + hub + "/" + ns, "--registry-service=tcp://localhost:" + hub[strings.LastIndex(hub, ":")+1:],
			"--username=env:NIGHTLY_TESTBED_HUB_USER", "--password=env:BENCH_HUB_PASSWORD"},
		mavenArgs: []string{"with-snapshot-repository", "--repository-url=http://maven-repo:" + port + "/maven/bench", "--repository-service=tcp://localhost:" + port},
	}
}

// dryRun runs `run --dry-run` on src and returns its wall time and report.
func (r runBed) dryRun(b *testing.B, src string) (time.Duration, map[string]any) {
	b.Helper()
	out := b.TempDir()
	args := append([]string{"call", "-m", repoRoot(b), "--source=" + src, "--linter=buildkit", "--maven-cache=nightly-bench-run"}, r.mavenArgs...)
	args = append(args, r.registryArgs...)
	args = append(args, "run", "--commit="+strings.Repeat("c", 40), "--created=2026-11-29T01:30:00Z", "--dry-run", "files", "export", "--path="+out)
	t0 := time.Now()
	dagger(b, args...)
	d := time.Since(t0)
	raw, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		b.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(raw, &rep); err != nil {
		b.Fatal(err)
	}
	if rep["status"] != "passed" {
		b.Fatalf("dry run %v at %v: %v", rep["status"], rep["failedStage"], rep["cause"])
	}
	return d, rep
}

// BenchmarkRunDryRunWarmVsCold: a cold run (sources the engine never saw: every Maven run and
// image build misses its cache; the tools and base images are warm) then the same call again.
func BenchmarkRunDryRunWarmVsCold(b *testing.B) {
	r := newRunBed(b)
	var cold, warm time.Duration
	for i := 0; i < b.N; i++ {
		src := freshSource(b)
		c, _ := r.dryRun(b, src)
		w, rep := r.dryRun(b, src)
		cold, warm = cold+c, warm+w
		b.Logf("cold %.1f s, warm %.1f s (%.0f %%); warm stages: %s", c.Seconds(), w.Seconds(), 100*w.Seconds()/c.Seconds(), stageTimes(rep))
	}
	b.ReportMetric(cold.Seconds()/float64(b.N), "cold-s/op")
	b.ReportMetric(warm.Seconds()/float64(b.N), "warm-s/op")
	b.ReportMetric(100*warm.Seconds()/cold.Seconds(), "warm-%-of-cold")
}

// BenchmarkRunImagesConcurrently: the two images' builds in one run, against each alone. A
// source whose management API changed rebuilds only that image (the web UI's build is cached);
// one whose web UI changed rebuilds only the web UI; one where both changed builds both at once.
func BenchmarkRunImagesConcurrently(b *testing.B) {
	r := newRunBed(b)
	var api, ui, both time.Duration
	for i := 0; i < b.N; i++ {
		base := freshSource(b)
		r.dryRun(b, base) // everything of this source cached
		_, rep := r.dryRun(b, changed(b, base, "api"))
		api += part(b, rep, "builds (concurrent)")
		_, rep = r.dryRun(b, changed(b, base, "ui"))
		ui += part(b, rep, "builds (concurrent)")
		_, rep = r.dryRun(b, changed(b, base, "api", "ui"))
		both += part(b, rep, "builds (concurrent)")
		b.Logf("builds: api alone %.1f s, ui alone %.1f s, both at once %.1f s (parts %s)",
			api.Seconds(), ui.Seconds(), both.Seconds(), stageTimes(rep))
	}
	longer := max(api, ui)
	b.ReportMetric(api.Seconds()/float64(b.N), "api-alone-s/op")
	b.ReportMetric(ui.Seconds()/float64(b.N), "ui-alone-s/op")
	b.ReportMetric(both.Seconds()/float64(b.N), "both-s/op")
	b.ReportMetric(both.Seconds()/longer.Seconds(), "both/longer")
}

// changed copies src with the management API's code and/or the web UI's assets changed.
func changed(b *testing.B, src string, what ...string) string {
	b.Helper()
	dst := b.TempDir()
	if out, err := exec.Command("cp", "-r", src+"/.", dst).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v\n%s", err, out)
	}
	stamp := fmt.Sprint(time.Now().UnixNano())
	for _, w := range what {
		// A file that lands in the image (a comment in a .java file would not: the class is the
		// same, so the jar and the image would be too).
		f := map[string]string{"api": "management-api/src/main/resources/bench-stamp.txt",
			"ui": "webui/src/main/resources/webui/app.js"}[w]
		p := filepath.Join(dst, f)
		body, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			b.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, append(body, []byte("\n// "+stamp+"\n")...), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dst
}

func part(b *testing.B, rep map[string]any, name string) time.Duration {
	for _, s := range rep["stages"].([]any) {
		st := s.(map[string]any)
		parts, _ := st["parts"].([]any)
		for _, p := range parts {
			pm := p.(map[string]any)
			if pm["name"] == name {
				return time.Duration(pm["seconds"].(float64) * float64(time.Second))
			}
		}
	}
	b.Fatalf("no part %q in the report", name)
	return 0
}

func stageTimes(rep map[string]any) string {
	var s []string
	for _, st := range rep["stages"].([]any) {
		m := st.(map[string]any)
		s = append(s, fmt.Sprintf("%s %.1fs", m["name"], m["seconds"]))
		parts, _ := m["parts"].([]any)
		for _, p := range parts {
			pm := p.(map[string]any)
			s = append(s, fmt.Sprintf("[%s %.1fs]", pm["name"], pm["seconds"]))
		}
	}
	return strings.Join(s, ", ")
}

// BenchmarkRunFirstCallAfterModuleChange: the first `run` of a module whose code just changed, on
// a warm engine, cut to what the call itself costs (a run that fails its input checks at once:
// the module is loaded and compiled, no stage runs).
func BenchmarkRunFirstCallAfterModuleChange(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mod := changedModule(b, "ci/run.go", "fixtures/product", "fixtures/deployment")
		b.StartTimer()
		cmd := exec.Command(os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"), "call", "-m", mod, "run", "--commit=not-a-commit", "summary")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), `commit "not-a-commit"`) {
			b.Fatalf("want the input check's error naming the commit; got %v\n%s", err, out)
		}
	}
}
