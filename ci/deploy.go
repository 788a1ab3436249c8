package ci

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// Deployment is a Pulumi deployment of the demo (step 6): the deployment project, its stack and
// state backend, the cluster, and the images the program runs in.
type Deployment struct {
	// Project holds Pulumi.yaml, Pulumi.<stack>.yaml and the chart folder.
	Project *dagger.Directory
	Stack   string
	// BackendURL is the state backend (postgres://…, s3://…, file://…; "" for Pulumi Cloud).
	BackendURL string
	// BackendService is bound under BackendURL's host name (a server on the caller's machine).
	BackendService *dagger.Service
	// BackendEnv is a secret KEY=VALUE file of the backend's credentials (PGPASSWORD, AWS_…,
	// PULUMI_ACCESS_TOKEN).
	BackendEnv *dagger.Secret
	// Passphrase of the stack's passphrase secrets provider.
	Passphrase *dagger.Secret
	Kubeconfig *dagger.Secret
	// ClusterService is bound as plan.ClusterAlias; the kubeconfig's loopback servers point there.
	ClusterService  *dagger.Service
	ConfigNamespace string
	PulumiImage     string
	GolangImage     string
	ProviderVersion string
	// PluginServer serves pulumi-resource-kubernetes-v<version>-linux-amd64.tar.gz ("" = Pulumi's).
	PluginServer  string
	PluginService *dagger.Service
}

const (
	projectDir = "/deployment"
	// pluginsDir holds the Pulumi plugins (the Kubernetes provider) in the deploy container.
	pluginsDir = "/pulumi-plugins"
	resultPath = "/nightly-deploy/result.json"
	deployer   = "/usr/local/bin/nightly-deployer"
)

// check validates what every deploy function needs, before any container runs.
func (d Deployment) check(ctx context.Context) error {
	if d.Project == nil {
		return fmt.Errorf("deployment: --project is required (the folder holding Pulumi.yaml)")
	}
	if err := plan.CheckStack(d.Stack); err != nil {
		return err
	}
	if err := plan.CheckBackendURL(d.BackendURL); err != nil {
		return err
	}
	if err := plan.CheckPluginServer(d.PluginServer); err != nil {
		return err
	}
	return d.checkProject(ctx)
}

// checkProject: the project folder has its Pulumi.yaml at the top (the CLI would only say "no
// Pulumi.yaml project file found", after starting containers); a project one level down is named.
func (d Deployment) checkProject(ctx context.Context) error {
	top, err := d.projectEntries(ctx)
	if err != nil {
		return err
	}
	var nested []string
	if !plan.HasProjectFile(top) {
		nested = d.foldersHolding(ctx, top, plan.HasProjectFile)
	}
	return plan.CheckProjectRoot(top, nested)
}

// projectEntries lists the top of the project folder (sub-folders end in "/").
func (d Deployment) projectEntries(ctx context.Context) ([]string, error) {
	top, err := d.Project.Entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("deploy: project: reading the folder: %v", err)
	}
	return top, nil
}

// foldersHolding are the project's top-level folders (of its listing top) whose own listing
// satisfies has: those holding a Pulumi.yaml, or a Chart.yaml.
func (d Deployment) foldersHolding(ctx context.Context, top []string, has func(entries []string) bool) []string {
	var out []string
	for _, e := range top {
		if !strings.HasSuffix(e, "/") {
			continue
		}
		if sub, err := d.Project.Directory(e).Entries(ctx); err == nil && has(sub) {
			out = append(out, strings.TrimSuffix(e, "/"))
		}
	}
	return out
}

// stackFile is the stack's config file in the project: Pulumi.<stack>.yaml (org/project/ dropped).
func (d Deployment) stackFile() string {
	s := d.Stack
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	return "Pulumi." + s + ".yaml"
}

// deployerBinary builds tools/deployer (the Pulumi program and its Automation API driver; the
// Pulumi SDK stays out of this module) in a Go image; the engine caches it.
func deployerBinary(golangImage string) *dagger.File {
	return goTool(golangImage, toolSource("tools/deployer"), ".", "nightly-deployer", "")
}

// providerPlugins is PULUMI_HOME/plugins holding the Kubernetes provider: the Pulumi image has
// none, so the deployer installs it (Automation API, from PluginServer or Pulumi's servers). A step
// of its own, so the engine caches the download.
func (d Deployment) providerPlugins() (*dagger.Directory, error) {
	args := []string{deployer, "plugins", "--provider-version", d.ProviderVersion}
	ctr := dag.Container().From(d.PulumiImage).
		WithFile(deployer, deployerBinary(d.GolangImage)).
		WithEnvVariable("PULUMI_HOME", "/pulumi-home").
		WithEnvVariable("PULUMI_SKIP_UPDATE_CHECK", "true")
	if d.PluginServer != "" {
		var err error
		if ctr, err = withURLService(ctr, d.PluginServer, d.PluginService); err != nil {
			return nil, fmt.Errorf("plugin-server: %v", err)
		}
		args = append(args, "--server", d.PluginServer)
	}
	return ctr.WithExec(args).Directory("/pulumi-home/plugins"), nil
}

// container is the Pulumi image with the deployer, the project, the plugins and the credentials.
// PULUMI_HOME is a tmpfs (the CLI keeps logins there), secrets are mounted or secret variables,
// and every run carries a unique value, so a deploy is never answered from the cache.
func (d Deployment) container() (*dagger.Container, error) {
	plugins, err := d.providerPlugins()
	if err != nil {
		return nil, err
	}
	ctr := dag.Container().From(d.PulumiImage).
		WithFile(deployer, deployerBinary(d.GolangImage)).
		WithMountedTemp("/pulumi-home").
		// Not under the tmpfs (a mount inside a WithMountedTemp is hidden by it): the deployer
		// links PULUMI_HOME/plugins to it.
		WithMountedDirectory(pluginsDir, plugins).
		WithEnvVariable("NIGHTLY_PULUMI_PLUGINS", pluginsDir).
		WithMountedTemp("/run/deployer").
		WithEnvVariable("PULUMI_HOME", "/pulumi-home").
		WithEnvVariable("PULUMI_SKIP_UPDATE_CHECK", "true").
		WithDirectory(projectDir, d.Project).
		WithWorkdir(projectDir)
	if d.BackendURL != "" {
		ctr = ctr.WithEnvVariable("PULUMI_BACKEND_URL", d.BackendURL)
		if ctr, err = withURLService(ctr, d.BackendURL, d.BackendService); err != nil {
			return nil, fmt.Errorf("backend-service: %v", err)
		}
	}
	if d.Passphrase != nil {
		ctr = ctr.WithSecretVariable("PULUMI_CONFIG_PASSPHRASE", d.Passphrase)
	}
	if d.BackendEnv != nil {
		ctr = ctr.WithMountedSecret("/run/secrets/nightly/backend.env", d.BackendEnv)
	}
	if d.Kubeconfig != nil {
		ctr = ctr.WithMountedSecret("/run/secrets/nightly/kubeconfig", d.Kubeconfig)
	}
	if d.ClusterService != nil {
		ctr = ctr.WithServiceBinding(plan.ClusterAlias, d.ClusterService)
	}
	return ctr.WithEnvVariable("NIGHTLY_DEPLOY_RUN", fmt.Sprint(time.Now().UnixNano())), nil
}

// commonArgs are the deployer flags every command takes.
func (d Deployment) commonArgs() []string {
	args := []string{"--dir", projectDir, "--stack", d.Stack, "--scratch", "/run/deployer"}
	if d.BackendEnv != nil {
		args = append(args, "--backend-env", "/run/secrets/nightly/backend.env")
	}
	if d.Kubeconfig != nil {
		args = append(args, "--kubeconfig", "/run/secrets/nightly/kubeconfig")
	}
	if d.ClusterService != nil {
		args = append(args, "--cluster-alias", plan.ClusterAlias)
	}
	return args
}

// UpOpts choose what the program does with the chart, and how to wait for a locked stack.
type UpOpts struct {
	TagValuePaths []string
	PullPolicy    string
	Recreate      bool
	DryRun        bool
	// LockRetries: how often to retry while another update holds the stack's lock (backoff 2 s,
	// doubling, at most 30 s).
	LockRetries int
}

// UpResult is what a deploy did: the preview, the one update, the rollouts.
type UpResult struct {
	Stack          string
	DryRun         bool
	PreviewDiff    string
	PreviewChanges plan.Changes
	Updated        bool
	Changes        plan.Changes
	Version        int
	Outputs        map[string]any
	Workloads      []WorkloadRollout
	// Labeled lists the workloads whose pod templates the transform labeled in the last run of the
	// program (the update, or the preview of a dry run).
	Labeled   []string
	Pending   []string
	Recovered string
	LockWaits int
	Warnings  []string
	// Seconds spent per step inside the container (select, pending, refresh, preview, update, export).
	Seconds map[string]float64
	// Container is the one the deploy ran in.
	Container *dagger.Container
}

// WorkloadRollout is one workload after the deploy.
type WorkloadRollout struct {
	Kind, Namespace, Name string
	// GitCommitID is the commit label on its pod template.
	GitCommitID string
	plan.Rollout
}

type deployerResult struct {
	Stack          string             `json:"stack"`
	DryRun         bool               `json:"dryRun"`
	Pending        []string           `json:"pending"`
	Recovered      string             `json:"recovered"`
	LockWaits      int                `json:"lockWaits"`
	PreviewDiff    string             `json:"previewDiff"`
	PreviewChanges map[string]int     `json:"previewChanges"`
	Updated        bool               `json:"updated"`
	UpChanges      map[string]int     `json:"upChanges"`
	UpVersion      int                `json:"upVersion"`
	Outputs        map[string]any     `json:"outputs"`
	Workloads      []plan.Workload    `json:"workloads"`
	Patched        []string           `json:"patched"`
	Warnings       []string           `json:"warnings"`
	Seconds        map[string]float64 `json:"seconds"`
	Error          *struct {
		Stage   string `json:"stage"`
		Key     string `json:"key"`
		Message string `json:"message"`
	} `json:"error"`
}

// Up previews the stack with diff and, unless DryRun, runs exactly one update.
func (d Deployment) Up(ctx context.Context, o UpOpts) (*UpResult, error) {
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	spec, err := plan.NewDeploySpec(plan.DeploySpecInput{ConfigNamespace: d.ConfigNamespace,
		TagValuePaths: o.TagValuePaths, PullPolicy: o.PullPolicy, Recreate: o.Recreate, ProviderVersion: d.ProviderVersion})
	if err != nil {
		return nil, err
	}
	if d.Kubeconfig == nil && !o.DryRun {
		return nil, fmt.Errorf("deployment: --kubeconfig is required to deploy")
	}
	ctr, err := d.container()
	if err != nil {
		return nil, err
	}
	args := append([]string{deployer, "up"}, d.commonArgs()...)
	args = append(args, "--spec", spec.JSON(), "--result", resultPath, "--lock-retries", fmt.Sprint(o.LockRetries))
	if o.DryRun {
		args = append(args, "--dry-run")
	}
	ctr = ctr.WithExec([]string{"mkdir", "-p", "/nightly-deploy"}).
		WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, fmt.Errorf("running the deployer for stack %s: %s", d.Stack, execErr(err))
	}
	raw, err := ctr.File(resultPath).Contents(ctx)
	if err != nil {
		stderr, _ := ctr.Stderr(ctx)
		return nil, fmt.Errorf("deployer exited %d with no result: %s", code, lastLines(stderr, 15))
	}
	var r deployerResult
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, fmt.Errorf("reading the deployer's result: %v", err)
	}
	if r.Error != nil {
		de := plan.ClassifyDeployError(r.Error.Stage, r.Error.Key, r.Error.Message, d.Stack)
		if !r.Updated && r.Error.Stage != "update" {
			de.Applied = false
		}
		return nil, de
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return nil, fmt.Errorf("deployer exited %d: %s", code, lastLines(stderr, 15))
	}
	out := &UpResult{Stack: d.Stack, DryRun: r.DryRun, PreviewDiff: r.PreviewDiff, PreviewChanges: r.PreviewChanges,
		Updated: r.Updated, Changes: r.UpChanges, Version: r.UpVersion, Outputs: r.Outputs, Pending: r.Pending,
		Recovered: r.Recovered, LockWaits: r.LockWaits, Warnings: r.Warnings, Seconds: r.Seconds, Container: ctr,
		Labeled: r.Patched}
	for _, w := range r.Workloads {
		out.Workloads = append(out.Workloads, WorkloadRollout{Kind: w.Kind, Namespace: w.Namespace, Name: w.Name,
			GitCommitID: w.TemplateLabels[plan.CommitLabel], Rollout: plan.RolloutOf(w)})
	}
	sort.Slice(out.Workloads, func(i, j int) bool {
		return out.Workloads[i].Kind+out.Workloads[i].Name < out.Workloads[j].Kind+out.Workloads[j].Name
	})
	return out, nil
}

// Summary is the result as a person reads it.
func (r *UpResult) Summary() string {
	var b strings.Builder
	if r.DryRun {
		fmt.Fprintf(&b, "stack %s: dry run, preview only: %s\n", r.Stack, r.PreviewChanges)
	} else {
		fmt.Fprintf(&b, "stack %s: update #%d: %s (previewed: %s)\n", r.Stack, r.Version, r.Changes, r.PreviewChanges)
	}
	if len(r.Pending) > 0 {
		fmt.Fprintf(&b, "an interrupted update had left %d pending operation(s):\n", len(r.Pending))
		for _, p := range r.Pending {
			fmt.Fprintf(&b, "  %s\n", p)
		}
		if r.Recovered != "" {
			fmt.Fprintf(&b, "resolved by %s\n", r.Recovered)
		}
	}
	if len(r.Labeled) > 0 {
		fmt.Fprintf(&b, "%s added to %d pod template(s): %s\n", plan.CommitLabel, len(r.Labeled), strings.Join(r.Labeled, ", "))
	}
	if r.LockWaits > 0 {
		fmt.Fprintf(&b, "waited %d time(s) for another update's lock\n", r.LockWaits)
	}
	for _, k := range sortedMapKeys(r.Outputs) {
		fmt.Fprintf(&b, "output %s: %v\n", k, r.Outputs[k])
	}
	for _, w := range r.Workloads {
		fmt.Fprintf(&b, "%s %s/%s [%s=%s]: %s\n", w.Kind, w.Namespace, w.Name, plan.CommitLabel, w.GitCommitID, w.State)
	}
	return b.String()
}

func sortedMapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Cancel removes the stack's lock, as `pulumi cancel` does: for an update that was killed.
func (d Deployment) Cancel(ctx context.Context) (string, error) {
	if err := d.check(ctx); err != nil {
		return "", err
	}
	ctr, err := d.container()
	if err != nil {
		return "", err
	}
	return runDeployer(ctx, ctr, append([]string{deployer, "cancel"}, d.commonArgs()...), d.Stack)
}

// runDeployer runs a deployer command and classifies its failure.
func runDeployer(ctx context.Context, ctr *dagger.Container, args []string, stack string) (string, error) {
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("running the deployer for stack %s: %s", stack, execErr(err))
	}
	stdout, _ := ctr.Stdout(ctx)
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return "", plan.ClassifyDeployError("backend", "", lastLines(stderr, 20), stack)
	}
	return stdout, nil
}
