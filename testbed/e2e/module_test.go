package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The whole chain: dagger CLI → our engine → the module's Go runtime (built-in SDK image) →
// a container from a public image name, resolved through the docker.io mirror.
func TestCallToolchainRunsMavenImageFromPublicName(t *testing.T) {
	needTestbed(t)
	out := daggerCall(t, "toolchain").mustSucceed(t)
	for _, want := range []string{"Apache Maven", "Java version: 17"} {
		if !strings.Contains(out, want) {
			t.Errorf("dagger call toolchain = %q, want it to contain %q", out, want)
		}
	}
}

func TestCallVersionReadsFixturePOM(t *testing.T) {
	needTestbed(t)
	out := daggerCall(t, "version", "nightly-tag").mustSucceed(t)
	if got := strings.TrimSpace(out); got != "3.0.0-nightly" {
		t.Errorf("dagger call version nightly-tag = %q, want %q", got, "3.0.0-nightly")
	}
}

func TestCallFailsNonZeroNamingTheImage(t *testing.T) {
	needTestbed(t)
	const image = "nightly-testbed/no-such-image:0.0.0"
	r := daggerCall(t, "--maven-image="+image, "toolchain")
	if r.exitCode == 0 {
		t.Fatalf("dagger call toolchain with a missing image exited 0; stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, image) {
		t.Errorf("error does not name the image %q:\n%s", image, tail(r.stderr, 30))
	}
}

func TestCallFailsNonZeroNamingTheBadVersion(t *testing.T) {
	needTestbed(t)
	dir := t.TempDir()
	pom := `<project><modelVersion>4.0.0</modelVersion><groupId>g</groupId><artifactId>a</artifactId><version>3.0-SNAPSHOT</version></project>`
	if err := os.WriteFile(filepath.Join(dir, "pom.xml"), []byte(pom), 0o644); err != nil {
		t.Fatal(err)
	}
	r := daggerCall(t, "--source="+dir, "version", "base")
	if r.exitCode == 0 {
		t.Fatalf("dagger call version on a 3.0-SNAPSHOT POM exited 0; stdout %q", r.stdout)
	}
	for _, want := range []string{"pom.xml", `"3.0-SNAPSHOT"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not contain %q:\n%s", want, tail(r.stderr, 30))
		}
	}
}
