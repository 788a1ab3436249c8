// Command lintref compares nightly's BuildKit checks (tools/dockerlint) with a real BuildKit on a
// corpus of Dockerfiles: buildkitd v0.34.2 (built from the Go module proxy) answering the
// Dockerfile frontend's lint request, as `docker build --check` sends it, through buildctl.
//
//	lintref -corpus fixtures/lint-corpus -buildkitd BIN -buildctl BIN -dockerlint BIN -state DIR [-mirror HOST:PORT]
//
// It serves the corpus's base images (base-images.json: their configs, modelled on the real
// images, each with one small layer) from an in-process registry on 127.0.0.1, which buildkitd
// uses as its mirror of docker.io, mcr.microsoft.com and gcr.io, after which docker.io falls back
// to the test bed's mirror (-mirror) for the images it serves (eclipse-temurin, busybox). It
// starts buildkitd on a unix socket under -state (no TCP port, its own root, host networking, a
// runc that refuses to run: a lint request runs no container), lints every corpus file with both,
// and writes:
//
//	reference/<file>.txt  buildctl's output (the frontend's result.txt, what `docker build --check` prints)
//	images.json           each base image's config as buildkitd's registry serves it, cut down to
//	                      what nightly reads through the Dagger API (platform, Env, User,
//	                      WorkingDir, Entrypoint, Cmd): dockerlint's input, as in production
//
// It prints a Markdown table (file, findings, equal) and exits 1 when any file differs. It stops
// buildkitd and removes -state when done.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// corpus.json: the files and the build args each is linted with (dockerlint's spec shape).
type corpusFile struct {
	Path      string            `json:"path"`
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
}

// images.json entries: dockerlint's BaseImage.
type baseImage struct {
	Ref      string          `json:"ref"`
	Platform string          `json:"platform"`
	Config   json.RawMessage `json:"config"`
}

// mirrored are the registries whose images the in-process registry serves under their path.
var mirrored = []string{"docker.io", "mcr.microsoft.com", "gcr.io"}

func main() {
	corpus := flag.String("corpus", "fixtures/lint-corpus", "the corpus folder")
	buildkitd := flag.String("buildkitd", "", "buildkitd binary (v0.34.2)")
	buildctl := flag.String("buildctl", "", "buildctl binary (v0.34.2)")
	dockerlint := flag.String("dockerlint", "", "tools/dockerlint binary")
	state := flag.String("state", "", "a new folder for buildkitd's state (removed at the end)")
	mirror := flag.String("mirror", os.Getenv("NIGHTLY_TESTBED_MIRROR"), "the test bed's docker.io mirror (HOST:PORT), tried after ours")
	flag.Parse()
	if *buildkitd == "" || *buildctl == "" || *dockerlint == "" || *state == "" {
		fail(errors.New("usage: lintref -corpus DIR -buildkitd BIN -buildctl BIN -dockerlint BIN -state DIR [-mirror HOST:PORT]"))
	}
	if err := run(*corpus, *buildkitd, *buildctl, *dockerlint, *state, *mirror); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lintref:", err)
	os.Exit(2)
}

func run(corpus, buildkitd, buildctl, dockerlint, state, mirror string) error {
	var spec struct{ Files []corpusFile }
	if err := readJSON(filepath.Join(corpus, "corpus.json"), &spec); err != nil {
		return err
	}
	var bases map[string]json.RawMessage
	if err := readJSON(filepath.Join(corpus, "base-images.json"), &bases); err != nil {
		return err
	}

	// The registry: base images of the corpus under their own paths.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	reg := ln.Addr().String()
	for ref, cfg := range bases {
		if err := pushBase(reg, ref, cfg); err != nil {
			return fmt.Errorf("base image %s: %w", ref, err)
		}
	}

	// buildkitd, on a unix socket in its own state folder.
	if err := os.Mkdir(state, 0o700); err != nil {
		return fmt.Errorf("state folder %s must be new: %w", state, err)
	}
	defer os.RemoveAll(state)
	stop, err := startBuildkitd(buildkitd, state, reg, mirror)
	if err != nil {
		return err
	}
	defer stop()

	// images.json: every base image the corpus uses, as buildkitd would resolve it.
	var refs []string
	for _, f := range spec.Files {
		out, err := exec.Command(dockerlint, "-list-bases", "-spec", specFile(state, corpus, f, nil)).Output()
		if err != nil {
			return fmt.Errorf("dockerlint -list-bases %s: %w", f.Path, exitErr(err))
		}
		var listed []struct{ Ref, Platform string }
		if err := json.Unmarshal(out, &listed); err != nil {
			return err
		}
		for _, l := range listed {
			refs = append(refs, l.Ref+" "+l.Platform)
		}
	}
	sort.Strings(refs)
	var images []baseImage
	for i, rp := range refs {
		if i > 0 && refs[i-1] == rp {
			continue
		}
		ref, platform, _ := strings.Cut(rp, " ")
		cfg, err := daggerView(reg, mirror, ref)
		if err != nil {
			return fmt.Errorf("reading %s back: %w", ref, err)
		}
		images = append(images, baseImage{Ref: ref, Platform: platform, Config: cfg})
	}
	if err := writeJSON(filepath.Join(corpus, "images.json"), images); err != nil {
		return err
	}

	// Lint each file with both, and compare.
	if err := os.MkdirAll(filepath.Join(corpus, "reference"), 0o755); err != nil {
		return err
	}
	fmt.Println("| Dockerfile | BuildKit v0.34.2 (buildkitd + buildctl) | nightly's dockerlint | equal | dockerlint with empty base image configs (before) |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	differ := 0
	for _, f := range spec.Files {
		args := []string{"--addr", "unix://" + filepath.Join(state, "buildkitd.sock"), "build", "--progress=quiet",
			"--frontend=dockerfile.v0", "--local", "context=" + corpus, "--local", "dockerfile=" + corpus,
			"--opt", "filename=" + f.Path, "--opt", "requestid=frontend.lint",
			// Use the daemon's own (v0.34.2) Dockerfile frontend even when the file names one with
			// `# syntax=`: forwarding would pull and run a frontend image.
			"--opt", "cmdline=dockerfile.v0"}
		for _, k := range sortedKeys(f.BuildArgs) {
			args = append(args, "--opt", "build-arg:"+k+"="+f.BuildArgs[k])
		}
		ref, err := exec.Command(buildctl, args...).Output()
		if err != nil {
			return fmt.Errorf("buildctl lint %s: %w", f.Path, exitErr(err))
		}
		cmd := exec.Command(dockerlint, "-buildkit-text", "-spec", specFile(state, corpus, f, images))
		cmd.Dir = corpus
		ours, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("dockerlint -buildkit-text %s: %w", f.Path, exitErr(err))
		}
		cmd = exec.Command(dockerlint, "-buildkit-text", "-spec", specFile(state, corpus, f, []baseImage{}))
		cmd.Dir = corpus
		offline, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("dockerlint -buildkit-text %s without base image configs: %w", f.Path, exitErr(err))
		}
		if err := os.WriteFile(filepath.Join(corpus, "reference", f.Path+".txt"), ref, 0o644); err != nil {
			return err
		}
		a, b := warnings(string(ref)), warnings(string(ours))
		verdict := "yes"
		if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
			differ++
			verdict = "**no**"
			if strings.Join(placesOf(a), "\x00") == strings.Join(placesOf(b), "\x00") {
				verdict = "same rules and places; **messages differ**"
			}
			fmt.Fprintf(os.Stderr, "%s differs:\n--- BuildKit\n%s\n--- dockerlint\n%s\n", f.Path, ref, ours)
		}
		fmt.Printf("| `%s` | %s | %s | %s | %s |\n", f.Path, ruleCounts(a), ruleCounts(b), verdict, ruleCounts(warnings(string(offline))))
	}
	if differ > 0 {
		return fmt.Errorf("%d file(s) differ", differ)
	}
	return nil
}

// pushBase pushes a one-layer image with the given config to reg under ref's path.
func pushBase(reg, ref string, config json.RawMessage) error {
	var cf v1.ConfigFile
	if err := json.Unmarshal(config, &cf); err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := []byte("lint reference base image " + ref + "\n")
	tw.WriteHeader(&tar.Header{Name: "etc/nightly-lint-reference", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)})
	tw.Write(content)
	tw.Close()
	layer, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	base, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf.RootFS = base.RootFS
	if img, err = mutate.ConfigFile(img, &cf); err != nil {
		return err
	}
	dst, err := mirrorRef(reg, ref)
	if err != nil {
		return err
	}
	return remote.Write(dst, img)
}

// mirrorRef is ref's place in a mirror registry: the same repository path, as registry mirrors
// are addressed.
func mirrorRef(reg, ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	return name.ParseReference(reg+"/"+r.Context().RepositoryStr()+":"+r.Identifier(), name.Insecure)
}

// daggerView reads ref's config as buildkitd would get it (our registry, then the test bed's
// mirror for docker.io) and keeps what nightly reads through the Dagger API.
func daggerView(reg, mirror, ref string) (json.RawMessage, error) {
	var last error
	for _, m := range []string{reg, mirror} {
		if m == "" {
			continue
		}
		r, err := mirrorRef(m, ref)
		if err != nil {
			return nil, err
		}
		img, err := remote.Image(r)
		if err != nil {
			last = err
			continue
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		type config struct {
			Env        []string `json:"Env,omitempty"`
			User       string   `json:"User,omitempty"`
			WorkingDir string   `json:"WorkingDir,omitempty"`
			Entrypoint []string `json:"Entrypoint,omitempty"`
			Cmd        []string `json:"Cmd,omitempty"`
		}
		return json.Marshal(struct {
			OS           string `json:"os"`
			Architecture string `json:"architecture"`
			Variant      string `json:"variant,omitempty"`
			Config       config `json:"config"`
		}{cf.OS, cf.Architecture, cf.Variant, config{cf.Config.Env, cf.Config.User, cf.Config.WorkingDir, cf.Config.Entrypoint, cf.Config.Cmd}})
	}
	return nil, last
}

// startBuildkitd starts buildkitd with its state, socket and config under state, and returns how
// to stop it.
func startBuildkitd(bin, state, reg, mirror string) (func(), error) {
	// A lint request runs no container; buildkitd only checks that an OCI runtime exists.
	binDir := filepath.Join(state, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(binDir, "runc"), []byte("#!/bin/sh\necho 'lintref: this buildkitd runs no containers' >&2\nexit 1\n"), 0o755); err != nil {
		return nil, err
	}
	var toml strings.Builder
	fmt.Fprintf(&toml, "root = %q\n[grpc]\n  address = [%q]\n[otel]\n  socketPath = %q\n",
		filepath.Join(state, "root"), "unix://"+filepath.Join(state, "buildkitd.sock"), filepath.Join(state, "otel.sock"))
	for _, r := range mirrored {
		mirrors := []string{reg}
		if r == "docker.io" && mirror != "" {
			mirrors = append(mirrors, mirror)
		}
		quoted := make([]string, len(mirrors))
		for i, m := range mirrors {
			quoted[i] = fmt.Sprintf("%q", m)
		}
		fmt.Fprintf(&toml, "[registry.%q]\n  mirrors = [%s]\n", r, strings.Join(quoted, ", "))
	}
	for _, m := range []string{reg, mirror} {
		if m != "" {
			fmt.Fprintf(&toml, "[registry.%q]\n  http = true\n", m)
		}
	}
	cfg := filepath.Join(state, "buildkitd.toml")
	if err := os.WriteFile(cfg, []byte(toml.String()), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(state, "buildkitd.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", cfg, "--oci-worker=true", "--oci-worker-snapshotter=native",
		"--oci-worker-net=host", "--oci-worker-gc=false", "--containerd-worker=false")
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		logf.Close()
	}
	sock := filepath.Join(state, "buildkitd.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return stop, nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("buildkitd exited (%v):\n%s", err, log)
		case <-ctx.Done():
			stop()
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("buildkitd did not listen on %s within 60 s:\n%s", sock, log)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// specFile writes a dockerlint spec for one corpus file and returns its path.
func specFile(state, corpus string, f corpusFile, images []baseImage) string {
	p := filepath.Join(state, "spec-"+f.Path+".json")
	path := f.Path
	if images == nil {
		path = filepath.Join(corpus, f.Path) // -list-bases runs outside the corpus folder
		images = []baseImage{}
	}
	writeJSON(p, map[string]any{"files": []corpusFile{{Path: path, BuildArgs: f.BuildArgs}}, "images": images})
	return p
}

// warnings splits `docker build --check` output into its warnings, sorted: BuildKit reports
// base image platform checks from parallel goroutines, so their order varies between runs.
func warnings(out string) []string {
	var ws []string
	for _, w := range strings.Split(out, "\nWARNING: ")[1:] {
		ws = append(ws, strings.TrimSpace(w))
	}
	sort.Strings(ws)
	return ws
}

// placesOf is each warning without its message: rule, URL, file:line and the lines it marks.
func placesOf(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		lines := strings.Split(w, "\n")
		if len(lines) > 1 {
			lines = append(lines[:1:1], lines[2:]...)
		}
		out[i] = strings.Join(lines, "\n")
	}
	sort.Strings(out)
	return out
}

// ruleCounts says which rules a file's warnings are, e.g. "FromAsCasing, UndefinedVar ×2".
func ruleCounts(ws []string) string {
	if len(ws) == 0 {
		return "none"
	}
	n := map[string]int{}
	for _, w := range ws {
		first, _, _ := strings.Cut(w, "\n")
		rule, _, _ := strings.Cut(first, " ")
		n[rule]++
	}
	var out []string
	for _, r := range sortedKeys(n) {
		if n[r] > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", r, n[r]))
		} else {
			out = append(out, r)
		}
	}
	return strings.Join(out, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func readJSON(path string, v any) error {
	dt, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(dt, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	dt, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(dt, '\n'), 0o644)
}

func exitErr(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
