package plan

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Version is the product version read from a POM, and the image tags the nightly derives from it.
type Version struct {
	// POM is the version as Maven resolves it (properties expanded), e.g. 3.0.0-SNAPSHOT.
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

// ReadFile returns a file of the product's source tree by its slash path from the source root;
// ok is false when there is no such file.
type ReadFile func(path string) (content []byte, ok bool, err error)

// MavenConfigPath is where Maven reads extra command-line arguments, relative to the project root.
const MavenConfigPath = ".mvn/maven.config"

// MavenModule is one Maven module, its coordinates resolved as Maven resolves them.
type MavenModule struct {
	// Dir is the module's folder relative to the source root ("." for the root).
	Dir string
	// POM is the path of its pom.xml.
	POM                 string
	GroupID, ArtifactID string
	Version             Version
}

// Coordinates is groupId:artifactId, as Maven's build log names the module.
func (m MavenModule) Coordinates() string { return m.GroupID + ":" + m.ArtifactID }

type pomParent struct {
	GroupID    string  `xml:"groupId"`
	ArtifactID string  `xml:"artifactId"`
	Version    string  `xml:"version"`
	Path       *string `xml:"relativePath"`
}

type pomProject struct {
	XMLName    xml.Name   `xml:"project"`
	GroupID    string     `xml:"groupId"`
	ArtifactID string     `xml:"artifactId"`
	Version    string     `xml:"version"`
	Parent     *pomParent `xml:"parent"`
	Properties struct {
		Entries []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	} `xml:"properties"`
}

// pomFile is one POM file of a module's parent chain.
type pomFile struct {
	file    string
	project pomProject
	props   map[string]string
}

func (p *pomFile) groupID() string {
	if g := strings.TrimSpace(p.project.GroupID); g != "" || p.project.Parent == nil {
		return g
	}
	return strings.TrimSpace(p.project.Parent.GroupID)
}

// rawVersion is the version as written: the project's own, else its parent's (Maven inherits it).
func (p *pomFile) rawVersion() string {
	if v := strings.TrimSpace(p.project.Version); v != "" || p.project.Parent == nil {
		return v
	}
	return strings.TrimSpace(p.project.Parent.Version)
}

var (
	// X.Y.Z, no leading zeros, then an optional qualifier: after '-' (3.0.0-rc.1-SNAPSHOT) or after
	// '.' when it starts with a letter (2.10.0.Final). 3.0.0.1 is refused: its nightly tag would be
	// 3.0.0-nightly, the same as 3.0.0's.
	baseVersionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-[0-9A-Za-z][0-9A-Za-z.-]*|\.[A-Za-z][0-9A-Za-z.-]*)?$`)
	propertyRE    = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// ParseVersion reads the version of a single POM, with no parent POM, .mvn/maven.config or -D
// flags (ResolveModule reads all of them). file names the POM in errors.
func ParseVersion(content []byte, file string) (Version, error) {
	dir := path.Dir(file)
	m, err := ResolveModule(func(p string) ([]byte, bool, error) {
		if p == file {
			return content, true, nil
		}
		return nil, false, nil
	}, dir, nil)
	return m.Version, err
}

// ResolveModule reads the module whose pom.xml is in dir (relative to the source root, "" or "."
// for the root) and resolves its groupId, artifactId and version as Maven does:
//   - the version is the module's own <version>, else its <parent>'s;
//   - ${…} expressions are expanded from, strongest first: -D flags in mavenArgs, -D flags in
//     .mvn/maven.config, the module's <properties>, then those of its parents (read through
//     <relativePath>, default ../pom.xml, when that POM is the declared parent). This is how
//     CI-friendly versions (${revision}${sha1}${changelist}) resolve, in a child module too.
//
// Profiles and settings.xml are not read: the version Maven really built is checked after the
// build (CheckBuiltVersion).
func ResolveModule(read ReadFile, dir string, mavenArgs []string) (MavenModule, error) {
	dir = cleanDir(dir)
	user, err := userProperties(read, mavenArgs)
	if err != nil {
		return MavenModule{}, err
	}
	chain, err := pomChain(read, path.Join(dir, "pom.xml"))
	if err != nil {
		return MavenModule{}, err
	}
	module := chain[0]
	props := map[string]prop{}
	for i := len(chain) - 1; i >= 0; i-- { // the farthest parent first: children override
		for k, v := range chain[i].props {
			props[k] = prop{v, chain[i].file}
		}
	}
	for k, v := range user {
		props[k] = v
	}
	out := MavenModule{Dir: dir, POM: module.file}
	raw := module.rawVersion()
	if raw == "" {
		return out, fmt.Errorf("reading POM %s: no <version> in <project> or <parent>", module.file)
	}
	resolved, used, err := resolveProperties(raw, props)
	if err != nil {
		return out, fmt.Errorf("reading POM %s: version %q: %w", module.file, raw, err)
	}
	base, err := baseVersion(resolved)
	if err != nil {
		return out, fmt.Errorf("reading POM %s: version %q%s: %w", module.file, resolved, describeOrigins(raw, used), err)
	}
	out.Version = Version{POM: resolved, Base: base}
	for _, c := range []struct {
		dst  *string
		raw  string
		name string
	}{{&out.GroupID, module.groupID(), "groupId"}, {&out.ArtifactID, strings.TrimSpace(module.project.ArtifactID), "artifactId"}} {
		if *c.dst, _, err = resolveProperties(c.raw, props); err != nil {
			return out, fmt.Errorf("reading POM %s: %s %q: %w", module.file, c.name, c.raw, err)
		}
	}
	return out, nil
}

// describeOrigins says where the properties of a version came from, for errors.
func describeOrigins(raw string, used []usedProp) string {
	if len(used) == 0 {
		return ""
	}
	parts := make([]string, len(used))
	for i, u := range used {
		parts[i] = fmt.Sprintf("%s=%q from %s", u.name, u.value, u.from)
	}
	return fmt.Sprintf(" (%s with %s)", raw, strings.Join(parts, ", "))
}

func cleanDir(dir string) string {
	dir = path.Clean(strings.TrimPrefix(dir, "/"))
	if dir == "" {
		return "."
	}
	return dir
}

// pomChain reads a POM and the local parents Maven would use, the module first.
func pomChain(read ReadFile, file string) ([]*pomFile, error) {
	var chain []*pomFile
	seen := map[string]bool{}
	for {
		content, ok, err := read(file)
		if err != nil {
			return nil, fmt.Errorf("reading POM %s: %w", file, err)
		}
		if !ok {
			if len(chain) == 0 {
				return nil, fmt.Errorf("reading POM %s: no such file in the source", file)
			}
			return chain, nil
		}
		p, err := parsePOM(content, file)
		if err != nil {
			return nil, err
		}
		if len(chain) > 0 && !isDeclaredParent(chain[len(chain)-1].project.Parent, p) {
			// Maven warns and resolves the parent from a repository: nothing of this POM applies.
			return chain, nil
		}
		chain = append(chain, p)
		seen[file] = true
		parent := p.project.Parent
		if parent == nil || (parent.Path != nil && strings.TrimSpace(*parent.Path) == "") {
			return chain, nil // no parent, or <relativePath/>: the parent comes from a repository
		}
		rel := "../pom.xml"
		if parent.Path != nil {
			rel = strings.TrimSpace(*parent.Path)
		}
		if !strings.HasSuffix(rel, ".xml") {
			rel = path.Join(rel, "pom.xml") // a folder
		}
		next := path.Join(path.Dir(file), rel)
		if next == ".." || strings.HasPrefix(next, "../") || path.IsAbs(rel) || seen[next] {
			return chain, nil // outside the source tree: Maven would find it elsewhere
		}
		file = next
	}
}

// isDeclaredParent says whether p is the parent a child declared (Maven compares groupId and
// artifactId; a mismatch means the parent comes from a repository).
func isDeclaredParent(decl *pomParent, p *pomFile) bool {
	return decl != nil && strings.TrimSpace(decl.GroupID) == p.groupID() &&
		strings.TrimSpace(decl.ArtifactID) == strings.TrimSpace(p.project.ArtifactID)
}

// ErrUnsupportedEncoding is returned for a POM in an encoding nightly does not decode.
var ErrUnsupportedEncoding = errors.New("unsupported encoding")

// UnsupportedEncodingError names the encoding a POM declared that nightly cannot read.
type UnsupportedEncodingError struct{ Label string }

func (e *UnsupportedEncodingError) Error() string {
	return fmt.Sprintf("declares encoding %q, which nightly cannot read: it reads POMs in %s; save it as UTF-8", e.Label, readableEncodings)
}

func (e *UnsupportedEncodingError) Is(target error) bool { return target == ErrUnsupportedEncoding }

func parsePOM(content []byte, file string) (*pomFile, error) {
	if bytes.HasPrefix(content, []byte{0xFE, 0xFF}) || bytes.HasPrefix(content, []byte{0xFF, 0xFE}) {
		return nil, fmt.Errorf("reading POM %s: it is UTF-16; nightly reads POMs in %s: save it as UTF-8", file, readableEncodings)
	}
	dec := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(content, []byte("\xEF\xBB\xBF"))))
	dec.CharsetReader = CharsetReader
	p := &pomFile{file: file, props: map[string]string{}}
	if err := dec.Decode(&p.project); err != nil {
		if ue := (*UnsupportedEncodingError)(nil); errors.As(err, &ue) {
			return nil, fmt.Errorf("reading POM %s: %w", file, ue)
		}
		return nil, fmt.Errorf("reading POM %s: not valid XML: %w", file, err)
	}
	for _, e := range p.project.Properties.Entries {
		p.props[e.XMLName.Local] = strings.TrimSpace(e.Value)
	}
	return p, nil
}

const readableEncodings = "UTF-8, ISO-8859-1 (Latin-1), windows-1252 and US-ASCII"

// CharsetReader decodes the encodings older POMs declare besides UTF-8 (encoding/xml reads only
// UTF-8): ISO-8859-1, windows-1252 and US-ASCII. Any other is ErrUnsupportedEncoding.
func CharsetReader(label string, input io.Reader) (io.Reader, error) {
	var table *[256]rune
	switch strings.ToLower(strings.TrimSpace(label)) {
	case "utf-8", "utf8":
		return input, nil
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1",
		"iso-ir-100", "cp819", "ibm819", "csisolatin1", "8859_1", "iso8859_1":
		table = &latin1
	case "windows-1252", "cp1252", "x-cp1252", "cp-1252":
		table = &windows1252
	case "us-ascii", "ascii", "iso646-us", "ansi_x3.4-1968", "us", "csascii":
		table = &usASCII
	default:
		return nil, &UnsupportedEncodingError{label}
	}
	return &byteDecoder{in: bufio.NewReader(input), table: table}, nil
}

// byteDecoder turns a single-byte encoding into UTF-8 through a table.
type byteDecoder struct {
	in      *bufio.Reader
	table   *[256]rune
	pending []byte
}

func (d *byteDecoder) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(d.pending) > 0 {
			c := copy(p[n:], d.pending)
			d.pending = d.pending[c:]
			n += c
			continue
		}
		b, err := d.in.ReadByte()
		if err != nil {
			if n > 0 && err == io.EOF {
				return n, nil
			}
			return n, err
		}
		r := d.table[b]
		if r < utf8.RuneSelf {
			p[n] = byte(r)
			n++
			continue
		}
		d.pending = utf8.AppendRune(nil, r)
	}
	return n, nil
}

var latin1, windows1252, usASCII [256]rune

func init() {
	for i := range 256 {
		latin1[i] = rune(i)
		windows1252[i] = rune(i)
		usASCII[i] = rune(i)
		if i >= 0x80 {
			usASCII[i] = utf8.RuneError // as Java's US-ASCII decoder does
		}
	}
	// windows-1252 differs from ISO-8859-1 in 0x80-0x9F; its five undefined bytes map to the C1
	// controls, as in the WHATWG encoding standard.
	for i, r := range []rune{
		0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
		0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
	} {
		windows1252[0x80+i] = r
	}
}

// prop is a property value and where it was set (a POM, .mvn/maven.config or --maven-args).
type prop struct{ value, from string }

type usedProp struct{ name, value, from string }

// resolveProperties expands ${name} from props, including properties that refer to others, as
// Maven's interpolation does; an undefined property is an error (Maven would keep "${name}").
func resolveProperties(s string, props map[string]prop) (string, []usedProp, error) {
	var used []usedProp
	var expand func(s string, stack []string) (string, error)
	expand = func(s string, stack []string) (string, error) {
		var firstErr error
		out := propertyRE.ReplaceAllStringFunc(s, func(ref string) string {
			if firstErr != nil {
				return ref
			}
			name := ref[2 : len(ref)-1]
			for _, n := range stack {
				if n == name {
					firstErr = fmt.Errorf("properties refer to each other in a loop (%s → %s)", strings.Join(stack, " → "), name)
					return ref
				}
			}
			p, ok := props[name]
			if !ok {
				firstErr = fmt.Errorf("property ${%s} is not defined: set it in <properties> of the POM or a parent POM, in %s (-D%s=…) or in --maven-args", name, MavenConfigPath, name)
				return ref
			}
			v, err := expand(p.value, append(stack, name))
			if err != nil {
				firstErr = err
				return ref
			}
			if len(stack) == 0 {
				used = append(used, usedProp{name, v, p.from})
			}
			return v
		})
		return out, firstErr
	}
	out, err := expand(s, nil)
	return out, used, err
}

// baseVersion is X.Y.Z of a Maven version: 3.0.0-SNAPSHOT, 3.0.0, 3.0.0-rc.1-SNAPSHOT → 3.0.0.
func baseVersion(v string) (string, error) {
	m := baseVersionRE.FindStringSubmatch(v)
	if m == nil {
		msg := "not of the form X.Y.Z[-qualifier] (image tags are X.Y.Z-nightly)"
		if strings.ContainsAny(v, `"'`) {
			msg += `; Maven keeps quotes that no shell removed (in .mvn/maven.config or --maven-args write -Dname=value, unquoted)`
		}
		return "", errors.New(msg)
	}
	return m[1] + "." + m[2] + "." + m[3], nil
}

// userProperties are the -D properties Maven gets from .mvn/maven.config and then from the
// command line (mavenArgs), the command line winning, as in Maven's CLI.
func userProperties(read ReadFile, mavenArgs []string) (map[string]prop, error) {
	out := map[string]prop{}
	content, ok, err := read(MavenConfigPath)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", MavenConfigPath, err)
	}
	if ok {
		defs, err := DefinedProperties(MavenConfigArgs(string(content)))
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", MavenConfigPath, err)
		}
		for _, d := range defs {
			out[d[0]] = prop{d[1], MavenConfigPath}
		}
	}
	defs, err := DefinedProperties(cleanArgs(mavenArgs))
	if err != nil {
		return nil, fmt.Errorf("--maven-args: %w", err)
	}
	for _, d := range defs {
		out[d[0]] = prop{d[1], "--maven-args"}
	}
	return out, nil
}

// MavenConfigArgs splits .mvn/maven.config into arguments. Maven 3.9 takes each line as one
// argument (and skips lines starting with #); Maven 3.8 split the file on whitespace. Both agree
// on every file that works with both, and a version has no spaces, so lines are split on
// whitespace (several flags a line keep working) and # lines are comments.
func MavenConfigArgs(content string) []string {
	var args []string
	for _, line := range strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		args = append(args, strings.Fields(line)...)
	}
	return cleanArgs(args)
}

// cleanArgs joins arguments a quote spans and removes the quotes, as Maven's CleanArgument does
// for "-Dname=value" (no shell removes them in .mvn/maven.config).
func cleanArgs(args []string) []string {
	var out []string
	var cur *strings.Builder
	for _, a := range args {
		switch {
		case cur == nil && len(a) >= 2 && strings.HasPrefix(a, `"`) && strings.HasSuffix(a, `"`):
			out = append(out, a[1:len(a)-1])
		case cur == nil && strings.HasPrefix(a, `"`):
			cur = &strings.Builder{}
			cur.WriteString(a[1:])
		case cur != nil && strings.HasSuffix(a, `"`):
			cur.WriteString(" " + strings.TrimSuffix(a, `"`))
			out = append(out, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(" " + a)
		default:
			out = append(out, a)
		}
	}
	if cur != nil {
		out = append(out, cur.String())
	}
	return out
}

// DefinedProperties lists the user properties that -D flags in args define, in order, as
// [name, value] pairs: -Dname=value, -D name=value, --define name=value, --define=name=value;
// -Dname alone is "true", as in Maven.
func DefinedProperties(args []string) ([][2]string, error) {
	var out [][2]string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var def string
		switch {
		case a == "-D" || a == "--define":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s without a property (write -Dname=value)", a)
			}
			i++
			def = args[i]
		case strings.HasPrefix(a, "--define="):
			def = strings.TrimPrefix(a, "--define=")
		case strings.HasPrefix(a, "-D"):
			def = strings.TrimPrefix(a, "-D")
		default:
			continue
		}
		name, value, ok := strings.Cut(def, "=")
		name = strings.TrimSpace(name)
		if name == "" {
			return nil, fmt.Errorf("%q defines no property name", a)
		}
		if !ok {
			value = "true"
		}
		out = append(out, [2]string{name, value})
	}
	return out, nil
}

// OwningModule is the folder of the Maven module that builds path (a file or folder the build
// produces, possibly a glob): the nearest folder at or above it that holds a pom.xml, as Maven's
// layout puts a module's target/ next to its pom.xml. "." is the root module.
func OwningModule(read ReadFile, p string) (string, error) {
	dir := staticPrefix(p)
	for {
		pomPath := path.Join(dir, "pom.xml")
		_, ok, err := read(pomPath)
		if err != nil {
			return "", fmt.Errorf("looking for the Maven module of %q: %w", p, err)
		}
		if ok {
			return dir, nil
		}
		if dir == "." {
			return "", fmt.Errorf("%q: no pom.xml in any folder above it; it must be under a Maven module of the source", p)
		}
		dir = path.Dir(dir)
	}
}

// staticPrefix is the part of a path before its first glob element.
func staticPrefix(p string) string {
	var keep []string
	for _, el := range strings.Split(path.Clean(strings.TrimPrefix(p, "/")), "/") {
		if strings.ContainsAny(el, "*?[") {
			break
		}
		keep = append(keep, el)
	}
	return cleanDir(strings.Join(keep, "/"))
}

var (
	moduleHeaderRE = regexp.MustCompile(`^\[INFO\] -*< (\S+:\S+) >-*\s*$`)
	buildingRE     = regexp.MustCompile(`^\[INFO\] Building (.+?)(?:\s+\[\d+/\d+\])?\s*$`)
)

// BuiltVersions reads, from the log of a Maven build, the version Maven built each module at:
// the "Building <name> <version>" line under each "< groupId:artifactId >" header. Keys are
// groupId:artifactId.
func BuiltVersions(log string) map[string]string {
	out := map[string]string{}
	current := ""
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if m := moduleHeaderRE.FindStringSubmatch(line); m != nil {
			current = m[1]
			continue
		}
		if current == "" {
			continue
		}
		if m := buildingRE.FindStringSubmatch(line); m != nil {
			fields := strings.Fields(m[1])
			out[current] = fields[len(fields)-1]
			current = ""
		}
	}
	return out
}

// PomProperties reads a Java properties file such as the target/maven-archiver/pom.properties
// that the jar, war and ear plugins write (groupId, artifactId and version of what they packaged).
func PomProperties(content string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		out[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return out
}

// BuildEvidence is what a build says it produced for one module.
type BuildEvidence struct {
	// Archiver is the content of the module's target/maven-archiver/pom.properties ("" if none).
	Archiver string
	// Log is the build's log.
	Log string
}

// CheckBuiltVersion compares the version resolved for a module with the one Maven built it at:
// what maven-archiver recorded in the packaged artifact, and what the build log announced. A
// disagreement (a profile, settings.xml or Maven-version difference nightly did not model) or no
// evidence at all is an error naming the module and both versions.
func CheckBuiltVersion(m MavenModule, e BuildEvidence) error {
	type seen struct{ version, where string }
	var evidence []seen
	if e.Archiver != "" {
		if v := PomProperties(e.Archiver)["version"]; v != "" {
			evidence = append(evidence, seen{v, path.Join(m.Dir, "target/maven-archiver/pom.properties")})
		}
	}
	if v, ok := BuiltVersions(e.Log)[m.Coordinates()]; ok {
		evidence = append(evidence, seen{v, "the mvn package log"})
	}
	if len(evidence) == 0 {
		return fmt.Errorf("Maven module %s (%s): cannot check the version Maven built: no target/maven-archiver/pom.properties and no \"Building … <version>\" line for %s in the mvn package log (is -q among the Maven arguments?)",
			m.Dir, m.POM, m.Coordinates())
	}
	for _, s := range evidence {
		if s.version != m.Version.POM {
			return fmt.Errorf("Maven module %s (%s): Maven built version %s (%s) but nightly resolved %s from the POMs, .mvn/maven.config and --maven-args; images are not tagged with a version Maven did not build (a profile or settings.xml setting the version? set it with -D in --maven-args or .mvn/maven.config)",
				m.Dir, m.Coordinates(), s.version, s.where, m.Version.POM)
		}
	}
	return nil
}
