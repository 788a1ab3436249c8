package main

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// script is what a POSIX shell runs for one RUN instruction, with the ShellCheck dialect of that
// shell and the way back from a position in the script to the Dockerfile.
type script struct {
	Line    int    // the RUN instruction's first line
	Dialect string // ShellCheck's -s: sh, bash, dash or ksh
	Text    string
	// Runner says what runs it: the shell's argv, or the heredoc's shebang.
	Runner string
	// Argv is the process BuildKit starts for the RUN (dispatchRun + withShell).
	Argv []string
	at   func(line, col int) (int, int)
}

// skipped is a RUN instruction ShellCheck must not see, and why.
type skipped struct {
	Line   int
	Reason string
	Argv   []string // the process BuildKit starts for the RUN
}

// shellScripts lists, for every RUN in every stage, the script a POSIX shell runs (in the shell's
// dialect) or why no POSIX shell runs it. It follows BuildKit's dispatchRun (convert.go, v0.34.2):
//   - exec form (JSON array) runs no shell;
//   - shell form runs the SHELL in effect (per stage; a stage built FROM an earlier stage inherits
//     its SHELL; otherwise the base image config's Shell, or /bin/sh -c, or cmd /S /C on Windows);
//   - a RUN whose whole command is one heredoc (RUN <<EOF) runs the heredoc's body: by the shell,
//     or, when the body starts with #! on a non-Windows image, as a file by that interpreter;
//   - any other heredoc use (RUN cat <<EOF > f, RUN python3 <<EOF, several heredocs) runs the
//     command line with the heredocs re-attached, by the shell: ShellCheck sees a real heredoc,
//     whose body is data for the command, not shell code.
func shellScripts(df *dockerfile) ([]script, []skipped) {
	var out []script
	var skips []skipped
	for _, st := range df.stages {
		sh, guessed := st.Shell, st.Guessed
		for _, c := range st.Commands {
			switch c := c.(type) {
			case *instructions.ShellCommand:
				sh, guessed = c.Shell, false
			case *instructions.RunCommand:
				s, skip := runScript(df, st, sh, guessed, c)
				if skip != nil {
					skips = append(skips, *skip)
				} else {
					out = append(out, s)
				}
			}
		}
	}
	return out, skips
}

// runScript is the script one RUN runs under the shell sh (guessed: Windows' default shell, taken
// from the name of a base image that could not be resolved), or why ShellCheck must not see it.
func runScript(df *dockerfile, st stage, sh []string, guessed bool, c *instructions.RunCommand) (script, *skipped) {
	line := c.Location()[0].Start.Line
	withShell := func(arg string) []string { return append(append([]string{}, sh...), arg) }
	skip := func(argv []string, format string, args ...any) (script, *skipped) {
		return script{}, &skipped{Line: line, Argv: argv, Reason: fmt.Sprintf(format, args...)}
	}
	if !c.PrependShell {
		return skip(c.CmdLine, "exec form (JSON array): no shell runs it")
	}
	if len(c.CmdLine) != 1 {
		return skip(c.CmdLine, "unexpected command line %q", c.CmdLine)
	}
	cmd := c.CmdLine[0]
	text, pos, last := logicalLine(df.lines, line, df.escape)
	cmdAt := strings.LastIndex(text, cmd)
	at1 := func(col int) (int, int) { // a column of the command line
		if cmdAt < 0 || col < 1 || cmdAt+col-1 >= len(pos) {
			return line, 1 // could not map: the instruction's start
		}
		p := pos[cmdAt+col-1]
		return p.line, p.col
	}
	shellName := strings.Join(sh, " ")
	if guessed {
		shellName += " (Windows' default; the OS is guessed from the unresolved base image's name)"
	}
	dialect, posix := shellDialect(sh)
	notPOSIX := "run by %s, not a shell ShellCheck checks"

	if len(c.Files) == 0 {
		argv := withShell(cmd)
		if !posix {
			return skip(argv, notPOSIX, shellName)
		}
		at := func(l, col int) (int, int) {
			if l != 1 {
				return line, 1
			}
			return at1(col)
		}
		return script{Line: line, Dialect: dialect, Text: cmd, Runner: shellName, Argv: argv, at: at}, nil
	}

	if parser.MustParseHeredoc(cmd) == nil {
		// Any other heredoc use: the shell gets the command line with each heredoc re-attached,
		// and the heredocs' bodies are data for the commands.
		var b strings.Builder
		b.WriteString(cmd)
		for _, f := range c.Files {
			b.WriteString("\n" + f.Data + f.Name)
		}
		argv := withShell(b.String())
		if !posix {
			return skip(argv, notPOSIX, shellName)
		}
		at := func(l, col int) (int, int) {
			if l == 1 {
				return at1(col)
			}
			return last + l - 1, col
		}
		return script{Line: line, Dialect: dialect, Text: b.String(), Runner: shellName, Argv: argv, at: at}, nil
	}

	// RUN <<EOF: the body is the script.
	f := c.Files[0]
	data, tabs := f.Data, make([]int, strings.Count(f.Data, "\n")+1)
	if f.Chomp {
		data, tabs = chompTabs(f.Data)
	}
	body := func(l, col int) (int, int) {
		if l-1 < len(tabs) {
			col += tabs[l-1]
		}
		return last + l, col
	}
	if st.OS != "windows" && strings.HasPrefix(data, "#!") {
		// Written to a file and run by its #! interpreter, whatever the shell.
		argv := withShell(path.Join("/dev/pipes", f.Name))
		interp := strings.TrimSpace(strings.SplitN(data, "\n", 2)[0][2:])
		d, ok := shebangDialect(interp)
		if !ok {
			return skip(argv, "heredoc run as a file by its interpreter #!%s, not a shell ShellCheck checks", interp)
		}
		return script{Line: line, Dialect: d, Text: data, Runner: "#!" + interp, Argv: argv, at: body}, nil
	}
	argv := withShell(data)
	if !posix {
		return skip(argv, notPOSIX, shellName)
	}
	return script{Line: line, Dialect: dialect, Text: data, Runner: shellName, Argv: argv, at: body}, nil
}

// shellDialect is ShellCheck's dialect for a shell argv (SHELL ["/bin/bash", "-o", "pipefail",
// "-c"] → bash), and false for a shell ShellCheck does not check (powershell, pwsh, cmd, zsh, …).
func shellDialect(argv []string) (string, bool) {
	if len(argv) == 0 {
		return "", false
	}
	name := progName(argv[0])
	rest := argv[1:]
	for (name == "env" || name == "busybox") && len(rest) > 0 {
		if strings.HasPrefix(rest[0], "-") || strings.Contains(rest[0], "=") {
			rest = rest[1:]
			continue
		}
		name, rest = progName(rest[0]), rest[1:]
	}
	switch name {
	case "sh":
		return "sh", true
	case "bash":
		return "bash", true
	case "dash", "ash": // busybox's ash is an Almquist shell, like dash
		return "dash", true
	case "ksh", "ksh93", "mksh", "pdksh", "oksh":
		return "ksh", true
	}
	return "", false
}

// shebangDialect is the dialect of a heredoc's #! line (without the #!): /bin/bash, /usr/bin/env
// bash, /usr/bin/env -S bash -e.
func shebangDialect(interp string) (string, bool) {
	words := strings.Fields(interp)
	for i, w := range words {
		if strings.HasPrefix(w, "-S") && len(w) > 2 {
			words[i] = w[2:] // env -Sbash
		}
	}
	return shellDialect(words)
}

// progName is a program's lower-case base name, Windows paths and .exe included.
func progName(p string) string {
	p = strings.ToLower(strings.ReplaceAll(p, `\`, "/"))
	return strings.TrimSuffix(path.Base(p), ".exe")
}

// chompTabs strips leading tabs from each line (<<-EOF), returning how many each line lost.
func chompTabs(data string) (string, []int) {
	lines := strings.Split(data, "\n")
	tabs := make([]int, len(lines))
	for i, l := range lines {
		t := strings.TrimLeft(l, "\t")
		tabs[i] = len(l) - len(t)
		lines[i] = t
	}
	return strings.Join(lines, "\n"), tabs
}

type position struct{ line, col int }

// logicalLine rebuilds the instruction line BuildKit's parser makes from the physical lines
// starting at line start (1-based): continuation lines joined with the escape character and the
// blanks after it removed, comment lines and empty continuation lines dropped (parser.Parse). It
// returns the text, each byte's physical position, and the last physical line it used.
func logicalLine(lines []string, start int, escape rune) (string, []position, int) {
	cont := regexp.MustCompile(`([^\` + string(escape) + `])\` + string(escape) + `[ \t]*$|^\` + string(escape) + `[ \t]*$`)
	var text []byte
	var pos []position
	add := func(l int, s string, from int) {
		for i := 0; i < len(s); i++ {
			text = append(text, s[i])
			pos = append(pos, position{l, from + i + 1})
		}
	}
	// trim removes the continuation character, saying whether the line continues.
	trim := func(s string) (string, bool) {
		if m := cont.FindStringSubmatchIndex(s); m != nil {
			kept := ""
			if m[2] >= 0 {
				kept = s[m[2]:m[3]]
			}
			return s[:m[0]] + kept, true
		}
		return s, false
	}
	if start < 1 || start > len(lines) {
		return "", nil, start
	}
	first := lines[start-1]
	lead := len(first) - len(strings.TrimLeftFunc(first, unicode.IsSpace))
	s, more := trim(first[lead:])
	add(start, s, lead)
	l := start
	for more && l < len(lines) {
		l++
		raw := lines[l-1]
		trimmed := strings.TrimLeftFunc(raw, unicode.IsSpace)
		if strings.HasPrefix(trimmed, "#") || trimmed == "" {
			continue
		}
		s, more = trim(raw)
		add(l, s, 0)
	}
	return string(text), pos, l
}
