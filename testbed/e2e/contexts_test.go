package e2e

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fixtureOnly copies fixtures/<name> alone (a product of its own, not an overlay) to a temp folder.
func fixtureOnly(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "fixtures", name)+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying fixture %s: %v\n%s", name, err, out)
	}
	return dst
}

// ownCache gives the test a Maven cache volume of its own: the default one is Locked (Maven's
// local repository is not safe for concurrent writers), so parallel tests would queue on it.
func ownCache(t *testing.T) string {
	return "--maven-cache=nightly-e2e-" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-"))
}

// exportContext exports one prepared build context (management-api or webui) to a temp folder.
func exportContext(t *testing.T, image string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	daggerCall(t, append(args, "prepare-contexts", image, "export", "--path="+dir)...).mustSucceed(t)
	return dir
}

// jarPomProperties reads META-INF/maven/<group>/<artifact>/pom.properties from a jar: what
// maven-archiver recorded of the module it packaged.
func jarPomProperties(t *testing.T, jar string) string {
	t.Helper()
	b, err := os.ReadFile(jar)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s is not a jar: %v", jar, err)
	}
	for _, f := range z.File {
		if strings.HasPrefix(f.Name, "META-INF/maven/") && strings.HasSuffix(f.Name, "/pom.properties") {
			r, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			_, err = buf.ReadFrom(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			return buf.String()
		}
	}
	t.Fatalf("%s holds no META-INF/maven/…/pom.properties", jar)
	return ""
}

// dryRunPublishArgs publish to a fresh namespace of the authenticated registry with --dry-run
// (the password as a file: secret, so the test can run in parallel).
func dryRunPublishArgs(t *testing.T, src string, extra ...string) []string {
	t.Helper()
	host, _, pw := hubAuth(t)
	pwFile := filepath.Join(t.TempDir(), "hub-password")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	port := host[strings.LastIndex(host, ":")+1:]
	args := append([]string{"--source=" + src, buildkitLinter}, extra...)
	return append(args, "publish", "--commit="+commitOf('c'), "--dry-run",
		"--registry="+host+fmt.Sprintf("/e2e%d", time.Now().UnixNano()),
		"--username=env:NIGHTLY_TESTBED_HUB_USER", "--password=file:"+pwFile,
		"--registry-service=tcp://localhost:"+port)
}

// CI-friendly versions: ${revision}${sha1}${changelist} from the POM, overridden by
// .mvn/maven.config, overridden by -D in --maven-args; child modules inherit revision from the
// root. `version` says what Maven then builds (read back from the packaged jar).
func TestVersionAndContextsResolveCIFriendlyVersionsAsMaven(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t, "ci-friendly")
	if got := strings.TrimSpace(daggerCall(t, "--source="+src, "version", "pom").mustSucceed(t)); got != "3.1.0-SNAPSHOT" {
		t.Errorf("version with revision in .mvn/maven.config = %q, want 3.1.0-SNAPSHOT", got)
	}
	args := []string{"--source=" + src, ownCache(t), "--maven-args=-Drevision=3.2.0", "--maven-args=-Dsha1=-abc"}
	if got := strings.TrimSpace(daggerCall(t, append(args, "version", "nightly-tag")...).mustSucceed(t)); got != "3.2.0-nightly" {
		t.Errorf("version with -Drevision=3.2.0 in --maven-args: nightly-tag = %q, want 3.2.0-nightly", got)
	}
	dir := exportContext(t, "management-api", args...)
	props := jarPomProperties(t, filepath.Join(dir, "management-api.jar"))
	if !strings.Contains(props, "version=3.2.0-abc-SNAPSHOT") {
		t.Errorf("the packaged jar says\n%s\nwant version=3.2.0-abc-SNAPSHOT", props)
	}

	// Several flags on one line and a quoted flag, as Maven 3.8 reads .mvn/maven.config.
	if err := os.WriteFile(filepath.Join(src, ".mvn/maven.config"), []byte("-B \"-Drevision=3.3.0\" -Dchangelist=-rc.1-SNAPSHOT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(daggerCall(t, "--source="+src, "version", "pom").mustSucceed(t)); got != "3.3.0-rc.1-SNAPSHOT" {
		t.Errorf("version with two flags a line in .mvn/maven.config = %q, want 3.3.0-rc.1-SNAPSHOT", got)
	}
}

// A profile Maven activates sets the version: nightly did not resolve what Maven built, so the
// contexts are refused naming the module and both versions, and publish pushes nothing.
func TestContextsRefuseAVersionMavenDidNotBuild(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t, "ci-friendly")
	pom := filepath.Join(src, "pom.xml")
	b, err := os.ReadFile(pom)
	if err != nil {
		t.Fatal(err)
	}
	profile := `  <profiles>
    <profile>
      <id>release-candidate</id>
      <activation><activeByDefault>true</activeByDefault></activation>
      <properties><changelist>-rc-SNAPSHOT</changelist></properties>
    </profile>
  </profiles>
</project>`
	if err := os.WriteFile(pom, bytes.Replace(b, []byte("</project>"), []byte(profile), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r := daggerCall(t, "--source="+src, ownCache(t), "prepare-contexts", "management-api", "entries")
	if r.exitCode == 0 {
		t.Fatalf("prepare-contexts accepted a version Maven did not build: %s", r.stdout)
	}
	for _, want := range []string{"image management-api", "Maven module management-api", "Maven built version 3.1.0-rc-SNAPSHOT", "resolved 3.1.0-SNAPSHOT"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 20))
		}
	}

	host, user, pw := hubAuth(t)
	namespace := fmt.Sprintf("e2e%d", time.Now().UnixNano())
	pwFile := filepath.Join(t.TempDir(), "hub-password")
	if err := os.WriteFile(pwFile, []byte(pw), 0o600); err != nil {
		t.Fatal(err)
	}
	port := host[strings.LastIndex(host, ":")+1:]
	r = daggerCall(t, "--source="+src, ownCache(t), buildkitLinter, "publish", "--commit="+commitOf('d'), "--registry="+host+"/"+namespace,
		"--username=env:NIGHTLY_TESTBED_HUB_USER", "--password=file:"+pwFile, "--registry-service=tcp://localhost:"+port)
	if r.exitCode == 0 || !strings.Contains(r.stderr, "Maven built version 3.1.0-rc-SNAPSHOT") {
		t.Errorf("publish: exit %d, want a refusal naming the version Maven built:\n%s", r.exitCode, tail(r.stderr, 20))
	}
	for _, repo := range []string{"cockpit-management-api", "cockpit-webui"} {
		ref, err := name.NewRepository(host+"/"+namespace+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		tags, err := remote.List(ref, remote.WithAuth(&authn.Basic{Username: user, Password: pw}))
		switch {
		case err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") && !strings.Contains(err.Error(), "404"):
			t.Fatalf("listing %s: %v", repo, err)
		case len(tags) > 0:
			t.Errorf("publish pushed %s:%v although the versions disagree", repo, tags)
		}
	}
}

// A POM saved in ISO-8859-1 is read (Maven reads it; so must version and prepare-contexts).
func TestContextsReadALatin1POM(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t, "latin1-pom")
	if got := strings.TrimSpace(daggerCall(t, "--source="+src, "version", "pom").mustSucceed(t)); got != "3.0.0-SNAPSHOT" {
		t.Errorf("version of a Latin-1 POM = %q, want 3.0.0-SNAPSHOT", got)
	}
	dir := exportContext(t, "management-api", "--source="+src, ownCache(t))
	if props := jarPomProperties(t, filepath.Join(dir, "management-api.jar")); !strings.Contains(props, "version=3.0.0-SNAPSHOT") {
		t.Errorf("the packaged jar says\n%s", props)
	}
}

// Modules nested under services/ next to an aggregator with its own version (0.9.0-SNAPSHOT): the
// images take the version of the module above each artifact (3.0.0-SNAPSHOT); a jar named by
// <finalName> given as a literal path is shipped as a file; a literal folder as a folder; the
// lower-case ARG that shares its line with another argument and a continuation is rewritten in place.
func TestContextsOfANestedLayout(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureOnly(t, "nested-layout")
	layout := []string{"--source=" + src, ownCache(t),
		"--api-artifact=services/management-api/target/management-api.jar",
		"--ui-assets=services/webui/target/classes/webui"}

	api := exportContext(t, "management-api", layout...)
	st, err := os.Stat(filepath.Join(api, "management-api.jar"))
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("management-api.jar in the context: %v, mode %v; want a regular file", err, st)
	}
	if props := jarPomProperties(t, filepath.Join(api, "management-api.jar")); !strings.Contains(props, "version=3.0.0-SNAPSHOT") {
		t.Errorf("the shipped jar says\n%s", props)
	}
	df, _ := os.ReadFile(filepath.Join(api, "Dockerfile"))
	if want := "arg BASE_IMAGE=eclipse-temurin:17.0.13_11-jre \\\n    APP_HOME=/opt/platform\n"; !strings.Contains(string(df), want) {
		t.Errorf("prepared Dockerfile:\n%s\nwant it to contain %q", df, want)
	}
	ui := exportContext(t, "webui", append(layout, "--ui-base-image=busybox:1.37.0")...)
	if _, err := os.Stat(filepath.Join(ui, "webui", "index.html")); err != nil {
		t.Errorf("the web UI folder was not shipped as a folder: %v", err)
	}
	df, _ = os.ReadFile(filepath.Join(ui, "Dockerfile"))
	if want := "ARG WEB_ROOT=/www BASE_IMAGE=busybox:1.37.0\n"; !strings.Contains(string(df), want) {
		t.Errorf("prepared Dockerfile:\n%s\nwant it to contain %q", df, want)
	}

	out := daggerCall(t, dryRunPublishArgs(t, src, layout[1:]...)...).mustSucceed(t)
	// publish prints what it would do: "publish 3.0.0-nightly of commit …".
	if got, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(out), "publish "), " "); got != "3.0.0-nightly" {
		t.Errorf("publish --dry-run nightly-tag = %q, want 3.0.0-nightly (services/pom.xml's 0.9.0 is not the images')", got)
	}
}

// A Dockerfile nightly cannot rewrite is refused before Maven runs, naming the file and line.
func TestContextsBadDockerfileNamesTheLine(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t)
	df := filepath.Join(src, "docker/webui/Dockerfile")
	if err := os.WriteFile(df, []byte("ARG BASE_IMAGE=busy\\\nbox:1.37.0\nFROM ${BASE_IMAGE}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := daggerCall(t, "--source="+src, "prepare-contexts", "webui", "entries")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "image webui: Dockerfile docker/webui/Dockerfile: line 1: ARG BASE_IMAGE=busybox:1.37.0 is split across lines") {
		t.Errorf("a BASE_IMAGE split by a continuation: exit %d, want an error naming the file and line:\n%s", r.exitCode, tail(r.stderr, 20))
	}
}
