package plan

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// The deploy stage's names, as the seed uses them.
const (
	// DefaultConfigNamespace prefixes every stack config key (graviteeio:docker_image_tag).
	DefaultConfigNamespace = "graviteeio"
	// ChartFolderKey: the Helm chart's folder, relative to the deployment project.
	ChartFolderKey = "localChartFolder"
	// ImageTagKey: the tag both images carry (X.Y.Z-nightly).
	ImageTagKey = "docker_image_tag"
	// GitCommitIDKey: the commit the pods are labeled with (the seed's "new stack config parameter").
	GitCommitIDKey = "git_commit_id"
	// APIGitCommitIDKey: the key the seed's script sets; kept equal to GitCommitIDKey.
	APIGitCommitIDKey = "api_git_commit_id"
	// NamespaceKey: the Kubernetes namespace of the release.
	NamespaceKey = "namespace"
	// CommitLabel goes on every pod template, so every commit rolls the pods.
	CommitLabel = "app.gravitee.io/git_commit_id"
	// ClusterAlias is the host name a cluster on the caller's loopback is bound under in the
	// deploy container; the API server's certificate must carry it.
	ClusterAlias = "kube-apiserver"
)

// PodTemplatePaths says where each workload kind keeps its pod template. The commit label goes on
// the template's metadata.labels only: selectors are immutable and never touched.
var PodTemplatePaths = map[string]string{
	"apps/v1/Deployment":       "spec.template",
	"apps/v1/StatefulSet":      "spec.template",
	"apps/v1/DaemonSet":        "spec.template",
	"apps/v1/ReplicaSet":       "spec.template",
	"batch/v1/Job":             "spec.template",
	"batch/v1/CronJob":         "spec.jobTemplate.spec.template",
	"v1/ReplicationController": "spec.template",
}

var (
	configNamespaceRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
	imageTagRE        = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	valuePathRE       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$`)
	stackNameRE       = regexp.MustCompile(`^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$`)
	k8sNameRE         = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
)

// StackConfigInput is what a nightly knows when it sets the deployment's stack config.
type StackConfigInput struct {
	ConfigNamespace string
	// ImageTag is the management API image's tag; UIImageTag the web UI's ("" = the same).
	ImageTag, UIImageTag string
	// Commit is the full commit hash (or at least its first 15 hex digits).
	Commit string
	// ChartFolder, relative to the deployment project ("" keeps the stack's current one).
	ChartFolder string
	// Namespace is the Kubernetes namespace ("" keeps the stack's current one).
	Namespace string
}

// StackConfig returns the stack config to set, key → value, in the seed's names. The two images'
// tags must agree (the seed's check, done before anything is written).
func StackConfig(in StackConfigInput) (map[string]string, error) {
	ns := in.ConfigNamespace
	if !configNamespaceRE.MatchString(ns) {
		return nil, fmt.Errorf("config namespace %q: want a name like graviteeio", ns)
	}
	if !imageTagRE.MatchString(in.ImageTag) {
		return nil, fmt.Errorf("image tag %q: not a valid image tag (e.g. 3.0.0-nightly)", in.ImageTag)
	}
	if in.UIImageTag != "" && in.UIImageTag != in.ImageTag {
		return nil, fmt.Errorf("the web UI image's tag %q differs from the management API's %q: both images must carry the same tag", in.UIImageTag, in.ImageTag)
	}
	id, err := GitCommitID(in.Commit)
	if err != nil {
		return nil, err
	}
	cfg := map[string]string{
		ns + ":" + ImageTagKey:       in.ImageTag,
		ns + ":" + GitCommitIDKey:    id,
		ns + ":" + APIGitCommitIDKey: id,
	}
	if in.ChartFolder != "" {
		f, err := CheckChartFolder(in.ChartFolder)
		if err != nil {
			return nil, err
		}
		cfg[ns+":"+ChartFolderKey] = f
	}
	if in.Namespace != "" {
		if !k8sNameRE.MatchString(in.Namespace) {
			return nil, fmt.Errorf("namespace %q: not a Kubernetes namespace name", in.Namespace)
		}
		cfg[ns+":"+NamespaceKey] = in.Namespace
	}
	return cfg, nil
}

// CheckChartFolder accepts a folder inside the deployment project, written as the seed does
// (./cockpit); absolute paths and paths leaving the project are refused.
func CheckChartFolder(f string) (string, error) {
	if f == "" || strings.HasPrefix(f, "/") || strings.Contains(f, "\\") {
		return "", fmt.Errorf("chart folder %q: want a folder relative to the deployment project, e.g. ./cockpit", f)
	}
	clean := path.Clean(f)
	if clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("chart folder %q: must be inside the deployment project", f)
	}
	return "./" + clean, nil
}

// CheckStack accepts a stack name (nightly, or org/project/stack).
func CheckStack(stack string) error {
	if !stackNameRE.MatchString(stack) {
		return fmt.Errorf("stack %q: want a stack name such as nightly", stack)
	}
	return nil
}

// CheckBackendURL refuses state backend URLs that carry a password: the URL shows up in logs and
// in the CLI's own errors, so credentials go in --backend-env (PGPASSWORD, AWS_SECRET_ACCESS_KEY…).
// Empty means Pulumi Cloud (with PULUMI_ACCESS_TOKEN in --backend-env).
func CheckBackendURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("backend URL: not a URL (want e.g. postgres://pulumi@db:5432/pulumi?sslmode=disable, s3://bucket, file:///state)")
	}
	if _, has := u.User.Password(); has {
		return fmt.Errorf("backend URL %s: carries a password; pass it in --backend-env (e.g. PGPASSWORD=…) instead", u.Redacted())
	}
	for k := range u.Query() {
		if lk := strings.ToLower(k); strings.Contains(lk, "secret") || strings.Contains(lk, "password") || strings.Contains(lk, "token") {
			return fmt.Errorf("backend URL: its query carries %q; pass credentials in --backend-env instead", k)
		}
	}
	return nil
}

// DeploySpecInput chooses what the program does with the chart.
type DeploySpecInput struct {
	ConfigNamespace string
	// TagValuePaths: chart values set to the image tag (api.image.tag, ui.image.tag).
	TagValuePaths []string
	// PullPolicy for every container (Always: the nightly tag moves).
	PullPolicy string
	// Recreate switches Deployments to the Recreate strategy.
	Recreate        bool
	ProviderVersion string
}

// DeploySpec is the program's spec, as tools/deployer reads it (its Spec type).
type DeploySpec struct {
	ConfigNamespace string            `json:"configNamespace"`
	ChartFolderKey  string            `json:"chartFolderKey"`
	ImageTagKey     string            `json:"imageTagKey"`
	CommitKeys      []string          `json:"commitKeys"`
	NamespaceKey    string            `json:"namespaceKey"`
	TagValuePaths   []string          `json:"tagValuePaths"`
	CommitLabel     string            `json:"commitLabel"`
	PodTemplates    map[string]string `json:"podTemplates"`
	ImagePullPolicy string            `json:"imagePullPolicy"`
	Strategy        string            `json:"strategy"`
	ProviderVersion string            `json:"providerVersion"`
}

// NewDeploySpec checks the choices and returns the spec.
func NewDeploySpec(in DeploySpecInput) (DeploySpec, error) {
	if !configNamespaceRE.MatchString(in.ConfigNamespace) {
		return DeploySpec{}, fmt.Errorf("config namespace %q: want a name like graviteeio", in.ConfigNamespace)
	}
	if len(in.TagValuePaths) == 0 {
		return DeploySpec{}, fmt.Errorf("image tag value paths: want at least one (e.g. api.image.tag)")
	}
	for _, p := range in.TagValuePaths {
		if !valuePathRE.MatchString(p) {
			return DeploySpec{}, fmt.Errorf("image tag value path %q: want a dotted chart value such as api.image.tag", p)
		}
	}
	switch in.PullPolicy {
	case "Always", "IfNotPresent", "Never", "":
	default:
		return DeploySpec{}, fmt.Errorf("image pull policy %q: want Always, IfNotPresent or Never", in.PullPolicy)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(in.ProviderVersion) {
		return DeploySpec{}, fmt.Errorf("kubernetes provider version %q: want X.Y.Z", in.ProviderVersion)
	}
	s := DeploySpec{
		ConfigNamespace: in.ConfigNamespace, ChartFolderKey: ChartFolderKey, ImageTagKey: ImageTagKey,
		CommitKeys: []string{GitCommitIDKey, APIGitCommitIDKey}, NamespaceKey: NamespaceKey,
		TagValuePaths: in.TagValuePaths, CommitLabel: CommitLabel, PodTemplates: PodTemplatePaths,
		ImagePullPolicy: in.PullPolicy, ProviderVersion: in.ProviderVersion,
	}
	if in.Recreate {
		s.Strategy = "Recreate"
	}
	return s, nil
}

// JSON is the spec as the deployer's --spec flag takes it.
func (s DeploySpec) JSON() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// PluginOverride maps Pulumi's default download location of the Kubernetes provider to a server of
// the caller's (PULUMI_PLUGIN_DOWNLOAD_URL_OVERRIDES's regexp=URL form); the URL must not hold "=" or ",".
func CheckPluginServer(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("plugin server %q: want an http(s) URL serving pulumi-resource-kubernetes-vX.Y.Z-linux-amd64.tar.gz", raw)
	}
	if u.User != nil {
		return fmt.Errorf("plugin server %s: must not carry credentials", u.Redacted())
	}
	return nil
}

// Changes counts what an update did (or a preview would do), by Pulumi's operation names
// (create, update, replace, delete, same…).
type Changes map[string]int

// Changed is the number of resources that are not "same".
func (c Changes) Changed() int {
	n := 0
	for op, v := range c {
		if op != "same" {
			n += v
		}
	}
	return n
}

// String reads like Pulumi's summary: "1 to create, 4 to update, 3 unchanged" (sorted, stable).
func (c Changes) String() string {
	if len(c) == 0 {
		return "no changes"
	}
	var parts []string
	for _, op := range sortedKeys(c) {
		if c[op] == 0 {
			continue
		}
		if op == "same" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%d %s", c[op], op))
	}
	if c["same"] > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", c["same"]))
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}

// Workload is a workload as the provider last read it back from the cluster.
type Workload struct {
	Kind           string            `json:"kind"`
	Namespace      string            `json:"namespace"`
	Name           string            `json:"name"`
	Generation     int64             `json:"generation"`
	TemplateLabels map[string]string `json:"templateLabels"`
	Spec           map[string]any    `json:"spec"`
	Status         map[string]any    `json:"status"`
}

// Rollout is a workload's rollout state, read from its status.
type Rollout struct {
	// Done is true when the controller has rolled out the current template everywhere.
	Done bool
	// State is readable: "rolled out: 2/2 updated, 2 ready" or "rolling: 1/2 updated, 0 ready".
	State string
}

func num(m map[string]any, k string) int64 {
	switch v := m[k].(type) {
	case float64:
		return int64(v)
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

// RolloutOf reads a workload's rollout from its status (the rules kubectl rollout status uses).
func RolloutOf(w Workload) Rollout {
	st, spec := w.Status, w.Spec
	observed := num(st, "observedGeneration")
	stale := w.Generation > 0 && observed < w.Generation
	switch path.Base(w.Kind) {
	case "Deployment", "ReplicaSet", "ReplicationController":
		want := int64(1)
		if _, ok := spec["replicas"]; ok {
			want = num(spec, "replicas")
		}
		updated, ready, avail, total := num(st, "updatedReplicas"), num(st, "readyReplicas"), num(st, "availableReplicas"), num(st, "replicas")
		if path.Base(w.Kind) != "Deployment" {
			updated = total
		}
		done := !stale && updated == want && total == want && avail == want
		return Rollout{done, fmt.Sprintf("%s: %d/%d updated, %d ready, %d available", rolloutWord(done), updated, want, ready, avail)}
	case "StatefulSet":
		want := int64(1)
		if _, ok := spec["replicas"]; ok {
			want = num(spec, "replicas")
		}
		ready, updated := num(st, "readyReplicas"), num(st, "updatedReplicas")
		cur, upd := st["currentRevision"], st["updateRevision"]
		done := !stale && ready == want && updated == want && cur == upd
		return Rollout{done, fmt.Sprintf("%s: %d/%d updated, %d ready, revision %v", rolloutWord(done), updated, want, ready, upd)}
	case "DaemonSet":
		desired, updated, ready := num(st, "desiredNumberScheduled"), num(st, "updatedNumberScheduled"), num(st, "numberReady")
		done := !stale && updated == desired && ready == desired
		return Rollout{done, fmt.Sprintf("%s: %d/%d nodes updated, %d ready", rolloutWord(done), updated, desired, ready)}
	case "CronJob":
		return Rollout{true, "scheduled (a CronJob's next Job uses the new template)"}
	case "Job":
		done := num(st, "succeeded") > 0
		if done {
			return Rollout{true, "completed"}
		}
		return Rollout{false, fmt.Sprintf("running: %d active, %d failed", num(st, "active"), num(st, "failed"))}
	}
	return Rollout{false, "unknown kind"}
}

func rolloutWord(done bool) string {
	if done {
		return "rolled out"
	}
	return "rolling"
}

// DeployError is a failed deploy, named after the input at fault.
type DeployError struct {
	// Input: the argument or stack config key to look at (passphrase, kubeconfig, cluster-service,
	// backend-url, backend-env, stack, graviteeio:localChartFolder…).
	Input   string
	Message string
	// Applied is false when nothing reached the cluster or the state.
	Applied bool
}

func (e *DeployError) Error() string {
	note := ""
	if !e.Applied {
		note = " (nothing was applied)"
	}
	return fmt.Sprintf("deploy: %s: %s%s", e.Input, e.Message, note)
}

// ClassifyDeployError turns the deployer's failure (its stage, key and message) into an error
// naming the input to fix.
func ClassifyDeployError(stage, key, msg, stack string) *DeployError {
	// Resource URNs name the chart's type (kubernetes:helm.sh/v4:Chart$…): matched, every error
	// about a chart's resource would read as the chart's own.
	m := strings.ToLower(urnRE.ReplaceAllString(msg, "<resource>"))
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	short := lastMeaningfulLine(msg)
	switch {
	case stage == "config":
		return &DeployError{Input: "stack config " + key, Message: msg}
	case stage == "input" && key != "":
		return &DeployError{Input: key, Message: msg}
	case stage == "lock":
		return &DeployError{Input: "stack " + stack, Message: "locked by another update: wait for it; if it was killed, run `deployment … cancel` (pulumi cancel), then deploy again. " + short}
	case has("incorrect passphrase", "passphrase must be set", "failed to decrypt", "constructing secrets manager", "passphrase"):
		return &DeployError{Input: "passphrase", Message: "the stack's secrets passphrase was refused: " + short}
	case has("pulumi_access_token", "unauthorized: no credentials", "invalid access token"):
		return &DeployError{Input: "backend-env (PULUMI_ACCESS_TOKEN)", Message: short}
	case has("could not automatically download and install resource plugin"):
		return &DeployError{Input: "kubernetes-provider", Message: "the Kubernetes provider is not in the Pulumi image and could not be downloaded (pass --plugin-server, or a Pulumi image that has it): " + short}
	case has("no pulumi.yaml project file found"):
		return &DeployError{Input: "project", Message: "the Pulumi CLI found no Pulumi.yaml in the project folder: " + short}
	case stage == "backend" && has("password authentication failed", "access denied", "invalidaccesskeyid", "signaturedoesnotmatch", "authorization"):
		return &DeployError{Input: "backend-env", Message: "the state backend refused the credentials: " + short}
	case stage == "backend":
		return &DeployError{Input: "backend-url", Message: "the state backend cannot be used: " + short}
	// Refused credentials first: the provider reports them as an unreachable cluster too.
	case has("unauthorized", "forbidden", "x509", "certificate", "invalid configuration", "kubeconfig", "no configuration has been provided"):
		return &DeployError{Input: "kubeconfig", Message: "the cluster refused the kubeconfig: " + short}
	case stage == "cluster" || has("cluster is unreachable", "connection refused", "no such host", "i/o timeout", "no route to host", "dial tcp"):
		return &DeployError{Input: "cluster-service", Message: "the Kubernetes API server is unreachable (check --cluster-service and the kubeconfig's server): " + short}
	case stage == "pending":
		return &DeployError{Input: "stack " + stack, Message: "an interrupted update left pending operations and the refresh that resolves them failed: " + short}
	case has("field conflict", "conflicts with", "already exists"):
		return &DeployError{Input: "stack " + stack, Message: "objects this stack applies belong to another owner (another stack, or a kubectl apply, made the same objects in the same namespace): " +
			"delete them or give this stack a namespace of its own (stack-config --namespace): " + short, Applied: stage == "update"}
	case stage != "update" && has("chart", "helm", "template"):
		return &DeployError{Input: "stack config " + DefaultConfigNamespace + ":" + ChartFolderKey, Message: "the chart does not render: " + short}
	case stage == "update":
		return &DeployError{Input: "stack " + stack, Message: "the update failed: " + short, Applied: true}
	}
	return &DeployError{Input: "stack " + stack, Message: stage + ": " + short}
}

var urnRE = regexp.MustCompile(`urn:pulumi:[^\s"']+`)

// lastMeaningfulLine keeps the error lines of Pulumi's long output (the last "error:" lines).
func lastMeaningfulLine(msg string) string {
	var errs []string
	for _, l := range strings.Split(msg, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "error:") || strings.HasPrefix(t, "warning: configured Kubernetes cluster is unreachable") {
			errs = append(errs, t)
		}
	}
	if len(errs) > 0 {
		return strings.Join(dedupe(errs), " | ")
	}
	t := strings.TrimSpace(msg)
	if len(t) > 600 {
		t = "…" + t[len(t)-600:]
	}
	return t
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// HasProjectFile: a folder listing (Directory.entries: sub-folders end in "/") holds a Pulumi
// project file, Pulumi.yaml or Pulumi.yml.
func HasProjectFile(entries []string) bool {
	for _, e := range entries {
		if e == "Pulumi.yaml" || e == "Pulumi.yml" {
			return true
		}
	}
	return false
}

// CheckProjectRoot refuses a deployment project whose top has no Pulumi.yaml, naming the
// sub-folders that hold one (nested) when the caller passed their parent.
func CheckProjectRoot(entries, nested []string) error {
	if HasProjectFile(entries) {
		return nil
	}
	switch len(nested) {
	case 0:
		return &DeployError{Input: "project", Message: "no Pulumi.yaml at the top of the folder: pass the deployment repository's Pulumi project folder"}
	case 1:
		return &DeployError{Input: "project", Message: fmt.Sprintf("no Pulumi.yaml at the top of the folder; %s/ holds one: pass that folder", nested[0])}
	default:
		return &DeployError{Input: "project", Message: fmt.Sprintf("no Pulumi.yaml at the top of the folder; %s/ hold one each: pass one of them", strings.Join(nested, "/, "))}
	}
}

// HasConfigKey: a Pulumi.<stack>.yaml's text sets namespace:key (under its config: map).
func HasConfigKey(stackYAML, namespace, key string) bool {
	re := regexp.MustCompile(`(?m)^\s+["']?` + regexp.QuoteMeta(namespace+":"+key) + `["']?\s*:`)
	return re.MatchString(stackYAML)
}

// DefaultChartFolder is the chart folder of a stack that has none yet: the project's only folder
// holding a Chart.yaml; none or several is an error naming what to pass.
func DefaultChartFolder(charts []string, stackFile, namespace string) (string, error) {
	switch len(charts) {
	case 1:
		return "./" + charts[0], nil
	case 0:
		return "", &DeployError{Input: "chart-folder", Message: fmt.Sprintf("%s sets no %s:%s and the project has no folder holding a Chart.yaml: pass --chart-folder", stackFile, namespace, ChartFolderKey)}
	default:
		return "", &DeployError{Input: "chart-folder", Message: fmt.Sprintf("%s sets no %s:%s and the project has several charts (%s): pass --chart-folder", stackFile, namespace, ChartFolderKey, strings.Join(charts, ", "))}
	}
}
