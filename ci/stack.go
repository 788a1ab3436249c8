package ci

import (
	"context"
	"fmt"
	"slices"

	"dagger/nightly/ci/plan"
	"dagger/nightly/internal/dagger"
)

// StackConfig sets the stack's config from the image tag, the commit and the chart folder through
// the Pulumi Automation API (pulumi config set, never YAML edited by hand), and returns the
// updated Pulumi.<stack>.yaml: the file the GitOps stage commits. The stack is created in the
// backend when it does not exist yet (pulumi config set needs it).
func (d Deployment) StackConfig(ctx context.Context, in plan.StackConfigInput) (*dagger.File, error) {
	if err := d.check(ctx); err != nil {
		return nil, err
	}
	in.ConfigNamespace = d.ConfigNamespace
	if in.ChartFolder == "" {
		// Keep the stack's chart folder; a stack that has none yet (a new one) gets the project's
		// only chart, or a clear error before anything is written.
		current, _ := d.Project.File(d.stackFile()).Contents(ctx)
		if !plan.HasConfigKey(current, d.ConfigNamespace, plan.ChartFolderKey) {
			charts, err := d.chartFolders(ctx)
			if err != nil {
				return nil, err
			}
			if in.ChartFolder, err = plan.DefaultChartFolder(charts, d.stackFile(), d.ConfigNamespace); err != nil {
				return nil, err
			}
		}
	}
	cfg, err := plan.StackConfig(in)
	if err != nil {
		return nil, err
	}
	if in.ChartFolder != "" {
		f, _ := plan.CheckChartFolder(in.ChartFolder)
		if _, err := d.Project.File(f + "/Chart.yaml").ID(ctx); err != nil {
			return nil, fmt.Errorf("chart folder %s: no Chart.yaml in the deployment project", in.ChartFolder)
		}
	}
	ctr, err := d.container()
	if err != nil {
		return nil, err
	}
	args := append([]string{deployer, "config"}, d.commonArgs()...)
	for _, k := range sortedMapKeys(cfg) {
		args = append(args, "--set", k+"="+cfg[k])
	}
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, fmt.Errorf("setting the config of stack %s: %s", d.Stack, execErr(err))
	}
	if code != 0 {
		stderr, _ := ctr.Stderr(ctx)
		return nil, plan.ClassifyDeployError("backend", "", lastLines(stderr, 20), d.Stack)
	}
	f := ctr.File(projectDir + "/" + d.stackFile())
	if _, err := f.ID(ctx); err != nil {
		return nil, fmt.Errorf("stack %s: the deployer wrote no %s: %v", d.Stack, d.stackFile(), err)
	}
	return f, nil
}

// chartFolders are the project's top-level folders holding a Chart.yaml.
func (d Deployment) chartFolders(ctx context.Context) ([]string, error) {
	top, err := d.projectEntries(ctx)
	if err != nil {
		return nil, err
	}
	return d.foldersHolding(ctx, top, func(sub []string) bool { return slices.Contains(sub, "Chart.yaml") }), nil
}
