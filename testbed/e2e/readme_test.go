package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// readmeExample is one `dagger call` line of README.md (continuations joined) and what it must
// print (after `# →`); skip holds the reason given for a line the test bed cannot run.
type readmeExample struct {
	line, command, want, skip string
}

var (
	shBlockRE = regexp.MustCompile("(?s)```sh\n(.*?)```")
	arrowRE   = regexp.MustCompile(`\s+# → (.*)$`)
	notRunRE  = regexp.MustCompile(`\s+# \((.*not run here.*)\)$`)
)

// readmeExamples reads every `dagger call` line of the README's sh blocks, block by block, in order.
func readmeExamples(t *testing.T) [][]readmeExample {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]readmeExample
	for _, m := range shBlockRE.FindAllStringSubmatch(string(b), -1) {
		var block []readmeExample
		lines := strings.Split(m[1], "\n")
		for i := 0; i < len(lines); i++ {
			l := lines[i]
			for strings.HasSuffix(strings.TrimRight(l, " "), "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(strings.TrimRight(l, " "), "\\") + " " + strings.TrimSpace(lines[i])
			}
			if !strings.HasPrefix(l, "dagger call ") {
				continue
			}
			ex := readmeExample{line: l}
			switch {
			case arrowRE.MatchString(l):
				ex.want = arrowRE.FindStringSubmatch(l)[1]
				ex.command = arrowRE.ReplaceAllString(l, "")
			case notRunRE.MatchString(l):
				ex.skip = notRunRE.FindStringSubmatch(l)[1]
			default:
				t.Errorf("README example without `# → what it prints`: %s", l)
				continue
			}
			block = append(block, ex)
		}
		if len(block) > 0 {
			out = append(out, block)
		}
	}
	return out
}

// Every `dagger call` example of the README runs, as a user would type it in their product's
// repository, and prints what its comment says.
func TestReadmeExamplesPrintWhatTheySay(t *testing.T) {
	needTestbed(t)
	t.Parallel()
	examples := readmeExamples(t)
	if n := len(slices.Concat(examples...)); n < 10 {
		t.Fatalf("found %d README examples, want the whole usage section", n)
	}
	// The product's repository: the fixture (content of its own: fixtureCopy), at its first
	// commit (each README block gets its copy and makes the second, identical, commit: same
	// content and dates, same hash).
	work := fixtureCopy(t)
	gitIn := func(dir, date string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=e2e", "GIT_AUTHOR_EMAIL=e2e@example.com",
			"GIT_COMMITTER_NAME=e2e", "GIT_COMMITTER_EMAIL=e2e@example.com",
			"GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gitIn(work, "2026-11-28T10:00:00Z", "init", "-q", "-b", "main")
	gitIn(work, "2026-11-28T10:00:00Z", "add", "-A")
	gitIn(work, "2026-11-28T10:00:00Z", "commit", "-q", "-m", "first")
	secondCommit := func(dir string) string {
		os.WriteFile(filepath.Join(dir, "CHANGES.txt"), []byte("second\n"), 0o644)
		gitIn(dir, "2026-11-29T10:00:00Z", "add", "-A")
		gitIn(dir, "2026-11-29T10:00:00Z", "commit", "-q", "-m", "second")
		head, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(head))
	}
	h := newHub(t)
	maven := newMavenServer(t)
	// The GitOps examples' deployment repository, seeded from fixtures/deployment on the test
	// bed's Gitea, reached through a service as a forge on the user's machine would be.
	gitea := newForge(t)
	deploy := gitea.newDeploymentRepo(t)
	giteaPort := gitea.addr[strings.LastIndex(gitea.addr, ":")+1:]
	env := append(os.Environ(),
		"DAGGER_MODULE="+repoRoot(t),
		"MAVEN_URL="+maven.containerURL(), "MAVEN_REPO_OPTS="+maven.serviceArg(),
		"MAVEN_USER="+maven.user, "MAVEN_PASSWORD="+maven.password,
		"REGISTRY="+h.host+"/"+h.namespace, "REGISTRY_OPTS=--registry-service=tcp://localhost:"+h.port(),
		"REGISTRY_USER="+os.Getenv(h.userEnv), "REGISTRY_PASSWORD="+os.Getenv(h.pwEnv),
		"DEPLOY_REPO=http://gitea:"+giteaPort+"/"+deploy.owner+"/"+deploy.name+".git",
		"FORGE_OPTS=--forge-service=tcp://localhost:"+giteaPort, "FORGE_TOKEN="+gitea.token)
	// The deploy section's: the deployment repository, the Pulumi state, the cluster.
	deployEnv, deploySecrets := readmeDeployEnv(t)
	env = append(env, deployEnv...)
	secrets := append([]string{maven.password, os.Getenv(h.pwEnv), gitea.token}, deploySecrets...)
	runOnce := func(dir, command string) (string, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", "-c", strings.Replace(command, "dagger call ", "dagger call --progress=plain ", 1))
		cmd.Dir, cmd.Env = dir, env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	run := func(t *testing.T, dir, command string) (string, string, error) {
		t.Helper()
		var out, errs string
		var err error
		retryOnEngineFlake(t, fmt.Sprintf("%q", command), func() string {
			out, errs, err = runOnce(dir, command)
			return errs + out
		})
		return out, errs, err
	}
	// Something to roll back to: the first commit published (by the block that rolls back).
	first := `dagger call --source=. --linter=buildkit publish --commit=$(git rev-parse HEAD) --created=$(git log -1 --format=%cI) --registry=$REGISTRY $REGISTRY_OPTS --username=env:REGISTRY_USER --password=env:REGISTRY_PASSWORD`

	// The README's blocks run side by side (each in its own copy of the repository, its examples
	// in order): they share no state but the servers, and one after another they took half an hour.
	for i, block := range examples {
		t.Run(fmt.Sprintf("block%d", i+1), func(t *testing.T) {
			t.Parallel()
			base := t.TempDir()
			dir := filepath.Join(base, "product")
			if out, err := exec.Command("cp", "-a", work, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			for _, ex := range block {
				if strings.Contains(ex.command, " rollback ") {
					if out, errs, err := run(t, dir, first); err != nil {
						t.Fatalf("publishing the first commit: %v\n%s\n%s", err, out, tail(errs, 30))
					}
					break
				}
			}
			head := secondCommit(dir)
			// The stack file stack-config exports into the deployment repository's clone, beside this one.
			stack := filepath.Join(base, "cockpit-nightly-deployment", "Pulumi.nightly.yaml")
			if err := os.MkdirAll(filepath.Dir(stack), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(stackFile(t, head, ""), stack); err != nil {
				t.Fatal(err)
			}
			for _, ex := range block {
				if ex.skip != "" {
					t.Logf("not run: %s (%s)", ex.line, ex.skip)
					continue
				}
				out, errs, err := run(t, dir, ex.command)
				t.Logf("%s\n→ %s", ex.command, strings.TrimSpace(out))
				if err != nil {
					t.Errorf("README example failed: %s\n%v\n%s", ex.line, err, tail(errs, 20))
					continue
				}
				if !strings.Contains(out, ex.want) {
					t.Errorf("README example %s\nprinted %q, want it to contain %q", ex.line, out, ex.want)
				}
				for _, secret := range secrets {
					if strings.Contains(out+errs, secret) {
						t.Errorf("README example %s printed a password", ex.line)
					}
				}
			}
		})
	}
}
