package plan

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const greenReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="io.x.ApiTest" time="0.05" tests="4" errors="0" skipped="1" failures="0">
  <properties><property name="java.version" value="17"/></properties>
  <testcase name="a" classname="io.x.ApiTest" time="0.004"/>
  <testcase name="b" classname="io.x.ApiTest" time="0"/>
  <testcase name="c" classname="io.x.ApiTest" time="0"><skipped/></testcase>
  <testcase name="d" classname="io.x.ApiTest" time="0"/>
</testsuite>`

const redReport = `<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="io.x.VersionTest" tests="2" errors="1" skipped="0" failures="1">
  <testcase name="released" classname="io.x.VersionTest">
    <failure message="expected:&lt;3.0.0&gt; but was:&lt;3.0.0-broken&gt;" type="org.junit.ComparisonFailure">stack</failure>
  </testcase>
  <testcase name="boom" classname="io.x.VersionTest">
    <error message="oops&#10;second line" type="java.lang.IllegalStateException">stack</error>
  </testcase>
</testsuite>`

func TestParseSurefireReports(t *testing.T) {
	tests := []struct {
		name    string
		reports map[string][]byte
		want    TestSummary
		passed  bool
	}{
		{"none", nil, TestSummary{}, true},
		{"green", map[string][]byte{"api/TEST-io.x.ApiTest.xml": []byte(greenReport)},
			TestSummary{Tests: 4, Skipped: 1}, true},
		{"green and red summed", map[string][]byte{
			"api/TEST-io.x.ApiTest.xml":     []byte(greenReport),
			"api/TEST-io.x.VersionTest.xml": []byte(redReport),
		}, TestSummary{Tests: 6, Failures: 1, Errors: 1, Skipped: 1, Failed: []FailedTest{
			{"io.x.VersionTest", "released", "failure", "expected:<3.0.0> but was:<3.0.0-broken>"},
			{"io.x.VersionTest", "boom", "error", "oops\nsecond line"},
		}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSurefireReports(tt.reports)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseSurefireReports() = %+v, want %+v", got, tt.want)
			}
			if got.Passed() != tt.passed {
				t.Errorf("Passed() = %v, want %v", got.Passed(), tt.passed)
			}
		})
	}
}

func TestFailedTestString(t *testing.T) {
	f := FailedTest{"io.x.VersionTest", "boom", "error", "oops\nsecond line"}
	if got, want := f.String(), "io.x.VersionTest.boom (error): oops"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (TestSummary{Tests: 5, Failures: 1}).String(), "Tests run: 5, Failures: 1, Errors: 0, Skipped: 0"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseSurefireReportsBadXML(t *testing.T) {
	_, err := ParseSurefireReports(map[string][]byte{"api/TEST-x.xml": []byte("<testsuite")})
	if err == nil || !strings.Contains(err.Error(), "api/TEST-x.xml") {
		t.Errorf("ParseSurefireReports(bad) error = %v, want one naming api/TEST-x.xml", err)
	}
}

func TestParseDeployLog(t *testing.T) {
	const repo = "http://maven-repo:47502/maven/snapshots"
	log := `[INFO] Downloading from snap: http://maven-repo:47502/maven/snapshots/io/x/parent/3.0.0-SNAPSHOT/maven-metadata.xml
[INFO] Uploading to snap: http://maven-repo:47502/maven/snapshots/io/x/parent/3.0.0-SNAPSHOT/parent-3.0.0-20261129.005451-3.pom
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/parent/3.0.0-SNAPSHOT/parent-3.0.0-20261129.005451-3.pom (2.0 kB at 151 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/parent/3.0.0-SNAPSHOT/maven-metadata.xml (609 B at 152 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/parent/maven-metadata.xml (292 B at 73 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/sub/api/3.0.0-SNAPSHOT/api-3.0.0-20261129.005451-3.jar (4.3 kB at 255 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/sub/api/3.0.0-SNAPSHOT/api-3.0.0-20261129.005451-3-sources.jar (1 kB at 255 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/sub/api/3.0.0-SNAPSHOT/api-3.0.0-20261129.005451-3.jar.sha1 (40 B at 1 kB/s)
[INFO] Uploaded to rel: http://maven-repo:47502/maven/releases/io/x/lib/1.2.0/lib-1.2.0.jar (4.3 kB at 255 kB/s)
[INFO] Uploaded to snap: http://maven-repo:47502/maven/snapshots/io/x/lib/1.2.0/lib-1.2.0-tests.jar (4.3 kB at 255 kB/s)
`
	got := ParseDeployLog(log, repo+"/")
	want := []string{
		"io.x:parent:pom:3.0.0-20261129.005451-3",
		"io.x.sub:api:jar:3.0.0-20261129.005451-3",
		"io.x.sub:api:jar:sources:3.0.0-20261129.005451-3",
		"io.x:lib:jar:tests:1.2.0",
	}
	var coords []string
	for _, a := range got {
		coords = append(coords, a.Coordinates())
	}
	if !reflect.DeepEqual(coords, want) {
		t.Errorf("ParseDeployLog() coordinates = %q, want %q", coords, want)
	}
	if got[0].Version != "3.0.0-SNAPSHOT" || !strings.HasSuffix(got[0].URL, "parent-3.0.0-20261129.005451-3.pom") {
		t.Errorf("ParseDeployLog()[0] = %+v", got[0])
	}
}

// The logs under testdata/deploy are real: Maven 3.8.7 with maven-deploy-plugin 3.0.0 (the test
// bed's Maven image) deploying the fixture product to a local server answering 401, 403, 502, a
// reset connection, or 502 after some uploads; a dependency repository answering 401 to a module
// named dep-unauthorized-handler; and fixtures/noisy-tests, whose test prints lines that look like
// transfer and auth failures and its environment (a made-up environment replaced the machine's).
func TestClassifyDeployFailure(t *testing.T) {
	const repo, id = "http://127.0.0.1:47610/maven/snapshots", "nightly-snapshots"
	tests := []struct {
		file      string
		kind      FailureKind
		cause     string
		uploaded  int
		transfers bool
	}{
		{"auth-401.log", FailureAuth, "status: 401 Unauthorized", 0, true},
		{"auth-403-noisy-tests.log", FailureAuth, "status: 403 Forbidden", 0, true},
		{"transient-502.log", FailureTransient, "status: 502 Bad Gateway", 0, true},
		{"transient-502-noisy-tests.log", FailureTransient, "status: 502 Bad Gateway", 0, true},
		{"transient-reset.log", FailureTransient, ": Connection reset", 0, true},
		{"partial-then-metadata-502.log", FailureTransient, "maven-metadata.xml, status: 502 Bad Gateway", 2, true},
		{"dependency-401-unauthorized-handler.log", FailureOther, "", 0, false},
		{"test-failure-noisy.log", FailureOther, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "deploy", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := ClassifyDeployFailure(string(b), id, repo+"/")
			if got.Kind != tt.kind || !strings.HasSuffix(got.Cause, tt.cause) || len(got.Uploaded) != tt.uploaded || (got.Transfer != "") != tt.transfers {
				t.Errorf("ClassifyDeployFailure(%s) = %+v, want kind %s, cause ending %q, %d uploads", tt.file, got, tt.kind, tt.cause, tt.uploaded)
			}
			if tt.transfers && (!strings.HasPrefix(got.Transfer, "Could not transfer ") || strings.Contains(got.Transfer, "[Help")) {
				t.Errorf("Transfer = %q, want the resolver's message without Maven's help pointer", got.Transfer)
			}
			// Another repository's id or URL: the same log says nothing about it.
			if other := ClassifyDeployFailure(string(b), "other-repo", repo); other.Kind != FailureOther || other.Transfer != "" || len(other.Uploaded) != 0 {
				t.Errorf("ClassifyDeployFailure(%s, other-repo) = %+v, want nothing", tt.file, other)
			}
			if other := ClassifyDeployFailure(string(b), id, "http://127.0.0.1:47610/maven/releases"); other.Kind != FailureOther || len(other.Uploaded) != 0 {
				t.Errorf("ClassifyDeployFailure(%s, other URL) = %+v, want nothing", tt.file, other)
			}
		})
	}
}

// Lines in the shapes other Maven versions print, built from their sources' message formats.
func TestClassifyDeployFailureOtherMavenVersions(t *testing.T) {
	const repo, id = "https://repo.example.com/snapshots", "snap"
	line := func(cause string) string {
		return "[INFO] BUILD FAILURE\n[ERROR] Failed to execute goal org.apache.maven.plugins:maven-deploy-plugin:3.1.2:deploy (default-deploy) on project api: " +
			"Failed to deploy artifacts: Could not transfer artifact io.x:api:jar:1.0.0-20261129.010101-1 from/to snap (https://repo.example.com/snapshots): " + cause + " -> [Help 1]\n"
	}
	tests := []struct {
		log  string
		want FailureKind
	}{
		// Maven 3.9's native HTTP transport
		{line("status code: 401, reason phrase: Unauthorized (401)"), FailureAuth},
		{line("status code: 403, reason phrase: Forbidden (403)"), FailureAuth},
		{line("status code: 429, reason phrase: Too Many Requests (429)"), FailureTransient},
		{line("status code: 503, reason phrase: Service Unavailable (503)"), FailureTransient},
		{line("status code: 504, reason phrase: Gateway Timeout (504)"), FailureTransient},
		{line("Connect to repo.example.com:443 [repo.example.com/10.0.0.1] failed: Connect timed out"), FailureTransient},
		{line("Read timed out"), FailureTransient},
		{line("The target server failed to respond"), FailureTransient},
		{line("status code: 404, reason phrase: Not Found (404)"), FailureOther},
		{line("status code: 409, reason phrase: Conflict (409)"), FailureOther},
		{line("status code: 413, reason phrase: Payload Too Large (413)"), FailureOther},
		{line("repo.example.com: Name or service not known"), FailureOther},
		// wagon 2.x (Maven 3.5-3.6)
		{line("Failed to transfer file: https://repo.example.com/snapshots/io/x/api/1.0.0-SNAPSHOT/api.jar. Return code is: 401, ReasonPhrase: Unauthorized."), FailureAuth},
		{line("Failed to transfer file: https://repo.example.com/snapshots/io/x/api/1.0.0-SNAPSHOT/api.jar. Return code is: 502, ReasonPhrase: Bad Gateway."), FailureTransient},
		// a version or artifact id with 401 in it is not a status
		{strings.ReplaceAll(line("status: 409 Conflict"), "io.x:api:jar:1.0.0", "io.x:api-unauthorized-401-handler:jar:4.0.1"), FailureOther},
		// the remote metadata read before a SNAPSHOT deploy
		{"[ERROR] Failed to execute goal org.apache.maven.plugins:maven-deploy-plugin:3.1.2:deploy (default-deploy) on project api: Failed to retrieve remote metadata io.x:api:1.0.0-SNAPSHOT/maven-metadata.xml: Could not transfer metadata io.x:api:1.0.0-SNAPSHOT/maven-metadata.xml from/to snap (https://repo.example.com/snapshots): status code: 401, reason phrase: Unauthorized (401) -> [Help 1]", FailureAuth},
		// noise from tests and dependencies, and no deploy plugin error
		{"Connection reset\nstatus: 401 Unauthorized\n[ERROR] Failed to execute goal on project api: Could not resolve dependencies for project io.x:api:jar:1.0.0-SNAPSHOT: Could not transfer artifact a:b:pom:1 from/to snap (https://repo.example.com/snapshots): status code: 401, reason phrase: Unauthorized (401) -> [Help 1]", FailureOther},
		{"[ERROR] Failed to execute goal org.apache.maven.plugins:maven-compiler-plugin:3.10.1:compile (default-compile) on project payments-unauthorized-handler: Compilation failure", FailureOther},
	}
	for _, tt := range tests {
		if got := ClassifyDeployFailure(tt.log, id, repo); got.Kind != tt.want {
			t.Errorf("ClassifyDeployFailure(%q) = %+v, want %s", tt.log, got, tt.want)
		}
	}
}

func TestScrub(t *testing.T) {
	const user, pw = "deployer", "s3cret with spaces\n"
	forms := append(append(ScrubForms(user), ScrubForms(pw)...), BasicAuthForms(user, pw)...)
	log := "env NIGHTLY_MAVEN_PASSWORD=s3cret with spaces\n" +
		"raw: s3cret with spaces\n\n" +
		"query: https://r/?p=s3cret+with+spaces and path: https://r/s3cret%20with%20spaces/x\n" +
		"Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("deployer:s3cret with spaces")) + "\n" +
		"user deployer\n"
	got := Scrub(log, forms)
	for _, leak := range []string{"s3cret", "with+spaces", "with%20spaces", base64.StdEncoding.EncodeToString([]byte("deployer:s3cret with spaces")), "deployer"} {
		if strings.Contains(got, leak) {
			t.Errorf("Scrub() left %q in:\n%s", leak, got)
		}
	}
	if !strings.Contains(got, "env NIGHTLY_MAVEN_PASSWORD=***") || !strings.Contains(got, "Authorization: Basic ***") {
		t.Errorf("Scrub() = %q", got)
	}
	if got := Scrub("nothing secret", ScrubForms("")); got != "nothing secret" {
		t.Errorf("Scrub with an empty secret = %q", got)
	}
	b, err := os.ReadFile("testdata/deploy/test-failure-noisy.log")
	if err != nil {
		t.Fatal(err)
	}
	if got := Scrub(string(b), forms); strings.Contains(got, "s3cret") || !strings.Contains(got, "NoisyLogTest") {
		t.Errorf("Scrub(real log) leaks the password or lost the log")
	}
}

func TestSettingsSecrets(t *testing.T) {
	settings := `<?xml version="1.0" encoding="UTF-8"?>
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <servers>
    <server><id>snap</id><username>bob</username><password> pa ss </password></server>
    <server><id>env</id><username>${env.USER}</username><password>${env.PASSWORD}</password></server>
    <server><id>ssh</id><privateKey>/k</privateKey><passphrase>phrase</passphrase></server>
  </servers>
</settings>`
	if got, want := SettingsSecrets(settings), []string{"bob", "pa ss", "phrase"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SettingsSecrets() = %q, want %q", got, want)
	}
	if got := SettingsSecrets("<settings"); got != nil {
		t.Errorf("SettingsSecrets(bad) = %q, want none", got)
	}
}

func TestDeploymentRepository(t *testing.T) {
	tests := []struct {
		id, url, want, wantErr string
	}{
		{"snapshots", "https://repo.example.com/snapshots/", "snapshots::https://repo.example.com/snapshots", ""},
		{"snap", "http://maven-repo:47502/maven/snapshots", "snap::http://maven-repo:47502/maven/snapshots", ""},
		{"local", "file:///tmp/repo", "local::file:///tmp/repo", ""},
		{"", "https://r/x", "", `repository id ""`},
		{"a:b", "https://r/x", "", `repository id "a:b"`},
		{"snap", "ftp://r/x", "", `repository URL "ftp://r/x": scheme`},
		{"snap", "https:///x", "", `repository URL "https:///x": no host`},
		{"snap", "https://bob:hunter2@r/x", "", `repository URL "https://bob:xxxxx@r/x": must not carry credentials`},
		{"snap", "://bad", "", `repository URL "://bad"`},
	}
	for _, tt := range tests {
		got, err := DeploymentRepository(tt.id, tt.url)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DeploymentRepository(%q, %q) error = %v, want %q", tt.id, tt.url, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the URL's password: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("DeploymentRepository(%q, %q) = %q, %v, want %q", tt.id, tt.url, got, err, tt.want)
		}
	}
}

// The settings splice: the settings.xml deploy writes when given a username and password.
func TestDeploySettings(t *testing.T) {
	type server struct {
		ID       string `xml:"id"`
		Username string `xml:"username"`
		Password string `xml:"password"`
	}
	type settings struct {
		XMLName xml.Name `xml:"settings"`
		Servers []server `xml:"servers>server"`
	}
	tests := []struct{ id, user, password string }{
		{"nightly-snapshots", "NIGHTLY_MAVEN_USER", "NIGHTLY_MAVEN_PASSWORD"},
		{"snap", "U", "P_2"},
		{"a&b<c>\"d'", "U", "P"}, // escaped, and read back as given
	}
	for _, tt := range tests {
		s, err := DeploySettings(tt.id, tt.user, tt.password)
		if err != nil {
			t.Fatalf("DeploySettings(%q) error = %v", tt.id, err)
		}
		var got settings
		if err := xml.Unmarshal([]byte(s), &got); err != nil {
			t.Fatalf("DeploySettings(%q) is not valid XML: %v\n%s", tt.id, err, s)
		}
		want := []server{{tt.id, "${env." + tt.user + "}", "${env." + tt.password + "}"}}
		if !reflect.DeepEqual(got.Servers, want) {
			t.Errorf("DeploySettings(%q) servers = %+v, want %+v", tt.id, got.Servers, want)
		}
		if SettingsSecrets(s) != nil {
			t.Errorf("DeploySettings(%q) holds a value that is not an ${env.…} reference:\n%s", tt.id, s)
		}
	}
	for _, env := range []string{"", "A B", "${X}", "A}"} {
		if _, err := DeploySettings("snap", env, "P"); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", env)) {
			t.Errorf("DeploySettings(env %q) error = %v, want one naming it", env, err)
		}
	}
}

func TestCountDownloads(t *testing.T) {
	log := `[INFO] Downloading from central: file:///usr/share/maven-repo/a.pom
[INFO] Downloaded from central: file:///usr/share/maven-repo/a.pom (2 kB at 1 MB/s)
[INFO] Downloaded from central: file:///usr/share/maven-repo/a.jar (20 kB at 1 MB/s)
[INFO] Uploaded to snap: http://r/x.jar (1 kB at 1 MB/s)
`
	if got := CountDownloads(log); got != 2 {
		t.Errorf("CountDownloads() = %d, want 2", got)
	}
	if got := CountDownloads("[INFO] BUILD SUCCESS"); got != 0 {
		t.Errorf("CountDownloads(warm) = %d, want 0", got)
	}
}

func TestRedRunFromCache(t *testing.T) {
	call := time.Unix(1_800_000_000, 500_000_000)
	for _, c := range []struct {
		name    string
		started string
		want    bool
	}{
		{"began before the call (an earlier call's result)", "1799999000\n", true},
		{"began a second before the call", "1799999999", true},
		{"began in the call's second", "1800000000\n", false},
		{"began after the call", "1800000003", false},
		{"no stamp (an image without date)", "", false},
		{"garbage stamp", "%s", false},
	} {
		if got := RedRunFromCache(c.started, call); got != c.want {
			t.Errorf("%s: RedRunFromCache(%q) = %v, want %v", c.name, c.started, got, c.want)
		}
	}
}

func TestSplitReportBundle(t *testing.T) {
	for _, c := range []struct {
		name, bundle string
		want         map[string]string
		err          string
	}{
		{"none", "", map[string]string{}, ""},
		{"two", "a/TEST-x.xml\x00<x/>\x00b c/TEST-y.xml\x00<y>\n</y>\x00", map[string]string{"a/TEST-x.xml": "<x/>", "b c/TEST-y.xml": "<y>\n</y>"}, ""},
		{"an empty report", "a/TEST-x.xml\x00\x00", map[string]string{"a/TEST-x.xml": ""}, ""},
		{"cut after a name", "a/TEST-x.xml\x00<x/>", nil, "cut short"},
		{"cut after the content", "a/TEST-x.xml\x00<x/>\x00b/TEST-y.xml\x00", nil, "cut short"},
		{"no name", "\x00<x/>\x00", nil, "without a name"},
	} {
		got, err := SplitReportBundle(c.bundle)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d files, want %d: %q", c.name, len(got), len(c.want), got)
		}
		for p, w := range c.want {
			if string(got[p]) != w {
				t.Errorf("%s: %s = %q, want %q", c.name, p, got[p], w)
			}
		}
	}
}

// The script, run by a real shell on real files (names with spaces and newlines), gives back
// exactly the files it found.
func TestReportBundleScriptRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{
		"api/target/surefire-reports/TEST-a.xml":          "<testsuite name=\"a\"/>\n",
		"web ui/target/surefire-reports/TEST-b c.xml":     "<testsuite/>",
		"odd\nname/target/surefire-reports/TEST-c.xml":    "",
		"api/target/surefire-reports/a.txt":               "not a report",
		"api/target/surefire-reports/TEST-d.xml.orig/x.y": "a folder named like a report",
	}
	for p, body := range want {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("sh", "-c", ReportBundleScript)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := SplitReportBundle(string(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"api/target/surefire-reports/TEST-a.xml", "web ui/target/surefire-reports/TEST-b c.xml", "odd\nname/target/surefire-reports/TEST-c.xml"} {
		if string(got[p]) != want[p] {
			t.Errorf("%q = %q, want %q", p, got[p], want[p])
		}
	}
	if len(got) != 3 {
		t.Errorf("got %d files, want the 3 reports: %q", len(got), got)
	}
}
