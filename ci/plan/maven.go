package plan

import (
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
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

// FailureKind says what a failed deploy needs: a retry, other credentials, or a fix.
type FailureKind string

const (
	// FailureTransient is a transfer to the deployment repository that may succeed if retried:
	// HTTP 408, 425, 429, 500, 502, 503, 504, a dropped connection or a timeout.
	FailureTransient FailureKind = "transient"
	// FailureAuth is the deployment repository refusing the credentials (HTTP 401 or 403).
	FailureAuth FailureKind = "auth"
	// FailureOther is anything else: the build, the tests, or a transfer error a retry won't fix.
	FailureOther FailureKind = "other"
)

// DeployFailure is what the log of a failed `mvn deploy` says about the deploy itself.
type DeployFailure struct {
	Kind FailureKind
	// Transfer is the deploy plugin's transfer error for the deployment repository, e.g.
	// "Could not transfer artifact g:a:pom:1 from/to snap (http://r/): … status: 401 Unauthorized";
	// empty when the deploy plugin reported none (the build or the tests failed first).
	Transfer string
	// Cause is the end of Transfer: what the transport said (status line or I/O error).
	Cause string
	// Uploaded lists the files the log says reached the deployment repository before the failure.
	Uploaded []string
}

var (
	// The deploy plugin's own failure line (maven-deploy-plugin 2.x/3.x, Maven 3.x and 4).
	deployGoalFailedRE = regexp.MustCompile(`(?m)^\[ERROR\] Failed to execute goal org\.apache\.maven\.plugins:maven-deploy-plugin:\S+ .*$`)
	// Maven resolver's transfer errors, as the deploy plugin repeats them: "Could not transfer
	// artifact|metadata <what> from/to <repository id> (<url>): <cause>".
	transferErrorRE = regexp.MustCompile(`Could not (?:transfer|find) (?:artifact|metadata) (\S+) (?:from/to|to|from|in) (\S+) \(([^)\s]*)\): (.*?)(?: -> \[Help \d+\])?$`)
	// The HTTP status a transport printed: wagon ("status: 401 Unauthorized"), the native HTTP
	// transport of Maven 3.9 ("status code: 401, reason phrase: Unauthorized (401)") and older
	// wagons ("Return code is: 401").
	transferStatusRE = regexp.MustCompile(`(?i)(?:status(?: code)?|return code is):?\s*(\d{3})\b`)
	transientIORE    = regexp.MustCompile(`(?i)(connection reset|broken pipe|connect(ion)? timed out|read timed out|SocketTimeoutException|NoHttpResponseException|failed to respond|remotely closed|premature end of|connection closed|stream reset|GOAWAY)`)
	uploadedToRE     = regexp.MustCompile(`(?m)^\[INFO\] Uploaded to (\S+): (\S+)`)
)

// ClassifyDeployFailure reads the log of a failed `mvn deploy` to repository repoID at repoURL.
// Only the deploy plugin's own transfer error for that repository decides: a test that prints
// "Connection reset", a module named like "unauthorized-handler" or a 401 from a dependency
// repository say nothing about the deployment repository.
func ClassifyDeployFailure(log, repoID, repoURL string) DeployFailure {
	f := DeployFailure{Kind: FailureOther}
	base := strings.TrimSuffix(repoURL, "/")
	for _, m := range uploadedToRE.FindAllStringSubmatch(log, -1) {
		if m[1] == repoID && strings.HasPrefix(m[2], base+"/") {
			f.Uploaded = append(f.Uploaded, strings.TrimPrefix(m[2], base+"/"))
		}
	}
	for _, line := range deployGoalFailedRE.FindAllString(log, -1) {
		m := transferErrorRE.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil || m[2] != repoID || strings.TrimSuffix(m[3], "/") != base {
			continue
		}
		f.Transfer = strings.TrimSpace(strings.SplitN(m[0], " -> [Help", 2)[0])
		f.Cause = m[4]
		f.Kind = transferFailureKind(m[4])
		break
	}
	return f
}

func transferFailureKind(cause string) FailureKind {
	if m := transferStatusRE.FindStringSubmatch(cause); m != nil {
		switch m[1] {
		case "401", "403":
			return FailureAuth
		case "408", "425", "429", "500", "502", "503", "504":
			return FailureTransient
		}
		return FailureOther
	}
	if transientIORE.MatchString(cause) {
		return FailureTransient
	}
	return FailureOther
}

// ScrubForms are the forms in which a secret value can show up in a log: as given, without the
// trailing newline a file: secret often has (the deploy's shell strips it), URL-encoded (query
// and path escaping). Empty values give none.
func ScrubForms(value string) []string {
	var out []string
	for _, v := range []string{value, strings.TrimRight(value, "\r\n")} {
		if v == "" {
			continue
		}
		out = append(out, v, url.QueryEscape(v), url.PathEscape(v))
	}
	return out
}

// BasicAuthForms are the Authorization header values HTTP basic authentication makes of a
// username and password (Maven's wire logging prints them), with and without trailing newlines.
func BasicAuthForms(user, password string) []string {
	var out []string
	for _, u := range []string{user, strings.TrimRight(user, "\r\n")} {
		for _, p := range []string{password, strings.TrimRight(password, "\r\n")} {
			if u != "" || p != "" {
				out = append(out, base64.StdEncoding.EncodeToString([]byte(u+":"+p)))
			}
		}
	}
	return out
}

// Scrub replaces every occurrence of each secret form in s with "***", longest forms first.
func Scrub(s string, forms []string) string {
	forms = slices.Clone(forms)
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		if f != "" {
			s = strings.ReplaceAll(s, f, "***")
		}
	}
	return s
}

type settingsSecrets struct {
	Servers []struct {
		Username   string `xml:"username"`
		Password   string `xml:"password"`
		Passphrase string `xml:"passphrase"`
	} `xml:"servers>server"`
}

// SettingsSecrets lists the credentials a settings.xml holds in clear (server usernames,
// passwords and passphrases; ${env.…} references are not secrets), so a log can be scrubbed of
// them. A file that is not valid XML gives none: Maven will say so itself.
func SettingsSecrets(settings string) []string {
	var s settingsSecrets
	dec := xml.NewDecoder(strings.NewReader(settings))
	dec.CharsetReader = CharsetReader
	if err := dec.Decode(&s); err != nil {
		return nil
	}
	var out []string
	for _, srv := range s.Servers {
		for _, v := range []string{srv.Username, srv.Password, srv.Passphrase} {
			if v = strings.TrimSpace(v); v != "" && !strings.Contains(v, "${") {
				out = append(out, v)
			}
		}
	}
	return out
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
// The server id is XML-escaped; the variable names must be plain identifiers.
func DeploySettings(serverID, userEnv, passwordEnv string) (string, error) {
	for _, env := range []string{userEnv, passwordEnv} {
		if !envNameRE.MatchString(env) {
			return "", fmt.Errorf("environment variable name %q: must be letters, digits and _", env)
		}
	}
	var id strings.Builder
	if err := xml.EscapeText(&id, []byte(serverID)); err != nil {
		return "", err
	}
	return `<?xml version="1.0" encoding="UTF-8"?>
<settings>
  <servers>
    <server>
      <id>` + id.String() + `</id>
      <username>${env.` + userEnv + `}</username>
      <password>${env.` + passwordEnv + `}</password>
    </server>
  </servers>
</settings>
`, nil
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// RedRunFromCache says whether a red test run came out of the engine's cache rather than from
// this call: started is what the run's shell wrote when the command began (Unix seconds, the
// host's clock as the module's), callStart when this call began. A run that began before the call
// is an earlier call's result. Red results are not reused (as Bazel, Pants and Gradle do not cache
// a failed test): a flaky test gets a real second run when the nightly is run again. Only a red
// run is asked about (a green one is always reused); an unreadable stamp reuses too (the run
// happened; only its age is unknown).
func RedRunFromCache(started string, callStart time.Time) bool {
	sec, err := strconv.ParseInt(strings.TrimSpace(started), 10, 64)
	if err != nil {
		return false
	}
	return sec < callStart.Unix()
}

// ReportBundleScript is the shell script that writes every surefire XML report under the current
// folder to its standard output as one bundle, each file as its path (without "./"), a NUL, its
// content, a NUL: a product with thousands of test classes is then read in one engine round trip
// instead of one a file. XML holds no NUL, and find passes any file name as is.
const ReportBundleScript = `find . -type f -name 'TEST-*.xml' -exec sh -c 'for f; do printf "%s\0" "${f#./}"; cat "$f" || exit 1; printf "\0"; done' sh {} +`

// SplitReportBundle reads what ReportBundleScript wrote back into files keyed by path.
func SplitReportBundle(bundle string) (map[string][]byte, error) {
	files := map[string][]byte{}
	if bundle == "" {
		return files, nil
	}
	parts := strings.Split(bundle, "\x00")
	if len(parts)%2 != 1 || parts[len(parts)-1] != "" {
		return nil, fmt.Errorf("the bundle of test reports is cut short (%d NUL-separated parts)", len(parts)-1)
	}
	for i := 0; i+1 < len(parts); i += 2 {
		if parts[i] == "" {
			return nil, fmt.Errorf("the bundle of test reports has a file without a name (part %d)", i+1)
		}
		files[parts[i]] = []byte(parts[i+1])
	}
	return files, nil
}
