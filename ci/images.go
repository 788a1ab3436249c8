package ci

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"dagger/nightly/ci/registry"
	"dagger/nightly/internal/dagger"
)

// BuildOpts are what every image build shares.
type BuildOpts struct {
	// Platforms to build, e.g. linux/amd64 (more than one makes a multi-platform image).
	Platforms []string
	// Commit is the full git commit hash (the revision label).
	Commit string
	// Created is the build's date: the commit date when given, else the time the commit was first
	// published. It is the created label, and every time in what the build made (see
	// registry.Reproducible), so that the same commit gives the same digest on any engine.
	Created time.Time
	// SourceURL becomes the source label when set.
	SourceURL string
}

// Build builds an image from its prepared context, one container per platform. The context's
// files carry Created as their time, whatever time mvn package ran, and belong to root, as
// `docker build` sends a context (the engine's COPY keeps the context's owners, so a Maven image
// running as another user would otherwise change the image).
func Build(c ImageContext, o BuildOpts) []*dagger.Container {
	labels := [][2]string{
		{"org.opencontainers.image.title", c.Source.Name},
		{"org.opencontainers.image.version", c.Version.POM},
		{"org.opencontainers.image.revision", o.Commit},
		{"org.opencontainers.image.created", o.Created.UTC().Format(time.RFC3339)},
		{"org.opencontainers.image.source", o.SourceURL},
	}
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64"}
	}
	epoch := o.Created.Unix()
	dir := dag.Directory().WithDirectory("/", c.Dir, dagger.DirectoryWithDirectoryOpts{Owner: "0:0"}).WithTimestamps(int(epoch))
	var variants []*dagger.Container
	for _, p := range platforms {
		ctr := dir.DockerBuild(dagger.DirectoryDockerBuildOpts{
			Platform: dagger.Platform(p),
			// The Dockerfile frontend's own created directories take this time too.
			BuildArgs: []dagger.BuildArg{{Name: "SOURCE_DATE_EPOCH", Value: strconv.FormatInt(epoch, 10)}},
		})
		for _, l := range labels {
			if l[1] != "" {
				ctr = ctr.WithLabel(l[0], l[1])
			}
		}
		variants = append(variants, ctr)
	}
	return variants
}

// reproducible exports the built variants from the engine (an OCI layout) and rewrites them so
// that the same inputs give the same digest on any engine (registry.Reproducible). The result is
// pushed by the registry client, not by the engine, so its digest is known before anything is
// pushed. It checks that the exported image is this build (its labels). The artifact's files live
// in dir until the caller removes it.
func reproducible(ctx context.Context, variants []*dagger.Container, o BuildOpts) (art registry.Artifact, digest, dir string, err error) {
	dir, err = os.MkdirTemp("", "nightly-image-")
	if err != nil {
		return art, "", "", err
	}
	art, digest, err = exportReproducible(ctx, variants, o, dir)
	return art, digest, dir, err
}

func exportReproducible(ctx context.Context, variants []*dagger.Container, o BuildOpts, dir string) (registry.Artifact, string, error) {
	tarPath := filepath.Join(dir, "image.tar")
	tb := variants[0].AsTarball(dagger.ContainerAsTarballOpts{
		PlatformVariants:  variants[1:],
		ForcedCompression: dagger.ImageLayerCompressionGzip,
		MediaTypes:        dagger.ImageMediaTypesOcimediaTypes,
	})
	if _, err := tb.Export(ctx, tarPath); err != nil {
		return registry.Artifact{}, "", fmt.Errorf("building: %v", err)
	}
	layoutDir := filepath.Join(dir, "layout")
	if err := untar(tarPath, layoutDir); err != nil {
		return registry.Artifact{}, "", fmt.Errorf("reading the built image: %v", err)
	}
	os.Remove(tarPath)
	art, err := registry.Reproducible(layoutDir, o.Created)
	if err != nil {
		return registry.Artifact{}, "", err
	}
	labels, err := art.Labels()
	if err != nil {
		return registry.Artifact{}, "", err
	}
	if got := labels["org.opencontainers.image.revision"]; got != o.Commit {
		return registry.Artifact{}, "", fmt.Errorf("the engine exported an image of revision %q, want %q", got, o.Commit)
	}
	digest, err := art.Digest()
	return art, digest, err
}

// untar extracts an OCI layout tarball (regular files and folders only) into dir.
func untar(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(hdr.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("unexpected path %q in the image tarball", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
