package plan

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// Version is the product version read from a POM, and the image tags the nightly derives from it.
type Version struct {
	// POM is the version as the POM declares it once properties are resolved, e.g. 3.0.0-SNAPSHOT.
	POM string
	// Base is X.Y.Z: the POM version without its qualifier, e.g. 3.0.0.
	Base string
}

// NightlyTag is the tag the nightly pushes, e.g. 3.0.0-nightly.
func (v Version) NightlyTag() string { return nightlyTag(v.Base) }

// PreviousTag is where the nightly before this one is kept, e.g. 3.0.0-nightly-previous.
func (v Version) PreviousTag() string { return previousTag(v.Base) }

func nightlyTag(base string) string  { return base + "-nightly" }
func previousTag(base string) string { return base + "-nightly-previous" }

type pomProject struct {
	Version string `xml:"version"`
	Parent  struct {
		Version string `xml:"version"`
	} `xml:"parent"`
	Properties struct {
		Entries []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"properties"`
}

var (
	// X.Y.Z, no leading zeros, then an optional qualifier: after '-' (3.0.0-rc.1-SNAPSHOT) or after
	// '.' when it starts with a letter (2.10.0.Final). 3.0.0.1 is refused: its nightly tag would be
	// 3.0.0-nightly, the same as 3.0.0's.
	baseVersionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z][0-9A-Za-z.-]*|\.[A-Za-z][0-9A-Za-z.-]*)?$`)
	propertyRE    = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// ParseVersion reads the product version from the content of a POM. file names the POM in errors.
// The version is the project's own, else its parent's (Maven inherits it); ${…} properties are
// resolved from the POM's <properties> (Maven's CI-friendly ${revision}, ${sha1}, ${changelist}).
func ParseVersion(pom []byte, file string) (Version, error) {
	var p pomProject
	if err := xml.Unmarshal(pom, &p); err != nil {
		return Version{}, fmt.Errorf("reading POM %s: not valid XML: %w", file, err)
	}
	raw := strings.TrimSpace(p.Version)
	if raw == "" {
		raw = strings.TrimSpace(p.Parent.Version)
	}
	if raw == "" {
		return Version{}, fmt.Errorf("reading POM %s: no <version> in <project> or <parent>", file)
	}
	props := map[string]string{}
	for _, e := range p.Properties.Entries {
		props[e.XMLName.Local] = strings.TrimSpace(e.Value)
	}
	resolved, err := resolveProperties(raw, props)
	if err != nil {
		return Version{}, fmt.Errorf("reading POM %s: version %q: %w", file, raw, err)
	}
	base, err := baseVersion(resolved)
	if err != nil {
		return Version{}, fmt.Errorf("reading POM %s: version %q: %w", file, resolved, err)
	}
	return Version{POM: resolved, Base: base}, nil
}

// resolveProperties expands ${name} from props, including properties that refer to others.
func resolveProperties(s string, props map[string]string) (string, error) {
	for range 10 {
		m := propertyRE.FindStringSubmatch(s)
		if m == nil {
			return s, nil
		}
		v, ok := props[m[1]]
		if !ok {
			return "", fmt.Errorf("property ${%s} is not defined in <properties> (set it in the POM; -D flags are not read here)", m[1])
		}
		s = strings.Replace(s, m[0], v, 1)
	}
	return "", fmt.Errorf("properties refer to each other in a loop")
}

// baseVersion is X.Y.Z of a Maven version: 3.0.0-SNAPSHOT, 3.0.0, 3.0.0-rc.1-SNAPSHOT → 3.0.0.
func baseVersion(v string) (string, error) {
	m := baseVersionRE.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("not of the form X.Y.Z[-qualifier] (image tags are X.Y.Z-nightly)")
	}
	return m[1] + "." + m[2] + "." + m[3], nil
}
