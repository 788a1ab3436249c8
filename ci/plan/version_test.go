package plan

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func pom(inner string) []byte {
	return []byte(`<?xml version="1.0"?><project xmlns="http://maven.apache.org/POM/4.0.0">` + inner + `</project>`)
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name     string
		pom      []byte
		want     Version
		nightly  string
		previous string
	}{
		{"snapshot", pom(`<version>3.0.0-SNAPSHOT</version>`), Version{"3.0.0-SNAPSHOT", "3.0.0"}, "3.0.0-nightly", "3.0.0-nightly-previous"},
		{"release", pom(`<version>3.1.2</version>`), Version{"3.1.2", "3.1.2"}, "3.1.2-nightly", "3.1.2-nightly-previous"},
		{"qualifier and snapshot", pom(`<version>4.0.0-rc.1-SNAPSHOT</version>`), Version{"4.0.0-rc.1-SNAPSHOT", "4.0.0"}, "4.0.0-nightly", "4.0.0-nightly-previous"},
		{"dot qualifier", pom(`<version>2.10.0.Final</version>`), Version{"2.10.0.Final", "2.10.0"}, "2.10.0-nightly", "2.10.0-nightly-previous"},
		{"whitespace", pom("<version>\n  3.0.0-SNAPSHOT\n</version>"), Version{"3.0.0-SNAPSHOT", "3.0.0"}, "3.0.0-nightly", "3.0.0-nightly-previous"},
		{"inherited from parent", pom(`<parent><groupId>g</groupId><version>5.6.7-SNAPSHOT</version></parent><artifactId>a</artifactId>`), Version{"5.6.7-SNAPSHOT", "5.6.7"}, "5.6.7-nightly", "5.6.7-nightly-previous"},
		{"own version wins over parent", pom(`<parent><version>1.0.0</version></parent><version>2.0.0-SNAPSHOT</version>`), Version{"2.0.0-SNAPSHOT", "2.0.0"}, "2.0.0-nightly", "2.0.0-nightly-previous"},
		{"CI-friendly revision", pom(`<version>${revision}${changelist}</version><properties><revision>3.0.0</revision><changelist>-SNAPSHOT</changelist></properties>`), Version{"3.0.0-SNAPSHOT", "3.0.0"}, "3.0.0-nightly", "3.0.0-nightly-previous"},
		{"nested property", pom(`<version>${revision}</version><properties><major>7</major><revision>${major}.0.1</revision></properties>`), Version{"7.0.1", "7.0.1"}, "7.0.1-nightly", "7.0.1-nightly-previous"},
		{"no namespace", []byte(`<project><version>1.2.3</version></project>`), Version{"1.2.3", "1.2.3"}, "1.2.3-nightly", "1.2.3-nightly-previous"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.pom, "pom.xml")
			if err != nil {
				t.Fatalf("ParseVersion() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseVersion() = %+v, want %+v", got, tt.want)
			}
			if got.NightlyTag() != tt.nightly || got.PreviousTag() != tt.previous {
				t.Errorf("tags = %q, %q, want %q, %q", got.NightlyTag(), got.PreviousTag(), tt.nightly, tt.previous)
			}
		})
	}
}

func TestParseVersionBadInputs(t *testing.T) {
	tests := []struct {
		name string
		pom  []byte
		// every error must name the file and, where there is one, the bad value
		wantInErr []string
	}{
		{"malformed XML", []byte(`<project><version>1.0.0</versio></project>`), []string{"web/pom.xml", "not valid XML"}},
		{"empty file", []byte(``), []string{"web/pom.xml", "not valid XML"}},
		{"missing version", pom(`<artifactId>a</artifactId>`), []string{"web/pom.xml", "no <version>"}},
		{"undefined property", pom(`<version>${revision}</version>`), []string{"web/pom.xml", `"${revision}"`, "${revision} is not defined"}},
		{"property loop", pom(`<version>${a}</version><properties><a>${b}</a><b>${a}</b></properties>`), []string{"web/pom.xml", "loop"}},
		{"two components", pom(`<version>3.0-SNAPSHOT</version>`), []string{"web/pom.xml", `"3.0-SNAPSHOT"`, "X.Y.Z"}},
		{"four components", pom(`<version>3.0.0.1</version>`), []string{"web/pom.xml", `"3.0.0.1"`}},
		{"leading zero", pom(`<version>03.0.0</version>`), []string{"web/pom.xml", `"03.0.0"`}},
		{"letters", pom(`<version>latest</version>`), []string{"web/pom.xml", `"latest"`}},
		{"tag-unsafe qualifier", pom(`<version>3.0.0-feat/x</version>`), []string{"web/pom.xml", `"3.0.0-feat/x"`}},
		{"trailing dash", pom(`<version>3.0.0-</version>`), []string{"web/pom.xml", `"3.0.0-"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.pom, "web/pom.xml")
			if err == nil {
				t.Fatalf("ParseVersion() = %+v, want an error", got)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ParseVersion() error = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}

// tree is a source tree for ResolveModule: path → content.
type tree map[string]string

func (tr tree) read(p string) ([]byte, bool, error) {
	s, ok := tr[p]
	return []byte(s), ok, nil
}

const ciFriendlyRoot = `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.x</groupId>
  <artifactId>parent</artifactId>
  <version>${revision}${sha1}${changelist}</version>
  <packaging>pom</packaging>
  <properties>
    <revision>3.0.0</revision>
    <sha1/>
    <changelist>-SNAPSHOT</changelist>
  </properties>
</project>`

const ciFriendlyChild = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <parent><groupId>io.x</groupId><artifactId>parent</artifactId><version>${revision}${sha1}${changelist}</version></parent>
  <artifactId>api</artifactId>
</project>`

func TestResolveModule(t *testing.T) {
	tests := []struct {
		name  string
		tree  tree
		dir   string
		args  []string
		want  string
		coord string
	}{
		{"POM properties", tree{"pom.xml": ciFriendlyRoot}, ".", nil, "3.0.0-SNAPSHOT", "io.x:parent"},
		{"maven.config one flag", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-Drevision=3.1.0\n"}, "", nil, "3.1.0-SNAPSHOT", "io.x:parent"},
		{"maven.config several flags a line (Maven 3.8)", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-B -Drevision=3.1.0 -Dchangelist=-rc.1-SNAPSHOT --fail-at-end"}, "", nil, "3.1.0-rc.1-SNAPSHOT", "io.x:parent"},
		{"maven.config one a line, comments, CRLF (Maven 3.9)", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "# versions\r\n-Drevision=3.2.0\r\n\r\n-Dsha1=-abc123\r\n--batch-mode\r\n"}, "", nil, "3.2.0-abc123-SNAPSHOT", "io.x:parent"},
		{"maven.config whole flag quoted", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": `"-Drevision=3.3.0"`}, "", nil, "3.3.0-SNAPSHOT", "io.x:parent"},
		{"maven.config -D name=value", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-D revision=3.4.0\n--define changelist=\n"}, "", nil, "3.4.0", "io.x:parent"},
		{"maven.config --define=", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "--define=revision=3.5.0"}, "", nil, "3.5.0-SNAPSHOT", "io.x:parent"},
		{"later flag wins", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-Drevision=1.0.0 -Drevision=3.6.0"}, "", nil, "3.6.0-SNAPSHOT", "io.x:parent"},
		{"--maven-args override maven.config", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-Drevision=3.1.0"}, "", []string{"-Pci", "-Drevision=4.0.0"}, "4.0.0-SNAPSHOT", "io.x:parent"},
		{"--maven-args -D then the property", tree{"pom.xml": ciFriendlyRoot}, "", []string{"-D", "revision=4.1.0", "-Dchangelist="}, "4.1.0", "io.x:parent"},
		{"--maven-args value refers to a POM property", tree{"pom.xml": strings.Replace(ciFriendlyRoot, "<sha1/>", "<major>5</major><sha1/>", 1)}, "", []string{"-Drevision=${major}.2.0"}, "5.2.0-SNAPSHOT", "io.x:parent"},
		{"child gets revision from the root", tree{"pom.xml": ciFriendlyRoot, "api/pom.xml": ciFriendlyChild}, "api", nil, "3.0.0-SNAPSHOT", "io.x:api"},
		{"child gets revision from maven.config", tree{"pom.xml": ciFriendlyRoot, "api/pom.xml": ciFriendlyChild, ".mvn/maven.config": "-Drevision=3.9.1"}, "api", nil, "3.9.1-SNAPSHOT", "io.x:api"},
		{"child declares its own version", tree{"pom.xml": ciFriendlyRoot, "api/pom.xml": strings.Replace(ciFriendlyChild, "<artifactId>api</artifactId>", "<artifactId>api</artifactId><version>7.1.0-SNAPSHOT</version>", 1)}, "api", nil, "7.1.0-SNAPSHOT", "io.x:api"},
		{"child's own property wins", tree{"pom.xml": ciFriendlyRoot, "api/pom.xml": strings.Replace(ciFriendlyChild, "<artifactId>api</artifactId>", "<artifactId>api</artifactId><properties><changelist>-beta</changelist></properties>", 1)}, "api", nil, "3.0.0-beta", "io.x:api"},
		{"nested module, relativePath", tree{"pom.xml": ciFriendlyRoot, "services/api/pom.xml": strings.Replace(ciFriendlyChild, "</version></parent>", "</version><relativePath>../../pom.xml</relativePath></parent>", 1)}, "services/api", nil, "3.0.0-SNAPSHOT", "io.x:api"},
		{"relativePath to a folder", tree{"pom.xml": ciFriendlyRoot, "services/api/pom.xml": strings.Replace(ciFriendlyChild, "</version></parent>", "</version><relativePath>../..</relativePath></parent>", 1)}, "services/api", nil, "3.0.0-SNAPSHOT", "io.x:api"},
		{"../pom.xml is another project: not the parent", tree{
			"pom.xml":           `<project><groupId>io.x</groupId><artifactId>aggregator</artifactId><version>9.9.9</version><properties><revision>9.9.9</revision></properties></project>`,
			"api/pom.xml":       `<project><parent><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-parent</artifactId><version>3.2.0</version></parent><groupId>io.x</groupId><artifactId>api</artifactId></project>`,
			".mvn/maven.config": ""}, "api", nil, "3.2.0", "io.x:api"},
		{"empty relativePath: parent from a repository", tree{
			"pom.xml":     `<project><groupId>io.x</groupId><artifactId>parent</artifactId><version>1.0.0</version><properties><revision>1.0.0</revision></properties></project>`,
			"api/pom.xml": `<project><parent><groupId>io.x</groupId><artifactId>parent</artifactId><version>2.0.0</version><relativePath/></parent><artifactId>api</artifactId><version>2.1.0</version></project>`}, "api", nil, "2.1.0", "io.x:api"},
		{"Latin-1 POM", tree{"pom.xml": "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<project><!-- Cr\xe9\xe9 par l'\xe9quipe --><name>Gestion \xe0 distance</name><groupId>io.x</groupId><artifactId>a</artifactId><version>2.3.4-SNAPSHOT</version></project>"}, "", nil, "2.3.4-SNAPSHOT", "io.x:a"},
		{"Latin-1 POM, lower-case label", tree{"pom.xml": "<?xml version='1.0' encoding='latin1'?><project><name>\xe9</name><groupId>g</groupId><artifactId>a</artifactId><version>1.0.0</version></project>"}, "", nil, "1.0.0", "g:a"},
		{"windows-1252 POM", tree{"pom.xml": "<?xml version=\"1.0\" encoding=\"windows-1252\"?><project><name>\x80 \x93quoted\x94</name><groupId>g</groupId><artifactId>a</artifactId><version>1.0.0</version></project>"}, "", nil, "1.0.0", "g:a"},
		{"US-ASCII POM", tree{"pom.xml": "<?xml version=\"1.0\" encoding=\"US-ASCII\"?><project><groupId>g</groupId><artifactId>a</artifactId><version>1.0.0</version></project>"}, "", nil, "1.0.0", "g:a"},
		{"UTF-8 byte order mark", tree{"pom.xml": "\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><project><name>\u00e9</name><groupId>g</groupId><artifactId>a</artifactId><version>1.0.0</version></project>"}, "", nil, "1.0.0", "g:a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveModule(tt.tree.read, tt.dir, tt.args)
			if err != nil {
				t.Fatalf("ResolveModule(%q) error = %v", tt.dir, err)
			}
			if got.Version.POM != tt.want || got.Coordinates() != tt.coord {
				t.Errorf("ResolveModule(%q) = %s %s, want %s %s", tt.dir, got.Coordinates(), got.Version.POM, tt.coord, tt.want)
			}
		})
	}
}

func TestResolveModuleBadInputs(t *testing.T) {
	tests := []struct {
		name      string
		tree      tree
		dir       string
		args      []string
		wantInErr []string
	}{
		{"no pom.xml", tree{}, "api", nil, []string{"api/pom.xml", "no such file"}},
		{"undefined property says where to set it", tree{"pom.xml": string(pom(`<version>${revision}</version>`))}, "", nil, []string{"pom.xml", "${revision} is not defined", ".mvn/maven.config", "--maven-args"}},
		{"child: undefined in the whole chain", tree{"pom.xml": string(pom(`<groupId>io.x</groupId><artifactId>parent</artifactId><version>${revision}</version>`)), "api/pom.xml": ciFriendlyChild}, "api", nil, []string{"api/pom.xml", "${revision} is not defined"}},
		{"quoted value in maven.config", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": `-Drevision="3.1.0"`}, "", nil, []string{`"\"3.1.0\"-SNAPSHOT"`, `revision="\"3.1.0\"" from .mvn/maven.config`, "Maven keeps quotes"}},
		{"single-quoted value in --maven-args", tree{"pom.xml": ciFriendlyRoot}, "", []string{"-Drevision='3.1.0'"}, []string{`from --maven-args`, "Maven keeps quotes"}},
		{"-D without a value is true", tree{"pom.xml": ciFriendlyRoot}, "", []string{"-Drevision"}, []string{`"true-SNAPSHOT"`, "X.Y.Z"}},
		{"-D at the end", tree{"pom.xml": ciFriendlyRoot}, "", []string{"-D"}, []string{"--maven-args", "-D without a property"}},
		{"-D with no name in maven.config", tree{"pom.xml": ciFriendlyRoot, ".mvn/maven.config": "-D=1"}, "", nil, []string{".mvn/maven.config", `"-D=1" defines no property`}},
		{"unsupported encoding", tree{"pom.xml": `<?xml version="1.0" encoding="Shift_JIS"?><project><version>1.0.0</version></project>`}, "", nil, []string{"pom.xml", `encoding "Shift_JIS"`, "save it as UTF-8"}},
		{"UTF-16", tree{"pom.xml": "\xFF\xFE<\x00p\x00"}, "", nil, []string{"pom.xml", "UTF-16"}},
		{"not a POM", tree{"pom.xml": `<settings><version>1.0.0</version></settings>`}, "", nil, []string{"pom.xml", "not valid XML", "project"}},
		{"loop", tree{"pom.xml": string(pom(`<version>${a}</version><properties><a>x${b}</a><b>${a}</b></properties>`))}, "", nil, []string{"loop", "a → b → a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveModule(tt.tree.read, tt.dir, tt.args)
			if err == nil {
				t.Fatalf("ResolveModule() = %+v, want an error", got)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("ResolveModule() error = %q, want it to contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "not valid XML") && strings.Contains(err.Error(), "encoding") {
				t.Errorf("an encoding problem reported as invalid XML: %v", err)
			}
		})
	}
}

func TestCharsetReader(t *testing.T) {
	tests := []struct{ label, in, want string }{
		{"ISO-8859-1", "caf\xe9 \xa9", "café ©"},
		{"latin1", "\xff", "ÿ"},
		{"windows-1252", "\x80\x85\x93x\x94\x9f", "€…“x”Ÿ"},
		{"CP1252", "\x81", "\u0081"},
		{"US-ASCII", "abc\xe9", "abc\uFFFD"},
		{"utf8", "é", "é"},
	}
	for _, tt := range tests {
		r, err := CharsetReader(tt.label, strings.NewReader(tt.in))
		if err != nil {
			t.Fatalf("CharsetReader(%q) error = %v", tt.label, err)
		}
		b, err := io.ReadAll(r)
		if err != nil || string(b) != tt.want {
			t.Errorf("CharsetReader(%q) read %q, %v, want %q", tt.label, b, err, tt.want)
		}
	}
	if _, err := CharsetReader("EBCDIC-US", strings.NewReader("")); !errors.Is(err, ErrUnsupportedEncoding) {
		t.Errorf("CharsetReader(EBCDIC-US) error = %v, want ErrUnsupportedEncoding", err)
	}
}

func TestMavenConfigArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"-B -Drevision=1.0.0\n-T 1C\n", []string{"-B", "-Drevision=1.0.0", "-T", "1C"}},
		{"# comment -Dx=1\n  -Dy=2  \r\n", []string{"-Dy=2"}},
		{`"-Dlabel=a b" "-Dz=1"`, []string{"-Dlabel=a b", "-Dz=1"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := MavenConfigArgs(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MavenConfigArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOwningModule(t *testing.T) {
	tr := tree{"pom.xml": "", "services/pom.xml": "", "services/management-api/pom.xml": "", "webui/pom.xml": ""}
	tests := []struct{ ship, want string }{
		{"services/management-api/target/*.jar", "services/management-api"},
		{"services/management-api/target/management-api.jar", "services/management-api"},
		{"services/*/target/*.jar", "services"},
		{"webui/target/classes/webui", "webui"},
		{"target/app.jar", "."},
		{"/webui/target/x", "webui"},
	}
	for _, tt := range tests {
		got, err := OwningModule(tr.read, tt.ship)
		if err != nil || got != tt.want {
			t.Errorf("OwningModule(%q) = %q, %v, want %q", tt.ship, got, err, tt.want)
		}
	}
	if _, err := OwningModule(tree{}.read, "api/target/a.jar"); err == nil || !strings.Contains(err.Error(), `"api/target/a.jar": no pom.xml`) {
		t.Errorf("OwningModule(no POM) error = %v", err)
	}
}

// A Maven 3.8.7 `mvn clean package` log of the fixture (abridged), and the header Maven 3.9 prints.
const packageLog = `[INFO] Scanning for projects...
[INFO] ------------------------------------------------------------------------
[INFO] Reactor Build Order:
[INFO] 
[INFO] Fixture product (parent)                                           [pom]
[INFO] Fixture management API                                             [jar]
[INFO] 
[INFO] -----------------< io.nightly.fixture:cockpit-parent >------------------
[INFO] Building Fixture product (parent) 3.0.0-SNAPSHOT                   [1/3]
[INFO] --------------------------------[ pom ]---------------------------------
[INFO] 
[INFO] -------------< io.nightly.fixture:cockpit-management-api >--------------
[INFO] Building Fixture management API 3.0.0-SNAPSHOT                     [2/3]
[INFO] --------------------------------[ jar ]---------------------------------
[INFO] --- maven-jar-plugin:3.3.0:jar (default-jar) @ cockpit-management-api ---
[INFO] Building jar: /src/management-api/target/cockpit-management-api-3.0.0-SNAPSHOT.jar
[INFO] ------------------< io.nightly.fixture:cockpit-webui >------------------
[INFO] Building cockpit-webui 3.1.0-rc.1-SNAPSHOT                           [3/3]
[INFO]   from webui/pom.xml
[INFO] --------------------------------[ jar ]---------------------------------
[INFO] ----------------------------< g:single >----------------------------
[INFO] Building single 1.0.0
[INFO] --------------------------------[ jar ]---------------------------------
`

func TestBuiltVersions(t *testing.T) {
	want := map[string]string{
		"io.nightly.fixture:cockpit-parent":         "3.0.0-SNAPSHOT",
		"io.nightly.fixture:cockpit-management-api": "3.0.0-SNAPSHOT",
		"io.nightly.fixture:cockpit-webui":          "3.1.0-rc.1-SNAPSHOT",
		"g:single":                                  "1.0.0",
	}
	if got := BuiltVersions(packageLog); !reflect.DeepEqual(got, want) {
		t.Errorf("BuiltVersions() = %v, want %v", got, want)
	}
}

func TestCheckBuiltVersion(t *testing.T) {
	api := MavenModule{Dir: "management-api", POM: "management-api/pom.xml", GroupID: "io.nightly.fixture", ArtifactID: "cockpit-management-api",
		Version: Version{"3.0.0-SNAPSHOT", "3.0.0"}}
	archiver := "#Created by Apache Maven 3.8.7\nartifactId=cockpit-management-api\ngroupId=io.nightly.fixture\nversion=3.0.0-SNAPSHOT\n"
	tests := []struct {
		name      string
		module    MavenModule
		evidence  BuildEvidence
		wantInErr []string
	}{
		{"both agree", api, BuildEvidence{archiver, packageLog}, nil},
		{"archiver only", api, BuildEvidence{archiver, ""}, nil},
		{"log only", api, BuildEvidence{"", packageLog}, nil},
		{"archiver disagrees", api, BuildEvidence{strings.Replace(archiver, "3.0.0-SNAPSHOT", "3.0.1-SNAPSHOT", 1), packageLog},
			[]string{"management-api", "Maven built version 3.0.1-SNAPSHOT (management-api/target/maven-archiver/pom.properties)", "resolved 3.0.0-SNAPSHOT"}},
		{"log disagrees", MavenModule{Dir: "webui", POM: "webui/pom.xml", GroupID: "io.nightly.fixture", ArtifactID: "cockpit-webui", Version: Version{"3.0.0-SNAPSHOT", "3.0.0"}},
			BuildEvidence{"", packageLog}, []string{"webui", "Maven built version 3.1.0-rc.1-SNAPSHOT (the mvn package log)", "resolved 3.0.0-SNAPSHOT"}},
		{"no evidence", api, BuildEvidence{"", "[INFO] BUILD SUCCESS"}, []string{"management-api", "cannot check", "io.nightly.fixture:cockpit-management-api"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBuiltVersion(tt.module, tt.evidence)
			if len(tt.wantInErr) == 0 {
				if err != nil {
					t.Fatalf("CheckBuiltVersion() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckBuiltVersion() = nil, want an error")
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("CheckBuiltVersion() = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}

// fixtureTree reads fixtures/<base> with overlays laid over it, as the e2e tests copy them.
func fixtureTree(t *testing.T, layers ...string) ReadFile {
	t.Helper()
	return func(p string) ([]byte, bool, error) {
		for i := len(layers) - 1; i >= 0; i-- {
			b, err := os.ReadFile(filepath.Join("..", "..", "fixtures", layers[i], filepath.FromSlash(p)))
			if err == nil {
				return b, true, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, false, err
			}
		}
		return nil, false, nil
	}
}

// The versions Maven 3.8.7 (the test bed's Maven image) printed building each fixture with
// `mvn clean package`, and what it packaged where: the resolver must agree.
func TestResolveModuleAgreesWithMavenOnTheFixtures(t *testing.T) {
	tests := []struct {
		layers []string
		ship   string
		args   []string
		module string
		want   string
	}{
		{[]string{"product"}, "management-api/target/*.jar", nil, "management-api", "3.0.0-SNAPSHOT"},
		{[]string{"product"}, "webui/target/classes/webui", nil, "webui", "3.0.0-SNAPSHOT"},
		{[]string{"product", "ci-friendly"}, "management-api/target/*.jar", nil, "management-api", "3.1.0-SNAPSHOT"},
		{[]string{"product", "ci-friendly"}, "webui/target/classes/webui", []string{"-Drevision=3.2.0", "-Dsha1=-abc"}, "webui", "3.2.0-abc-SNAPSHOT"},
		{[]string{"product", "latin1-pom"}, "management-api/target/*.jar", nil, "management-api", "3.0.0-SNAPSHOT"},
		{[]string{"nested-layout"}, "services/management-api/target/management-api.jar", nil, "services/management-api", "3.0.0-SNAPSHOT"},
		{[]string{"nested-layout"}, "services/webui/target/classes/webui", nil, "services/webui", "3.0.0-SNAPSHOT"},
		{[]string{"nested-layout"}, "services/target/x.jar", nil, "services", "0.9.0-SNAPSHOT"},
	}
	for _, tt := range tests {
		read := fixtureTree(t, tt.layers...)
		dir, err := OwningModule(read, tt.ship)
		if err != nil || dir != tt.module {
			t.Errorf("%v: OwningModule(%q) = %q, %v, want %q", tt.layers, tt.ship, dir, err, tt.module)
			continue
		}
		m, err := ResolveModule(read, dir, tt.args)
		if err != nil || m.Version.POM != tt.want {
			t.Errorf("%v: ResolveModule(%q, %q) = %q, %v, want %q", tt.layers, dir, tt.args, m.Version.POM, err, tt.want)
		}
	}
}
