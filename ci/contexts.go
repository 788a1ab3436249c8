package ci

import (
	"context"
	"fmt"
	"path"
	"strings"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// ImageSource says how one image's Docker build context is made from the packaged product.
type ImageSource struct {
	// Name of the image (management-api, webui).
	Name string
	// Dockerfile is the versioned Dockerfile, relative to the source root.
	Dockerfile string
	// Ship is what the image ships, relative to the source root after `mvn package`: a glob of
	// exactly one file (a jar), or a folder. Its first path element is the Maven module.
	Ship string
	// ShipAs is its name in the context (management-api.jar, webui).
	ShipAs string
	// BaseImage becomes the default of the Dockerfile's ARG BASE_IMAGE.
	BaseImage string
}

func (s ImageSource) module() string { return strings.SplitN(s.Ship, "/", 2)[0] }

// ImageContext is a prepared build context and what it was prepared from.
type ImageContext struct {
	Source ImageSource
	// Dir holds exactly the prepared Dockerfile and what the image ships.
	Dir *dagger.Directory
	// Version is the image's Maven module version.
	Version plan.Version
}

// Package runs `mvn clean package -DskipTests` (the tests ran in their own step) and returns the
// source tree with every module's target/ folder.
func (m Maven) Package() *dagger.Directory {
	return m.container().
		WithExec(m.command("--no-transfer-progress", "clean", "package", "-DskipTests")).
		Directory(srcDir)
}

// PrepareContexts packages the product and lays out one build context per image.
func (m Maven) PrepareContexts(ctx context.Context, images []ImageSource) ([]ImageContext, error) {
	// Check what the source must hold before paying for a Maven build.
	dockerfiles := make([]string, len(images))
	versions := make([]plan.Version, len(images))
	for i, img := range images {
		df, err := m.Source.File(img.Dockerfile).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("image %s: Dockerfile %q not found in the source: %v", img.Name, img.Dockerfile, err)
		}
		dockerfiles[i] = plan.PrepareDockerfile(df, img.BaseImage)
		pomPath := path.Join(img.module(), "pom.xml")
		pom, err := m.Source.File(pomPath).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("image %s: Maven module %q has no pom.xml: %v", img.Name, img.module(), err)
		}
		if versions[i], err = plan.ParseVersion([]byte(pom), pomPath); err != nil {
			return nil, fmt.Errorf("image %s: %v", img.Name, err)
		}
	}
	packaged := m.Package()
	out := make([]ImageContext, len(images))
	for i, img := range images {
		dir := dag.Directory().WithNewFile("Dockerfile", dockerfiles[i])
		if strings.ContainsAny(img.Ship, "*?[") {
			matches, err := packaged.Glob(ctx, img.Ship)
			if err != nil {
				return nil, fmt.Errorf("image %s: packaging the product (mvn clean package): %v", img.Name, err)
			}
			file, err := plan.PickArtifact(img.Ship, matches)
			if err != nil {
				return nil, fmt.Errorf("image %s: %v", img.Name, err)
			}
			dir = dir.WithFile(img.ShipAs, packaged.File(file))
		} else {
			assets := packaged.Directory(img.Ship)
			if _, err := assets.Entries(ctx); err != nil {
				return nil, fmt.Errorf("image %s: folder %q not found after mvn clean package: %v", img.Name, img.Ship, err)
			}
			dir = dir.WithDirectory(img.ShipAs, assets)
		}
		out[i] = ImageContext{Source: img, Dir: dir, Version: versions[i]}
	}
	return out, nil
}
