package ci

import (
	"context"
	"fmt"
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

// reproducible makes the built variants reproducible, so that the same inputs give the same
// digest on any engine (registry.Reproducible), and checks that the image is this build (its
// revision label). It runs as a container step (tools: ci/registry/cmd/reproduce) on the engine's
// export of the image, so the engine caches it: a re-run of the same build reads back a digest
// instead of exporting and rewriting the whole image. The result is pushed by the registry client,
// not by the engine, so its digest is known before anything is pushed; art is the artifact (an
// OCI layout without the layers kept from the export, and the export), read only to push
// (exportArtifact).
func reproducible(ctx context.Context, variants []*dagger.Container, o BuildOpts, golangImage string) (digest string, art builtImage, err error) {
	tb := variants[0].AsTarball(dagger.ContainerAsTarballOpts{
		PlatformVariants:  variants[1:],
		ForcedCompression: dagger.ImageLayerCompressionGzip,
		MediaTypes:        dagger.ImageMediaTypesOcimediaTypes,
	})
	const bin = "/usr/local/bin/nightly-reproduce"
	ctr := dag.Container().From(golangImage).
		WithFile(bin, reproduceBinary(golangImage)).
		WithMountedFile("/nightly-in/image.tar", tb).
		WithExec([]string{bin, "--epoch=" + o.Created.UTC().Format(time.RFC3339), "--revision=" + o.Commit,
			"/nightly-in/image.tar", "/nightly-out"})
	out, err := ctr.File("/nightly-out/digest").Contents(ctx)
	if err != nil {
		return "", art, fmt.Errorf("building: %s", execErr(err))
	}
	return strings.TrimSpace(out), builtImage{layout: ctr.Directory("/nightly-out/layout"), export: tb}, nil
}

// builtImage is what reproducible made: the rewritten image as an OCI layout without the blobs
// kept byte for byte from the engine's export (the base image's layers), and that export.
type builtImage struct {
	layout *dagger.Directory
	export *dagger.File
}

// exportArtifact reads what reproducible made into a temporary folder, to push it: the layout,
// and the blobs it left out from the engine's export. The caller removes dir.
func exportArtifact(ctx context.Context, built builtImage) (art registry.Artifact, dir string, err error) {
	if dir, err = os.MkdirTemp("", "nightly-image-"); err != nil {
		return art, "", err
	}
	lay := filepath.Join(dir, "layout")
	if _, err := built.layout.Export(ctx, lay); err != nil {
		return art, dir, fmt.Errorf("reading the built image from the engine: %v", err)
	}
	tb := filepath.Join(dir, "export.tar")
	if _, err := built.export.Export(ctx, tb); err != nil {
		return art, dir, fmt.Errorf("reading the built image's base layers from the engine: %v", err)
	}
	if err := registry.FillFromExport(tb, lay); err != nil {
		return art, dir, fmt.Errorf("reading the built image's base layers: %v", err)
	}
	if err := os.Remove(tb); err != nil {
		return art, dir, err
	}
	art, err = registry.LoadArtifact(lay)
	return art, dir, err
}

// reproduceBinary builds ci/registry/cmd/reproduce from this module's own source (go.mod and the
// registry package only, so another change to the module does not rebuild it) in a Go image.
func reproduceBinary(golangImage string) *dagger.File {
	src := dag.CurrentModule().Source()
	return goTool(golangImage, dag.Directory().
		WithFile("go.mod", src.File("go.mod")).
		WithFile("go.sum", src.File("go.sum")).
		WithDirectory("ci/registry", src.Directory("ci/registry")),
		"./ci/registry/cmd/reproduce", "nightly-reproduce", "")
}
