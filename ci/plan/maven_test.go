package plan

import (
	"reflect"
	"strings"
	"testing"
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

func TestMavenFailureKind(t *testing.T) {
	tests := []struct{ log, want string }{
		{"[ERROR] Failed to deploy artifacts: Could not transfer artifact x from/to snap (http://r/): Transfer failed for http://r/x.jar 502 Bad Gateway\n... status code: 502, reason phrase: Bad Gateway (502)", "transient"},
		{"Could not transfer artifact x from/to snap: status code: 429, reason phrase: Too Many Requests (429)", "transient"},
		{"Could not transfer artifact x: Connection reset", "transient"},
		{"Could not transfer artifact x: Connect to r:80 [r/10.0.0.1] failed: Connect timed out", "transient"},
		{"Could not transfer artifact x from/to snap (http://r/): authentication failed for http://r/x.jar, status: 401 Unauthorized", "auth"},
		{"status code: 403, reason phrase: Forbidden (403)", "auth"},
		{"[ERROR] COMPILATION ERROR : cannot find symbol", ""},
		{"[ERROR] There are test failures.", ""},
		{"status code: 404, reason phrase: Not Found (404)", ""},
	}
	for _, tt := range tests {
		if got := MavenFailureKind(tt.log); got != tt.want {
			t.Errorf("MavenFailureKind(%q) = %q, want %q", tt.log, got, tt.want)
		}
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

func TestDeploySettingsHoldsNoSecret(t *testing.T) {
	s := DeploySettings("snap", "NIGHTLY_MAVEN_USER", "NIGHTLY_MAVEN_PASSWORD")
	for _, want := range []string{"<id>snap</id>", "${env.NIGHTLY_MAVEN_USER}", "${env.NIGHTLY_MAVEN_PASSWORD}"} {
		if !strings.Contains(s, want) {
			t.Errorf("DeploySettings() lacks %q:\n%s", want, s)
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
