package ci

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

var dag = dagger.Connect()

const (
	// Maven's local repository is not safe for concurrent writers (MNG-2802), hence Locked.
	DefaultMavenCache = "nightly-maven-m2"
	mavenRepoLocal    = "/var/cache/nightly-m2"
	srcDir            = "/src"
	// Where a deploy's settings.xml is mounted; it never lands in a layer when it holds secrets.
	settingsPath  = "/run/nightly/settings.xml"
	userEnv       = "NIGHTLY_MAVEN_USER"
	passwordEnv   = "NIGHTLY_MAVEN_PASSWORD"
	dryRunRepoURL = "file:///tmp/nightly-dry-run-repository"
	// Logs are written to a mount, outside the container's filesystem: a deploy's log can hold a
	// secret a test printed, and the container is returned for inspection.
	logDir = "/run/nightly-log"
)

// Maven is how the Maven steps run: the image, the product source and extra mvn arguments.
type Maven struct {
	Image  string
	Source *dagger.Directory
	// Args are added to every mvn command (e.g. -DforkCount=0, -Pci).
	Args []string
	// Cache names the cache volume of the local repository (default nightly-maven-m2).
	Cache string
}

// container is the image with the source at /src and the shared local repository mounted.
func (m Maven) container() *dagger.Container {
	return dag.Container().
		From(m.Image).
		WithMountedCache(mavenRepoLocal, dag.CacheVolume(cmp.Or(m.Cache, DefaultMavenCache)), dagger.ContainerWithMountedCacheOpts{
			Sharing: dagger.CacheSharingModeLocked,
		}).
		WithDirectory(srcDir, m.Source).
		WithWorkdir(srcDir)
}

func (m Maven) command(goals ...string) []string {
	cmd := []string{"mvn", "--batch-mode", "-Dmaven.repo.local=" + mavenRepoLocal}
	cmd = append(cmd, m.Args...)
	return append(cmd, goals...)
}

// Toolchain reports the Maven and Java versions of the image, as `mvn --version` prints them:
// the first thing to check when a nightly behaves differently from a laptop build.
func (m Maven) Toolchain(ctx context.Context) (string, error) {
	out, err := dag.Container().From(m.Image).
		WithExec([]string{"mvn", "--batch-mode", "--version"}).
		Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("running mvn --version in image %q: %v", m.Image, err)
	}
	return strings.TrimSpace(out), nil
}

// TestRun is the outcome of `mvn clean test`; it exists for red runs too.
type TestRun struct {
	Summary  plan.TestSummary
	ExitCode int
	// Downloaded counts the files Maven fetched into the local repository (0 when warm).
	Downloaded int
	// Reports holds every module's target/surefire-reports, paths kept (JUnit XML for CI).
	Reports *dagger.Directory
	Output  string
	// RanAgain is true when the engine's cache held a red run for the same inputs and the tests
	// were run again rather than reusing it.
	RanAgain bool
	// logs is the run's log folder; its file "started" says when the command began (Unix
	// seconds, as the container's shell wrote it).
	logs *dagger.Directory
}

// Passed is true when Maven succeeded and no test failed.
func (r *TestRun) Passed() bool { return r.ExitCode == 0 && r.Summary.Passed() }

// Err explains a red run: the failing tests, or Maven's last lines when the build broke before
// any test failed (compilation errors and the like). nil when the run passed.
func (r *TestRun) Err() error {
	if r.Passed() {
		return nil
	}
	if len(r.Summary.Failed) > 0 {
		lines := make([]string, len(r.Summary.Failed))
		for i, f := range r.Summary.Failed {
			lines[i] = "  " + f.String()
		}
		return fmt.Errorf("mvn clean test failed (%s):\n%s", r.Summary, strings.Join(lines, "\n"))
	}
	return fmt.Errorf("mvn clean test exited %d with no failing test (a build error?); last lines:\n%s",
		r.ExitCode, lastLines(r.Output, 25))
}

// Test runs `mvn clean test` and reads the surefire reports. A red run is a result, not an error:
// the error return is for runs that could not happen (no image, no source). A red run the engine
// hands back from its cache (an earlier call's, same inputs) is not reused: the tests run again,
// so re-running a nightly that met a flaky test really re-runs it (plan.RedRunFromCache).
func (m Maven) Test(ctx context.Context) (*TestRun, error) {
	callStart := time.Now()
	run, err := m.test(ctx, m.container())
	if err != nil || run.Passed() {
		return run, err
	}
	// Only a red run's stamp is read: a green one is reused whenever it ran.
	started, _ := run.logs.File("started").Contents(ctx)
	if !plan.RedRunFromCache(started, callStart) {
		return run, nil
	}
	run, err = m.test(ctx, m.container().WithEnvVariable("NIGHTLY_RED_RERUN", fmt.Sprint(callStart.UnixNano())))
	if err != nil {
		return nil, err
	}
	run.RanAgain = true
	return run, nil
}

func (m Maven) test(ctx context.Context, ctr *dagger.Container) (*TestRun, error) {
	// Batch mode without --no-transfer-progress: one line a download, so a warm cache shows none.
	// The shell stamps when the command began (next to the log, in no layer); Maven runs even if
	// the image has no date.
	args := append([]string{"sh", "-c", `date +%s >` + logDir + `/started 2>/dev/null; exec "$@"`, "sh"}, m.command("clean", "test")...)
	ctr, code, out, logs, err := runLoggedWithLogDir(ctx, ctr, args, "mvn clean test in image "+m.Image)
	if err != nil {
		return nil, err
	}
	reports := dag.Directory().WithDirectory("/", ctr.Directory(srcDir), dagger.DirectoryWithDirectoryOpts{
		Include: []string{"**/target/surefire-reports/**"},
	})
	files, err := m.readReports(ctx, reports)
	if err != nil {
		return nil, err
	}
	sum, err := plan.ParseSurefireReports(files)
	if err != nil {
		return nil, err
	}
	return &TestRun{Summary: sum, ExitCode: code, Reports: reports, Output: out, Downloaded: plan.CountDownloads(out), logs: logs}, nil
}

// DeployOpts says where and how `mvn clean deploy` publishes.
type DeployOpts struct {
	RepositoryURL, RepositoryID string
	// Username and Password, or a whole Settings file, authenticate to the repository.
	Username, Password, Settings *dagger.Secret
	// Service, when set, is bound under the repository URL's host name (a server on the caller's
	// machine or another Dagger service).
	Service *dagger.Service
	// RunTests runs the tests again during the deploy, as a bare `mvn clean deploy` would.
	RunTests bool
	// DryRun builds and deploys to a folder inside the container instead of the repository.
	DryRun bool
	// Retries is how many times a transient failure (HTTP 408/429/5xx, reset) is retried.
	Retries int
}

// DeployRun is what a deploy published (or, for a dry run, would publish).
type DeployRun struct {
	Repository string
	DryRun     bool
	Version    plan.Version
	Artifacts  []plan.DeployedArtifact
	Attempts   int
	Output     string
	// Container is the one the successful attempt ran in, for inspection.
	Container *dagger.Container
}

// Deploy runs `mvn clean deploy` of the product's SNAPSHOTs to a repository. It refuses release
// versions, retries transient transfer failures, and never caches: every call really deploys.
func (m Maven) Deploy(ctx context.Context, o DeployOpts) (*DeployRun, error) {
	version, err := m.Version(ctx)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(version.POM, "-SNAPSHOT") {
		return nil, fmt.Errorf("deploy publishes SNAPSHOTs; pom.xml version %q is a release: nothing was deployed", version.POM)
	}
	repoURL := o.RepositoryURL
	if o.DryRun {
		repoURL = dryRunRepoURL
	}
	altRepo, err := plan.DeploymentRepository(o.RepositoryID, repoURL)
	if err != nil {
		return nil, err
	}
	if (o.Username == nil) != (o.Password == nil) {
		return nil, errors.New("deploy needs both a username and a password secret, or neither")
	}
	if o.Settings != nil && o.Username != nil {
		return nil, errors.New("give the repository credentials either as username/password or inside settings, not both")
	}

	ctr := m.container()
	var scrub []string
	if !o.DryRun {
		ctr, err = withURLService(ctr, repoURL, o.Service)
		if err != nil {
			return nil, err
		}
		if scrub, err = secretForms(ctx, o); err != nil {
			return nil, err
		}
		switch {
		case o.Settings != nil:
			ctr = ctr.WithMountedSecret(settingsPath, o.Settings)
		case o.Username != nil:
			settings, err := plan.DeploySettings(o.RepositoryID, userEnv, passwordEnv)
			if err != nil {
				return nil, err
			}
			ctr = ctr.
				WithNewFile(settingsPath, settings).
				WithSecretVariable(userEnv, o.Username).
				WithSecretVariable(passwordEnv, o.Password)
		}
	}
	goals := []string{"clean", "deploy", "-DaltDeploymentRepository=" + altRepo, "-DdeployAtEnd=true"}
	if !o.RunTests {
		goals = append(goals, "-DskipTests")
	}
	args := m.command(goals...)
	if (o.Settings != nil || o.Username != nil) && !o.DryRun {
		args = append(args[:2], append([]string{"--settings", settingsPath}, args[2:]...)...)
	}
	if o.Username != nil && !o.DryRun {
		// Secrets read from files often end in a newline: strip it in the container, never in Go.
		// printf is a shell builtin, so the values appear in no process's arguments.
		args = append([]string{"sh", "-c", `export ` + userEnv + `="$(printf %s "$` + userEnv + `")" ` +
			passwordEnv + `="$(printf %s "$` + passwordEnv + `")"; exec "$@"`, "mvn"}, args...)
	}

	run := &DeployRun{Repository: strings.TrimSuffix(repoURL, "/"), DryRun: o.DryRun, Version: version}
	for attempt := 1; ; attempt++ {
		run.Attempts = attempt
		exec := runLogged
		if (o.Username != nil || o.Settings != nil) && !o.DryRun {
			exec = runHidden // the log may hold a secret a test printed
		}
		attemptCtr := ctr
		if !o.DryRun || attempt > 1 {
			// A unique value per attempt: an identical exec would otherwise be answered from the
			// cache. A dry run deploys into a folder of its own container, a pure function of the
			// sources: its first attempt may come from the cache (a warm re-run takes seconds).
			attemptCtr = ctr.WithEnvVariable("NIGHTLY_DEPLOY_ATTEMPT", fmt.Sprintf("%d-%d", time.Now().UnixNano(), attempt))
		}
		c, code, out, err := exec(ctx, attemptCtr, args, "mvn clean deploy to "+run.Repository)
		if err != nil {
			return nil, err
		}
		// A test may print its environment: what is returned or quoted is scrubbed; the raw log is
		// only parsed (scrubbing a username could rewrite the paths it lists).
		run.Output = plan.Scrub(out, scrub)
		if code == 0 {
			run.Container = c
			run.Artifacts = plan.ParseDeployLog(out, run.Repository)
			return run, nil
		}
		if err := deployFailure(out, code, attempt, run.Repository, o); err != nil {
			return nil, errors.New(plan.Scrub(err.Error(), scrub))
		}
		time.Sleep(backoff(attempt))
	}
}

// deployFailure explains a failed deploy attempt, or returns nil when it is worth retrying.
func deployFailure(log string, code, attempt int, repo string, o DeployOpts) error {
	f := plan.ClassifyDeployFailure(log, o.RepositoryID, repo)
	tries := fmt.Sprintf("attempt %d of at most %d", attempt, o.Retries+1)
	switch {
	case f.Kind == plan.FailureAuth:
		return fmt.Errorf("repository %s (id %s) refused the credentials: %s; %s; %s, not retried; last lines:\n%s",
			repo, o.RepositoryID, f.Cause, deployedSoFar(f, repo), tries, lastLines(log, 15))
	case f.Kind == plan.FailureTransient && attempt <= o.Retries:
		return nil
	case f.Kind == plan.FailureTransient:
		return fmt.Errorf("mvn clean deploy to %s failed %d times on transient transfer errors (last: %s); %s; last lines:\n%s",
			repo, attempt, f.Cause, deployedSoFar(f, repo), lastLines(log, 20))
	case f.Transfer != "":
		return fmt.Errorf("mvn clean deploy to %s failed: %s; %s; %s, not retried (a retry would fail the same way); last lines:\n%s",
			repo, f.Transfer, deployedSoFar(f, repo), tries, lastLines(log, 20))
	}
	return fmt.Errorf("mvn clean deploy to %s exited %d with no transfer error from the deploy (the build or the tests failed); %s; %s, not retried; last lines:\n%s",
		repo, code, deployedSoFar(f, repo), tries, lastLines(log, 25))
}

// deployedSoFar says what a failed deploy left on the repository, from the uploads its log lists.
func deployedSoFar(f plan.DeployFailure, repo string) string {
	if len(f.Uploaded) == 0 {
		return "nothing was deployed"
	}
	return fmt.Sprintf("%d files reached %s before the failure (%s); a new deploy uploads the SNAPSHOTs again under a new timestamp",
		len(f.Uploaded), repo, strings.Join(f.Uploaded, ", "))
}

// secretForms reads the deploy's credentials, to scrub every form of them from the log Maven
// writes (Dagger scrubs its own logs, not a file a test printed the environment into).
func secretForms(ctx context.Context, o DeployOpts) ([]string, error) {
	var forms []string
	var user, password string
	for _, s := range []struct {
		secret *dagger.Secret
		dst    *string
		what   string
	}{{o.Username, &user, "username"}, {o.Password, &password, "password"}} {
		if s.secret == nil {
			continue
		}
		v, err := s.secret.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the repository %s secret: %v", s.what, err)
		}
		*s.dst = v
		forms = append(forms, plan.ScrubForms(v)...)
	}
	if o.Username != nil {
		forms = append(forms, plan.BasicAuthForms(user, password)...)
	}
	if o.Settings != nil {
		settings, err := o.Settings.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the settings secret: %v", err)
		}
		for _, v := range plan.SettingsSecrets(settings) {
			forms = append(forms, plan.ScrubForms(v)...)
		}
	}
	return forms, nil
}

// runLogged runs args in ctr whatever their exit code, and returns the container after the run,
// the exit code and the combined log. The log is written to a mount, so it is in no layer of the
// container returned. what names the run in errors.
func runLogged(ctx context.Context, ctr *dagger.Container, args []string, what string) (*dagger.Container, int, string, error) {
	ctr, code, out, _, err := runLoggedWithLogDir(ctx, ctr, args, what)
	return ctr, code, out, err
}

// runLoggedWithLogDir is runLogged that also returns the log's folder: what the command wrote
// next to its log.
func runLoggedWithLogDir(ctx context.Context, ctr *dagger.Container, args []string, what string) (*dagger.Container, int, string, *dagger.Directory, error) {
	return runLog(ctx, ctr, args, what, dagger.ContainerWithExecOpts{
		RedirectStdout: logDir + "/run.log",
		RedirectStderr: logDir + "/run.log",
	})
}

// runHidden is runLogged for a run whose output may hold a secret (a test printing its
// environment): the shell in the container writes the output to the log, so it never reaches
// Dagger's progress output, whose scrubbing misses secrets with spaces or a stripped newline.
func runHidden(ctx context.Context, ctr *dagger.Container, args []string, what string) (*dagger.Container, int, string, error) {
	ctr, code, out, _, err := runLog(ctx, ctr, append([]string{"sh", "-c", `exec "$@" >` + logDir + `/run.log 2>&1`, "sh"}, args...), what,
		dagger.ContainerWithExecOpts{})
	return ctr, code, out, err
}

func runLog(ctx context.Context, ctr *dagger.Container, args []string, what string, opts dagger.ContainerWithExecOpts) (*dagger.Container, int, string, *dagger.Directory, error) {
	opts.Expect = dagger.ReturnTypeAny
	ctr = ctr.
		WithMountedDirectory(logDir, dag.Directory()).
		WithExec(args, opts)
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("running %s: %v", what, err)
	}
	logs := ctr.Directory(logDir)
	out, err := logs.File("run.log").Contents(ctx)
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("reading the log of %s: %v", what, err)
	}
	return ctr.WithoutMount(logDir), code, out, logs, nil
}

// Version resolves the product version (the root module's) as Maven does: the root pom.xml,
// .mvn/maven.config and the -D flags of the Maven arguments.
func (m Maven) Version(ctx context.Context) (plan.Version, error) {
	root, err := plan.ResolveModule(m.sourceReader(ctx), ".", m.Args)
	return root.Version, err
}

// sourceReader reads files of the product's source tree for the pure decisions of ci/plan.
func (m Maven) sourceReader(ctx context.Context) plan.ReadFile {
	type read struct {
		content []byte
		ok      bool
	}
	seen := map[string]read{}
	return func(p string) ([]byte, bool, error) {
		if r, ok := seen[p]; ok {
			return r.content, r.ok, nil
		}
		ok, err := m.Source.Exists(ctx, p, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
		if err != nil {
			return nil, false, fmt.Errorf("%v", err)
		}
		var r read
		if ok {
			s, err := m.Source.File(p).Contents(ctx)
			if err != nil {
				return nil, false, fmt.Errorf("%v", err)
			}
			r = read{[]byte(s), true}
		}
		seen[p] = r
		return r.content, r.ok, nil
	}
}

// withURLService binds svc (when given) under the host name of rawURL, so a URL such as
// http://maven-repo:47502/… reaches a server the caller passed as tcp://localhost:47502.
func withURLService(ctr *dagger.Container, rawURL string, svc *dagger.Service) (*dagger.Container, error) {
	if svc == nil {
		return ctr, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q: a service needs a URL with a host name to bind it under", rawURL)
	}
	return ctr.WithServiceBinding(u.Hostname(), svc), nil
}

func backoff(attempt int) time.Duration {
	return time.Duration(1<<min(attempt, 5)) * time.Second // 2s, 4s, 8s … 32s
}

// readReports reads every surefire XML report under dir in one engine round trip (a shell in the
// Maven image bundles them, plan.ReportBundleScript): one call a file cost ~15 ms of the engine's
// CPU each, seconds for a product with hundreds of test classes. An image that cannot bundle (no
// find, say) gets the reports read one call a file.
func (m Maven) readReports(ctx context.Context, dir *dagger.Directory) (map[string][]byte, error) {
	const bundle = "/tmp/nightly-reports.bundle"
	out, err := dag.Container().From(m.Image).
		WithMountedDirectory("/reports", dir).
		WithWorkdir("/reports").
		WithExec([]string{"sh", "-c", plan.ReportBundleScript}, dagger.ContainerWithExecOpts{RedirectStdout: bundle}).
		File(bundle).Contents(ctx)
	if err == nil {
		if files, err := plan.SplitReportBundle(out); err == nil {
			return files, nil
		}
	}
	return readEach(ctx, dir, "**/TEST-*.xml")
}

// readEach reads the files of dir that match pattern, one engine call a file.
func readEach(ctx context.Context, dir *dagger.Directory, pattern string) (map[string][]byte, error) {
	paths, err := dir.Glob(ctx, pattern)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %v", pattern, err)
	}
	files := make(map[string][]byte, len(paths))
	for _, p := range paths {
		s, err := dir.File(p).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", p, err)
		}
		files[p] = []byte(s)
	}
	return files, nil
}

// execErr is an error from evaluating a container: for a step that failed (a tool's build, say),
// Dagger's message is only "exit code: N", so its command and the tail of its output follow.
func execErr(err error) string {
	var e *dagger.ExecError
	if !errors.As(err, &e) {
		return err.Error()
	}
	cmd := strings.Join(e.Cmd, " ")
	if len(cmd) > 120 {
		cmd = cmd[:120] + "…"
	}
	out := strings.TrimSpace(lastLines(strings.TrimSpace(e.Stdout+"\n"+e.Stderr), 12))
	return fmt.Sprintf("%v (%s): %s", err, cmd, out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func jsonIndent(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	return string(b) + "\n", nil
}
