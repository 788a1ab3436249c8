package main

import (
	"encoding/json"
	"fmt"
)

// Spec is what the module tells the program: which stack config keys to read, where the chart's
// image tags go, and how to patch pod templates. ci/plan computes it; see DeploySpec there.
type Spec struct {
	// ConfigNamespace prefixes every key (graviteeio).
	ConfigNamespace string `json:"configNamespace"`
	// ChartFolderKey names the chart folder, relative to the project (localChartFolder).
	ChartFolderKey string `json:"chartFolderKey"`
	// ImageTagKey holds the tag of both images (docker_image_tag).
	ImageTagKey string `json:"imageTagKey"`
	// CommitKeys hold the commit id; all that are set must agree (git_commit_id, api_git_commit_id).
	CommitKeys []string `json:"commitKeys"`
	// NamespaceKey holds the Kubernetes namespace (namespace); "default" when unset.
	NamespaceKey string `json:"namespaceKey"`
	// TagValuePaths are the chart values that take the image tag (api.image.tag, ui.image.tag).
	TagValuePaths []string `json:"tagValuePaths"`
	// CommitLabel is the pod template label that carries the commit id.
	CommitLabel string `json:"commitLabel"`
	// PodTemplates says where each workload kind keeps its pod template.
	PodTemplates PodTemplates `json:"podTemplates"`
	// ImagePullPolicy set on every container ("" leaves the chart's).
	ImagePullPolicy string `json:"imagePullPolicy"`
	// Strategy of Deployments ("Recreate", or "" for the chart's).
	Strategy string `json:"strategy"`
	// ProviderVersion of the Kubernetes provider (4.32.0).
	ProviderVersion string `json:"providerVersion"`
}

func parseSpec(s string) (Spec, error) {
	var spec Spec
	if err := json.Unmarshal([]byte(s), &spec); err != nil {
		return spec, fmt.Errorf("--spec: %w", err)
	}
	if spec.ConfigNamespace == "" || spec.ChartFolderKey == "" || spec.ImageTagKey == "" ||
		len(spec.CommitKeys) == 0 || spec.CommitLabel == "" || spec.ProviderVersion == "" {
		return spec, fmt.Errorf("--spec: incomplete: %s", s)
	}
	return spec, nil
}

// key is a full config key, e.g. graviteeio:docker_image_tag.
func (s Spec) key(k string) string { return s.ConfigNamespace + ":" + k }
