package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

const (
	groupPath = "io/nightly/fixture"
	apiModule = "cockpit-management-api"
	snapshotV = "3.0.0-SNAPSHOT"
)

// mavenServer is the test bed's nginx WebDAV repository, read over HTTP like any client would.
// Each test deploys under its own path (nginx creates it on PUT), so deploy tests run in parallel
// and "nothing landed" means nothing landed for that test.
type mavenServer struct{ prefix, base, user, password string }

func newMavenServer(t *testing.T) mavenServer {
	t.Helper()
	pw, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_MAVEN_PASSWORD_FILE"))
	if err != nil {
		t.Fatalf("reading the Maven server password: %v", err)
	}
	prefix := fmt.Sprintf("/maven/e2e/%s-%d", strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")), time.Now().UnixNano())
	return mavenServer{
		prefix:   prefix,
		base:     "http://127.0.0.1:" + os.Getenv("NIGHTLY_TESTBED_MAVEN_PORT") + prefix,
		user:     os.Getenv("NIGHTLY_TESTBED_MAVEN_USER"),
		password: string(pw),
	}
}

// containerURL is how the repository is named inside containers: the module binds the service
// passed as --repository-service under this URL's host name.
func (s mavenServer) containerURL() string {
	return "http://maven-repo:" + os.Getenv("NIGHTLY_TESTBED_MAVEN_PORT") + s.prefix
}

// credentialArgs gives the username and password as file: secrets; the password file ends in a
// newline, as files written by editors and `echo` do.
func (s mavenServer) credentialArgs(t *testing.T, password string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "user"), []byte(s.user), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "password"), []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--username=file:" + filepath.Join(dir, "user"), "--password=file:" + filepath.Join(dir, "password")}
}

// deployArgs are the arguments of a deploy to this test's repository with the right credentials.
func (s mavenServer) deployArgs(t *testing.T, extra ...string) []string {
	args := append([]string{ownCache(t), "deploy", "--repository-url=" + s.containerURL(), s.serviceArg()}, s.credentialArgs(t, s.password)...)
	return append(args, extra...)
}

// assertNoSecret fails when a call's output holds the password or a part of it.
func (s mavenServer) assertNoSecret(t *testing.T, outputs map[string]string) {
	t.Helper()
	parts := strings.SplitN(s.password, " ", 3)
	for name, out := range outputs {
		if strings.Contains(out, s.password) || strings.Contains(out, parts[len(parts)-1]) {
			t.Errorf("the password appears in the %s", name)
		}
	}
}

func (s mavenServer) serviceArg() string {
	return "--repository-service=tcp://localhost:" + os.Getenv("NIGHTLY_TESTBED_MAVEN_PORT")
}

func (s mavenServer) get(t *testing.T, path string) ([]byte, int) {
	t.Helper()
	resp, err := http.Get(s.base + "/" + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode
}

var hrefRE = regexp.MustCompile(`href="([^"?][^"]*)"`)

// files lists every file under path, walking nginx's autoindex pages.
func (s mavenServer) files(t *testing.T, path string) []string {
	t.Helper()
	body, code := s.get(t, path)
	if code == http.StatusNotFound {
		return nil
	}
	var out []string
	for _, m := range hrefRE.FindAllStringSubmatch(string(body), -1) {
		name := m[1]
		if name == "../" {
			continue
		}
		if strings.HasSuffix(name, "/") {
			out = append(out, s.files(t, path+name)...)
		} else {
			out = append(out, path+name)
		}
	}
	sort.Strings(out)
	return out
}

type snapshotMetadata struct {
	Versioning struct {
		Snapshot struct {
			Timestamp   string `xml:"timestamp"`
			BuildNumber int    `xml:"buildNumber"`
		} `xml:"snapshot"`
	} `xml:"versioning"`
}

// buildNumber reads the module's SNAPSHOT maven-metadata.xml from the server (0 when absent).
func (s mavenServer) buildNumber(t *testing.T, artifact string) (int, string) {
	t.Helper()
	body, code := s.get(t, fmt.Sprintf("%s/%s/%s/maven-metadata.xml", groupPath, artifact, snapshotV))
	if code == http.StatusNotFound {
		return 0, ""
	}
	var md snapshotMetadata
	if err := xml.Unmarshal(body, &md); err != nil {
		t.Fatalf("parsing %s's SNAPSHOT maven-metadata.xml: %v\n%s", artifact, err, body)
	}
	return md.Versioning.Snapshot.BuildNumber, md.Versioning.Snapshot.Timestamp
}

// fixtureCopy copies fixtures/product (plus overlays from fixtures/<overlay>) to a temp folder.
func fixtureCopy(t *testing.T, overlays ...string) string {
	t.Helper()
	dst := inputDir(t)
	for _, src := range append([]string{"product"}, overlays...) {
		out, err := exec.Command("cp", "-r", filepath.Join(repoRoot(t), "fixtures", src)+"/.", dst).CombinedOutput()
		if err != nil {
			t.Fatalf("copying fixture %s: %v\n%s", src, err, out)
		}
	}
	// A file naming the test: content no other test's copy has, the same from run to run (so a
	// warm suite still finds the test's own results in the engine's cache), so no call shares an
	// engine result with another test's. Added while the engine's host-folder flake (engineFlake)
	// was unexplained; its cause, lint's folder made of the source's files, is fixed (README,
	// Measurements).
	if err := os.WriteFile(filepath.Join(dst, "E2E-OWNER.txt"), []byte(t.Name()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMavenTestGreenFixtureCounts(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	out := daggerCall(t, ownCache(t), "test").mustSucceed(t)
	if want := "Tests run: 4, Failures: 0, Errors: 0, Skipped: 0"; strings.TrimSpace(out) != want {
		t.Errorf("dagger call test = %q, want %q", out, want)
	}
	// A green run is reused: the fields come from the run `test` made (ran-again false).
	for field, want := range map[string]string{"passed": "true", "tests": "4", "failures": "0", "exit-code": "0", "ran-again": "false"} {
		got := strings.TrimSpace(daggerCall(t, ownCache(t), "test-report", field).mustSucceed(t))
		if got != want {
			t.Errorf("dagger call test-report %s = %q, want %q", field, got, want)
		}
	}
}

func TestMavenTestRedFixtureFailsAndKeepsReports(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t, "failing-test")
	const failing = "io.nightly.fixture.api.VersionContractTest.versionIsReleased"

	r := daggerCall(t, "--source="+src, ownCache(t), "test")
	if r.exitCode == 0 {
		t.Fatalf("dagger call test on the red fixture exited 0: %s", r.stdout)
	}
	if !strings.Contains(r.stderr, failing) || !strings.Contains(r.stderr, "Tests run: 5, Failures: 1") {
		t.Errorf("the error does not name %s with the counts:\n%s", failing, tail(r.stderr, 20))
	}

	// The reports of the red run are still exportable (CI's store_test_results needs them).
	reports := t.TempDir()
	daggerCall(t, "--source="+src, ownCache(t), "test-report", "reports", "export", "--path="+reports).mustSucceed(t)
	xmlFile := filepath.Join(reports, "management-api/target/surefire-reports/TEST-io.nightly.fixture.api.VersionContractTest.xml")
	b, err := os.ReadFile(xmlFile)
	if err != nil {
		t.Fatalf("the exported reports lack the failing suite: %v", err)
	}
	if !bytes.Contains(b, []byte("<failure")) {
		t.Errorf("%s holds no <failure>:\n%s", xmlFile, b)
	}
	// A red run is never reused: the engine's cache holds the red run above (same inputs), and
	// the next call runs the tests again (a flaky test gets a real second run).
	if got := strings.TrimSpace(daggerCall(t, "--source="+src, ownCache(t), "test-report", "ran-again").mustSucceed(t)); got != "true" {
		t.Errorf("test-report ran-again after a red run = %q, want true", got)
	}
}

// A Maven image without find, where the surefire reports cannot be bundled into one round trip,
// still gets every report, read one engine call a file. The image is the bed's Maven image less
// find, published to the test bed's mirror under a docker.io name of its own.
func TestTestReportWithAMavenImageWithoutFindReadsEachReport(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	const name = "library/maven-nofind:e2e"
	daggerIn(t, repoRoot(t), "core", "container", "from", "--address=maven:3.9.9-eclipse-temurin-17",
		"with-exec", "--args=rm,/usr/bin/find", "publish", "--address="+os.Getenv("NIGHTLY_TESTBED_MIRROR")+"/"+name).mustSucceed(t)
	r := daggerCall(t, "--maven-image=maven-nofind:e2e", ownCache(t), "test-report", "tests")
	if got := strings.TrimSpace(r.mustSucceed(t)); got != "4" {
		t.Errorf("test-report tests with an image without find = %q, want 4", got)
	}
	// The bundle was tried and failed for want of find: the reports came the other way.
	mustContain(t, "the call's progress", r.stderr, "find: not found")
}

// A deploy lands the timestamped SNAPSHOT jar and POM with checksums and both metadata files; a
// second deploy gets the next build number; the password (with spaces, given through a file that
// ends in a newline) appears in no output and in no file of the container the deploy ran in.
func TestMavenDeployLandsSnapshotsAndKeepsThePasswordSecret(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	srv := newMavenServer(t)
	if !strings.Contains(srv.password, " ") {
		t.Fatalf("the test bed's Maven password should contain spaces; got %d chars", len(srv.password))
	}
	deploy := srv.deployArgs(t)
	before, _ := srv.buildNumber(t, apiModule)

	first := daggerCall(t, append(deploy, "artifacts", "coordinates")...)
	first.mustSucceed(t)
	n1, stamp := srv.buildNumber(t, apiModule)
	if n1 != before+1 {
		t.Fatalf("buildNumber after a deploy = %d, want %d", n1, before+1)
	}
	fileVersion := fmt.Sprintf("3.0.0-%s-%d", stamp, n1)
	if !strings.Contains(first.stdout, "io.nightly.fixture:cockpit-management-api:jar:"+fileVersion) {
		t.Errorf("deploy did not report the jar %s:\n%s", fileVersion, first.stdout)
	}
	dir := fmt.Sprintf("%s/%s/%s/", groupPath, apiModule, snapshotV)
	for _, f := range []string{
		apiModule + "-" + fileVersion + ".jar", apiModule + "-" + fileVersion + ".jar.sha1", apiModule + "-" + fileVersion + ".jar.md5",
		apiModule + "-" + fileVersion + ".pom", apiModule + "-" + fileVersion + ".pom.sha1", "maven-metadata.xml",
		"../maven-metadata.xml",
	} {
		if _, code := srv.get(t, dir+f); code != http.StatusOK {
			t.Errorf("GET %s%s = %d, want 200", dir, f, code)
		}
	}
	jar, _ := srv.get(t, dir+apiModule+"-"+fileVersion+".jar")
	sum, _ := srv.get(t, dir+apiModule+"-"+fileVersion+".jar.sha1")
	if h := sha1.Sum(jar); hex.EncodeToString(h[:]) != strings.TrimSpace(string(sum)) {
		t.Errorf("the jar's .sha1 (%s) does not match its content", sum)
	}

	// Second deploy: the next build number, and the container's filesystem exported for searching.
	// (Exporting the rootfs as a folder instead stalled the v0.19.10 engine: a tarball it is.)
	image := filepath.Join(t.TempDir(), "deploy-container.tar")
	second := daggerCall(t, append(deploy, "container", "export", "--forced-compression=Gzip", "--path="+image)...)
	second.mustSucceed(t)
	if n2, _ := srv.buildNumber(t, apiModule); n2 != n1+1 {
		t.Errorf("buildNumber after a second deploy = %d, want %d", n2, n1+1)
	}
	srv.assertNoSecret(t, map[string]string{"first stdout": first.stdout, "first stderr": first.stderr,
		"second stdout": second.stdout, "second stderr": second.stderr})
	assertImageLacks(t, image, srv.password, strings.SplitN(srv.password, " ", 3)[2])
}

// assertImageLacks fails when the exported image tarball holds a needle anywhere: in its config
// and manifests (where environment variables live) or in any file of any layer.
func assertImageLacks(t *testing.T, path string, needles ...string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(where string, b []byte) {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds the secret", where)
			}
		}
	}
	layers, files := 0, 0
	outer := tar.NewReader(f)
	for {
		h, err := outer.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		blob, err := io.ReadAll(outer)
		if err != nil {
			t.Fatal(err)
		}
		check(h.Name, blob)
		gz, err := gzip.NewReader(bytes.NewReader(blob))
		if err != nil {
			continue // config, manifest or index: checked raw above
		}
		layers++
		inner := tar.NewReader(gz)
		for {
			lh, err := inner.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reading layer %s: %v", h.Name, err)
			}
			b, err := io.ReadAll(inner)
			if err != nil {
				t.Fatalf("reading %s in layer %s: %v", lh.Name, h.Name, err)
			}
			files++
			check(h.Name+":"+lh.Name, b)
		}
	}
	if layers == 0 || files < 1000 {
		t.Errorf("read %d layers, %d files from %s: not a whole container image?", layers, files, path)
	}
}

func TestMavenDeployWrongPasswordFailsAndLandsNothing(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	srv := newMavenServer(t)
	args := append([]string{ownCache(t), "deploy", "--repository-url=" + srv.containerURL(), srv.serviceArg(), "--retries=2"},
		srv.credentialArgs(t, "not the password")...)
	r := daggerCall(t, args...)
	if r.exitCode == 0 {
		t.Fatal("deploy with a wrong password exited 0")
	}
	for _, want := range []string{"refused the credentials", srv.containerURL(), "status: 401 Unauthorized", "nothing was deployed", "attempt 1 of at most 3, not retried"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 20))
		}
	}
	if after := srv.files(t, "/"); len(after) != 0 {
		t.Errorf("a refused deploy left files on the server: %q", after)
	}
}

// A test whose output looks like transfer and auth failures ("Connection reset", "401
// Unauthorized") and fails: the deploy runs once, says the build failed and that nothing was
// deployed, and the environment the test printed (with the repository password) is scrubbed.
func TestMavenDeployTestFailureWithNoisyOutputRunsOnceAndLeaksNothing(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	srv := newMavenServer(t)
	src := fixtureCopy(t, "noisy-tests")
	r := daggerCall(t, append([]string{"--source=" + src, "--maven-args=-Dnightly.fixture.fail=true"},
		srv.deployArgs(t, "--run-tests", "--retries=2")...)...)
	if r.exitCode == 0 {
		t.Fatal("deploy with a failing test exited 0")
	}
	for _, want := range []string{"no transfer error from the deploy (the build or the tests failed)", "nothing was deployed",
		"attempt 1 of at most 3, not retried", "There are test failures"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the error lacks %q:\n%s", want, tail(r.stderr, 30))
		}
	}
	if n := strings.Count(r.stderr, "refused the credentials") + strings.Count(r.stderr, "transient"); n > 0 {
		t.Errorf("a test's output was taken for the deploy's own error:\n%s", tail(r.stderr, 30))
	}
	srv.assertNoSecret(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr})
	if files := srv.files(t, "/"); len(files) != 0 {
		t.Errorf("a deploy whose tests failed left files on the server: %q", files)
	}
}

// --run-tests with a test that prints its whole environment, where the deploy's shell put the
// password (its trailing newline stripped, so Dagger's own scrubbing of the secret misses it):
// the log deploy returns is scrubbed, and the container it returns holds no copy of it.
func TestMavenDeployRunTestsPrintingTheEnvironmentLeaksNothing(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	srv := newMavenServer(t)
	src := fixtureCopy(t, "noisy-tests")
	r := daggerCall(t, append([]string{"--source=" + src}, srv.deployArgs(t, "--run-tests", "output")...)...)
	out := r.mustSucceed(t)
	if !strings.Contains(out, "env NIGHTLY_MAVEN_PASSWORD=***") || !strings.Contains(out, "BUILD SUCCESS") {
		t.Errorf("the deploy log does not show the scrubbed environment line:\n%s", tail(out, 40))
	}
	srv.assertNoSecret(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr})

	image := filepath.Join(t.TempDir(), "deploy-container.tar")
	r = daggerCall(t, append([]string{"--source=" + src}, srv.deployArgs(t, "--run-tests", "container", "export", "--forced-compression=Gzip", "--path="+image)...)...)
	r.mustSucceed(t)
	srv.assertNoSecret(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr})
	assertImageLacks(t, image, srv.password, strings.SplitN(srv.password, " ", 3)[2])
}

func TestMavenDeployDryRunPublishesNothing(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	srv := newMavenServer(t)
	before := srv.files(t, "/")
	out := daggerCall(t, ownCache(t), "deploy", "--dry-run", "artifacts", "coordinates").mustSucceed(t)
	if n := strings.Count(out, "io.nightly.fixture:"); n != 5 {
		t.Errorf("dry run listed %d artifacts, want 5 (parent pom, 2 poms, 2 jars):\n%s", n, out)
	}
	if after := srv.files(t, "/"); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("a dry run changed the server: %d files before, %d after", len(before), len(after))
	}
}

func TestMavenDeployRefusesARelease(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	src := fixtureCopy(t)
	pom := filepath.Join(src, "pom.xml")
	b, _ := os.ReadFile(pom)
	if err := os.WriteFile(pom, bytes.Replace(b, []byte("<version>3.0.0-SNAPSHOT</version>"), []byte("<version>3.0.0</version>"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	r := daggerCall(t, "--source="+src, ownCache(t), "deploy", "--dry-run")
	if r.exitCode == 0 || !strings.Contains(r.stderr, `"3.0.0" is a release`) {
		t.Errorf("deploy of a release: exit %d, want a refusal naming the version:\n%s", r.exitCode, tail(r.stderr, 10))
	}
}
