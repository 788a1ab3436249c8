package plan

import (
	"encoding/xml"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"
)

// TestSummary is what a `mvn test` run's surefire reports say.
type TestSummary struct {
	Tests, Failures, Errors, Skipped int
	// Failed lists each failing or erroring test as class.method, with its message.
	Failed []FailedTest
}

// FailedTest is one failing (assertion) or erroring (exception) test case.
type FailedTest struct {
	Class, Name, Kind, Message string
}

func (f FailedTest) String() string {
	s := f.Class + "." + f.Name + " (" + f.Kind + ")"
	if m := firstLine(f.Message); m != "" {
		s += ": " + m
	}
	return s
}

// Passed is true when no test failed or errored.
func (s TestSummary) Passed() bool { return s.Failures == 0 && s.Errors == 0 }

// String is the one-line summary Maven users know: "Tests run: 5, Failures: 1, Errors: 0, Skipped: 0".
func (s TestSummary) String() string {
	return fmt.Sprintf("Tests run: %d, Failures: %d, Errors: %d, Skipped: %d", s.Tests, s.Failures, s.Errors, s.Skipped)
}

type surefireSuite struct {
	XMLName   xml.Name `xml:"testsuite"`
	Tests     int      `xml:"tests,attr"`
	Failures  int      `xml:"failures,attr"`
	Errors    int      `xml:"errors,attr"`
	Skipped   int      `xml:"skipped,attr"`
	TestCases []struct {
		Name      string `xml:"name,attr"`
		ClassName string `xml:"classname,attr"`
		Failure   *struct {
			Message string `xml:"message,attr"`
			Type    string `xml:"type,attr"`
		} `xml:"failure"`
		Error *struct {
			Message string `xml:"message,attr"`
			Type    string `xml:"type,attr"`
		} `xml:"error"`
	} `xml:"testcase"`
}

// ParseSurefireReports sums surefire TEST-*.xml reports, keyed by their path (used in errors).
func ParseSurefireReports(reports map[string][]byte) (TestSummary, error) {
	var sum TestSummary
	paths := make([]string, 0, len(reports))
	for p := range reports {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var s surefireSuite
		if err := xml.Unmarshal(reports[p], &s); err != nil {
			return TestSummary{}, fmt.Errorf("reading surefire report %s: %w", p, err)
		}
		sum.Tests += s.Tests
		sum.Failures += s.Failures
		sum.Errors += s.Errors
		sum.Skipped += s.Skipped
		for _, tc := range s.TestCases {
			switch {
			case tc.Failure != nil:
				sum.Failed = append(sum.Failed, FailedTest{tc.ClassName, tc.Name, "failure", tc.Failure.Message})
			case tc.Error != nil:
				sum.Failed = append(sum.Failed, FailedTest{tc.ClassName, tc.Name, "error", tc.Error.Message})
			}
		}
	}
	return sum, nil
}

// DeployedArtifact is one file `mvn deploy` uploaded: a POM, jar or other artifact.
type DeployedArtifact struct {
	GroupID, ArtifactID string
	// Version is the base version (3.0.0-SNAPSHOT); FileVersion the deployed one, which for a
	// SNAPSHOT carries the timestamp and build number (3.0.0-20261129.005451-3).
	Version, FileVersion string
	// Classifier and Extension of the file (jar, pom, war…); Classifier is often empty.
	Classifier, Extension string
	URL                   string
}

// Coordinates is groupId:artifactId:extension[:classifier]:fileVersion.
func (a DeployedArtifact) Coordinates() string {
	c := a.GroupID + ":" + a.ArtifactID + ":" + a.Extension
	if a.Classifier != "" {
		c += ":" + a.Classifier
	}
	return c + ":" + a.FileVersion
}

var downloadedRE = regexp.MustCompile(`(?m)^\[INFO\] Downloaded from `)

// CountDownloads counts the files a Maven log says were fetched from a remote repository.
func CountDownloads(log string) int { return len(downloadedRE.FindAllStringIndex(log, -1)) }

var uploadedRE = regexp.MustCompile(`(?m)^\[INFO\] Uploaded to ([^:\s]+): (\S+)`)

// ParseDeployLog lists the artifacts a `mvn deploy` log says it uploaded under repoURL, leaving
// out metadata and checksum files. repoURL is the deployment repository's base URL.
func ParseDeployLog(log, repoURL string) []DeployedArtifact {
	base := strings.TrimSuffix(repoURL, "/") + "/"
	var out []DeployedArtifact
	for _, m := range uploadedRE.FindAllStringSubmatch(log, -1) {
		u := m[2]
		if !strings.HasPrefix(u, base) {
			continue
		}
		if a, ok := artifactFromPath(strings.TrimPrefix(u, base)); ok {
			a.URL = u
			out = append(out, a)
		}
	}
	return out
}

// artifactFromPath reads group/artifact/version/artifact-fileVersion[-classifier].ext.
func artifactFromPath(p string) (DeployedArtifact, bool) {
	parts := strings.Split(p, "/")
	if len(parts) < 4 {
		return DeployedArtifact{}, false
	}
	file := parts[len(parts)-1]
	if strings.HasPrefix(file, "maven-metadata") {
		return DeployedArtifact{}, false
	}
	for _, sum := range []string{".md5", ".sha1", ".sha256", ".sha512", ".asc"} {
		if strings.HasSuffix(file, sum) {
			return DeployedArtifact{}, false
		}
	}
	a := DeployedArtifact{
		GroupID:    strings.Join(parts[:len(parts)-3], "."),
		ArtifactID: parts[len(parts)-3],
		Version:    parts[len(parts)-2],
	}
	rest, ok := strings.CutPrefix(file, a.ArtifactID+"-")
	if !ok {
		return DeployedArtifact{}, false
	}
	ext := path.Ext(rest)
	a.Extension = strings.TrimPrefix(ext, ".")
	rest = strings.TrimSuffix(rest, ext)
	// The file version is the base version, or for a SNAPSHOT X.Y.Z-yyyymmdd.hhmmss-n.
	if v := snapshotFileVersion(a.Version, rest); v != "" {
		a.FileVersion = v
	} else if strings.HasPrefix(rest, a.Version) {
		a.FileVersion = a.Version
	} else {
		return DeployedArtifact{}, false
	}
	a.Classifier = strings.TrimPrefix(strings.TrimPrefix(rest, a.FileVersion), "-")
	return a, true
}

var snapshotStampRE = regexp.MustCompile(`^\d{8}\.\d{6}-\d+`)

func snapshotFileVersion(version, rest string) string {
	prefix, ok := strings.CutSuffix(version, "SNAPSHOT")
	if !ok || !strings.HasPrefix(rest, prefix) {
		return ""
	}
	stamp := snapshotStampRE.FindString(strings.TrimPrefix(rest, prefix))
	if stamp == "" {
		return ""
	}
	return prefix + stamp
}

// transientRE matches what a Maven transfer prints for failures worth retrying: request timeouts,
// rate limits, gateway and server errors, and dropped connections. 401/403/404 are not retried.
var transientRE = regexp.MustCompile(`(?i)(status code:? (408|425|429|500|502|503|504)\b|(reason phrase|ReasonPhrase):? *(Request Time-?out|Too Many Requests|Bad Gateway|Service Unavailable|Gateway Time-?out)|Connection reset|Broken pipe|Connect(ion)? timed out|Read timed out|NoHttpResponseException|Remotely closed)`)

// authFailureRE matches what Maven prints when the repository refused the credentials.
var authFailureRE = regexp.MustCompile(`(?i)(status code:? (401|403)\b|authentication failed|Not authorized|Unauthorized|Forbidden)`)

// MavenFailureKind classifies a failed `mvn deploy` log: "transient" (retry), "auth" (fix the
// credentials) or "" (a build or test failure: retrying will not help).
func MavenFailureKind(log string) string {
	switch {
	case authFailureRE.MatchString(log):
		return "auth"
	case transientRE.MatchString(log):
		return "transient"
	}
	return ""
}

// DeploymentRepository checks a deployment repository id and URL and gives Maven's
// -DaltDeploymentRepository value (id::url, the deploy plugin 3.x form).
func DeploymentRepository(id, rawURL string) (string, error) {
	if id == "" || strings.ContainsAny(id, ":/ \t\n") {
		return "", fmt.Errorf("repository id %q: must be non-empty, without ':', '/' or spaces", id)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("repository URL %q: %w", rawURL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
		return "", fmt.Errorf("repository URL %q: scheme must be http, https or file", rawURL)
	case u.Scheme != "file" && u.Host == "":
		return "", fmt.Errorf("repository URL %q: no host", rawURL)
	case u.User != nil:
		return "", fmt.Errorf("repository URL %q: must not carry credentials; pass them as secrets", u.Redacted())
	}
	return id + "::" + strings.TrimSuffix(rawURL, "/"), nil
}

// DeploySettings is a Maven settings.xml that gives the deployment repository's credentials from
// environment variables, so the file itself holds no secret and the values never touch a layer.
func DeploySettings(serverID, userEnv, passwordEnv string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<settings>
  <servers>
    <server>
      <id>` + serverID + `</id>
      <username>${env.` + userEnv + `}</username>
      <password>${env.` + passwordEnv + `}</password>
    </server>
  </servers>
</settings>
`
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
