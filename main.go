// Nightly delivery of a Java/Maven product shipped as two container images (a management API and a
// web UI) to a Kubernetes demo cluster: test, deploy SNAPSHOTs, build and lint the images, push
// them as X.Y.Z-nightly, deploy with Pulumi and record the deployment in git.
//
// Every function runs the same on a laptop (`dagger call …`), in CI, and from other modules. The
// pipeline lives in the ci package, one step a file; this file only documents and delegates.
package main

import (
	"context"
	"fmt"

	"dagger/nightly/ci"
	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// Nightly holds the settings shared by every step.
type Nightly struct {
	// The product's source tree: the Maven project root holding the parent pom.xml
	Source *dagger.Directory
	// Maven + JDK image every Maven step runs in
	MavenImage string
}

// New configures the pipeline. The defaults run it on the fixture product of this repository.
func New(
	// The product's source tree: the Maven project root holding the parent pom.xml
	// +defaultPath="/fixtures/product"
	// +ignore=["**/target", ".git"]
	source *dagger.Directory,
	// Maven + JDK image every Maven step runs in (a pinned public reference)
	// +default="maven:3.9.9-eclipse-temurin-17"
	mavenImage string,
) *Nightly {
	return &Nightly{Source: source, MavenImage: mavenImage}
}

// Version is the product version and the image tags derived from it.
type Version struct {
	// The version the root POM declares, properties resolved (e.g. 3.0.0-SNAPSHOT)
	Pom string
	// X.Y.Z, the POM version without qualifier (e.g. 3.0.0)
	Base string
	// The tag the nightly pushes (e.g. 3.0.0-nightly)
	NightlyTag string
	// The tag that keeps the nightly before it (e.g. 3.0.0-nightly-previous)
	PreviousTag string
}

// Read the product version from the root pom.xml and derive the nightly image tags
func (m *Nightly) Version(ctx context.Context) (*Version, error) {
	pom, err := m.Source.File("pom.xml").Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading pom.xml at the source root: %w", err)
	}
	v, err := plan.ParseVersion([]byte(pom), "pom.xml")
	if err != nil {
		return nil, err
	}
	return &Version{Pom: v.POM, Base: v.Base, NightlyTag: v.NightlyTag(), PreviousTag: v.PreviousTag()}, nil
}

// Report the Maven and Java versions of the Maven image, as `mvn --version` prints them
func (m *Nightly) Toolchain(ctx context.Context) (string, error) {
	return ci.Toolchain(ctx, m.MavenImage)
}
