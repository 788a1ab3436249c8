package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The deploy stage (step 6) on the test bed's part 3: a real kube-apiserver with the
// controller-manager, the scheduler and kwok's fake nodes (so Deployments really roll and pods
// become Ready), the Pulumi state in PostgreSQL, and the Kubernetes provider installed from the
// test bed's plugin server. Each test has its own stack and namespace, and asserts by reading the
// API server and the state database. The cluster is a real API server, not AKS: said plainly.

const (
	commitA = "1111111111111111111111111111111111111111"
	commitB = "2222222222222222222222222222222222222222"
)

// deployBed is the test bed's part 3, as its env block describes it.
type deployBed struct {
	k8sPort, pgPort, pluginsPort string
	kubeconfig, backendEnv       string
	passphrase                   string // with a space and a trailing newline
	token                        string
	client                       *http.Client
}

func newDeployBed(t *testing.T) deployBed {
	t.Helper()
	needTestbed(t)
	b := deployBed{k8sPort: os.Getenv("NIGHTLY_TESTBED_K8S_PORT"), pgPort: os.Getenv("NIGHTLY_TESTBED_PG_PORT"),
		pluginsPort: os.Getenv("NIGHTLY_TESTBED_PLUGINS_PORT"), kubeconfig: os.Getenv("NIGHTLY_TESTBED_KUBECONFIG"),
		backendEnv: os.Getenv("NIGHTLY_TESTBED_PULUMI_BACKEND_ENV")}
	if b.k8sPort == "" || b.kubeconfig == "" || b.backendEnv == "" {
		// Part 3 is not wired into testbed/up.sh yet (see the README's deploy section): skip, saying so.
		t.Skip("needs the test bed's part 3 (testbed/k8s.sh, testbed/pulumi-state.sh and the NIGHTLY_TESTBED_K8S_* variables): not started")
	}
	pp, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_PULUMI_PASSPHRASE_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	b.passphrase = string(pp)
	kc, err := os.ReadFile(b.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	b.token = field(string(kc), "token")
	ca, err := base64.StdEncoding.DecodeString(field(string(kc), "certificate-authority-data"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	b.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return b
}

func field(yaml, key string) string {
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `:\s*(\S+)`).FindStringSubmatch(yaml)
	if m == nil {
		return ""
	}
	return m[1]
}

func (b deployBed) pgPassword(t *testing.T) string {
	raw, err := os.ReadFile(b.backendEnv)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(string(raw), "PGPASSWORD="), "\n")
}

// get reads the API server; 404 returns false.
func (b deployBed) get(t *testing.T, path string, out any) bool {
	t.Helper()
	req, _ := http.NewRequest("GET", "https://127.0.0.1:"+b.k8sPort+path, nil)
	req.Header.Set("Authorization", "Bearer "+b.token)
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == 404 {
		return false
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return true
}

// secrets writes the test's secret files: the passphrase as file: secrets come (trailing newline).
func (b deployBed) secretFile(t *testing.T, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// deployArgs are the `deployment` constructor's arguments for a stack of the test bed.
func (b deployBed) deployArgs(t *testing.T, project, stack string, extra ...string) []string {
	args := []string{"deployment", "--project=" + project, "--stack=" + stack,
		"--backend-url=postgres://pulumi@state-db:" + b.pgPort + "/pulumi?sslmode=disable",
		"--backend-service=tcp://localhost:" + b.pgPort, "--backend-env=file:" + b.backendEnv,
		"--passphrase=file:" + b.secretFile(t, "passphrase", b.passphrase),
		"--kubeconfig=file:" + b.kubeconfig, "--cluster-service=tcp://localhost:" + b.k8sPort,
		"--plugin-server=http://pulumi-plugins:" + b.pluginsPort + "/plugins/",
		"--plugin-service=tcp://localhost:" + b.pluginsPort}
	return append(args, extra...)
}

// project copies fixtures/deployment (and the workloads chart, as ./workloads) for one test.
func deployProject(t *testing.T) string {
	t.Helper()
	dir := inputDir(t)
	root := repoRoot(t)
	// "src/." copies src's content (filepath.Join would clean the "/." away and nest the folder).
	for _, c := range [][]string{{"fixtures/deployment/.", dir}, {"fixtures/workloads-chart", filepath.Join(dir, "workloads")}} {
		if out, err := exec.Command("cp", "-r", root+"/"+c[0], c[1]).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	return dir
}

// stackConfig runs stack-config and writes the returned Pulumi.<stack>.yaml into the project.
func (b deployBed) stackConfig(t *testing.T, project, stack string, args ...string) callResult {
	t.Helper()
	path := filepath.Join(project, "Pulumi."+stack+".yaml")
	r := daggerCall(t, append(b.deployArgs(t, project, stack), append(append([]string{"stack-config"}, args...), "export", "--path="+path)...)...)
	return r
}

type deployReport struct {
	Stack          string `json:"stack"`
	DryRun         bool   `json:"dryRun"`
	PreviewDiff    string `json:"previewDiff"`
	PreviewChanges string `json:"previewChanges"`
	Changes        string `json:"changes"`
	Changed        int    `json:"changed"`
	Version        int    `json:"version"`
	Pending        []string
	Recovered      string
	LockWaits      int `json:"lockWaits"`
	Workloads      []struct {
		Kind, Name, GitCommitId, State string
		RolledOut                      bool
	}
	PreviewMs, UpdateMs int
}

// up runs `up … json` and decodes the report; r holds the call's output for secret searches.
func (b deployBed) up(t *testing.T, project, stack string, args ...string) (deployReport, callResult) {
	t.Helper()
	r := daggerCall(t, append(b.deployArgs(t, project, stack), append(append([]string{"up"}, args...), "json")...)...)
	var rep deployReport
	if r.exitCode == 0 {
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("up json: %v\n%s", err, r.stdout)
		}
	}
	return rep, r
}

// psql runs a query on the state database as the pulumi role.
func (b deployBed) psql(t *testing.T, query string) string {
	t.Helper()
	cmd := exec.Command("psql", "-h", "127.0.0.1", "-p", b.pgPort, "-U", "pulumi", "-d", "pulumi", "-At", "-c", query)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+b.pgPassword(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", query, err, out)
	}
	return string(out)
}

// stateFiles are the stack's files in the state database, decoded: key → content.
func (b deployBed) stateFiles(t *testing.T, like string) map[string]string {
	t.Helper()
	files := map[string]string{}
	out := b.psql(t, "SELECT key || E'\\t' || (data->>'data') FROM pulumi_state WHERE key LIKE '"+like+"'")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("state row %s: %v", k, err)
		}
		files[k] = string(raw)
	}
	return files
}

// updates counts the stack's history entries of kind update.
func (b deployBed) updates(t *testing.T, stack string) int {
	n := 0
	for _, h := range b.stateFiles(t, "pulumi/.pulumi/history/cockpit-nightly-deployment/"+stack+"/%.history.json") {
		var e struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(h), &e); err == nil && e.Kind == "update" {
			n++
		}
	}
	return n
}

type k8sObject struct {
	Metadata struct {
		Name            string            `json:"name"`
		Labels          map[string]string `json:"labels"`
		OwnerReferences []struct{ Name string }
	} `json:"metadata"`
	Spec struct {
		Replicas *int `json:"replicas"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
		Strategy struct {
			Type string `json:"type"`
		} `json:"strategy"`
		Template    podTemplate `json:"template"`
		JobTemplate struct {
			Spec struct {
				Template podTemplate `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
	Status struct {
		Replicas      int    `json:"replicas"`
		ReadyReplicas int    `json:"readyReplicas"`
		Phase         string `json:"phase"`
		Conditions    []struct{ Type, Status string }
	} `json:"status"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Containers []struct {
			Image           string `json:"image"`
			ImagePullPolicy string `json:"imagePullPolicy"`
		} `json:"containers"`
	} `json:"spec"`
}

func (b deployBed) list(t *testing.T, path string) []k8sObject {
	var l struct{ Items []k8sObject }
	b.get(t, path, &l)
	return l.Items
}

// waitFor polls cond for up to a minute (controllers settle after Pulumi's await).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for i := 0; i < 360; i++ { // 3 min: a 2-core machine running tests in parallel is slow
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: still %s", what, last)
}

// assertRolled checks one Deployment: its template carries the commit and the image tag, one
// ReplicaSet (the one of this template) has the pods, every other is scaled to 0, pods Ready.
func (b deployBed) assertRolled(t *testing.T, ns, name, commit, tag string) (replicaSets int) {
	t.Helper()
	var d k8sObject
	if !b.get(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, &d) {
		t.Fatalf("deployment %s/%s does not exist", ns, name)
	}
	if got := d.Spec.Template.Metadata.Labels["app.gravitee.io/git_commit_id"]; got != commit[:15] {
		t.Errorf("%s: pod template label = %q, want %q", name, got, commit[:15])
	}
	if _, bad := d.Spec.Selector.MatchLabels["app.gravitee.io/git_commit_id"]; bad {
		t.Errorf("%s: the selector got the commit label", name)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !strings.HasSuffix(c.Image, ":"+tag) || c.ImagePullPolicy != "Always" {
		t.Errorf("%s: container image %s, pull policy %s; want tag %s, Always", name, c.Image, c.ImagePullPolicy, tag)
	}
	waitFor(t, "rollout of "+name, func() (bool, string) {
		rss := b.list(t, "/apis/apps/v1/namespaces/"+ns+"/replicasets")
		live, state := 0, ""
		replicaSets = 0
		for _, rs := range rss {
			if len(rs.Metadata.OwnerReferences) == 0 || rs.Metadata.OwnerReferences[0].Name != name {
				continue
			}
			replicaSets++
			cur := rs.Spec.Template.Metadata.Labels["app.gravitee.io/git_commit_id"] == commit[:15] &&
				strings.HasSuffix(rs.Spec.Template.Spec.Containers[0].Image, ":"+tag)
			state += fmt.Sprintf(" %s(current=%v replicas=%d ready=%d)", rs.Metadata.Name, cur, *rs.Spec.Replicas, rs.Status.ReadyReplicas)
			if cur && *rs.Spec.Replicas == 1 && rs.Status.ReadyReplicas == 1 {
				live++
			} else if !cur && *rs.Spec.Replicas != 0 {
				return false, state
			}
		}
		if live != 1 {
			return false, state
		}
		pods := b.list(t, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app.gravitee.io/git_commit_id="+commit[:15])
		ready := 0
		for _, p := range pods {
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" && p.Metadata.Labels["app.kubernetes.io/instance"] == "cockpit" {
					ready++
				}
			}
		}
		return ready >= 2, state + fmt.Sprintf(" ready pods with the label: %d", ready)
	})
	return replicaSets
}

func TestDeployRollsPodsOnEveryCommitAndEveryTag(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	const stack, ns = "roll", "t-roll"
	project := deployProject(t)
	var outputs []callResult

	// Deploy 1: commit A, 3.0.0-nightly.
	r := b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./cockpit", "--namespace="+ns)
	r.mustSucceed(t)
	outputs = append(outputs, r)
	cfg, err := os.ReadFile(filepath.Join(project, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"graviteeio:docker_image_tag: 3.0.0-nightly", "graviteeio:git_commit_id: \"" + commitA[:15] + "\"",
		"graviteeio:api_git_commit_id: \"" + commitA[:15] + "\"", "graviteeio:localChartFolder: ./cockpit", "graviteeio:namespace: " + ns} {
		if !strings.Contains(strings.ReplaceAll(string(cfg), "'", "\""), want) && !strings.Contains(string(cfg), strings.ReplaceAll(want, "\"", "")) {
			t.Errorf("Pulumi.%s.yaml lacks %q:\n%s", stack, want, cfg)
		}
	}
	rep, r := b.up(t, project, stack)
	r.mustSucceed(t)
	outputs = append(outputs, r)
	if rep.Changed == 0 || !strings.Contains(rep.PreviewDiff, "kubernetes:apps/v1:Deployment") {
		t.Errorf("first deploy: changed %d, preview:\n%s", rep.Changed, rep.PreviewDiff)
	}
	for _, w := range rep.Workloads {
		if !w.RolledOut || w.GitCommitId != commitA[:15] {
			t.Errorf("first deploy: workload %+v", w)
		}
	}
	b.assertRolled(t, ns, "cockpit-cockpit-api", commitA, "3.0.0-nightly")
	b.assertRolled(t, ns, "cockpit-cockpit-ui", commitA, "3.0.0-nightly")
	if n := b.updates(t, stack); n != 1 {
		t.Errorf("after deploy 1: %d updates in the stack history, want 1", n)
	}

	// Deploy 2: commit B, the same tag: the label alone must roll the pods.
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitB).mustSucceed(t)
	rep, r = b.up(t, project, stack)
	r.mustSucceed(t)
	outputs = append(outputs, r)
	if !strings.Contains(rep.PreviewDiff, commitA[:15]) || !strings.Contains(rep.PreviewDiff, commitB[:15]) {
		t.Errorf("deploy 2: the preview does not show the label change:\n%s", rep.PreviewDiff)
	}
	if rep.Changed != 2 {
		t.Errorf("deploy 2: %d changed (%s), want the 2 Deployments", rep.Changed, rep.Changes)
	}
	if n := b.assertRolled(t, ns, "cockpit-cockpit-api", commitB, "3.0.0-nightly"); n != 2 {
		t.Errorf("deploy 2: %d ReplicaSets for the API, want 2 (the new one, the old at 0)", n)
	}
	b.assertRolled(t, ns, "cockpit-cockpit-ui", commitB, "3.0.0-nightly")
	if n := b.updates(t, stack); n != 2 {
		t.Errorf("after deploy 2: %d updates in the stack history, want 2", n)
	}

	// Deploy 3: the same commit again: nothing changes, nothing rolls.
	rep, r = b.up(t, project, stack)
	r.mustSucceed(t)
	if rep.Changed != 0 {
		t.Errorf("deploy 3 (same commit): %d changed (%s), want 0", rep.Changed, rep.Changes)
	}
	if n := b.assertRolled(t, ns, "cockpit-cockpit-api", commitB, "3.0.0-nightly"); n != 2 {
		t.Errorf("deploy 3: %d ReplicaSets for the API, want still 2", n)
	}

	// Deploy 4: a new version's tag rolls too.
	b.stackConfig(t, project, stack, "--image-tag=3.0.1-nightly", "--commit="+commitB).mustSucceed(t)
	rep, r = b.up(t, project, stack)
	r.mustSucceed(t)
	if rep.Changed != 2 || !strings.Contains(rep.PreviewDiff, "3.0.1-nightly") {
		t.Errorf("deploy 4 (3.0.1-nightly): %d changed, preview:\n%s", rep.Changed, rep.PreviewDiff)
	}
	if n := b.assertRolled(t, ns, "cockpit-cockpit-api", commitB, "3.0.1-nightly"); n != 3 {
		t.Errorf("deploy 4: %d ReplicaSets for the API, want 3", n)
	}
	if n := b.updates(t, stack); n != 4 {
		t.Errorf("after 4 deploys: %d updates in the stack history, want 4", n)
	}

	// No secret anywhere: outputs, the returned stack file, the state rows (decoded).
	b.assertNoSecrets(t, stack, project, outputs...)
}

// secretNeedles are the test bed's secrets as they could leak: whole, and a distinctive part.
func (b deployBed) secretNeedles(t *testing.T) []string {
	pp := strings.TrimRight(b.passphrase, "\n")
	pg := b.pgPassword(t)
	return []string{pp, strings.SplitN(pp, " ", 3)[2], pg, strings.SplitN(pg, " ", 3)[2], b.token}
}

func (b deployBed) assertNoSecrets(t *testing.T, stack, project string, calls ...callResult) {
	t.Helper()
	needles := b.secretNeedles(t)
	check := func(where, s string) {
		for _, n := range needles {
			if strings.Contains(s, n) {
				t.Errorf("%s holds a secret", where)
			}
		}
	}
	for i, c := range calls {
		check(fmt.Sprintf("call %d stdout", i), c.stdout)
		check(fmt.Sprintf("call %d stderr", i), c.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(project, "Pulumi.*.yaml"))
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		check(f, string(raw))
	}
	rows := b.stateFiles(t, "pulumi/.pulumi/%")
	if len(rows) == 0 {
		t.Errorf("no state rows to search")
	}
	for k, v := range rows {
		check("state row "+k, v)
	}
}

func TestDeployLabelsEveryPodTemplateOfAChartWithoutLabelSupport(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	const stack, ns = "workloads", "t-workloads"
	project := deployProject(t)
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./workloads", "--namespace="+ns).mustSucceed(t)
	rep, r := b.up(t, project, stack)
	r.mustSucceed(t)
	if len(rep.Workloads) != 3 {
		t.Errorf("workloads reported: %+v, want the StatefulSet, the DaemonSet and the CronJob", rep.Workloads)
	}
	for _, c := range []struct{ path, name string }{
		{"/apis/apps/v1/namespaces/" + ns + "/statefulsets/workloads-store", "workloads-store"},
		{"/apis/apps/v1/namespaces/" + ns + "/daemonsets/workloads-agent", "workloads-agent"},
		{"/apis/batch/v1/namespaces/" + ns + "/cronjobs/workloads-cleanup", "workloads-cleanup"},
	} {
		var o k8sObject
		if !b.get(t, c.path, &o) {
			t.Errorf("%s was not deployed", c.name)
			continue
		}
		tmpl := o.Spec.Template
		if strings.Contains(c.path, "cronjobs") {
			tmpl = o.Spec.JobTemplate.Spec.Template
		} else {
			want := map[string]string{"app": c.name}
			if fmt.Sprint(o.Spec.Selector.MatchLabels) != fmt.Sprint(want) {
				t.Errorf("%s: selector %v, want the chart's %v untouched", c.name, o.Spec.Selector.MatchLabels, want)
			}
		}
		if got := tmpl.Metadata.Labels["app.gravitee.io/git_commit_id"]; got != commitA[:15] || tmpl.Metadata.Labels["app"] != c.name {
			t.Errorf("%s: pod template labels %v", c.name, tmpl.Metadata.Labels)
		}
		if tmpl.Spec.Containers[0].ImagePullPolicy != "Always" {
			t.Errorf("%s: imagePullPolicy %s", c.name, tmpl.Spec.Containers[0].ImagePullPolicy)
		}
	}
	waitFor(t, "pods of the StatefulSet and the DaemonSet Ready with the label", func() (bool, string) {
		pods := b.list(t, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app.gravitee.io/git_commit_id="+commitA[:15])
		ready := 0
		for _, p := range pods {
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					ready++
				}
			}
		}
		return ready >= 3, fmt.Sprintf("%d ready of %d", ready, len(pods)) // 1 StatefulSet pod + 2 DaemonSet pods
	})
}

func TestDeployDryRunPreviewsAndAppliesNothing(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	const stack, ns = "dryrun", "t-dryrun"
	project := deployProject(t)
	// The fixture's project alone (one chart): a new stack's chart folder defaults to it.
	if err := os.RemoveAll(filepath.Join(project, "workloads")); err != nil {
		t.Fatal(err)
	}
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitA, "--namespace="+ns).mustSucceed(t)
	rep, r := b.up(t, project, stack, "--dry-run", "--recreate")
	r.mustSucceed(t)
	if !rep.DryRun || rep.Version != 0 || rep.Changes != "" || !strings.Contains(rep.PreviewChanges, "create") ||
		!strings.Contains(rep.PreviewDiff, "Recreate") {
		t.Errorf("dry run report: %+v", rep)
	}
	var o k8sObject
	if b.get(t, "/api/v1/namespaces/"+ns, &o) {
		t.Errorf("a dry run created namespace %s", ns)
	}
	if n := b.updates(t, stack); n != 0 {
		t.Errorf("a dry run recorded %d updates", n)
	}
}

// failedCall asserts a call failed naming the input, and that nothing reached the cluster.
func (b deployBed) assertRefused(t *testing.T, r callResult, ns string, wants ...string) {
	t.Helper()
	if r.exitCode == 0 {
		t.Fatalf("the call succeeded:\n%s", r.stdout)
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the error does not contain %q:\n%s", w, tail(r.stderr, 25))
		}
	}
	var o k8sObject
	if b.get(t, "/api/v1/namespaces/"+ns, &o) {
		t.Errorf("namespace %s exists: something was applied", ns)
	}
	for _, n := range b.secretNeedles(t) {
		if strings.Contains(r.stdout+r.stderr, n) {
			t.Errorf("the failed call's output holds a secret")
		}
	}
}

func TestDeployBadInputsNameTheInputAndApplyNothing(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	writeStack := func(t *testing.T, project, stack, ns string, drop, chart string) {
		cfg := "config:\n  graviteeio:namespace: " + ns + "\n  graviteeio:localChartFolder: " + chart +
			"\n  graviteeio:git_commit_id: \"" + commitA[:15] + "\"\n  graviteeio:docker_image_tag: 3.0.0-nightly\n"
		if drop != "" {
			cfg = regexp.MustCompile(`(?m)^  graviteeio:`+drop+`:.*\n`).ReplaceAllString(cfg, "")
		}
		if err := os.WriteFile(filepath.Join(project, "Pulumi."+stack+".yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("missing chart folder", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		r := b.stackConfig(t, project, "bad-chart-sc", "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./nope")
		b.assertRefused(t, r, "t-bad-chart", "chart folder ./nope")
		writeStack(t, project, "bad-chart", "t-bad-chart", "", "./nope")
		_, r = b.up(t, project, "bad-chart")
		b.assertRefused(t, r, "t-bad-chart", "graviteeio:localChartFolder", `"./nope"`, "nothing was applied")
	})
	t.Run("parent of the project", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		if out, err := exec.Command("cp", "-r", repoRoot(t)+"/fixtures/deployment", parent).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		_, r := b.up(t, parent, "bad-project")
		b.assertRefused(t, r, "t-bad-project", "project", "deployment/ holds one: pass that folder", "nothing was applied")
	})
	t.Run("new stack, two charts", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t) // ./cockpit and ./workloads
		r := b.stackConfig(t, project, "bad-two-charts", "--image-tag=3.0.0-nightly", "--commit="+commitA)
		b.assertRefused(t, r, "t-bad-two-charts", "chart-folder", "several charts (cockpit, workloads): pass --chart-folder")
	})
	t.Run("missing config key", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		writeStack(t, project, "bad-key", "t-bad-key", "docker_image_tag", "./cockpit")
		_, r := b.up(t, project, "bad-key")
		b.assertRefused(t, r, "t-bad-key", "graviteeio:docker_image_tag", "missing from Pulumi.bad-key.yaml", "nothing was applied")
	})
	t.Run("objects of another stack", func(t *testing.T) {
		t.Parallel()
		// Two stacks, one namespace: the second meets the first one's objects (Server-Side Apply
		// field conflicts). Its error names it and says so; the first stack's pods are untouched.
		project := deployProject(t)
		run := fmt.Sprint(time.Now().UnixNano())
		ns, owner, intruder := "t-owned-"+run, "owner-"+run, "intruder-"+run
		writeStack(t, project, owner, ns, "", "./cockpit")
		if _, r := b.up(t, project, owner); r.exitCode != 0 {
			t.Fatalf("the first stack's up failed:\n%s", tail(r.stderr, 25))
		}
		cfg := "config:\n  graviteeio:namespace: " + ns + "\n  graviteeio:localChartFolder: ./cockpit" +
			"\n  graviteeio:git_commit_id: \"" + commitB[:15] + "\"\n  graviteeio:docker_image_tag: 3.0.0-nightly\n"
		if err := os.WriteFile(filepath.Join(project, "Pulumi."+intruder+".yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		_, r := b.up(t, project, intruder)
		if r.exitCode == 0 {
			t.Fatalf("a second stack took over the first one's objects:\n%s", r.stdout)
		}
		mustContain(t, "the second stack's error", r.stderr, "stack "+intruder, "another owner", "namespace of its own")
		if strings.Contains(r.stderr, "does not render") {
			t.Errorf("the conflict reads as a chart error:\n%s", tail(r.stderr, 10))
		}
		var d k8sObject
		if !b.get(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/cockpit-cockpit-api", &d) {
			t.Fatalf("the first stack's Deployment is gone")
		}
		if got := d.Spec.Template.Metadata.Labels["app.gravitee.io/git_commit_id"]; got != commitA[:15] {
			t.Errorf("the first stack's pod template label = %q, want %q (the second stack changed it)", got, commitA[:15])
		}
	})
	t.Run("wrong kubeconfig", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		writeStack(t, project, "bad-kubeconfig", "t-bad-kubeconfig", "", "./cockpit")
		kc, _ := os.ReadFile(b.kubeconfig)
		wrong := b.secretFile(t, "kubeconfig", strings.Replace(string(kc), b.token, "not-the-token", 1))
		args := b.deployArgs(t, project, "bad-kubeconfig")
		for i, a := range args {
			if strings.HasPrefix(a, "--kubeconfig=") {
				args[i] = "--kubeconfig=file:" + wrong
			}
		}
		r := daggerCall(t, append(args, "up", "json")...)
		b.assertRefused(t, r, "t-bad-kubeconfig", "kubeconfig", "nothing was applied")
	})
	t.Run("unreachable cluster", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		writeStack(t, project, "bad-cluster", "t-bad-cluster", "", "./cockpit")
		kc, _ := os.ReadFile(b.kubeconfig)
		// A kubeconfig for a cluster that is not there (nothing listens on that loopback port).
		gone := b.secretFile(t, "kubeconfig", strings.Replace(string(kc), "127.0.0.1:"+b.k8sPort, "127.0.0.1:47529", 1))
		args := b.deployArgs(t, project, "bad-cluster")
		for i, a := range args {
			if strings.HasPrefix(a, "--kubeconfig=") {
				args[i] = "--kubeconfig=file:" + gone
			}
			if strings.HasPrefix(a, "--cluster-service=") {
				args[i] = "--cluster-service=tcp://localhost:" + b.k8sPort // the alias resolves; the port does not answer
			}
		}
		r := daggerCall(t, append(args, "up", "json")...)
		b.assertRefused(t, r, "t-bad-cluster", "cluster-service", "unreachable", "nothing was applied")
	})
	t.Run("wrong passphrase", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		// The stack exists with the test bed's passphrase; another one is refused.
		b.stackConfig(t, project, "bad-pass", "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./cockpit", "--namespace=t-bad-pass").mustSucceed(t)
		args := b.deployArgs(t, project, "bad-pass")
		for i, a := range args {
			if strings.HasPrefix(a, "--passphrase=") {
				args[i] = "--passphrase=file:" + b.secretFile(t, "wrong", "not the passphrase\n")
			}
		}
		r := daggerCall(t, append(args, "up", "json")...)
		b.assertRefused(t, r, "t-bad-pass", "passphrase", "nothing was applied")
	})
	t.Run("locked stack", func(t *testing.T) {
		t.Parallel()
		project := deployProject(t)
		b.stackConfig(t, project, "locked", "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./cockpit", "--namespace=t-locked").mustSucceed(t)
		b.lock(t, "locked")
		_, r := b.up(t, project, "locked", "--lock-retries=1")
		b.assertRefused(t, r, "t-locked", "stack locked", "locked by another update", "cancel", "nothing was applied")
		if n := b.updates(t, "locked"); n != 0 {
			t.Errorf("a locked stack recorded %d updates", n)
		}
	})
}

// lock makes the stack locked, as a running update's lock row in the state database.
func (b deployBed) lock(t *testing.T, stack string) string {
	t.Helper()
	key := "pulumi/.pulumi/locks/organization/cockpit-nightly-deployment/" + stack + "/e2e-lock.json"
	body := base64.StdEncoding.EncodeToString([]byte(`{"pid":1,"username":"ci","hostname":"other-runner","timestamp":"2026-11-29T16:00:00Z"}`))
	b.psql(t, "INSERT INTO pulumi_state(key, data) VALUES ('"+key+"', json_build_object('data', '"+body+"'))")
	return key
}

func TestDeployWaitsForAConcurrentUpdatesLock(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	const stack = "lockwait"
	project := deployProject(t)
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./cockpit", "--namespace=t-lockwait").mustSucceed(t)
	key := b.lock(t, stack)
	// The other update ends while ours waits: its lock goes away once the deployer says it waits.
	var released sync.Once
	pgPassword := b.pgPassword(t)
	r := daggerCallWatching(t, func(line string) {
		if strings.Contains(line, "is locked by another update; retrying in") {
			released.Do(func() {
				cmd := exec.Command("psql", "-h", "127.0.0.1", "-p", b.pgPort, "-U", "pulumi", "-d", "pulumi", "-c", "DELETE FROM pulumi_state WHERE key = '"+key+"'")
				cmd.Env = append(os.Environ(), "PGPASSWORD="+pgPassword)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("releasing the lock: %v\n%s", err, out)
				}
			})
		}
	}, append(b.deployArgs(t, project, stack), "up", "json")...)
	r.mustSucceed(t)
	var rep deployReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("up json: %v\n%s", err, r.stdout)
	}
	if rep.LockWaits == 0 || rep.Changed == 0 {
		t.Errorf("lock waits %d, changed %d: want a wait, then the deploy", rep.LockWaits, rep.Changed)
	}
	if n := b.updates(t, stack); n != 1 {
		t.Errorf("%d updates in the history, want exactly 1", n)
	}
	b.assertRolled(t, "t-lockwait", "cockpit-cockpit-api", commitA, "3.0.0-nightly")
}

// daggerCallWatching is daggerCall, with each line of the call's progress output handed to watch as
// it comes (to act when the deploy reaches a point).
func daggerCallWatching(t *testing.T, watch func(line string), args ...string) callResult {
	t.Helper()
	return againOnEngineFlake(t, func() callResult { return daggerCallWatchingOnce(t, watch, args...) })
}

func daggerCallWatchingOnce(t *testing.T, watch func(line string), args ...string) callResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"),
		append([]string{"call", "--progress=plain", "-m", repoRoot(t)}, args...)...)
	cmd.Dir = repoRoot(t)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(&errb, pw)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			watch(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	err := cmd.Run()
	pw.Close()
	<-done
	res := callResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("dagger call %v: %v", args, err)
		}
		res.exitCode = ee.ExitCode()
	}
	t.Logf("dagger call %s → exit %d in %.1f s", strings.Join(args, " "), res.exitCode, time.Since(start).Seconds())
	return res
}

func TestDeployKilledMidUpIsReportedAndResolvedByTheNextRun(t *testing.T) {
	b := newDeployBed(t)
	t.Parallel()
	// Names of this run's own: a failed earlier run on a kept test bed leaves its lock behind.
	run := strconv.FormatInt(time.Now().Unix()%1e6, 36)
	stack, ns := "killed-"+run, "t-killed-"+run
	project := deployProject(t)
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitA, "--chart-folder=./cockpit", "--namespace="+ns).mustSucceed(t)
	_, r := b.up(t, project, stack)
	r.mustSucceed(t)

	// The next commit's rollout cannot finish (its pods fit no node), so Pulumi waits on it: kill
	// the whole `dagger call` then, as a cancelled CI job would be.
	api := filepath.Join(project, "cockpit", "templates", "api", "api-deployment.yaml")
	orig, _ := os.ReadFile(api)
	stuck := strings.Replace(string(orig), "    spec:\n      containers:", "    spec:\n      nodeSelector: {nightly-e2e: nowhere}\n      containers:", 1)
	if stuck == string(orig) {
		t.Fatal("could not make the API's rollout stick")
	}
	os.WriteFile(api, []byte(stuck), 0o644)
	b.stackConfig(t, project, stack, "--image-tag=3.0.0-nightly", "--commit="+commitB).mustSucceed(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"),
		append([]string{"call", "--progress=plain", "-m", repoRoot(t)}, append(b.deployArgs(t, project, stack), "up", "json")...)...)
	cmd.Dir = repoRoot(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	kill := func() { once.Do(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }) }
	defer kill()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// A red test shows what the stuck call printed (readable once it has ended).
	defer func() {
		if t.Failed() {
			kill()
			<-done
			t.Logf("the stuck `up` printed:\n%s", tail(out.String(), 40))
		}
	}()
	pendingInState := func() bool {
		for _, v := range b.stateFiles(t, "pulumi/.pulumi/stacks/cockpit-nightly-deployment/"+stack+".json") {
			if strings.Contains(v, `"pending_operations"`) {
				return true
			}
		}
		return false
	}
	// Killed while Pulumi waits on the rollout: its checkpoint holds the Deployment's update as a
	// pending operation by then (Pulumi writes it before calling the provider, asynchronously).
	waitFor(t, "the stuck update to start", func() (bool, string) {
		select {
		case <-done:
			t.Fatal("the stuck `up` ended by itself, before it was killed")
		default:
		}
		var d k8sObject
		b.get(t, "/apis/apps/v1/namespaces/"+ns+"/deployments/cockpit-cockpit-api", &d)
		l := d.Spec.Template.Metadata.Labels["app.gravitee.io/git_commit_id"]
		pending := pendingInState()
		return l == commitB[:15] && pending, fmt.Sprintf("label %s, pending operations in the state %v", l, pending)
	})
	kill()
	<-done
	// The engine ends the exec of a gone session; then the state keeps what Pulumi left.
	waitFor(t, "the killed update's lock and pending operation in the state", func() (bool, string) {
		locks := b.stateFiles(t, "pulumi/.pulumi/locks/organization/cockpit-nightly-deployment/"+stack+"/%")
		st := b.stateFiles(t, "pulumi/.pulumi/stacks/cockpit-nightly-deployment/"+stack+".json")
		pending := false
		for _, v := range st {
			pending = strings.Contains(v, `"pending_operations"`)
		}
		return len(locks) == 1 && pending, fmt.Sprintf("%d lock(s), pending operations %v", len(locks), pending)
	})

	// The next run meets the lock: a clear error naming the stack and how to go on.
	os.WriteFile(api, orig, 0o644)
	_, r = b.up(t, project, stack, "--lock-retries=0")
	if r.exitCode == 0 || !strings.Contains(r.stderr, "stack "+stack) || !strings.Contains(r.stderr, "cancel") {
		t.Fatalf("up on the killed update's lock: exit %d\n%s", r.exitCode, tail(r.stderr, 20))
	}
	daggerCall(t, append(b.deployArgs(t, project, stack), "cancel")...).mustSucceed(t)
	rep, r := b.up(t, project, stack)
	r.mustSucceed(t)
	if len(rep.Pending) == 0 || !strings.Contains(rep.Recovered, "refresh") {
		t.Errorf("the next run did not report and resolve the pending operations: pending %v, recovered %q", rep.Pending, rep.Recovered)
	}
	b.assertRolled(t, ns, "cockpit-cockpit-api", commitB, "3.0.0-nightly")
	for _, v := range b.stateFiles(t, "pulumi/.pulumi/stacks/cockpit-nightly-deployment/"+stack+".json") {
		if strings.Contains(v, `"pending_operations"`) {
			t.Errorf("pending operations are still in the state")
		}
	}
}

// readmeDeployEnv sets the README deploy section's variables to the test bed's: a copy of the
// deployment fixture, the PostgreSQL state, the API server and the plugin server. It returns the
// variables and the secrets no output may hold.
func readmeDeployEnv(t *testing.T) (env, secrets []string) {
	t.Helper()
	b := newDeployBed(t)
	pg := b.pgPassword(t)
	env = []string{"DEPLOYMENT=" + deployProject(t),
		"PULUMI_BACKEND_URL=postgres://pulumi@state-db:" + b.pgPort + "/pulumi?sslmode=disable",
		"PULUMI_BACKEND_ENV=PGPASSWORD=" + pg,
		"PULUMI_CONFIG_PASSPHRASE=" + b.passphrase,
		"KUBECONFIG=" + b.kubeconfig,
		"NIGHTLY_DEPLOYMENT_OPTS=--backend-service=tcp://localhost:" + b.pgPort + " --cluster-service=tcp://localhost:" + b.k8sPort +
			" --plugin-server=http://pulumi-plugins:" + b.pluginsPort + "/plugins/ --plugin-service=tcp://localhost:" + b.pluginsPort}
	return env, b.secretNeedles(t)
}
