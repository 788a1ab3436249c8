package main

import (
	"context"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// PodTemplates says where each workload kind keeps its pod template, as a dotted path from the
// object's root (e.g. "apps/v1/Deployment" → "spec.template"). The module computes it (ci/plan).
type PodTemplates map[string]string

// Patch is what the transform does to every pod template of the chart.
type Patch struct {
	// Labels to add to each pod template's metadata.labels (never to a selector).
	Labels map[string]string `json:"labels"`
	// ImagePullPolicy for every container and init container ("" leaves them alone).
	ImagePullPolicy string `json:"imagePullPolicy,omitempty"`
	// Strategy for Deployments ("Recreate"; "" leaves the chart's).
	Strategy string `json:"strategy,omitempty"`
}

// kindOf turns a Pulumi resource type into the plan's kind key:
// "kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment" → "apps/v1/Deployment",
// "kubernetes:core/v1:Pod" → "v1/Pod".
func kindOf(resourceType string) string {
	if i := strings.LastIndex(resourceType, "$"); i >= 0 {
		resourceType = resourceType[i+1:]
	}
	parts := strings.Split(resourceType, ":")
	if len(parts) != 3 || parts[0] != "kubernetes" {
		return ""
	}
	mod := strings.TrimPrefix(parts[1], "core/")
	return mod + "/" + parts[2]
}

// transform returns the Pulumi transform that patches pod templates. It runs for the chart and for
// every resource the chart's provider registers; only workloads with a pod template change.
func transform(templates PodTemplates, patch Patch, touched func(kind, name string)) pulumi.ResourceTransform {
	return func(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
		if !args.Custom {
			return nil
		}
		kind := kindOf(args.Type)
		path, ok := templates[kind]
		if !ok {
			return nil
		}
		props, changed := patchObject(args.Props, kind, path, patch)
		if !changed {
			return nil
		}
		if touched != nil {
			touched(kind, args.Name)
		}
		return &pulumi.ResourceTransformResult{Props: props, Opts: args.Opts}
	}
}

// patchObject returns a copy of a workload's properties with its pod template patched; the input
// is left untouched. changed is false when the object has no pod template at path.
func patchObject(obj pulumi.Map, kind, path string, patch Patch) (pulumi.Map, bool) {
	out := copyMap(obj)
	tmpl := descend(out, strings.Split(path, "."))
	if tmpl == nil {
		return obj, false
	}
	if len(patch.Labels) > 0 {
		meta := child(tmpl, "metadata")
		labels := child(meta, "labels")
		for k, v := range patch.Labels {
			labels[k] = pulumi.String(v)
		}
	}
	if patch.ImagePullPolicy != "" {
		spec := child(tmpl, "spec")
		for _, key := range []string{"containers", "initContainers"} {
			arr, ok := spec[key].(pulumi.Array)
			if !ok {
				continue
			}
			for i, c := range arr {
				if cm, ok := c.(pulumi.Map); ok {
					cm = copyMap(cm)
					cm["imagePullPolicy"] = pulumi.String(patch.ImagePullPolicy)
					arr[i] = cm
				}
			}
		}
	}
	if patch.Strategy != "" && strings.HasSuffix(kind, "/Deployment") {
		spec := child(out, "spec")
		// rollingUpdate must go: the API server refuses it with type Recreate.
		spec["strategy"] = pulumi.Map{"type": pulumi.String(patch.Strategy)}
	}
	return out, true
}

// descend walks a dotted path of nested maps, copying each level so the caller may modify it;
// nil when a level is missing or not a map.
func descend(m pulumi.Map, path []string) pulumi.Map {
	cur := m
	for _, key := range path {
		next, ok := cur[key].(pulumi.Map)
		if !ok {
			return nil
		}
		next = copyMap(next)
		cur[key] = next
		cur = next
	}
	return cur
}

// child returns m[key] as a (copied) map, creating it when missing.
func child(m pulumi.Map, key string) pulumi.Map {
	if c, ok := m[key].(pulumi.Map); ok {
		c = copyMap(c)
		m[key] = c
		return c
	}
	c := pulumi.Map{}
	m[key] = c
	return c
}

// copyMap is a shallow copy; arrays are copied too, so patching elements leaves the input alone.
func copyMap(m pulumi.Map) pulumi.Map {
	out := make(pulumi.Map, len(m))
	for k, v := range m {
		if a, ok := v.(pulumi.Array); ok {
			v = append(pulumi.Array(nil), a...)
		}
		out[k] = v
	}
	return out
}
