package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// Inputs are the stack config values the program deploys, read and checked before Pulumi runs.
type Inputs struct {
	ChartFolder string
	// ChartPath is the chart's absolute path: stable across runs, so the chart's own inputs do not
	// change when the project is checked out elsewhere (pulumi-kubernetes#2118, #2251).
	ChartPath string
	Release   string
	ImageTag  string
	Commit    string
	Namespace string
}

// inputError names the stack config key at fault.
type inputError struct {
	Key string
	Msg string
}

func (e *inputError) Error() string { return e.Key + ": " + e.Msg }

// readInputs checks the stack config: every key present, the commits in agreement, the chart folder
// a chart. get returns a key's value ("" when unset).
func readInputs(spec Spec, projectDir, stack string, get func(key string) string) (Inputs, error) {
	var in Inputs
	in.ChartFolder = get(spec.key(spec.ChartFolderKey))
	if in.ChartFolder == "" {
		return in, &inputError{spec.key(spec.ChartFolderKey), fmt.Sprintf("missing from Pulumi.%s.yaml (the chart folder, relative to the project)", stack)}
	}
	in.ChartPath = filepath.Join(projectDir, in.ChartFolder)
	if st, err := os.Stat(filepath.Join(in.ChartPath, "Chart.yaml")); err != nil || st.IsDir() {
		return in, &inputError{spec.key(spec.ChartFolderKey), fmt.Sprintf("chart folder %q has no Chart.yaml in the project", in.ChartFolder)}
	}
	in.Release = path.Base(filepath.ToSlash(filepath.Clean(in.ChartFolder)))
	in.ImageTag = get(spec.key(spec.ImageTagKey))
	if in.ImageTag == "" {
		return in, &inputError{spec.key(spec.ImageTagKey), fmt.Sprintf("missing from Pulumi.%s.yaml (the images' tag)", stack)}
	}
	var from string
	for _, k := range spec.CommitKeys {
		v := get(spec.key(k))
		if v == "" {
			continue
		}
		if in.Commit != "" && v != in.Commit {
			return in, &inputError{spec.key(k), fmt.Sprintf("%q disagrees with %s %q", v, from, in.Commit)}
		}
		in.Commit, from = v, spec.key(k)
	}
	if in.Commit == "" {
		return in, &inputError{spec.key(spec.CommitKeys[0]), fmt.Sprintf("missing from Pulumi.%s.yaml (the commit id)", stack)}
	}
	in.Namespace = "default"
	if spec.NamespaceKey != "" {
		if v := get(spec.key(spec.NamespaceKey)); v != "" {
			in.Namespace = v
		}
	}
	return in, nil
}

type providerResource struct{ pulumi.ProviderResourceState }

type namespaceResource struct{ pulumi.CustomResourceState }

type chartResource struct {
	pulumi.ResourceState
	Resources pulumi.ArrayOutput `pulumi:"resources"`
}

// patched records which workloads the transform patched in one run of the program (a preview or
// an update: each runs the program once), for the report.
type patched struct {
	mu    sync.Mutex
	items []string
	seen  map[string]bool
}

func (p *patched) add(kind, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := kind + " " + name
	if p.seen[k] {
		return
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[k] = true
	p.items = append(p.items, k)
}

// take returns what the last run patched, sorted, and starts afresh for the next run.
func (p *patched) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.items
	sort.Strings(out)
	p.items, p.seen = nil, nil
	return out
}

// program installs the chart with the image tag, in its namespace, every pod template labeled with
// the commit (Pulumi transform on the chart: it reaches each object the chart renders, so the
// chart needs no label support), through one Kubernetes provider.
func program(spec Spec, projectDir, stack string, rec *patched) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		in, err := readInputs(spec, projectDir, stack, func(key string) string { return config.Get(ctx, key) })
		if err != nil {
			return err
		}
		version := pulumi.Version(spec.ProviderVersion)
		var prov providerResource
		if err := ctx.RegisterResource("pulumi:providers:kubernetes", "cluster", pulumi.Map{}, &prov, version); err != nil {
			return err
		}
		deps := []pulumi.Resource{}
		if in.Namespace != "default" {
			var ns namespaceResource
			if err := ctx.RegisterResource("kubernetes:core/v1:Namespace", in.Namespace, pulumi.Map{
				"apiVersion": pulumi.String("v1"),
				"kind":       pulumi.String("Namespace"),
				"metadata":   pulumi.Map{"name": pulumi.String(in.Namespace)},
			}, &ns, pulumi.Provider(&prov), version); err != nil {
				return err
			}
			deps = append(deps, &ns)
		}
		values := pulumi.Map{}
		for _, p := range spec.TagValuePaths {
			setPath(values, strings.Split(p, "."), pulumi.String(in.ImageTag))
		}
		patch := Patch{Labels: map[string]string{spec.CommitLabel: in.Commit}, ImagePullPolicy: spec.ImagePullPolicy, Strategy: spec.Strategy}
		var chart chartResource
		err = ctx.RegisterRemoteComponentResource("kubernetes:helm.sh/v4:Chart", in.Release, pulumi.Map{
			"chart":     pulumi.String(in.ChartPath),
			"namespace": pulumi.String(in.Namespace),
			"values":    values,
		}, &chart, pulumi.Provider(&prov), version, pulumi.DependsOn(deps),
			pulumi.Transforms([]pulumi.ResourceTransform{transform(spec.PodTemplates, patch, rec.add)}))
		if err != nil {
			return err
		}
		ctx.Export("namespace", pulumi.String(in.Namespace))
		ctx.Export("release", pulumi.String(in.Release))
		ctx.Export("chartFolder", pulumi.String(in.ChartFolder))
		ctx.Export("imageTag", pulumi.String(in.ImageTag))
		ctx.Export("gitCommitId", pulumi.String(in.Commit))
		return nil
	}
}

// setPath sets a dotted chart value (api.image.tag) in a nested values map.
func setPath(m pulumi.Map, path []string, v pulumi.Input) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(pulumi.Map)
		if !ok {
			next = pulumi.Map{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}
