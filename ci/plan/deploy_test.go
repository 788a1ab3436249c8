package plan

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestStackConfig(t *testing.T) {
	const sha = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
	tests := []struct {
		name    string
		in      StackConfigInput
		want    map[string]string
		wantErr string
	}{
		{"seed keys", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "3.0.0-nightly", Commit: sha, ChartFolder: "./cockpit"},
			map[string]string{"graviteeio:docker_image_tag": "3.0.0-nightly", "graviteeio:git_commit_id": "1a2b3c4d5e6f7a8",
				"graviteeio:api_git_commit_id": "1a2b3c4d5e6f7a8", "graviteeio:localChartFolder": "./cockpit"}, ""},
		{"other namespace, chart kept, k8s namespace", StackConfigInput{ConfigNamespace: "demo", ImageTag: "3.0.1-nightly", UIImageTag: "3.0.1-nightly", Commit: sha[:15], Namespace: "t-1"},
			map[string]string{"demo:docker_image_tag": "3.0.1-nightly", "demo:git_commit_id": "1a2b3c4d5e6f7a8",
				"demo:api_git_commit_id": "1a2b3c4d5e6f7a8", "demo:namespace": "t-1"}, ""},
		{"chart folder cleaned", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "t", Commit: sha, ChartFolder: "charts//cockpit/"},
			map[string]string{"graviteeio:docker_image_tag": "t", "graviteeio:git_commit_id": "1a2b3c4d5e6f7a8",
				"graviteeio:api_git_commit_id": "1a2b3c4d5e6f7a8", "graviteeio:localChartFolder": "./charts/cockpit"}, ""},
		{"tags disagree", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "3.0.0-nightly", UIImageTag: "3.0.1-nightly", Commit: sha}, nil, "must carry the same tag"},
		{"bad tag", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "3.0.0 nightly", Commit: sha}, nil, "not a valid image tag"},
		{"short commit", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "t", Commit: "1a2b3c4"}, nil, "at least 15 hex digits"},
		{"chart outside", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "t", Commit: sha, ChartFolder: "../cockpit"}, nil, "inside the deployment project"},
		{"chart absolute", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "t", Commit: sha, ChartFolder: "/cockpit"}, nil, "relative"},
		{"bad namespace", StackConfigInput{ConfigNamespace: "gravitee io", ImageTag: "t", Commit: sha}, nil, "config namespace"},
		{"bad k8s namespace", StackConfigInput{ConfigNamespace: "graviteeio", ImageTag: "t", Commit: sha, Namespace: "Bad_NS"}, nil, "not a Kubernetes namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StackConfig(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("StackConfig() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("StackConfig() = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("StackConfig()[%s] = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestCheckBackendURL(t *testing.T) {
	for raw, wantErr := range map[string]string{
		"": "",
		"postgres://pulumi@127.0.0.1:5432/pulumi?sslmode=disable": "",
		"s3://state?endpoint=http://minio:9000&region=us-east-1":  "",
		"file:///var/state":                  "",
		"postgres://pulumi:s3cret@db/pulumi": "carries a password",
		"azblob://c?sas_token=abc":           "carries",
		"not a url":                          "not a URL",
	} {
		err := CheckBackendURL(raw)
		if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("CheckBackendURL(%q) = %v, want %q", raw, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckBackendURL(%q) leaks the password: %v", raw, err)
		}
	}
}

func TestNewDeploySpec(t *testing.T) {
	s, err := NewDeploySpec(DeploySpecInput{ConfigNamespace: "graviteeio", TagValuePaths: []string{"api.image.tag", "ui.image.tag"},
		PullPolicy: "Always", Recreate: true, ProviderVersion: "4.32.0"})
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal([]byte(s.JSON()), &back); err != nil {
		t.Fatal(err)
	}
	if back["strategy"] != "Recreate" || back["commitLabel"] != CommitLabel || back["imagePullPolicy"] != "Always" {
		t.Errorf("spec JSON = %s", s.JSON())
	}
	keys := back["commitKeys"].([]any)
	if len(keys) != 2 || keys[0] != "git_commit_id" || keys[1] != "api_git_commit_id" {
		t.Errorf("commitKeys = %v", keys)
	}
	for _, bad := range []DeploySpecInput{
		{ConfigNamespace: "graviteeio", TagValuePaths: []string{"api..tag"}, ProviderVersion: "4.32.0"},
		{ConfigNamespace: "graviteeio", ProviderVersion: "4.32.0"},
		{ConfigNamespace: "graviteeio", TagValuePaths: []string{"a"}, PullPolicy: "Sometimes", ProviderVersion: "4.32.0"},
		{ConfigNamespace: "graviteeio", TagValuePaths: []string{"a"}, ProviderVersion: "latest"},
	} {
		if _, err := NewDeploySpec(bad); err == nil {
			t.Errorf("NewDeploySpec(%+v) accepted", bad)
		}
	}
}

func TestPodTemplatePathsNeverSelectors(t *testing.T) {
	for kind, p := range PodTemplatePaths {
		if !strings.HasSuffix(p, "template") || strings.Contains(p, "selector") {
			t.Errorf("%s: pod template path %q", kind, p)
		}
	}
	for _, kind := range []string{"apps/v1/Deployment", "apps/v1/StatefulSet", "apps/v1/DaemonSet", "batch/v1/Job", "batch/v1/CronJob"} {
		if _, ok := PodTemplatePaths[kind]; !ok {
			t.Errorf("no pod template path for %s", kind)
		}
	}
	if PodTemplatePaths["batch/v1/CronJob"] != "spec.jobTemplate.spec.template" {
		t.Errorf("CronJob path = %q", PodTemplatePaths["batch/v1/CronJob"])
	}
}

func TestChanges(t *testing.T) {
	tests := []struct {
		c       Changes
		want    string
		changed int
	}{
		{Changes{"create": 7}, "7 create", 7},
		{Changes{"update": 4, "same": 3}, "4 update, 3 unchanged", 4},
		{Changes{"same": 8}, "8 unchanged", 0},
		{Changes{}, "no changes", 0},
		{Changes{"replace": 1, "delete": 2, "same": 1}, "2 delete, 1 replace, 1 unchanged", 3},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("%v.String() = %q, want %q", tt.c, got, tt.want)
		}
		if got := tt.c.Changed(); got != tt.changed {
			t.Errorf("%v.Changed() = %d, want %d", tt.c, got, tt.changed)
		}
	}
}

func TestRolloutOf(t *testing.T) {
	tests := []struct {
		name string
		w    Workload
		done bool
		want string
	}{
		{"deployment done", Workload{Kind: "apps/v1/Deployment", Generation: 2, Spec: map[string]any{"replicas": 2.0},
			Status: map[string]any{"observedGeneration": 2.0, "replicas": 2.0, "updatedReplicas": 2.0, "readyReplicas": 2.0, "availableReplicas": 2.0}},
			true, "rolled out: 2/2 updated, 2 ready, 2 available"},
		{"deployment old generation", Workload{Kind: "apps/v1/Deployment", Generation: 3, Spec: map[string]any{"replicas": 1.0},
			Status: map[string]any{"observedGeneration": 2.0, "replicas": 1.0, "updatedReplicas": 1.0, "readyReplicas": 1.0, "availableReplicas": 1.0}},
			false, "rolling"},
		{"deployment surge", Workload{Kind: "apps/v1/Deployment", Generation: 2, Spec: map[string]any{"replicas": 1.0},
			Status: map[string]any{"observedGeneration": 2.0, "replicas": 2.0, "updatedReplicas": 1.0, "readyReplicas": 1.0, "availableReplicas": 1.0}},
			false, "rolling: 1/1 updated"},
		{"statefulset revisions differ", Workload{Kind: "apps/v1/StatefulSet", Generation: 1, Spec: map[string]any{"replicas": 1.0},
			Status: map[string]any{"observedGeneration": 1.0, "readyReplicas": 1.0, "updatedReplicas": 1.0, "currentRevision": "a", "updateRevision": "b"}},
			false, "rolling"},
		{"statefulset done", Workload{Kind: "apps/v1/StatefulSet", Generation: 1, Spec: map[string]any{"replicas": 1.0},
			Status: map[string]any{"observedGeneration": 1.0, "readyReplicas": 1.0, "updatedReplicas": 1.0, "currentRevision": "b", "updateRevision": "b"}},
			true, "rolled out: 1/1 updated, 1 ready, revision b"},
		{"daemonset", Workload{Kind: "apps/v1/DaemonSet", Generation: 1,
			Status: map[string]any{"observedGeneration": 1.0, "desiredNumberScheduled": 2.0, "updatedNumberScheduled": 2.0, "numberReady": 2.0}},
			true, "rolled out: 2/2 nodes updated, 2 ready"},
		{"cronjob", Workload{Kind: "batch/v1/CronJob"}, true, "scheduled"},
		{"job running", Workload{Kind: "batch/v1/Job", Status: map[string]any{"active": 1.0}}, false, "running: 1 active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RolloutOf(tt.w)
			if got.Done != tt.done || !strings.Contains(got.State, tt.want) {
				t.Errorf("RolloutOf() = %+v, want done=%v %q", got, tt.done, tt.want)
			}
		})
	}
}

func TestClassifyDeployError(t *testing.T) {
	tests := []struct {
		stage, key, msg string
		input           string
		applied         bool
	}{
		{"config", "graviteeio:docker_image_tag", "missing from Pulumi.nightly.yaml", "stack config graviteeio:docker_image_tag", false},
		{"config", "graviteeio:localChartFolder", `chart folder "./nope" has no Chart.yaml`, "stack config graviteeio:localChartFolder", false},
		{"input", "kubeconfig", "not a kubeconfig: no clusters", "kubeconfig", false},
		{"lock", "", "error: the stack is currently locked by 1 lock(s).", "stack nightly", false},
		{"backend", "", "error: getting stack configuration: incorrect passphrase", "passphrase", false},
		{"preview", "", "error: constructing secrets manager of type \"passphrase\": incorrect passphrase", "passphrase", false},
		{"backend", "", `error: unable to open state database: failed to ping PostgreSQL: dial tcp 10.0.0.1:5432: connect: connection refused`, "backend-url", false},
		{"backend", "", `pq: password authentication failed for user "pulumi"`, "backend-env", false},
		{"cluster", "", "configured Kubernetes cluster is unreachable: unable to load schema information from the API server", "cluster-service", false},
		{"preview", "", "error: Unauthorized", "kubeconfig", false},
		{"cluster", "", "configured Kubernetes cluster is unreachable: unable to load schema information from the API server: Unauthorized", "kubeconfig", false},
		{"preview", "", "error: tls: failed to verify certificate: x509: certificate signed by unknown authority", "kubeconfig", false},
		{"preview", "", "error: dial tcp: lookup kube-apiserver: no such host", "cluster-service", false},
		{"update", "", "error: 1 error occurred: resource default/x was not successfully created", "stack nightly", true},
		{"pending", "", "error: refresh failed", "stack nightly", false},
		{"preview", "", "error: Could not automatically download and install resource plugin 'pulumi-resource-kubernetes' at version v4.32.0: failed to download plugin: kubernetes-4.32.0: failed all 5 attempts", "kubernetes-provider", false},
		{"backend", "", "failed to select stack: exit status 1\nstderr: error: no Pulumi.yaml project file found; either run this command from a directory containing a Pulumi project", "project", false},
		// A chart's resources carry "helm.sh/v4:Chart" in their URNs: not a chart error, and the update applied what came before.
		{"update", "", `error: resource "urn:pulumi:n::p::kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment::cockpit:bench/api" was not successfully created by the Kubernetes API server: Server-Side Apply field conflict detected.` + "\nerror: update failed", "stack nightly", true},
		{"preview", "", `error: resource "urn:pulumi:n::p::kubernetes:helm.sh/v4:Chart$kubernetes:core/v1:Service::cockpit:bench/api" was not successfully created by the Kubernetes API server: services "api" already exists`, "stack nightly", false},
		{"update", "", `error: resource "urn:pulumi:n::p::kubernetes:helm.sh/v4:Chart$kubernetes:apps/v1:Deployment::x" failed: the Kubernetes API server answered 500`, "stack nightly", true},
		{"preview", "", `error: failed to render chart: template: cockpit/templates/api.yaml:12: function "nope" not defined`, "stack config graviteeio:localChartFolder", false},
	}
	for _, tt := range tests {
		got := ClassifyDeployError(tt.stage, tt.key, tt.msg, "nightly")
		if got.Input != tt.input || got.Applied != tt.applied {
			t.Errorf("ClassifyDeployError(%s, %q) = %q applied=%v, want %q applied=%v", tt.stage, tt.msg, got.Input, got.Applied, tt.input, tt.applied)
		}
		if tt.applied == false && !strings.Contains(got.Error(), "nothing was applied") {
			t.Errorf("%q: error does not say nothing was applied: %v", tt.msg, got)
		}
	}
}

func TestCheckProjectRoot(t *testing.T) {
	for _, c := range []struct {
		name            string
		entries, nested []string
		want            string // "" = accepted
	}{
		{"pulumi.yaml at the top", []string{"Pulumi.yaml", "cockpit/"}, nil, ""},
		{"pulumi.yml at the top", []string{"Pulumi.yml"}, nil, ""},
		{"a stack file is not a project", []string{"Pulumi.nightly.yaml", "cockpit/"}, nil, "deploy: project: no Pulumi.yaml at the top of the folder: pass"},
		{"a folder named Pulumi.yaml", []string{"Pulumi.yaml/"}, nil, "no Pulumi.yaml at the top"},
		{"the parent of the project", []string{"deployment/", "workloads/"}, []string{"deployment"}, "deployment/ holds one: pass that folder"},
		{"two projects below", []string{"a/", "b/"}, []string{"a", "b"}, "a/, b/ hold one each"},
		{"empty folder", nil, nil, "no Pulumi.yaml at the top"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckProjectRoot(c.entries, c.nested)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestHasConfigKeyAndDefaultChartFolder(t *testing.T) {
	for _, c := range []struct {
		yaml string
		want bool
	}{
		{"config:\n  graviteeio:localChartFolder: ./cockpit\n", true},
		{"config:\n  \"graviteeio:localChartFolder\": ./cockpit\n", true},
		{"config:\n  graviteeio:localChartFolderX: ./cockpit\n", false},
		{"config:\n  other:localChartFolder: ./cockpit\n", false},
		{"# graviteeio:localChartFolder: ./cockpit\n", false},
		{"", false},
	} {
		if got := HasConfigKey(c.yaml, "graviteeio", ChartFolderKey); got != c.want {
			t.Errorf("HasConfigKey(%q) = %v, want %v", c.yaml, got, c.want)
		}
	}
	for _, c := range []struct {
		charts []string
		want   string // a folder, or the error's text
	}{
		{[]string{"cockpit"}, "./cockpit"},
		{nil, "deploy: chart-folder: Pulumi.new.yaml sets no graviteeio:localChartFolder and the project has no folder holding a Chart.yaml: pass --chart-folder"},
		{[]string{"cockpit", "workloads"}, "several charts (cockpit, workloads): pass --chart-folder"},
	} {
		got, err := DefaultChartFolder(c.charts, "Pulumi.new.yaml", "graviteeio")
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("DefaultChartFolder(%v) = %q, want %q", c.charts, got, c.want)
		}
	}
}
