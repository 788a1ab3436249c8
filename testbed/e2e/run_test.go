package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The whole nightly in one call (`run`) on the test bed: every server real (the Maven WebDAV
// server, the "Docker Hub" registry, Gitea, PostgreSQL for the Pulumi state, a kube-apiserver
// with kwok nodes), each test with its own repository path, registry namespace, deployment
// repository, stack and Kubernetes namespace, so they run in parallel.

// runSetup is one test's share of the test bed.
type runSetup struct {
	maven     mavenServer
	hub       hub
	hubUser   string
	hubPW     string
	repo      deployRepo
	bed       deployBed
	stack, ns string
}

// newRunSetup prepares the test's servers. parts names the test bed parts the run reaches besides
// the Maven server and the registry: "forge" (a deployment repository on Gitea), "deploy" (the
// Kubernetes and Pulumi part). Without them the settings are well-formed but name no server, as
// the run stops before the stages that use them.
func newRunSetup(t *testing.T, parts ...string) *runSetup {
	t.Helper()
	needTestbed(t)
	s := &runSetup{maven: newMavenServer(t), hub: newHub(t)}
	if slices.Contains(parts, "forge") {
		s.repo = newForge(t).newDeploymentRepo(t)
	} else {
		s.repo = deployRepo{f: forge{addr: "127.0.0.1:1", user: "nobody", token: "unused"}, owner: "nobody", name: "none"}
	}
	if slices.Contains(parts, "deploy") {
		s.bed = newDeployBed(t)
	} else {
		s.bed = deployBed{k8sPort: "1", pgPort: "1", pluginsPort: "1", passphrase: "unused passphrase\n",
			kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"), backendEnv: filepath.Join(t.TempDir(), "backend.env")}
		for _, f := range []string{s.bed.kubeconfig, s.bed.backendEnv} {
			if err := os.WriteFile(f, []byte("unused\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, s.hubUser, s.hubPW = hubAuth(t)
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	s.stack, s.ns = "run-"+suffix, "run-"+suffix
	return s
}

func (s *runSetup) port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

// contextEnv are the settings a CI context (CircleCI) or the repository's variables and secrets
// (GitHub) hold, for this test bed: the *_OPTS name the services a server on this machine is
// reached through, as README's examples do.
func (s *runSetup) contextEnv(t *testing.T) map[string]string {
	giteaPort := s.port(s.repo.f.addr)
	return map[string]string{
		"NIGHTLY_MODULE":              repoRoot(t),
		"NIGHTLY_OPTS":                "--linter=buildkit " + ownCache(t),
		"MAVEN_SNAPSHOTS_URL":         s.maven.containerURL(),
		"MAVEN_USER":                  s.maven.user,
		"MAVEN_PASSWORD":              s.maven.password,
		"NIGHTLY_MAVEN_OPTS":          s.maven.serviceArg(),
		"REGISTRY":                    s.hub.host + "/" + s.hub.namespace,
		"DOCKERHUB_USER":              s.hubUser,
		"DOCKERHUB_TOKEN":             s.hubPW,
		"NIGHTLY_REGISTRY_OPTS":       "--registry-service=tcp://localhost:" + s.hub.port(),
		"PULUMI_BACKEND_URL":          "postgres://pulumi@state-db:" + s.bed.pgPort + "/pulumi?sslmode=disable",
		"PULUMI_BACKEND_ENV":          s.backendEnv(t),
		"PULUMI_CONFIG_PASSPHRASE":    s.bed.passphrase,
		"NIGHTLY_DEPLOYMENT_OPTS":     s.deploymentOpts() + " --chart-folder=./cockpit --namespace=" + s.ns,
		"DEPLOYMENT_REPOSITORY":       s.repo.hostURL(),
		"DEPLOYMENT_REPOSITORY_TOKEN": s.repo.f.token,
		"NIGHTLY_GITOPS_OPTS": fmt.Sprintf("--repository-url=http://gitea:%s/%s/%s.git --forge-service=tcp://localhost:%s --forge=gitea",
			giteaPort, s.repo.owner, s.repo.name, giteaPort),
	}
}

// deploymentContextEnv are the deployment repository's CI settings.
func (s *runSetup) deploymentContextEnv(t *testing.T) map[string]string {
	kc, err := os.ReadFile(s.bed.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"NIGHTLY_MODULE":           repoRoot(t),
		"PULUMI_BACKEND_URL":       "postgres://pulumi@state-db:" + s.bed.pgPort + "/pulumi?sslmode=disable",
		"PULUMI_BACKEND_ENV":       s.backendEnv(t),
		"PULUMI_CONFIG_PASSPHRASE": s.bed.passphrase,
		"KUBECONFIG_DATA":          string(kc),
		"NIGHTLY_DEPLOYMENT_OPTS":  s.deploymentOpts(),
	}
}

func (s *runSetup) deploymentOpts() string {
	return fmt.Sprintf("--stack=%s --backend-service=tcp://localhost:%s --cluster-service=tcp://localhost:%s "+
		"--plugin-server=http://pulumi-plugins:%s/plugins/ --plugin-service=tcp://localhost:%s",
		s.stack, s.bed.pgPort, s.bed.k8sPort, s.bed.pluginsPort, s.bed.pluginsPort)
}

func (s *runSetup) backendEnv(t *testing.T) string {
	b, err := os.ReadFile(s.bed.backendEnv)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runArgs are dagger call's arguments for a run with every stage configured (file: secrets).
func (s *runSetup) runArgs(t *testing.T, src, project, gitopsMode string, direct bool) []string {
	dir := t.TempDir()
	secret := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return "file:" + p
	}
	env := s.contextEnv(t)
	args := []string{"--source=" + src, "--linter=buildkit", ownCache(t),
		"with-snapshot-repository", "--repository-url=" + s.maven.containerURL(), s.maven.serviceArg(),
		"--username=" + secret("maven-user", s.maven.user), "--password=" + secret("maven-pw", s.maven.password+"\n"),
		"with-registry", "--registry=" + env["REGISTRY"], env["NIGHTLY_REGISTRY_OPTS"],
		"--username=" + secret("hub-user", s.hubUser), "--password=" + secret("hub-pw", s.hubPW+"\n"),
		"with-deployment", "--project=" + project, "--backend-url=" + env["PULUMI_BACKEND_URL"],
		"--backend-env=" + secret("backend-env", env["PULUMI_BACKEND_ENV"]), "--passphrase=" + secret("passphrase", s.bed.passphrase),
		"--kubeconfig=file:" + s.bed.kubeconfig}
	args = append(args, strings.Fields(env["NIGHTLY_DEPLOYMENT_OPTS"])...)
	giteaPort := s.port(s.repo.f.addr)
	args = append(args, "with-gitops", fmt.Sprintf("--repository-url=http://gitea:%s/%s/%s.git", giteaPort, s.repo.owner, s.repo.name),
		"--forge-service=tcp://localhost:"+giteaPort, "--forge=gitea", "--token="+secret("token", s.repo.f.token+"\n"), "--mode="+gitopsMode)
	if direct {
		args = append(args, "with-direct-deploy")
	}
	return args
}

// readReport reads report.json from an exported report folder.
func readReport(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatalf("the report was not exported: %v", err)
	}
	var r map[string]any
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// stages is the report's stage → status.
func stages(r map[string]any) map[string]string {
	out := map[string]string{}
	for _, s := range r["stages"].([]any) {
		m := s.(map[string]any)
		out[m["name"].(string)] = m["status"].(string)
	}
	return out
}

func jsonField(r map[string]any, path ...string) any {
	var v any = r
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// assertPublished checks, on the servers, what a green run published.
func (s *runSetup) assertPublished(t *testing.T, rep map[string]any, sha string) {
	t.Helper()
	if rep["status"] != "passed" {
		t.Fatalf("report status %v (%v: %v)", rep["status"], rep["failedStage"], rep["cause"])
	}
	for _, st := range []string{"test", "maven-deploy", "contexts", "lint", "publish", "stack-config", "gitops"} {
		if got := stages(rep)[st]; got != "passed" {
			t.Errorf("stage %s: %s", st, got)
		}
	}
	// The SNAPSHOTs are on the Maven server.
	if files := s.maven.files(t, "/"); !containsSuffix(files, ".jar") {
		t.Errorf("no jar on the Maven server under %s: %v", s.maven.prefix, files)
	}
	// Both images are the nightly, by the digests the report names.
	for _, img := range jsonField(rep, "images", "images").([]any) {
		m := img.(map[string]any)
		repo := map[string]string{"management-api": "cockpit-management-api", "webui": "cockpit-webui"}[m["name"].(string)]
		for _, tag := range []string{"3.0.0-nightly", "3.0.0-nightly-" + sha[:15]} {
			if got := s.hub.digest(repo, tag); got != m["digest"] {
				t.Errorf("%s:%s = %s on the registry, the report says %s", repo, tag, got, m["digest"])
			}
		}
	}
}

func containsSuffix(files []string, suffix string) bool {
	for _, f := range files {
		if strings.HasSuffix(f, suffix) {
			return true
		}
	}
	return false
}

// assertPullRequest checks the deployment-<commit> pull request and its stack file on the forge.
func (s *runSetup) assertPullRequest(t *testing.T, rep map[string]any, id string) giteaPull {
	t.Helper()
	prs := s.repo.pulls(t)
	if len(prs) != 1 || prs[0].Head.Ref != "deployment-"+id || prs[0].Base.Ref != "master" || prs[0].State != "open" {
		t.Fatalf("pull requests = %+v, want one open from deployment-%s to master", prs, id)
	}
	if got := jsonField(rep, "gitops", "pullRequestUrl"); got != prs[0].URL {
		t.Errorf("report's pull request URL %v, the forge's %s", got, prs[0].URL)
	}
	dir := s.repo.clone(t)
	stack := s.repo.git(t, dir, "show", "origin/deployment-"+id+":Pulumi."+s.stack+".yaml")
	mustContain(t, "committed stack file", stack, "graviteeio:docker_image_tag: 3.0.0-nightly", "graviteeio:api_git_commit_id: "+id)
	return prs[0]
}

// assertRolledOut checks the API server: both Deployments carry the commit and rolled out.
func (s *runSetup) assertRolledOut(t *testing.T, commit string) {
	t.Helper()
	s.bed.assertRolled(t, s.ns, "cockpit-cockpit-api", commit, "3.0.0-nightly")
	s.bed.assertRolled(t, s.ns, "cockpit-cockpit-ui", commit, "3.0.0-nightly")
}

// assertNothingPublished checks every server: no SNAPSHOT, no image tag, no branch, no pull request.
func (s *runSetup) assertNothingPublished(t *testing.T) {
	t.Helper()
	if files := s.maven.files(t, "/"); len(files) != 0 {
		t.Errorf("files reached the Maven server: %v", files)
	}
	if st := s.hub.state(); len(st) != 0 {
		t.Errorf("tags reached the registry: %v", st)
	}
	if prs := s.repo.pulls(t); len(prs) != 0 {
		t.Errorf("pull requests opened: %+v", prs)
	}
	if heads := s.repo.git(t, t.TempDir(), "ls-remote", "--heads", s.repo.hostURL()); strings.Count(heads, "refs/heads/") != 1 {
		t.Errorf("branches pushed: %s", heads)
	}
}

// daggerIn runs the dagger CLI with args in dir (where a .env of user defaults may be).
func daggerIn(t *testing.T, dir string, args ...string) callResult {
	t.Helper()
	return againOnEngineFlake(t, func() callResult { return daggerInOnce(t, dir, args...) })
}

func daggerInOnce(t *testing.T, dir string, args ...string) callResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Getenv("_EXPERIMENTAL_DAGGER_CLI_BIN"), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := callResult{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("dagger %v: %v", args, err)
		}
		res.exitCode = ee.ExitCode()
	}
	t.Logf("dagger %s (in %s) → exit %d", strings.Join(args, " "), dir, res.exitCode)
	return res
}

// A lint finding over the threshold: the run stops at lint, names it, publishes nothing after
// it, and its report (with the SARIF) is still exported; `check` on the same run exits non-zero.
func TestRunRedAtLintExportsTheReportAndPublishesNothing(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t)
	src := fixtureCopy(t, "lint-findings")
	args := []string{"--source=" + src, "--linter=buildkit", ownCache(t),
		"with-registry", "--registry=" + s.hub.host + "/" + s.hub.namespace, "--registry-service=tcp://localhost:" + s.hub.port(),
		"--username=env:" + s.hub.userEnv, "--password=env:" + s.hub.pwEnv,
		"run", "--commit=" + strings.Repeat("a", 40), "--created=2026-11-29T01:30:00Z"}
	out := t.TempDir()
	daggerCall(t, append(args, "files", "export", "--path="+out)...).mustSucceed(t)
	rep := readReport(t, out)
	st := stages(rep)
	if rep["status"] != "failed" || rep["failedStage"] != "lint" || st["publish"] != "not-run" || st["test"] != "passed" ||
		st["maven-deploy"] != "skipped" {
		t.Fatalf("report: status %v, failed stage %v, stages %v", rep["status"], rep["failedStage"], st)
	}
	mustContain(t, "cause", fmt.Sprint(rep["cause"]), "at or above the failure threshold")
	for _, f := range []string{"report.md", "status", "lint/lint.sarif", "lint/hadolint.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("report file %s: %v", f, err)
		}
	}
	junit, _ := filepath.Glob(filepath.Join(out, "junit", "*", "target", "surefire-reports", "TEST-*.xml"))
	if len(junit) == 0 {
		t.Errorf("no JUnit XML in the exported report")
	}
	status, _ := os.ReadFile(filepath.Join(out, "status"))
	if !strings.HasPrefix(string(status), "failed\n") {
		t.Errorf("status file = %q", status)
	}
	if st := s.hub.state(); len(st) != 0 {
		t.Errorf("tags reached the registry after a red lint: %v", st)
	}
	r := daggerCall(t, append(args, "check")...)
	if r.exitCode == 0 {
		t.Fatalf("run … check of a red run exited 0:\n%s", r.stdout)
	}
	mustContain(t, "run … check's error", r.stderr, "failed at lint", "lint          failed")
}

// A dry run through every side-effecting stage, every stage configured: every stage passes and
// says what it would do, and nothing changed anywhere (Maven server, registry, forge, cluster).
func TestRunDryRunGoesThroughEveryStageAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := newRunSetup(t, "forge", "deploy")
	master := s.repo.tip(t, "master")
	project := deployProject(t)
	out := t.TempDir()
	args := append(s.runArgs(t, fixtureCopy(t), project, "direct", true),
		"run", "--commit="+strings.Repeat("b", 40), "--created=2026-11-29T01:30:00Z", "--dry-run", "files", "export", "--path="+out)
	r := daggerCall(t, args...)
	r.mustSucceed(t)
	rep := readReport(t, out)
	if rep["status"] != "passed" || rep["dryRun"] != true {
		t.Fatalf("dry run: status %v (%v: %v), dryRun %v", rep["status"], rep["failedStage"], rep["cause"], rep["dryRun"])
	}
	for name, status := range stages(rep) {
		if status != "passed" {
			t.Errorf("stage %s: %s, want passed", name, status)
		}
	}
	for path, want := range map[string]any{"mavenDeploy.dryRun": true, "images.dryRun": true, "gitops.dryRun": true,
		"gitops.pushed": false, "deployment.dryRun": true, "stack.file": "Pulumi." + s.stack + ".yaml"} {
		if got := jsonField(rep, strings.Split(path, ".")...); got != want {
			t.Errorf("report %s = %v, want %v", path, got, want)
		}
	}
	if d := fmt.Sprint(jsonField(rep, "deployment", "previewDiff")); !strings.Contains(d, "app.gravitee.io/git_commit_id") {
		t.Errorf("the preview does not show the commit label:\n%s", d)
	}
	s.assertNothingPublished(t)
	if tip := s.repo.tip(t, "master"); tip != master {
		t.Errorf("master moved in a dry run: %s → %s", master, tip)
	}
	var d k8sObject
	if s.bed.get(t, "/apis/apps/v1/namespaces/"+s.ns+"/deployments/cockpit-cockpit-api", &d) {
		t.Errorf("a dry run deployed to namespace %s", s.ns)
	}
	s.bed.assertNoSecrets(t, s.stack, project, r)
}

// dagger check runs the functions marked +check (test, lint) on the module's defaults; a red one
// fails it. The linter comes from a .env file (user defaults), as a CI would set it.
func TestDaggerCheckRunsTestAndLint(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	check := func(src string) callResult {
		dir := t.TempDir()
		env := "NIGHTLY_LINTER=buildkit\nNIGHTLY_MAVEN_CACHE=" + strings.TrimPrefix(ownCache(t), "--maven-cache=") + "\n"
		if src != "" {
			env += "NIGHTLY_SOURCE=" + src + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(env), 0o644); err != nil {
			t.Fatal(err)
		}
		return daggerIn(t, dir, "check", "--progress=plain", "-m", repoRoot(t))
	}
	green := check("")
	if green.exitCode != 0 {
		t.Fatalf("dagger check on the fixture exited %d:\n%s", green.exitCode, tail(green.stderr, 40))
	}
	mustContain(t, "dagger check", green.stdout+green.stderr, "test", "lint")
	red := check(fixtureCopy(t, "failing-test"))
	if red.exitCode == 0 {
		t.Fatalf("dagger check with a failing test exited 0")
	}
	mustContain(t, "dagger check with a failing test", red.stdout+red.stderr, "VersionContractTest")
}

// Another Dagger module (testbed/consumer) depends on this one and calls version, test and run
// through its generated client; what it prints comes from nightly's typed fields and files.
func TestRunFromAnotherModuleThroughTheGeneratedClient(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	r := daggerIn(t, repoRoot(t), "call", "--progress=plain", "-m", filepath.Join(repoRoot(t), "testbed", "consumer"),
		"verdict", "--source="+fixtureCopy(t), "--commit="+strings.Repeat("d", 40), "--maven-cache="+strings.TrimPrefix(ownCache(t), "--maven-cache="))
	out := r.mustSucceed(t)
	mustContain(t, "consumer verdict", out, "nightly-tag: 3.0.0-nightly\n", "tests: Tests run: 4, Failures: 0",
		"passed: true\n", "stages: test=passed maven-deploy=passed contexts=passed lint=passed publish=skipped stack-config=skipped gitops=skipped up=skipped\n",
		"status file: passed\n")
	if strings.Contains(out, "junit files: 0\n") {
		t.Errorf("the report's files hold no JUnit XML:\n%s", out)
	}
}
