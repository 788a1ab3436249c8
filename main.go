// Nightly delivery of a Java/Maven product shipped as two container images (a management API and a
// web UI) to a Kubernetes demo cluster: test, deploy SNAPSHOTs, build and lint the images, push
// them as X.Y.Z-nightly, deploy with Pulumi and record the deployment in git.
//
// Every function runs the same on a laptop (`dagger call …`), in CI, and from other modules. The
// pipeline lives in the ci package, one step a file; this file only documents and delegates.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

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
	// Extra arguments for every mvn command
	MavenArgs []string
	// Name of the cache volume holding Maven's local repository
	MavenCache string
	// The two images: how their build contexts are made
	Images []*ImageSource
	// Dockerfile linting, which also gates publish
	Linting *LintSettings
	// Image with git and a POSIX shell, where the GitOps stage runs
	GitImage string
	// Where run publishes, deploys and commits: set with the with-… functions
	// +private
	Targets *Targets
}

// LintSettings choose the Dockerfile linter and its images.
type LintSettings struct {
	// hadolint or buildkit
	Linter string
	// Findings at or above this level fail: error, warning, info, style or none
	Threshold string
	// A .hadolint.yaml (hadolint only)
	Config          *dagger.File
	HadolintImage   string
	GolangImage     string
	ShellcheckImage string
}

// ImageSource says how one image's Docker build context is made from the packaged product.
type ImageSource struct {
	// Image name (management-api, webui)
	Name string
	// The versioned Dockerfile, relative to the source root
	Dockerfile string
	// What the image ships, after mvn package: a glob of one file, a file or a folder; the Maven
	// module whose version tags the image is the nearest folder above it holding a pom.xml
	Ship string
	// Its name in the build context
	ShipAs string
	// Base image: the default of the Dockerfile's ARG BASE_IMAGE
	BaseImage string
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
	// Versioned Dockerfile of the management API image, relative to the source root
	// +default="docker/management-api/Dockerfile"
	apiDockerfile string,
	// The jar the management API image ships, after mvn package: a glob of exactly one file, or its path
	// +default="management-api/target/*.jar"
	apiArtifact string,
	// Base image of the management API (a Java runtime; pinned public reference)
	// +default="eclipse-temurin:17.0.13_11-jre"
	apiBaseImage string,
	// Versioned Dockerfile of the web UI image, relative to the source root
	// +default="docker/webui/Dockerfile"
	uiDockerfile string,
	// The folder of static assets the web UI image ships, after mvn package
	// +default="webui/target/classes/webui"
	uiAssets string,
	// Base image of the web UI (an HTTP server; pinned public reference)
	// +default="busybox:1.37.0"
	uiBaseImage string,
	// Dockerfile linter: hadolint (its image), or buildkit (BuildKit's checks, the rules of
	// docker build --check, plus ShellCheck on RUN lines; built from this module)
	// +default="hadolint"
	linter string,
	// Lint findings at or above this level fail lint and stop publish: error, warning, info, style or none
	// +default="warning"
	lintThreshold string,
	// A .hadolint.yaml for hadolint (the threshold stays on the command line)
	// +optional
	hadolintConfig *dagger.File,
	// hadolint image (pinned public reference)
	// +default="hadolint/hadolint:v2.12.0-debian"
	hadolintImage string,
	// Go image that builds the module's Go tools: the buildkit linter, the forge client (pinned public reference)
	// +default="golang:1.26.8-bookworm"
	golangImage string,
	// Image with ShellCheck, where the buildkit linter runs (pinned public reference)
	// +default="koalaman/shellcheck-alpine:v0.10.0"
	shellcheckImage string,
	// Image with git and a POSIX shell, where the GitOps stage clones, commits and pushes (pinned public reference)
	// +default="alpine/git:v2.49.1"
	gitImage string,
) *Nightly {
	return &Nightly{Source: source, MavenImage: mavenImage, MavenArgs: mavenArgs, MavenCache: mavenCache, GitImage: gitImage,
		Linting: &LintSettings{Linter: linter, Threshold: lintThreshold, Config: hadolintConfig,
			HadolintImage: hadolintImage, GolangImage: golangImage, ShellcheckImage: shellcheckImage},
		Images: []*ImageSource{
			{Name: "management-api", Dockerfile: apiDockerfile, Ship: apiArtifact, ShipAs: "management-api.jar", BaseImage: apiBaseImage},
			{Name: "webui", Dockerfile: uiDockerfile, Ship: uiAssets, ShipAs: "webui", BaseImage: uiBaseImage},
		}}
}

func (m *Nightly) lintOpts() ci.LintOpts {
	l := m.Linting
	return ci.LintOpts{Linter: l.Linter, Threshold: l.Threshold, Config: l.Config,
		HadolintImage: l.HadolintImage, GolangImage: l.GolangImage, ShellcheckImage: l.ShellcheckImage}
}

func (m *Nightly) imageSources() []ci.ImageSource {
	var out []ci.ImageSource
	for _, i := range m.Images {
		out = append(out, ci.ImageSource{Name: i.Name, Dockerfile: i.Dockerfile, Ship: i.Ship, ShipAs: i.ShipAs, BaseImage: i.BaseImage})
	}
	return out
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
	// All of it on one line: 3.0.0-SNAPSHOT → 3.0.0 → 3.0.0-nightly (dagger call prints an object
	// as its ID: ask for this field, or another one)
	Summary string
}

// Read the product version from the root pom.xml and derive the nightly image tags
func (m *Nightly) Version(ctx context.Context) (*Version, error) {
	v, err := m.maven().Version(ctx)
	if err != nil {
		return nil, err
	}
	return &Version{Pom: v.POM, Base: v.Base, NightlyTag: v.NightlyTag(), PreviousTag: v.PreviousTag(),
		Summary: v.POM + " → " + v.Base + " → " + v.NightlyTag()}, nil
}

// Report the Maven and Java versions of the Maven image, as `mvn --version` prints them
func (m *Nightly) Toolchain(ctx context.Context) (string, error) {
	return m.maven().Toolchain(ctx)
}

// Run `mvn clean test`; fails listing the failing tests. For the JUnit reports, use test-report
// +check
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
	// True when the engine's cache held a red run for the same inputs and the tests were run again
	// (a red run is never reused, so a flaky test gets a real second run)
	RanAgain bool
}

// Run `mvn clean test` and return its result and JUnit reports, even when tests fail. Cached within
// one call only: a red run is never reused, so each call after a red one runs the tests again
// (export the reports and read the fields in one call, as `run … files export` does)
// +cache="session"
func (m *Nightly) TestReport(ctx context.Context) (*TestResult, error) {
	run, err := m.maven().Test(ctx)
	if err != nil {
		return nil, err
	}
	r := &TestResult{
		Passed: run.Passed(), Tests: run.Summary.Tests, Failures: run.Summary.Failures,
		Errors: run.Summary.Errors, Skipped: run.Summary.Skipped, ExitCode: run.ExitCode, Downloaded: run.Downloaded,
		Reports: run.Reports, Output: run.Output, RanAgain: run.RanAgain,
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
	// What was deployed, one line an artifact (dagger call prints an object as its ID: ask for
	// this field to read the result)
	Summary string
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
	r.Summary = deploySummary(r)
	return r, nil
}

func deploySummary(r *DeployResult) string {
	verb := "deployed"
	if r.DryRun {
		verb = "dry run, nothing published; would deploy"
	}
	s := fmt.Sprintf("%s %s to %s in %d attempt(s): %d file(s)\n", verb, r.Version, r.Repository, r.Attempts, len(r.Artifacts))
	for _, a := range r.Artifacts {
		s += "  " + a.Coordinates + "\n"
	}
	return s
}

// BuildContexts are the prepared Docker build contexts of the two images.
type BuildContexts struct {
	// The management API's context: its Dockerfile and jar
	ManagementApi *dagger.Directory
	// The web UI's context: its Dockerfile and static assets
	Webui *dagger.Directory
}

// Package the product (mvn clean package) and prepare each image's build context and Dockerfile
func (m *Nightly) PrepareContexts(ctx context.Context) (*BuildContexts, error) {
	cs, err := m.maven().PrepareContexts(ctx, m.imageSources())
	if err != nil {
		return nil, err
	}
	return &BuildContexts{ManagementApi: cs[0].Dir, Webui: cs[1].Dir}, nil
}

// Lint and build both images reproducibly, push each under its immutable commit tag
// X.Y.Z-nightly-<commit>, then point X.Y.Z-nightly at the newest build and X.Y.Z-nightly-previous at
// the one before (safe when several publishes run at once); prints what moved, image by image.
// Never cached
// +cache="never"
func (m *Nightly) Publish(ctx context.Context,
	// The full git commit hash being published (e.g. $(git rev-parse HEAD))
	commit string,
	// The commit date, RFC 3339 (e.g. $(git log -1 --format=%cI)): the image's created label and
	// the time of every file the build made, and what orders nightlies (the newest commit wins).
	// Without it, a first publish stamps the current time and re-runs reuse it
	// +optional
	created string,
	// Registry and namespace the repositories live in
	// +default="docker.io/graviteeio"
	registry string,
	// Repository of the management API image, under the namespace
	// +default="cockpit-management-api"
	apiRepository string,
	// Repository of the web UI image, under the namespace
	// +default="cockpit-webui"
	uiRepository string,
	// Registry username
	// +optional
	username *dagger.Secret,
	// Registry password or access token (a trailing newline, as in a file: secret, is dropped)
	// +optional
	password *dagger.Secret,
	// A service through which the module reaches the registry, for one on your machine
	// (tcp://localhost:PORT); the registry keeps its name in image references
	// +optional
	registryService *dagger.Service,
	// How long a registry request waits for the registry's answer once sent, then is retried (a
	// duration: 30s, 3m); a connection cut behind a proxy or tunnel is noticed only then
	// +default="3m"
	responseTimeout string,
	// Platforms to build; more than one makes a multi-platform image (an index)
	// +default=["linux/amd64"]
	platforms []string,
	// Source repository URL for the org.opencontainers.image.source label
	// +optional
	sourceUrl string,
	// Build the images and read the registry, but push and move nothing: prints what would happen
	// +optional
	dryRun bool,
) (string, error) {
	pub, err := ci.Publish(ctx, m.maven(), m.imageSources(), ci.PublishOpts{
		Namespace:    registry,
		Repositories: map[string]string{"management-api": apiRepository, "webui": uiRepository},
		Build:        ci.BuildOpts{Platforms: platforms, Commit: commit, SourceURL: sourceUrl},
		Created:      created,
		Registry:     ci.RegistryOpts{Username: username, Password: password, Service: registryService, ResponseTimeout: responseTimeout},
		Lint:         m.lintOpts(),
		DryRun:       dryRun,
	})
	if err != nil {
		return "", err
	}
	return pub.Summary(), nil
}

// Point X.Y.Z-nightly of both images back at X.Y.Z-nightly-previous (X.Y.Z from the POM); prints
// what moved, image by image. Checks both images before moving either; never cached
// +cache="never"
func (m *Nightly) Rollback(ctx context.Context,
	// Registry and namespace the repositories live in
	// +default="docker.io/graviteeio"
	registry string,
	// Repository of the management API image, under the namespace
	// +default="cockpit-management-api"
	apiRepository string,
	// Repository of the web UI image, under the namespace
	// +default="cockpit-webui"
	uiRepository string,
	// Registry username
	// +optional
	username *dagger.Secret,
	// Registry password or access token
	// +optional
	password *dagger.Secret,
	// A service through which the module reaches the registry (tcp://localhost:PORT)
	// +optional
	registryService *dagger.Service,
	// How long a registry request waits for the registry's answer once sent, then is retried (a
	// duration: 30s, 3m); a connection cut behind a proxy or tunnel is noticed only then
	// +default="3m"
	responseTimeout string,
) (string, error) {
	v, err := m.maven().Version(ctx)
	if err != nil {
		return "", err
	}
	rbs, err := ci.Rollback(ctx, v, registry, []string{"management-api", "webui"}, []string{apiRepository, uiRepository},
		ci.RegistryOpts{Username: username, Password: password, Service: registryService, ResponseTimeout: responseTimeout})
	if err != nil {
		return "", err
	}
	return ci.RollbackSummary(v, rbs), nil
}

// LintReport is every Dockerfile finding and the reports made of them.
type LintReport struct {
	// True when no finding is at or above the threshold
	Passed bool
	// The linter that ran (hadolint or buildkit)
	Linter string
	// The failure threshold
	Threshold string
	// Dockerfiles linted: versioned ones by their path, prepared ones as prepared/<image>/Dockerfile
	Files []string
	// Every finding as file:line:column code [level] message
	Findings []string
	// How many findings are at or above the threshold
	Failing int
	// The findings as hadolint's JSON
	Json *dagger.File
	// The findings as SARIF 2.1.0 (GitHub code scanning)
	Sarif *dagger.File
	// A readable summary
	Summary string
}

// Lint every Dockerfile, versioned and prepared; fails listing file:line:rule for each finding
// at or above the threshold. For the JSON and SARIF reports, use lint-report
// +check
func (m *Nightly) Lint(ctx context.Context) (string, error) {
	run, err := m.lint(ctx)
	if err != nil {
		return "", err
	}
	if err := run.Err(); err != nil {
		return "", err
	}
	return run.Summary, nil
}

// Lint every Dockerfile, versioned and prepared, and return the findings as JSON, SARIF and a
// summary, even when findings are over the threshold
func (m *Nightly) LintReport(ctx context.Context) (*LintReport, error) {
	run, err := m.lint(ctx)
	if err != nil {
		return nil, err
	}
	r := &LintReport{Passed: len(run.Failing) == 0, Linter: run.Linter, Threshold: run.Threshold,
		Files: run.Files, Failing: len(run.Failing), Summary: run.Summary,
		Json:  dag.Directory().WithNewFile("hadolint.json", run.JSON).File("hadolint.json"),
		Sarif: dag.Directory().WithNewFile("lint.sarif", run.SARIF).File("lint.sarif")}
	for _, f := range run.Findings {
		r.Findings = append(r.Findings, fmt.Sprintf("%s:%d:%d %s [%s] %s", f.File, f.Line, f.Column, f.Code, f.Level, f.Message))
	}
	return r, nil
}

func (m *Nightly) lint(ctx context.Context) (*ci.LintRun, error) {
	if _, err := m.lintOpts().Check(); err != nil {
		return nil, err
	}
	contexts, err := m.maven().PrepareContexts(ctx, m.imageSources())
	if err != nil {
		return nil, err
	}
	return ci.Lint(ctx, m.Source, contexts, m.lintOpts())
}

// Commit the stack file to the deployment repository (the seed's GitOps step): to the base branch
// (direct), or to deployment-<gitCommitId> with a pull request to the base branch; prints what it
// did as YAML; never cached
// +cache="never"
func (m *Nightly) Gitops(ctx context.Context,
	// The deployment repository's HTTP(S) URL, e.g. https://github.com/OWNER/NAME.git (a forge on your machine: http://gitea:PORT/OWNER/NAME.git with --forge-service)
	repositoryUrl string,
	// A token that may push to the repository and open pull requests
	token *dagger.Secret,
	// The stack file to commit (stack-config's Pulumi.<stack>.yaml)
	stackFile *dagger.File,
	// The full source commit the nightly built (e.g. $(git rev-parse HEAD)); names the commit and the branch
	commit string,
	// The image tag the nightly deployed (e.g. 3.0.0-nightly); named in the commit message
	imageTag string,
	// The stack file's path in the repository
	// +default="Pulumi.nightly.yaml"
	path string,
	// The branch the deployment lands on
	// +default="master"
	base string,
	// direct (commit to the base branch) or pull-request (push deployment-<gitCommitId>, open a pull request)
	// +default="direct"
	mode string,
	// Author and committer, as "Name <email>"
	// +default="nightly <nightly@localhost>"
	author string,
	// The forge's API, for pull requests: github, gitea, or auto (github.com is GitHub; codeberg.org and hosts naming gitea or forgejo are Gitea)
	// +default="auto"
	forge string,
	// A service to reach the forge through, bound under the URL's host name (a forge on your machine: tcp://localhost:PORT)
	// +optional
	forgeService *dagger.Service,
	// Clone, commit and show the diff and what would be pushed; push nothing, open nothing
	// +optional
	dryRun bool,
	// Pushes after the first when the branch moved (fetch, rebase, push again) or the forge faltered
	// +default=3
	retries int,
) (string, error) {
	out, err := ci.Gitops(ctx, ci.GitopsOpts{
		GitopsInput: plan.GitopsInput{RepositoryURL: repositoryUrl, Forge: forge, StackPath: path, Base: base,
			Mode: mode, Commit: commit, ImageTag: imageTag, Author: author},
		Token: token, StackFile: stackFile, Service: forgeService,
		GitImage: m.GitImage, GolangImage: m.Linting.GolangImage, DryRun: dryRun, Retries: retries,
	})
	if err != nil {
		return "", err
	}
	return out.Render(), nil
}

// Deployment is the demo's Pulumi deployment (step 6): the deployment project, its stack and state
// backend, the cluster, and the images the program runs in. Its functions: stack-config, up, cancel.
type Deployment struct {
	// The deployment project: Pulumi.yaml, Pulumi.<stack>.yaml and the chart folder
	Project *dagger.Directory
	// The stack (nightly)
	Stack string
	// The state backend URL, without credentials
	BackendUrl string
	// A service the backend is reached through, bound under the URL's host name
	BackendService *dagger.Service
	// The backend's credentials, a KEY=VALUE file
	BackendEnv *dagger.Secret
	// The stack's secrets passphrase
	Passphrase *dagger.Secret
	// The cluster's kubeconfig
	Kubeconfig *dagger.Secret
	// A service the cluster's API server is reached through
	ClusterService *dagger.Service
	// The stack config namespace (graviteeio)
	ConfigNamespace string
	// The Pulumi image the program runs in
	PulumiImage string
	// The Go image that builds the program
	GolangImage string
	// The Kubernetes provider's version
	KubernetesProvider string
	// Where the Kubernetes provider is downloaded from ("" = Pulumi's servers)
	PluginServer string
	// A service the plugin server is reached through
	PluginService *dagger.Service
}

// Configure the Pulumi deployment of the demo (step 6); then call stack-config, up or cancel on it
func (m *Nightly) Deployment(
	// The deployment project: Pulumi.yaml, Pulumi.<stack>.yaml and the chart folder
	// +defaultPath="/fixtures/deployment"
	// +ignore=[".git"]
	project *dagger.Directory,
	// The stack name (or org/project/stack)
	// +default="nightly"
	stack string,
	// The state backend URL, without credentials: postgres://USER@HOST:PORT/DB?sslmode=…, s3://…,
	// azblob://…, gs://…, file://…; empty for Pulumi Cloud
	// +optional
	backendUrl string,
	// A service the backend is reached through (tcp://localhost:PORT for one on your machine), bound
	// under the backend URL's host name
	// +optional
	backendService *dagger.Service,
	// The backend's credentials, as a KEY=VALUE file: PGPASSWORD, AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY, or PULUMI_ACCESS_TOKEN for Pulumi Cloud
	// +optional
	backendEnv *dagger.Secret,
	// The passphrase of the stack's passphrase secrets provider
	// +optional
	passphrase *dagger.Secret,
	// The cluster's kubeconfig
	// +optional
	kubeconfig *dagger.Secret,
	// A service the cluster's API server is reached through (tcp://localhost:6443 for one on your
	// machine): bound as kube-apiserver, and the kubeconfig's loopback servers point there
	// +optional
	clusterService *dagger.Service,
	// The stack config namespace of the seed's keys (graviteeio:docker_image_tag …)
	// +default="graviteeio"
	configNamespace string,
	// The Pulumi CLI image the program runs in (pinned public reference)
	// +default="pulumi/pulumi-base:3.274.1"
	pulumiImage string,
	// The Go image that builds the program (pinned public reference)
	// +default="golang:1.26.8-bookworm"
	golangImage string,
	// The Kubernetes provider's version; installed when the Pulumi image lacks it
	// +default="4.32.0"
	kubernetesProvider string,
	// Where to download the Kubernetes provider from: an http(s) URL serving
	// pulumi-resource-kubernetes-v<version>-linux-amd64.tar.gz (default: Pulumi's servers)
	// +optional
	pluginServer string,
	// A service the plugin server is reached through, bound under its URL's host name
	// +optional
	pluginService *dagger.Service,
) *Deployment {
	return &Deployment{Project: project, Stack: stack, BackendUrl: backendUrl, BackendService: backendService,
		BackendEnv: backendEnv, Passphrase: passphrase, Kubeconfig: kubeconfig, ClusterService: clusterService,
		ConfigNamespace: configNamespace, PulumiImage: pulumiImage, GolangImage: golangImage,
		KubernetesProvider: kubernetesProvider, PluginServer: pluginServer, PluginService: pluginService}
}

func (d *Deployment) ci() ci.Deployment {
	return ci.Deployment{Project: d.Project, Stack: d.Stack, BackendURL: d.BackendUrl, BackendService: d.BackendService,
		BackendEnv: d.BackendEnv, Passphrase: d.Passphrase, Kubeconfig: d.Kubeconfig, ClusterService: d.ClusterService,
		ConfigNamespace: d.ConfigNamespace, PulumiImage: d.PulumiImage, GolangImage: d.GolangImage,
		ProviderVersion: d.KubernetesProvider, PluginServer: d.PluginServer, PluginService: d.PluginService}
}

// Set the stack's config (image tag, commit, chart folder) through the Pulumi Automation API and
// return the updated Pulumi.<stack>.yaml, the file the GitOps stage commits; never cached
// +cache="never"
func (d *Deployment) StackConfig(ctx context.Context,
	// The tag both images carry (e.g. 3.0.0-nightly)
	imageTag string,
	// The product's commit (full hash, or at least 15 hex digits): the pods' label value
	commit string,
	// The chart folder, relative to the project (e.g. ./cockpit); default: keep the stack's
	// +optional
	chartFolder string,
	// The web UI image's tag, when known apart (e.g. from publish): must equal image-tag
	// +optional
	uiImageTag string,
	// The Kubernetes namespace to deploy to; default: keep the stack's
	// +optional
	namespace string,
) (*dagger.File, error) {
	return d.ci().StackConfig(ctx, plan.StackConfigInput{ImageTag: imageTag, UIImageTag: uiImageTag,
		Commit: commit, ChartFolder: chartFolder, Namespace: namespace})
}

// DeploymentReport is what up did: the preview, the one update, each workload's rollout.
type DeploymentReport struct {
	// A readable summary: changes, outputs, rollouts
	Summary string
	// The stack deployed
	Stack string
	// True when only the preview ran
	DryRun bool
	// The preview, as pulumi preview --diff prints it
	PreviewDiff string
	// What the preview announced, e.g. "4 update, 3 unchanged"
	PreviewChanges string
	// What the update did, e.g. "4 update, 3 unchanged" (empty for a dry run)
	Changes string
	// How many resources the update changed (0: nothing to do)
	Changed int
	// The update's number in the stack's history (0 for a dry run)
	Version int
	// The stack's outputs, as key=value
	Outputs []string
	// Every workload with a pod template, after the update
	Workloads []*WorkloadRollout
	// The workloads whose pod templates got the commit label in this run (kind and name)
	Labeled []string
	// Pending operations an interrupted update had left (resolved, see Recovered)
	Pending []string
	// How the pending operations were resolved
	Recovered string
	// How often we waited for another update's lock
	LockWaits int
	// Milliseconds spent previewing, inside the container
	PreviewMs int
	// Milliseconds spent updating, inside the container
	UpdateMs int
	// This report as JSON, for scripts and tests
	Json string
	// The container the deploy ran in, for inspection (credentials were never in it)
	Container *dagger.Container
}

// WorkloadRollout is one workload's rollout state.
type WorkloadRollout struct {
	// e.g. apps/v1/Deployment
	Kind      string
	Namespace string
	Name      string
	// The app.gravitee.io/git_commit_id label on its pod template
	GitCommitId string
	// True when the controller finished rolling out the current template
	RolledOut bool
	// e.g. "rolled out: 1/1 updated, 1 ready, 1 available"
	State string
}

// Preview the stack with diff, then run exactly one pulumi up, and report the changes and each
// workload's rollout; a locked stack is retried with backoff; never cached
// +cache="never"
func (d *Deployment) Up(ctx context.Context,
	// Chart values that take the image tag
	// +default=["api.image.tag","ui.image.tag"]
	imageTagValues []string,
	// imagePullPolicy of every container (Always: the nightly tag moves)
	// +default="Always"
	pullPolicy string,
	// Switch Deployments to the Recreate strategy (old pods stop before new ones start)
	// +optional
	recreate bool,
	// Retries while another update holds the stack's lock (backoff 2 s, doubling, at most 30 s)
	// +default=5
	lockRetries int,
	// Preview only: show the diff, change nothing
	// +optional
	dryRun bool,
) (*DeploymentReport, error) {
	r, err := d.ci().Up(ctx, ci.UpOpts{TagValuePaths: imageTagValues, PullPolicy: pullPolicy, Recreate: recreate,
		LockRetries: lockRetries, DryRun: dryRun})
	if err != nil {
		return nil, err
	}
	rep := &DeploymentReport{Summary: r.Summary(), Stack: r.Stack, DryRun: r.DryRun, PreviewDiff: r.PreviewDiff,
		PreviewChanges: r.PreviewChanges.String(), Changed: r.Changes.Changed(), Version: r.Version,
		Pending: r.Pending, Recovered: r.Recovered, LockWaits: r.LockWaits, Labeled: r.Labeled,
		PreviewMs: int(r.Seconds["preview"] * 1000), UpdateMs: int(r.Seconds["update"] * 1000)}
	if r.Updated {
		rep.Changes = r.Changes.String()
	}
	for _, k := range sortedKeys(r.Outputs) {
		rep.Outputs = append(rep.Outputs, fmt.Sprintf("%s=%v", k, r.Outputs[k]))
	}
	for _, w := range r.Workloads {
		rep.Workloads = append(rep.Workloads, &WorkloadRollout{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
			GitCommitId: w.GitCommitID, RolledOut: w.Done, State: w.State})
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return nil, err
	}
	rep.Json, rep.Container = string(js), r.Container
	return rep, nil
}

// Remove the stack's lock, as pulumi cancel does, after an update was killed; never cached
// +cache="never"
func (d *Deployment) Cancel(ctx context.Context) (string, error) {
	return d.ci().Cancel(ctx)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ── The whole nightly: run ─────────────────────────────────────────────────────────────────────
//
// run takes the settings of every stage from with-… calls chained before it, e.g.
//
//	dagger call --source=. with-snapshot-repository --repository-url=… with-registry --username=… \
//	  with-deployment --backend-url=… with-gitops --repository-url=… \
//	  run --commit=$(git rev-parse HEAD) --created=$(git log -1 --format=%cI) files export --path=nightly-report
//
// A stage whose settings were not given is skipped (the report says so).

// Targets are where run publishes, deploys and commits (nil: the stage is skipped).
type Targets struct {
	// with-snapshot-repository
	Snapshots *SnapshotRepository
	// with-registry
	Registry *ImageRegistry
	// with-deployment, and its stack-config inputs
	Deployment  *Deployment
	ChartFolder string
	Namespace   string
	// with-gitops
	Gitops *DeploymentRepository
	// with-direct-deploy
	DirectDeploy *DirectDeploy
}

// SnapshotRepository is where run's mvn clean deploy publishes the SNAPSHOTs.
type SnapshotRepository struct {
	Url      string
	Id       string
	Username *dagger.Secret
	Password *dagger.Secret
	Settings *dagger.Secret
	Service  *dagger.Service
	RunTests bool
	Retries  int
}

// ImageRegistry is where run publishes the two images.
type ImageRegistry struct {
	Registry      string
	ApiRepository string
	UiRepository  string
	Username      *dagger.Secret
	Password      *dagger.Secret
	Service       *dagger.Service
	// ResponseTimeout is how long a request waits for the registry's answer (a duration)
	ResponseTimeout string
	Platforms       []string
	SourceUrl       string
}

// DeploymentRepository is where run's GitOps stage commits the stack file.
type DeploymentRepository struct {
	Url     string
	Token   *dagger.Secret
	Path    string
	Base    string
	Mode    string
	Author  string
	Forge   string
	Service *dagger.Service
	Retries int
}

// DirectDeploy asks run to deploy with pulumi up itself, after the GitOps commit.
type DirectDeploy struct {
	ImageTagValues []string
	PullPolicy     string
	Recreate       bool
	LockRetries    int
}

func (m *Nightly) targets() *Targets {
	if m.Targets == nil {
		return &Targets{}
	}
	t := *m.Targets
	return &t
}

func (m *Nightly) with(t *Targets) *Nightly {
	n := *m
	n.Targets = t
	return &n
}

// Where run deploys the SNAPSHOTs with mvn clean deploy (without it, run skips that stage)
func (m *Nightly) WithSnapshotRepository(
	// URL of the deployment repository, e.g. https://repo.example.com/snapshots
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
	// A service to reach the repository through, bound under the URL's host name (tcp://localhost:PORT for one on your machine)
	// +optional
	repositoryService *dagger.Service,
	// Run the tests again during the deploy (run's test stage already ran them)
	// +optional
	runTests bool,
	// Retries on transient transfer failures (HTTP 408, 429, 5xx, connection resets)
	// +default=3
	retries int,
) *Nightly {
	t := m.targets()
	t.Snapshots = &SnapshotRepository{Url: repositoryUrl, Id: repositoryId, Username: username, Password: password,
		Settings: settings, Service: repositoryService, RunTests: runTests, Retries: retries}
	return m.with(t)
}

// Where run publishes the images: built, pushed under X.Y.Z-nightly-<commit>, promoted to X.Y.Z-nightly (without it, run skips publish)
func (m *Nightly) WithRegistry(
	// Registry and namespace the repositories live in
	// +default="docker.io/graviteeio"
	registry string,
	// Repository of the management API image, under the namespace
	// +default="cockpit-management-api"
	apiRepository string,
	// Repository of the web UI image, under the namespace
	// +default="cockpit-webui"
	uiRepository string,
	// Registry username
	// +optional
	username *dagger.Secret,
	// Registry password or access token (a trailing newline, as in a file: secret, is dropped)
	// +optional
	password *dagger.Secret,
	// A service through which the module reaches the registry, for one on your machine (tcp://localhost:PORT)
	// +optional
	registryService *dagger.Service,
	// How long a registry request waits for the registry's answer once sent, then is retried (a
	// duration: 30s, 3m); a connection cut behind a proxy or tunnel is noticed only then
	// +default="3m"
	responseTimeout string,
	// Platforms to build; more than one makes a multi-platform image (an index)
	// +default=["linux/amd64"]
	platforms []string,
	// Source repository URL for the org.opencontainers.image.source label
	// +optional
	sourceUrl string,
) *Nightly {
	t := m.targets()
	t.Registry = &ImageRegistry{Registry: registry, ApiRepository: apiRepository, UiRepository: uiRepository,
		Username: username, Password: password, Service: registryService, ResponseTimeout: responseTimeout, Platforms: platforms, SourceUrl: sourceUrl}
	return m.with(t)
}

// The Pulumi deployment run configures (stack-config), commits (with-gitops) and deploys
// (with-direct-deploy); the same settings as the deployment function (without it, run skips those stages)
func (m *Nightly) WithDeployment(
	// The deployment project: Pulumi.yaml, Pulumi.<stack>.yaml and the chart folder
	// +defaultPath="/fixtures/deployment"
	// +ignore=[".git"]
	project *dagger.Directory,
	// The stack name (or org/project/stack)
	// +default="nightly"
	stack string,
	// The state backend URL, without credentials: postgres://USER@HOST:PORT/DB?sslmode=…, s3://…,
	// azblob://…, gs://…, file://…; empty for Pulumi Cloud
	// +optional
	backendUrl string,
	// A service the backend is reached through (tcp://localhost:PORT for one on your machine)
	// +optional
	backendService *dagger.Service,
	// The backend's credentials, as a KEY=VALUE file: PGPASSWORD, AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY, AZURE_STORAGE_KEY, or PULUMI_ACCESS_TOKEN for Pulumi Cloud
	// +optional
	backendEnv *dagger.Secret,
	// The passphrase of the stack's passphrase secrets provider
	// +optional
	passphrase *dagger.Secret,
	// The cluster's kubeconfig (needed to deploy, not for a dry run)
	// +optional
	kubeconfig *dagger.Secret,
	// A service the cluster's API server is reached through (tcp://localhost:6443 for one on your machine)
	// +optional
	clusterService *dagger.Service,
	// The chart folder, relative to the project (e.g. ./cockpit); default: keep the stack's
	// +optional
	chartFolder string,
	// The Kubernetes namespace to deploy to; default: keep the stack's
	// +optional
	namespace string,
	// The stack config namespace of the seed's keys (graviteeio:docker_image_tag …)
	// +default="graviteeio"
	configNamespace string,
	// The Pulumi CLI image the program runs in (pinned public reference)
	// +default="pulumi/pulumi-base:3.274.1"
	pulumiImage string,
	// The Kubernetes provider's version; installed when the Pulumi image lacks it
	// +default="4.32.0"
	kubernetesProvider string,
	// Where to download the Kubernetes provider from (default: Pulumi's servers)
	// +optional
	pluginServer string,
	// A service the plugin server is reached through, bound under its URL's host name
	// +optional
	pluginService *dagger.Service,
) *Nightly {
	t := m.targets()
	t.Deployment = m.Deployment(project, stack, backendUrl, backendService, backendEnv, passphrase, kubeconfig, clusterService,
		configNamespace, pulumiImage, m.Linting.GolangImage, kubernetesProvider, pluginServer, pluginService)
	t.ChartFolder, t.Namespace = chartFolder, namespace
	return m.with(t)
}

// Where run commits the stack file: the deployment repository, to its base branch or through a
// deployment-<gitCommitId> pull request (without it, run skips the GitOps stage)
func (m *Nightly) WithGitops(
	// The deployment repository's HTTP(S) URL, e.g. https://github.com/OWNER/NAME.git
	repositoryUrl string,
	// A token that may push to the repository and open pull requests
	token *dagger.Secret,
	// The stack file's path in the repository (default: the deployment's Pulumi.<stack>.yaml)
	// +optional
	path string,
	// The branch the deployment lands on
	// +default="master"
	base string,
	// direct (commit to the base branch) or pull-request (push deployment-<gitCommitId>, open a pull request)
	// +default="direct"
	mode string,
	// Author and committer, as "Name <email>"
	// +default="nightly <nightly@localhost>"
	author string,
	// The forge's API, for pull requests: github, gitea, or auto (from the URL)
	// +default="auto"
	forge string,
	// A service to reach the forge through, bound under the URL's host name (tcp://localhost:PORT)
	// +optional
	forgeService *dagger.Service,
	// Pushes after the first when the branch moved or the forge faltered
	// +default=3
	retries int,
) *Nightly {
	t := m.targets()
	t.Gitops = &DeploymentRepository{Url: repositoryUrl, Token: token, Path: path, Base: base, Mode: mode, Author: author,
		Forge: forge, Service: forgeService, Retries: retries}
	return m.with(t)
}

// Deploy with one pulumi up from run itself, after the GitOps commit, instead of leaving it to the
// deployment repository's CI (needs with-deployment)
func (m *Nightly) WithDirectDeploy(
	// Chart values that take the image tag
	// +default=["api.image.tag","ui.image.tag"]
	imageTagValues []string,
	// imagePullPolicy of every container (Always: the nightly tag moves)
	// +default="Always"
	pullPolicy string,
	// Switch Deployments to the Recreate strategy (old pods stop before new ones start)
	// +optional
	recreate bool,
	// Retries while another update holds the stack's lock (backoff 2 s, doubling, at most 30 s)
	// +default=5
	lockRetries int,
) *Nightly {
	t := m.targets()
	t.DirectDeploy = &DirectDeploy{ImageTagValues: imageTagValues, PullPolicy: pullPolicy, Recreate: recreate, LockRetries: lockRetries}
	return m.with(t)
}

// Run the whole nightly in the seed's order (test, maven-deploy, contexts, lint, publish,
// stack-config, gitops, up), stopping at the first failing stage, and return its report, red or
// green. A red run is a report, not an error: CI exports `files` and fails on `status` (or calls
// `check`). Settings come from the with-… functions; never cached
// +cache="never"
func (m *Nightly) Run(ctx context.Context,
	// The full git commit hash the nightly builds (e.g. $(git rev-parse HEAD))
	commit string,
	// The commit date, RFC 3339 (e.g. $(git log -1 --format=%cI)): the images' created label and
	// the time of every file they hold. Without it: the date this commit was first published, or now
	// +optional
	created string,
	// Go through every side-effecting stage with its dry run: deploy to a folder, build without
	// pushing, commit without pushing, preview without updating
	// +optional
	dryRun bool,
) (*Report, error) {
	o := ci.RunOpts{Maven: m.maven(), Images: m.imageSources(), Lint: m.lintOpts(), Commit: commit, Created: created, DryRun: dryRun}
	t := m.targets()
	if s := t.Snapshots; s != nil {
		o.Snapshots = &ci.DeployOpts{RepositoryURL: s.Url, RepositoryID: s.Id, Username: s.Username, Password: s.Password,
			Settings: s.Settings, Service: s.Service, RunTests: s.RunTests, Retries: s.Retries}
	}
	if r := t.Registry; r != nil {
		o.Publish = &ci.PublishOpts{Namespace: r.Registry,
			Repositories: map[string]string{"management-api": r.ApiRepository, "webui": r.UiRepository},
			Build:        ci.BuildOpts{Platforms: r.Platforms, SourceURL: r.SourceUrl},
			Registry:     ci.RegistryOpts{Username: r.Username, Password: r.Password, Service: r.Service, ResponseTimeout: r.ResponseTimeout}}
	}
	if d := t.Deployment; d != nil {
		cd := d.ci()
		o.Deployment = &cd
		o.StackConfig = plan.StackConfigInput{ChartFolder: t.ChartFolder, Namespace: t.Namespace}
	}
	if g := t.Gitops; g != nil {
		o.Gitops = &ci.GitopsOpts{
			GitopsInput: plan.GitopsInput{RepositoryURL: g.Url, Forge: g.Forge, StackPath: g.Path, Base: g.Base, Mode: g.Mode, Author: g.Author},
			Token:       g.Token, Service: g.Service, GitImage: m.GitImage, GolangImage: m.Linting.GolangImage, Retries: g.Retries}
	}
	if u := t.DirectDeploy; u != nil {
		o.Up = &ci.UpOpts{TagValuePaths: u.ImageTagValues, PullPolicy: u.PullPolicy, Recreate: u.Recreate, LockRetries: u.LockRetries}
	}
	res, err := ci.Run(ctx, o)
	if err != nil {
		return nil, err
	}
	return newReport(res), nil
}

// The report tool for GitHub Actions (tools/gha), built for the CI host: run it after run's files
// export to turn the report into step outputs, annotations and the job summary
func (m *Nightly) GhaTool(
	// The CI host's architecture (GOARCH)
	// +default="amd64"
	arch string,
) *dagger.File {
	return ci.GhaBinary(m.Linting.GolangImage, arch)
}

// Report is what run did, stage by stage. (dagger call prints an object as Type@digest: ask for
// a field, e.g. markdown or summary, or export files.)
type Report struct {
	// True when no stage failed (skipped stages do not fail a run)
	Passed bool
	// passed or failed
	Status string
	// The first stage that failed (empty when the run passed)
	FailedStage string
	// Why it failed, in one line
	Cause string
	// True when nothing was published, pushed, committed or deployed
	DryRun bool
	// The tag the images get (e.g. 3.0.0-nightly)
	NightlyTag string
	// The first 15 hex digits of the commit
	GitCommitId string
	// The verdict, then one line a stage: status, time, what happened
	Summary string
	// The whole report as Markdown (the CI job summary)
	Markdown string
	// Every stage, in run order
	Stages []*StageResult
	// The report as JSON, the shape CI tools read (tools/gha)
	ReportJson *dagger.File
	// The report as Markdown
	ReportMarkdown *dagger.File
	// Everything for CI to export: report.json, report.md, status (passed or failed on its first
	// line), junit/ (surefire XML), lint/ (JSON, SARIF), deploy/preview.diff, Pulumi.<stack>.yaml
	Files *dagger.Directory
	// mvn clean test, red or green (absent when it did not run)
	Tests *TestResult
	// The Dockerfile findings (absent when lint did not run)
	Lint *LintReport
	// What publish pushed and moved, image by image
	Images []*RunImage
	// The Pulumi.<stack>.yaml stack-config wrote (absent when it did not run)
	StackFile *dagger.File
	// The GitOps commit or pull request (absent when the stage did not run)
	Gitops *GitopsCommit
	// What up did (absent when it did not run)
	Deployment *DeploymentReport
}

// StageResult is one stage of a run.
type StageResult struct {
	// test, maven-deploy, contexts, lint, publish, stack-config, gitops or up
	Name string
	// passed, failed, skipped (not configured or not asked) or not-run (an earlier stage failed)
	Status string
	// Wall time
	Seconds float64
	// What it did in one line, or why it was skipped
	Summary string
	// The whole error of a failed stage
	Error string
}

// RunImage is one image publish pushed.
type RunImage struct {
	Name string
	// registry/namespace/repository
	Repository string
	// The immutable tag of this build: X.Y.Z-nightly-<gitCommitId>
	CommitTag string
	// The build's digest
	Digest string
	// False for a re-run (already there) or a dry run
	Pushed bool
	// Tags moved, as "tag from → to"
	Moves []string
}

// GitopsCommit is what the GitOps stage did in the deployment repository.
type GitopsCommit struct {
	// One sentence
	Result     string
	Repository string
	Mode       string
	Branch     string
	// The commit holding the stack file on the branch
	Commit      string
	Pushed      bool
	PullRequest int
	// The pull request's URL (pull-request mode)
	PullRequestUrl string
	// The stack file's diff
	Diff string
}

// Fail (exit non-zero) when the run was red, naming the stage and the cause; print the summary when green
func (r *Report) Check() (string, error) {
	if !r.Passed {
		return "", fmt.Errorf("%s", r.Summary)
	}
	return r.Summary, nil
}

func newReport(res *ci.RunResult) *Report {
	p := res.Report
	r := &Report{Passed: p.Passed, Status: p.Status, FailedStage: p.FailedStage, Cause: p.Cause, DryRun: p.DryRun,
		NightlyTag: p.NightlyTag, GitCommitId: p.GitCommitID, Summary: p.Text(), Markdown: p.Markdown(), Files: res.Files,
		ReportJson: res.Files.File("report.json"), ReportMarkdown: res.Files.File("report.md"), StackFile: res.StackFile}
	for _, s := range p.Stages {
		r.Stages = append(r.Stages, &StageResult{Name: s.Name, Status: s.Status, Seconds: s.Seconds, Summary: s.Summary, Error: s.Error})
	}
	if t := res.Tests; t != nil {
		r.Tests = &TestResult{Passed: t.Passed(), Tests: t.Summary.Tests, Failures: t.Summary.Failures, Errors: t.Summary.Errors,
			Skipped: t.Summary.Skipped, ExitCode: t.ExitCode, Downloaded: t.Downloaded, Reports: t.Reports, Output: t.Output}
		for _, f := range t.Summary.Failed {
			r.Tests.FailedTests = append(r.Tests.FailedTests, f.String())
		}
	}
	if l := res.Lint; l != nil {
		r.Lint = &LintReport{Passed: len(l.Failing) == 0, Linter: l.Linter, Threshold: l.Threshold, Files: l.Files,
			Failing: len(l.Failing), Summary: l.Summary, Json: res.Files.File("lint/hadolint.json"), Sarif: res.Files.File("lint/lint.sarif")}
		for _, f := range l.Findings {
			r.Lint.Findings = append(r.Lint.Findings, fmt.Sprintf("%s:%d:%d %s [%s] %s", f.File, f.Line, f.Column, f.Code, f.Level, f.Message))
		}
	}
	if im := p.Images; im != nil {
		for _, i := range im.Images {
			ri := &RunImage{Name: i.Name, Repository: i.Repository, CommitTag: im.CommitTag, Digest: i.Digest, Pushed: i.Pushed}
			for _, mv := range i.Moves {
				from := mv.From
				if from == "" {
					from = "(new)"
				}
				ri.Moves = append(ri.Moves, mv.Tag+" "+from+" → "+mv.To)
			}
			r.Images = append(r.Images, ri)
		}
	}
	if g := p.Gitops; g != nil {
		r.Gitops = &GitopsCommit{Result: g.Result, Repository: g.Repository, Mode: g.Mode, Branch: g.Branch, Commit: g.Commit,
			Pushed: g.Pushed, PullRequest: int(g.PullRequest), PullRequestUrl: g.PullRequestURL, Diff: g.Diff}
	}
	if u := res.Up; u != nil {
		d := &DeploymentReport{Summary: u.Summary(), Stack: u.Stack, DryRun: u.DryRun, PreviewDiff: u.PreviewDiff,
			PreviewChanges: u.PreviewChanges.String(), Changed: u.Changes.Changed(), Version: u.Version, Pending: u.Pending,
			Recovered: u.Recovered, LockWaits: u.LockWaits, Container: u.Container}
		if u.Updated {
			d.Changes = u.Changes.String()
		}
		for _, k := range sortedKeys(u.Outputs) {
			d.Outputs = append(d.Outputs, fmt.Sprintf("%s=%v", k, u.Outputs[k]))
		}
		for _, w := range u.Workloads {
			d.Workloads = append(d.Workloads, &WorkloadRollout{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
				GitCommitId: w.GitCommitID, RolledOut: w.Done, State: w.State})
		}
		if js, err := json.MarshalIndent(p.Deployment, "", "  "); err == nil {
			d.Json = string(js)
		}
		r.Deployment = d
	}
	return r
}
