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
	"dagger/nightly/internal/dagger"
)

// Nightly holds the settings shared by every step.
type Nightly struct {
	// The product's source tree: the Maven project root holding the parent pom.xml
	Source *dagger.Directory
	// Maven + JDK image every Maven step runs in
	MavenImage string
	// Extra arguments for every mvn command
	MavenArgs []string
	// Name of the cache volume holding Maven's local repository
	MavenCache string
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
	// Extra arguments for every mvn command, e.g. -Pci or -DforkCount=0
	// +optional
	mavenArgs []string,
	// Name of the cache volume holding Maven's local repository (one per product is wise)
	// +default="nightly-maven-m2"
	mavenCache string,
) *Nightly {
	return &Nightly{Source: source, MavenImage: mavenImage, MavenArgs: mavenArgs, MavenCache: mavenCache}
}

func (m *Nightly) maven() ci.Maven {
	return ci.Maven{Image: m.MavenImage, Source: m.Source, Args: m.MavenArgs, Cache: m.MavenCache}
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
	v, err := m.maven().Version(ctx)
	if err != nil {
		return nil, err
	}
	return &Version{Pom: v.POM, Base: v.Base, NightlyTag: v.NightlyTag(), PreviousTag: v.PreviousTag()}, nil
}

// Report the Maven and Java versions of the Maven image, as `mvn --version` prints them
func (m *Nightly) Toolchain(ctx context.Context) (string, error) {
	return m.maven().Toolchain(ctx)
}

// Run `mvn clean test`; fails listing the failing tests. For the JUnit reports, use test-report
func (m *Nightly) Test(ctx context.Context) (string, error) {
	run, err := m.maven().Test(ctx)
	if err != nil {
		return "", err
	}
	if err := run.Err(); err != nil {
		return "", err
	}
	return run.Summary.String(), nil
}

// TestResult is the outcome of `mvn clean test`, red or green.
type TestResult struct {
	// True when Maven succeeded and no test failed or errored
	Passed bool
	// Tests run, as surefire counts them
	Tests int
	// Tests whose assertions failed
	Failures int
	// Tests that threw an unexpected exception
	Errors int
	// Tests skipped
	Skipped int
	// Each failing test as class.method (kind): message
	FailedTests []string
	// mvn's exit code
	ExitCode int
	// Files Maven fetched into its local repository (0 on a warm cache)
	Downloaded int
	// Every module's target/surefire-reports (JUnit XML), with their paths
	Reports *dagger.Directory
	// The whole Maven log
	Output string
}

// Run `mvn clean test` and return its result and JUnit reports, even when tests fail
func (m *Nightly) TestReport(ctx context.Context) (*TestResult, error) {
	run, err := m.maven().Test(ctx)
	if err != nil {
		return nil, err
	}
	r := &TestResult{
		Passed: run.Passed(), Tests: run.Summary.Tests, Failures: run.Summary.Failures,
		Errors: run.Summary.Errors, Skipped: run.Summary.Skipped, ExitCode: run.ExitCode, Downloaded: run.Downloaded,
		Reports: run.Reports, Output: run.Output,
	}
	for _, f := range run.Summary.Failed {
		r.FailedTests = append(r.FailedTests, f.String())
	}
	return r, nil
}

// DeployResult is what `mvn clean deploy` published.
type DeployResult struct {
	// The repository deployed to (a folder inside the container for a dry run)
	Repository string
	// True when nothing was published
	DryRun bool
	// The product version deployed (e.g. 3.0.0-SNAPSHOT)
	Version string
	// Every POM and jar uploaded, with its timestamped SNAPSHOT version
	Artifacts []*DeployedArtifact
	// How many times mvn ran (transient failures are retried)
	Attempts int
	// The whole Maven log of the successful attempt
	Output string
	// The container the deploy ran in, for inspection
	Container *dagger.Container
}

// DeployedArtifact is one uploaded file.
type DeployedArtifact struct {
	// groupId:artifactId:extension[:classifier]:version, the version timestamped for SNAPSHOTs
	Coordinates string
	GroupId     string
	ArtifactId  string
	// The base version (e.g. 3.0.0-SNAPSHOT)
	Version string
	// The deployed version (e.g. 3.0.0-20261129.005451-3)
	FileVersion string
	Classifier  string
	Extension   string
	// Where it was uploaded
	Url string
}

// Run `mvn clean deploy` of the product's SNAPSHOTs to a Maven repository; never cached
// +cache="never"
func (m *Nightly) Deploy(ctx context.Context,
	// URL of the deployment repository, e.g. https://repo.example.com/snapshots
	// +optional
	repositoryUrl string,
	// Id of the repository: names its <server> in a settings.xml you pass
	// +default="nightly-snapshots"
	repositoryId string,
	// Username for the repository
	// +optional
	username *dagger.Secret,
	// Password or token for the repository
	// +optional
	password *dagger.Secret,
	// A whole settings.xml instead of username/password (its <server> id must be repository-id)
	// +optional
	settings *dagger.Secret,
	// A service to reach the repository through, bound under the URL's host name; for a server on
	// your machine pass tcp://localhost:PORT and use http://ANY-NAME:PORT/… as the URL
	// +optional
	repositoryService *dagger.Service,
	// Run the tests again during the deploy (the test function already ran them)
	// +optional
	runTests bool,
	// Build and "deploy" to a folder inside the container: shows what would be published
	// +optional
	dryRun bool,
	// Retries on transient transfer failures (HTTP 408, 429, 5xx, connection resets)
	// +default=3
	retries int,
) (*DeployResult, error) {
	if repositoryUrl == "" && !dryRun {
		return nil, fmt.Errorf("deploy needs --repository-url (or --dry-run)")
	}
	run, err := m.maven().Deploy(ctx, ci.DeployOpts{
		RepositoryURL: repositoryUrl, RepositoryID: repositoryId,
		Username: username, Password: password, Settings: settings, Service: repositoryService,
		RunTests: runTests, DryRun: dryRun, Retries: retries,
	})
	if err != nil {
		return nil, err
	}
	r := &DeployResult{
		Repository: run.Repository, DryRun: run.DryRun, Version: run.Version.POM,
		Attempts: run.Attempts, Output: run.Output, Container: run.Container,
	}
	for _, a := range run.Artifacts {
		r.Artifacts = append(r.Artifacts, &DeployedArtifact{
			Coordinates: a.Coordinates(), GroupId: a.GroupID, ArtifactId: a.ArtifactID,
			Version: a.Version, FileVersion: a.FileVersion, Classifier: a.Classifier,
			Extension: a.Extension, Url: a.URL,
		})
	}
	return r, nil
}
