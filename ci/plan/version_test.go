package plan

import (
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
