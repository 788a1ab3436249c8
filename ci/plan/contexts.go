package plan

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// baseImageArg is the build argument a versioned Dockerfile takes its base image from.
const baseImageArg = "BASE_IMAGE"

var (
	imageRefRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)
	// BuildKit's parser directives: "# key=value" lines at the very top of the file.
	directiveRE = regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`)
	heredocRE   = regexp.MustCompile(`<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`)
	usesBaseRE  = regexp.MustCompile(`\$(\{` + baseImageArg + `([:}]|$)|` + baseImageArg + `(\W|$))`)
)

// PrepareDockerfile sets the default of BASE_IMAGE in the Dockerfile's global ARG instructions
// (those before the first FROM, the only ones a FROM line can use) to baseImage, so the prepared
// context builds (and is linted) with the base image the pipeline was given. It reads the file
// as BuildKit does: instruction names in any case, line continuations (with the escape
// character of an `# escape=` directive), comment lines inside them, several name[=value] pairs
// an ARG, quoted values. Everything else is kept byte for byte. A Dockerfile with no global
// ARG BASE_IMAGE pins its own base and is returned unchanged, unless a FROM uses ${BASE_IMAGE};
// a declaration it cannot rewrite safely is an error naming the line. An empty baseImage
// changes nothing.
func PrepareDockerfile(dockerfile, baseImage string) (string, error) {
	if baseImage == "" {
		return dockerfile, nil
	}
	if !imageRefRE.MatchString(baseImage) {
		return "", fmt.Errorf("base image %q is not an image reference", baseImage)
	}
	instrs, err := dockerfileInstructions(dockerfile)
	if err != nil {
		return "", err
	}
	type edit struct{ from, to int }
	var edits []edit
	global, declared := true, false
	for _, in := range instrs {
		switch {
		case strings.EqualFold(in.keyword, "FROM"):
			if !declared && usesBaseRE.MatchString(in.text) {
				return "", fmt.Errorf("line %d: FROM uses $%s but no ARG %s comes before the first FROM",
					in.line, baseImageArg, baseImageArg)
			}
			global = false
		case global && strings.EqualFold(in.keyword, "ARG"):
			for _, w := range in.words {
				raw := in.text[w.start:w.end]
				name, _, _ := strings.Cut(raw, "=")
				if name != baseImageArg {
					if unquote(name) == baseImageArg {
						return "", fmt.Errorf("line %d: ARG %s: a quoted or escaped name cannot be rewritten safely; write ARG %s=…", in.line, raw, baseImageArg)
					}
					continue
				}
				if w.unterminated {
					return "", fmt.Errorf("line %d: ARG %s: unterminated quote", in.line, raw)
				}
				from, to := in.origin[w.start], in.origin[w.end-1]+1
				if to-from != w.end-w.start {
					return "", fmt.Errorf("line %d: ARG %s is split across lines by a line continuation; put %s=… on one line", in.line, raw, baseImageArg)
				}
				edits = append(edits, edit{from, to})
				declared = true
			}
		}
	}
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(dockerfile[last:e.from])
		b.WriteString(baseImageArg + "=" + baseImage)
		last = e.to
	}
	b.WriteString(dockerfile[last:])
	return b.String(), nil
}

// instruction is one Dockerfile instruction, its continuation lines joined as BuildKit joins them.
type instruction struct {
	// line is the 1-based line it starts on.
	line    int
	keyword string
	// text is the instruction after its keyword, continuations removed; origin maps each byte of
	// text to its offset in the file.
	text   string
	origin []int
	words  []word
}

// word is a span of text as BuildKit's parseWords splits an ARG, ENV or LABEL instruction.
type word struct {
	start, end   int
	unterminated bool
}

// dockerfileInstructions splits a Dockerfile into instructions, skipping comments, empty lines
// and heredoc bodies.
func dockerfileInstructions(df string) ([]instruction, error) {
	type physical struct {
		text  string
		start int
	}
	var lines []physical
	for off := 0; off < len(df); {
		end := strings.IndexByte(df[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end, next = len(df)-off, len(df)
		}
		lines = append(lines, physical{strings.TrimSuffix(df[off:off+end], "\r"), off})
		off = next
	}
	escape := '\\'
	for _, l := range lines { // parser directives: only at the very top
		m := directiveRE.FindStringSubmatch(l.text)
		if m == nil {
			break
		}
		if strings.EqualFold(m[1], "escape") {
			switch m[2] {
			case "`":
				escape = '`'
			case `\`:
			default:
				return nil, fmt.Errorf("line 1: escape directive %q: must be ` or \\", m[2])
			}
		}
	}
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	comment := func(s string) bool { return strings.HasPrefix(strings.TrimLeft(s, " \t"), "#") }
	var out []instruction
	for i := 0; i < len(lines); {
		if blank(lines[i].text) || comment(lines[i].text) {
			i++
			continue
		}
		in := instruction{line: i + 1}
		var text strings.Builder
		body, off := lines[i].text, lines[i].start
		trimmed := strings.TrimLeft(body, " \t")
		off += len(body) - len(trimmed)
		body = trimmed
		for {
			cont := false
			if t := strings.TrimRight(body, " \t"); strings.HasSuffix(t, string(escape)) {
				body, cont = t[:len(t)-utf8.RuneLen(escape)], true
			}
			text.WriteString(body)
			for j := range len(body) {
				in.origin = append(in.origin, off+j)
			}
			i++
			if !cont {
				break
			}
			for i < len(lines) && (blank(lines[i].text) || comment(lines[i].text)) {
				i++
			}
			if i >= len(lines) {
				break
			}
			body, off = lines[i].text, lines[i].start
		}
		full := text.String()
		kw := strings.IndexFunc(full, unicode.IsSpace)
		if kw < 0 {
			kw = len(full)
		}
		in.keyword = full[:kw]
		rest := strings.TrimLeftFunc(full[kw:], unicode.IsSpace)
		skip := len(full) - len(rest)
		in.text, in.origin = rest, in.origin[skip:]
		in.words = parseWords(rest, escape)
		out = append(out, in)
		// A heredoc's body follows its instruction: skip it up to its terminator.
		for _, m := range heredocRE.FindAllStringSubmatch(rest, -1) {
			if !strings.EqualFold(in.keyword, "RUN") && !strings.EqualFold(in.keyword, "COPY") && !strings.EqualFold(in.keyword, "ADD") {
				break
			}
			if m[2] != m[4] {
				continue
			}
			for i < len(lines) {
				l := lines[i].text
				if m[1] == "-" {
					l = strings.TrimLeft(l, "\t")
				}
				i++
				if l == m[3] {
					break
				}
			}
		}
	}
	return out, nil
}

// parseWords splits s on whitespace outside quotes, as BuildKit's parser does for ARG: quotes
// and escapes stay in the words (the shell lexer removes them later).
func parseWords(s string, escape rune) []word {
	var words []word
	start := -1
	var quote rune
	for pos := 0; pos < len(s); {
		ch, n := utf8.DecodeRuneInString(s[pos:])
		switch {
		case start < 0:
			if !unicode.IsSpace(ch) {
				start = pos
				continue // read this character as part of the word
			}
		case quote != 0:
			if ch == escape && quote != '\'' && pos+n < len(s) {
				_, n2 := utf8.DecodeRuneInString(s[pos+n:])
				n += n2
			} else if ch == quote {
				quote = 0
			}
		case unicode.IsSpace(ch):
			words = append(words, word{start: start, end: pos})
			start = -1
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == escape && pos+n < len(s):
			_, n2 := utf8.DecodeRuneInString(s[pos+n:])
			n += n2
		}
		pos += n
	}
	if start >= 0 {
		words = append(words, word{start: start, end: len(s), unterminated: quote != 0})
	}
	return words
}

func unquote(s string) string {
	return strings.NewReplacer(`"`, "", `'`, "", `\`, "", "`", "").Replace(s)
}

// PickArtifact chooses the one artifact an image ships among the files a glob matched, leaving
// out Maven's side artifacts (sources, javadoc, tests, original-*.jar from the shade plugin).
func PickArtifact(glob string, matches []string) (string, error) {
	var picked []string
	for _, m := range matches {
		base := m[strings.LastIndex(strings.TrimSuffix(m, "/"), "/")+1:]
		if strings.HasPrefix(base, "original-") {
			continue
		}
		side := false
		for _, s := range []string{"-sources.jar", "-javadoc.jar", "-tests.jar", "-test-sources.jar"} {
			side = side || strings.HasSuffix(base, s)
		}
		if !side {
			picked = append(picked, m)
		}
	}
	switch len(picked) {
	case 0:
		return "", fmt.Errorf("artifact %q: no file matches after packaging (matched: %q)", glob, matches)
	case 1:
		return picked[0], nil
	}
	return "", fmt.Errorf("artifact %q: %d files match (%s); make the pattern name exactly one", glob, len(picked), strings.Join(picked, ", "))
}
