package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// deployArgs are the `deployment` arguments for a stack of the test bed's part 3 (see e2e/deploy_test.go).
func deployArgs(b *testing.B, project, stack string) []string {
	b.Helper()
	pg, k8s, plugins := os.Getenv("NIGHTLY_TESTBED_PG_PORT"), os.Getenv("NIGHTLY_TESTBED_K8S_PORT"), os.Getenv("NIGHTLY_TESTBED_PLUGINS_PORT")
	if k8s == "" {
		b.Skip("needs the test bed's part 3 (NIGHTLY_TESTBED_K8S_PORT)")
	}
	return []string{"deployment", "--project=" + project, "--stack=" + stack,
		"--backend-url=postgres://pulumi@state-db:" + pg + "/pulumi?sslmode=disable",
		"--backend-service=tcp://localhost:" + pg, "--backend-env=file:" + os.Getenv("NIGHTLY_TESTBED_PULUMI_BACKEND_ENV"),
		"--passphrase=file:" + os.Getenv("NIGHTLY_TESTBED_PULUMI_PASSPHRASE_FILE"),
		"--kubeconfig=file:" + os.Getenv("NIGHTLY_TESTBED_KUBECONFIG"), "--cluster-service=tcp://localhost:" + k8s,
		"--plugin-server=http://pulumi-plugins:" + plugins + "/plugins/", "--plugin-service=tcp://localhost:" + plugins}
}

func copyDir(b *testing.B, src, dst string) {
	b.Helper()
	if out, err := exec.Command("cp", "-r", src+"/.", dst).CombinedOutput(); err != nil {
		b.Fatalf("cp %s: %v\n%s", src, err, out)
	}
}

// BenchmarkDeployUp: the wall time of one `up` (a new commit each iteration, so each rolls the
// two Deployments), split into the call (CLI, module, containers), Pulumi's preview and its update
// (timed inside the deploy container).
func BenchmarkDeployUp(b *testing.B) {
	project := b.TempDir()
	copyDir(b, filepath.Join(repoRoot(b), "fixtures", "deployment"), project)
	stack := fmt.Sprintf("bench-%d", time.Now().Unix())
	args := deployArgs(b, project, stack)
	var preview, update time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// The varying digits first: the label takes the commit's first 15.
		commit := fmt.Sprintf("%016x%024d", time.Now().UnixNano(), 0)
		dagger(b, append([]string{"call", "-m", repoRoot(b)}, append(args, "stack-config", "--image-tag=3.0.0-nightly",
			"--commit="+commit, "--namespace="+stack, "export", "--path="+filepath.Join(project, "Pulumi."+stack+".yaml"))...)...)
		b.StartTimer()
		out := dagger(b, append([]string{"call", "-m", repoRoot(b)}, append(args, "up", "json")...)...)
		b.StopTimer()
		var rep struct{ PreviewMs, UpdateMs, Changed int }
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Changed == 0 {
			b.Fatalf("up: %v (changed %d)\n%s", err, rep.Changed, out)
		}
		preview += time.Duration(rep.PreviewMs) * time.Millisecond
		update += time.Duration(rep.UpdateMs) * time.Millisecond
		b.StartTimer()
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "call-s/op")
	b.ReportMetric(preview.Seconds()/float64(b.N), "preview-s/op")
	b.ReportMetric(update.Seconds()/float64(b.N), "update-s/op")
}

// BenchmarkDeployFirstCallAfterModuleChange: the first call after a change to the module's code,
// on a warm engine (the module is recompiled; the deployer tool is not, being unchanged).
func BenchmarkDeployFirstCallAfterModuleChange(b *testing.B) {
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mod := changedModule(b, "main.go", "fixtures/product", "fixtures/deployment")
		args := deployArgs(b, filepath.Join(mod, "fixtures", "deployment"), "bench-first")
		b.StartTimer()
		dagger(b, append([]string{"call", "-m", mod}, append(args, "stack")...)...)
	}
}
