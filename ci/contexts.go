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
	// exactly one file (a jar), a file, or a folder, as the build produced it. The Maven module
	// whose version tags the image is the nearest folder above it holding a pom.xml.
	Ship string
	// ShipAs is its name in the context (management-api.jar, webui).
	ShipAs string
	// BaseImage becomes the default of the Dockerfile's ARG BASE_IMAGE.
	BaseImage string
}

// ImageContext is a prepared build context and what it was prepared from.
type ImageContext struct {
	Source ImageSource
	// Dir holds exactly the prepared Dockerfile and what the image ships.
	Dir *dagger.Directory
	// Dockerfile is the prepared Dockerfile's text (Dir's Dockerfile).
	Dockerfile string
	// Module is the Maven module that built what the image ships.
	Module plan.MavenModule
	// Version is the module's version, checked against what Maven built.
	Version plan.Version
}

// Package runs `mvn clean package -DskipTests` (the tests ran in their own step) and returns the
// source tree with every module's target/ folder, and Maven's log.
func (m Maven) Package(ctx context.Context) (*dagger.Directory, string, error) {
	ctr, code, out, err := runLogged(ctx, m.container(),
		m.command("--no-transfer-progress", "clean", "package", "-DskipTests"), "mvn clean package in image "+m.Image)
	if err != nil {
		return nil, "", err
	}
	if code != 0 {
		return nil, "", fmt.Errorf("packaging the product: mvn clean package exited %d; last lines:\n%s", code, lastLines(out, 25))
	}
	return ctr.Directory(srcDir), out, nil
}

// PrepareContexts packages the product and lays out one build context per image. Before
// returning it checks that Maven built each image's module at the version its tags will carry:
// publish calls it before pushing anything, so a disagreement pushes nothing.
func (m Maven) PrepareContexts(ctx context.Context, images []ImageSource) ([]ImageContext, error) {
	read := m.sourceReader(ctx)
	// Check what the source must hold before paying for a Maven build.
	dockerfiles := make([]string, len(images))
	modules := make([]plan.MavenModule, len(images))
	for i, img := range images {
		df, err := m.Source.File(img.Dockerfile).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("image %s: Dockerfile %q not found in the source: %v", img.Name, img.Dockerfile, err)
		}
		if dockerfiles[i], err = plan.PrepareDockerfile(df, img.BaseImage); err != nil {
			return nil, fmt.Errorf("image %s: Dockerfile %s: %v", img.Name, img.Dockerfile, err)
		}
		if modules[i], err = m.owningModule(read, img.Ship); err != nil {
			return nil, fmt.Errorf("image %s: %v", img.Name, err)
		}
	}
	packaged, log, err := m.Package(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ImageContext, len(images))
	for i, img := range images {
		shipped := path.Clean(strings.TrimPrefix(img.Ship, "/"))
		if strings.ContainsAny(img.Ship, "*?[") {
			matches, err := packaged.Glob(ctx, img.Ship)
			if err != nil {
				return nil, fmt.Errorf("image %s: listing %q after mvn clean package: %v", img.Name, img.Ship, err)
			}
			if shipped, err = plan.PickArtifact(img.Ship, matches); err != nil {
				return nil, fmt.Errorf("image %s: %v", img.Name, err)
			}
			shipped = strings.TrimSuffix(shipped, "/")
			// A glob in a folder name: the module is the one above what it matched.
			if modules[i], err = m.owningModule(read, shipped); err != nil {
				return nil, fmt.Errorf("image %s: %v", img.Name, err)
			}
		}
		dir := dag.Directory().WithNewFile("Dockerfile", dockerfiles[i])
		// A file or a folder, as the build produced it.
		isDir, err := packaged.Exists(ctx, shipped, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType})
		if err != nil {
			return nil, fmt.Errorf("image %s: reading %q after mvn clean package: %v", img.Name, shipped, err)
		}
		isFile, err := packaged.Exists(ctx, shipped, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
		if err != nil {
			return nil, fmt.Errorf("image %s: reading %q after mvn clean package: %v", img.Name, shipped, err)
		}
		switch {
		case isDir:
			dir = dir.WithDirectory(img.ShipAs, packaged.Directory(shipped))
		case isFile:
			dir = dir.WithFile(img.ShipAs, packaged.File(shipped))
		default:
			return nil, fmt.Errorf("image %s: %q is neither a file nor a folder after mvn clean package (module %s)", img.Name, shipped, modules[i].Dir)
		}
		if err := checkBuiltVersion(ctx, packaged, log, modules[i]); err != nil {
			return nil, fmt.Errorf("image %s: %v", img.Name, err)
		}
		out[i] = ImageContext{Source: img, Dir: dir, Dockerfile: dockerfiles[i], Module: modules[i], Version: modules[i].Version}
	}
	return out, nil
}

// owningModule resolves the Maven module that builds path (the nearest pom.xml above it).
func (m Maven) owningModule(read plan.ReadFile, p string) (plan.MavenModule, error) {
	dir, err := plan.OwningModule(read, p)
	if err != nil {
		return plan.MavenModule{}, err
	}
	return plan.ResolveModule(read, dir, m.Args)
}

// checkBuiltVersion compares a module's resolved version with the one Maven built: the
// pom.properties maven-archiver packaged, and the build log.
func checkBuiltVersion(ctx context.Context, packaged *dagger.Directory, log string, module plan.MavenModule) error {
	e := plan.BuildEvidence{Log: log}
	props := path.Join(module.Dir, "target/maven-archiver/pom.properties")
	ok, err := packaged.Exists(ctx, props, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
	if err != nil {
		return fmt.Errorf("reading %s: %v", props, err)
	}
	if ok {
		if e.Archiver, err = packaged.File(props).Contents(ctx); err != nil {
			return fmt.Errorf("reading %s: %v", props, err)
		}
	}
	return plan.CheckBuiltVersion(module, e)
}
