package main

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
)

// scrubber replaces every secret value (and its URL-encoded forms) with "***".
type scrubber struct{ secrets []string }

func (s *scrubber) add(v string) {
	v = strings.TrimRight(v, "\r\n")
	if len(strings.TrimSpace(v)) < 4 {
		return
	}
	for _, f := range []string{v, url.QueryEscape(v), url.PathEscape(v), url.UserPassword("x", v).String()[2:]} {
		if f != "" && !contains(s.secrets, f) {
			s.secrets = append(s.secrets, f)
		}
	}
	// Longest first, so a secret that contains another is replaced whole.
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *scrubber) clean(text string) string {
	for _, v := range s.secrets {
		text = strings.ReplaceAll(text, v, "***")
	}
	return text
}

// writer scrubs line by line (a secret never spans lines of Pulumi's output).
func (s *scrubber) writer(w io.Writer) io.WriteCloser {
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := bufio.NewReader(pr)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				_, _ = io.WriteString(w, s.clean(line))
			}
			if err != nil {
				_, _ = io.Copy(io.Discard, pr)
				return
			}
		}
	}()
	return &scrubWriter{pw: pw, wg: &wg}
}

type scrubWriter struct {
	pw *io.PipeWriter
	wg *sync.WaitGroup
}

func (w *scrubWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }
func (w *scrubWriter) Close() error {
	err := w.pw.Close()
	w.wg.Wait()
	return err
}

// loadEnvFile sets KEY=VALUE lines (# comments, blank lines ignored) as environment variables and
// registers each value as a secret.
func loadEnvFile(path string, s *scrubber) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		// Only the line end is trimmed: a value may begin or end with spaces.
		l := strings.TrimRight(string(line), "\r")
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return &inputError{"backend-env", "a line is not KEY=VALUE"}
		}
		k = strings.TrimPrefix(strings.TrimSpace(k), "export ")
		if err := os.Setenv(strings.TrimSpace(k), v); err != nil {
			return err
		}
		s.add(v)
	}
	return nil
}
