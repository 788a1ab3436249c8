package ci

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// RunOpts is a whole nightly: the module-wide settings, then each stage's. A stage whose settings
// are nil is skipped, and the report says why.
type RunOpts struct {
	Maven  Maven
	Images []ImageSource
	Lint   LintOpts
	// Commit is the full source commit; Created its date (RFC 3339, optional, see Run).
	Commit, Created string
	// DryRun goes through every side-effecting stage with its own dry run: mvn deploy to a folder,
	// publish builds and reads the registry, gitops commits locally, up previews.
	DryRun bool

	// Snapshots is where mvn clean deploy publishes (DryRun is set by Run). Nil: skipped, unless
	// this is a dry run, which deploys to a folder inside the container anyway.
	Snapshots *DeployOpts
	// Publish is where the images go (Build.Commit, Created, Lint and DryRun are set by Run).
	Publish *PublishOpts
	// Deployment is the Pulumi deployment; StackConfig's chart folder and namespace go to
	// stack-config (its tag and commit are the run's). Nil: stack-config, gitops and up skipped.
	Deployment  *Deployment
	StackConfig plan.StackConfigInput
	// Gitops commits the stack file (StackFile, Commit, ImageTag and DryRun are set by Run).
	Gitops *GitopsOpts
	// Up, when set, deploys here with one pulumi up after the GitOps commit; when nil the
	// deployment repository's own CI deploys the commit (the seed's GitOps flow).
	Up *UpOpts
}

// RunResult is the report and what the stages produced, for callers that want typed values.
type RunResult struct {
	Report      *plan.Report
	Tests       *TestRun
	MavenDeploy *DeployRun
	Lint        *LintRun
	Publication *Publication
	StackFile   *dagger.File
	Gitops      *plan.GitopsOutcome
	Up          *UpResult
	// Files is the report's folder (see report.go).
	Files *dagger.Directory
}

// Run runs the nightly in the seed's order: mvn clean test, mvn clean deploy, the build contexts,
// lint, publish (build, push, promote), stack config, GitOps, and up when deploying directly. It
// stops at the first failing stage and still returns what was produced: a red run is a report,
// not an error. The error return is for a run that could not start: every input is checked (and
// the registry's credentials tried) before any stage runs.
func Run(ctx context.Context, o RunOpts) (*RunResult, error) {
	start := time.Now()
	in, err := checkRun(ctx, &o)
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, in: in, res: &RunResult{Report: plan.NewReport(o.Commit, o.DryRun, start)}, files: dag.Directory()}
	rep := r.res.Report
	rep.Version, rep.NightlyTag = in.version.POM, in.version.NightlyTag()

	// The tools later stages build (the linter, the Pulumi program, the forge client) are pure
	// builds the engine caches: start them now, beside the Maven stages, instead of on the
	// critical path. Cancelled when the run ends early; a tool that fails to build fails its stage.
	warmCtx, stopWarm := context.WithCancel(ctx)
	warmed := r.warmTools(warmCtx)

	r.stage(ctx, plan.StageTest, r.test)
	r.stage(ctx, plan.StageMavenDeploy, r.mavenDeploy)
	r.stage(ctx, plan.StageContexts, r.contexts)
	r.stage(ctx, plan.StageLint, r.lint)
	r.stage(ctx, plan.StagePublish, r.publish)
	r.stage(ctx, plan.StageStackConfig, r.stackConfig)
	r.stage(ctx, plan.StageGitops, r.gitops)
	r.stage(ctx, plan.StageUp, r.up)

	stopWarm()
	warmed.Wait()
	rep.Close(time.Since(start))
	if r.res.Files, err = reportFiles(rep, r.files); err != nil {
		return nil, err
	}
	return r.res, nil
}

// runInputs is what checkRun derived from the inputs.
type runInputs struct {
	version plan.Version
	// created is the build date every image build and jar gets (zero: publish decides).
	created time.Time
	// mavenArgs are the Maven arguments of the contexts stage: the same as publish's, so the
	// engine answers publish's packaging from the contexts stage's cache.
	mavenArgs []string
}

// checkRun checks every stage's inputs before any stage runs, so a bad input fails at once,
// naming it, with nothing done.
func checkRun(ctx context.Context, o *RunOpts) (runInputs, error) {
	var in runInputs
	if _, err := plan.GitCommitID(o.Commit); err != nil {
		return in, err
	}
	created, err := plan.ParseCreated(o.Created)
	if err != nil {
		return in, err
	}
	if _, err := o.Lint.Check(); err != nil {
		return in, err
	}
	if in.version, err = o.Maven.Version(ctx); err != nil {
		return in, err
	}
	if s := o.Snapshots; s != nil {
		if s.RepositoryURL == "" {
			return in, errors.New("with-snapshot-repository: --repository-url is required")
		}
		if (s.Username == nil) != (s.Password == nil) {
			return in, errors.New("with-snapshot-repository: give both --username and --password, or neither")
		}
		if s.Settings != nil && s.Username != nil {
			return in, errors.New("with-snapshot-repository: give the credentials either as --username/--password or inside --settings, not both")
		}
	}
	if p := o.Publish; p != nil {
		p.Build.Commit, p.Lint, p.DryRun = o.Commit, o.Lint, o.DryRun
		tgt, id, _, err := checkPublish(o.Images, *p)
		if err != nil {
			return in, fmt.Errorf("with-registry: %v", err)
		}
		// The registry's credentials, before any work; and the build date: given, or the one
		// this commit was first published with (a re-run then builds the same digests), or now.
		reg, err := newRegistry(ctx, tgt.host, p.Registry)
		if err != nil {
			return in, err
		}
		if p.Registry.Username != nil {
			if err := reg.Login(ctx, tgt.repos...); err != nil {
				return in, fmt.Errorf("%v; nothing was run", err)
			}
		}
		if created.IsZero() {
			if created, err = firstPublished(ctx, reg, tgt.repos, plan.CommitTag(in.version.Base, id)); err != nil {
				return in, fmt.Errorf("%v; nothing was run", err)
			}
		}
		if created.IsZero() {
			created = time.Now().UTC().Truncate(time.Second)
		}
		p.Created = created.Format(time.RFC3339)
	}
	in.created = created
	in.mavenArgs = o.Maven.Args
	if !created.IsZero() && !slices.ContainsFunc(o.Maven.Args, func(a string) bool { return strings.HasPrefix(a, "-Dproject.build.outputTimestamp=") }) {
		in.mavenArgs = append(slices.Clip(o.Maven.Args), "-Dproject.build.outputTimestamp="+created.Format(time.RFC3339))
	}
	if d := o.Deployment; d != nil {
		if err := d.check(ctx); err != nil {
			return in, fmt.Errorf("with-deployment: %v", err)
		}
		sc := o.StackConfig
		sc.ConfigNamespace, sc.ImageTag, sc.Commit = d.ConfigNamespace, in.version.NightlyTag(), o.Commit
		if _, err := plan.StackConfig(sc); err != nil {
			return in, fmt.Errorf("with-deployment: %v", err)
		}
		if sc.ChartFolder != "" {
			if _, err := plan.CheckChartFolder(sc.ChartFolder); err != nil {
				return in, fmt.Errorf("with-deployment: %v", err)
			}
		}
	}
	if u := o.Up; u != nil {
		if o.Deployment == nil {
			return in, errors.New("with-direct-deploy needs with-deployment (the stack, its backend and the cluster)")
		}
		if _, err := plan.NewDeploySpec(plan.DeploySpecInput{ConfigNamespace: o.Deployment.ConfigNamespace, TagValuePaths: u.TagValuePaths,
			PullPolicy: u.PullPolicy, Recreate: u.Recreate, ProviderVersion: o.Deployment.ProviderVersion}); err != nil {
			return in, fmt.Errorf("with-direct-deploy: %v", err)
		}
		if o.Deployment.Kubeconfig == nil && !o.DryRun {
			return in, errors.New("with-direct-deploy: with-deployment needs --kubeconfig to deploy")
		}
	}
	if g := o.Gitops; g != nil {
		if o.Deployment == nil {
			return in, errors.New("with-gitops needs with-deployment: the stack file it commits comes from stack-config")
		}
		g.Commit, g.ImageTag = o.Commit, in.version.NightlyTag()
		if g.StackPath == "" {
			g.StackPath = o.Deployment.stackFile()
		}
		if _, err := plan.PlanGitops(g.GitopsInput); err != nil {
			return in, fmt.Errorf("with-gitops: %v", err)
		}
		if g.Token == nil {
			return in, errors.New("with-gitops: --token is required")
		}
	}
	return in, nil
}

type runner struct {
	o        RunOpts
	in       runInputs
	res      *RunResult
	files    *dagger.Directory
	prepared []ImageContext
}

// stage runs one stage unless an earlier one failed, and records its outcome and time. A stage
// returns its one-line summary, or skipped=true with the reason as summary.
func (r *runner) stage(ctx context.Context, name string, fn func(context.Context) (summary string, skipped bool, err error)) {
	rep := r.res.Report
	if rep.Failed() {
		return
	}
	t0 := time.Now()
	summary, skipped, err := fn(ctx)
	switch {
	case err != nil:
		rep.Fail(name, time.Since(t0), err)
	case skipped:
		rep.Skip(name, summary)
	default:
		rep.Pass(name, time.Since(t0), summary)
	}
}

func (r *runner) test(ctx context.Context) (string, bool, error) {
	run, err := r.o.Maven.Test(ctx)
	if err != nil {
		return "", false, err
	}
	r.res.Tests = run
	r.res.Report.Tests = testsSection(run)
	r.files = r.files.WithDirectory(junitDir, run.Reports)
	return run.Summary.String(), false, run.Err()
}

func (r *runner) mavenDeploy(ctx context.Context) (string, bool, error) {
	opts := DeployOpts{RepositoryID: "nightly-snapshots", Retries: 3}
	switch {
	case r.o.Snapshots != nil:
		opts = *r.o.Snapshots
	case !r.o.DryRun:
		return "no snapshot repository: call with-snapshot-repository to deploy the SNAPSHOTs", true, nil
	}
	opts.DryRun = r.o.DryRun
	run, err := r.o.Maven.Deploy(ctx, opts)
	if err != nil {
		return "", false, err
	}
	r.res.MavenDeploy = run
	r.res.Report.MavenDeploy = mavenDeploySection(run)
	verb := "deployed"
	if run.DryRun {
		verb = "dry run, nothing published; would deploy"
	}
	return fmt.Sprintf("%s %s to %s: %d file(s)", verb, run.Version.POM, run.Repository, len(run.Artifacts)), false, nil
}

func (r *runner) contexts(ctx context.Context) (string, bool, error) {
	m := r.o.Maven
	m.Args = r.in.mavenArgs
	cs, err := m.PrepareContexts(ctx, r.o.Images)
	if err != nil {
		return "", false, err
	}
	r.prepared = cs
	var names []string
	for _, c := range cs {
		names = append(names, fmt.Sprintf("%s (module %s, %s)", c.Source.Name, c.Module.Dir, c.Version.POM))
	}
	return strings.Join(names, ", "), false, nil
}

func (r *runner) lint(ctx context.Context) (string, bool, error) {
	run, err := Lint(ctx, r.o.Maven.Source, r.prepared, r.o.Lint)
	if err != nil {
		return "", false, err
	}
	r.res.Lint = run
	r.res.Report.Lint = lintSection(run, r.o.Images)
	r.files = r.files.
		WithNewFile(lintDir+"/hadolint.json", run.JSON).
		WithNewFile(lintDir+"/lint.sarif", run.SARIF)
	if err := run.Err(); err != nil {
		return "", false, err
	}
	return fmt.Sprintf("%s: %d file(s), %d finding(s), none at or above %s", run.Linter, len(run.Files), len(run.Findings), run.Threshold), false, nil
}

// publish builds both images at once (each image's build is independent of the other's), then
// publishes: push under the commit tag, promote. Publish builds the same images again, which the
// engine answers from its cache: the builds here are what runs concurrently, and publish adds the
// export, the push and the promotion.
func (r *runner) publish(ctx context.Context) (string, bool, error) {
	p := r.o.Publish
	if p == nil {
		return "no registry: call with-registry to build, push and promote the images", true, nil
	}
	if err := r.buildImages(ctx); err != nil {
		return "", false, err
	}
	pub, err := Publish(ctx, r.o.Maven, r.o.Images, *p)
	if err != nil {
		return "", false, err
	}
	r.res.Publication = pub
	r.res.Report.Images = imagesSection(pub)
	return publishLine(pub), false, nil
}

// buildImages builds every image's variants and their reproducible form concurrently, with
// publish's exact inputs, and records each image's time as a part of the publish stage.
func (r *runner) buildImages(ctx context.Context) error {
	p := r.o.Publish
	opts := p.Build
	opts.Created = r.in.created
	var wg sync.WaitGroup
	errs := make([]error, len(r.prepared))
	times := make([]time.Duration, len(r.prepared))
	t0 := time.Now()
	for i, c := range r.prepared {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.Now()
			// The build and its reproducible rewrite: what publish then reads from the cache.
			if _, _, err := reproducible(ctx, Build(c, opts), opts, r.o.Lint.GolangImage); err != nil {
				errs[i] = fmt.Errorf("image %s: %v; nothing was pushed", c.Source.Name, err)
				return
			}
			times[i] = time.Since(t)
		}()
	}
	wg.Wait()
	for i, c := range r.prepared {
		r.res.Report.AddPart(plan.StagePublish, "build "+c.Source.Name, times[i])
	}
	r.res.Report.AddPart(plan.StagePublish, "builds (concurrent)", time.Since(t0))
	return errors.Join(errs...)
}

// publishLine says in one line what publish did.
func publishLine(p *Publication) string {
	moved, pushed := 0, 0
	for _, img := range p.Images {
		moved += len(img.Moves)
		if img.Pushed {
			pushed++
		}
	}
	tag := p.Version.NightlyTag()
	switch {
	case p.DryRun:
		return fmt.Sprintf("dry run: would push %d image(s) under %s and move %d tag(s)", len(p.Images), plan.CommitTag(p.Version.Base, p.GitCommitID), moved)
	case p.Yielded:
		return fmt.Sprintf("pushed %d image(s); not promoted: commit %s is newer and stays %s", pushed, p.Nightly.ID, tag)
	case moved == 0:
		return fmt.Sprintf("pushed %d image(s); nothing moved: %s already is commit %s", pushed, tag, p.GitCommitID)
	}
	return fmt.Sprintf("pushed %d image(s); moved %d tag(s): %s is commit %s", pushed, moved, tag, p.GitCommitID)
}

func (r *runner) stackConfig(ctx context.Context) (string, bool, error) {
	d := r.o.Deployment
	if d == nil {
		return "no deployment: call with-deployment to configure the stack, commit it and deploy", true, nil
	}
	in := r.o.StackConfig
	in.ImageTag, in.UIImageTag, in.Commit = r.in.version.NightlyTag(), r.in.version.NightlyTag(), r.o.Commit
	if pub := r.res.Publication; pub != nil {
		// The tag both images were published under (publish checked they agree).
		in.ImageTag, in.UIImageTag = pub.Version.NightlyTag(), pub.Version.NightlyTag()
	}
	f, err := d.StackConfig(ctx, in)
	if err != nil {
		return "", false, err
	}
	in.ConfigNamespace = d.ConfigNamespace
	cfg, _ := plan.StackConfig(in)
	r.res.StackFile = f
	r.res.Report.Stack = &plan.StackSection{Stack: d.Stack, File: d.stackFile(), Config: cfg}
	r.files = r.files.WithFile(d.stackFile(), f)
	return fmt.Sprintf("%s: %d key(s) set (tag %s, commit %s)", d.stackFile(), len(cfg), in.ImageTag, r.res.Report.GitCommitID), false, nil
}

func (r *runner) gitops(ctx context.Context) (string, bool, error) {
	g := r.o.Gitops
	switch {
	case g == nil && r.o.Deployment == nil:
		return "no deployment repository: call with-gitops to commit the stack file", true, nil
	case g == nil:
		return "no deployment repository: call with-gitops to commit the stack file (it is in the report's files)", true, nil
	}
	opts := *g
	opts.StackFile, opts.DryRun = r.res.StackFile, r.o.DryRun
	out, err := Gitops(ctx, opts)
	if err != nil {
		return "", false, err
	}
	r.res.Gitops = out
	r.res.Report.Gitops = gitopsSection(out)
	return out.Result, false, nil
}

func (r *runner) up(ctx context.Context) (string, bool, error) {
	u := r.o.Up
	if u == nil {
		if r.o.Gitops != nil {
			return "deployed by the deployment repository's CI (call with-direct-deploy to run up here)", true, nil
		}
		return "not asked: call with-direct-deploy to run pulumi up here", true, nil
	}
	// The project with the stack file this run configured (and committed).
	d := *r.o.Deployment
	d.Project = d.Project.WithFile(d.stackFile(), r.res.StackFile)
	opts := *u
	opts.DryRun = r.o.DryRun
	res, err := d.Up(ctx, opts)
	if err != nil {
		return "", false, err
	}
	r.res.Up = res
	r.res.Report.Deployment = deploymentSection(res)
	r.files = r.files.WithNewFile(previewDiff, res.PreviewDiff)
	if res.DryRun {
		return "dry run, preview only: " + res.PreviewChanges.String(), false, nil
	}
	rolled := 0
	for _, w := range res.Workloads {
		if w.Done {
			rolled++
		}
	}
	return fmt.Sprintf("update #%d: %s; %d/%d workload(s) rolled out", res.Version, res.Changes, rolled, len(res.Workloads)), false, nil
}

// warmTools starts building, in the background, the tools of the stages this run will reach.
func (r *runner) warmTools(ctx context.Context) *sync.WaitGroup {
	var tools []*dagger.File
	var dirs []*dagger.Directory
	if r.o.Lint.Linter == "buildkit" {
		tools = append(tools, dockerlintBinary(r.o.Lint.GolangImage))
	}
	if r.o.Publish != nil {
		tools = append(tools, reproduceBinary(r.o.Lint.GolangImage))
	}
	if d := r.o.Deployment; d != nil {
		tools = append(tools, deployerBinary(d.GolangImage))
		if plugins, err := d.providerPlugins(); err == nil {
			dirs = append(dirs, plugins)
		}
	}
	if g := r.o.Gitops; g != nil && g.Mode == plan.GitopsPullRequest {
		tools = append(tools, forgeBinary(g.GolangImage))
	}
	var wg sync.WaitGroup
	for _, t := range tools {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = t.Sync(ctx) }()
	}
	for _, d := range dirs {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = d.Sync(ctx) }()
	}
	return &wg
}
