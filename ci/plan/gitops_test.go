package plan

import (
	"slices"
	"strings"
	"testing"
)

const fullCommit = "0123456789abcdef0123456789abcdef01234567"

func gitopsInput() GitopsInput {
	return GitopsInput{RepositoryURL: "https://github.com/gravitee-lab/cockpit-nightly-deployment.git",
		StackPath: "Pulumi.nightly.yaml", Base: "master", Mode: GitopsPullRequest,
		Commit: fullCommit, ImageTag: "3.0.0-nightly", Author: "nightly <nightly@example.com>"}
}

func TestPlanGitops(t *testing.T) {
	p, err := PlanGitops(gitopsInput())
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"Forge":       {p.Forge, "github"},
		"APIURL":      {p.APIURL, "https://api.github.com/"},
		"Branch":      {p.Branch, "deployment-0123456789abcde"},
		"Base":        {p.Base, "master"},
		"Title":       {p.Title, "nightly: deploy 3.0.0-nightly of 0123456789abcde"},
		"AuthorName":  {p.AuthorName, "nightly"},
		"AuthorEmail": {p.AuthorEmail, "nightly@example.com"},
		"Repo.Slug":   {p.Repo.Slug(), "gravitee-lab/cockpit-nightly-deployment"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("PlanGitops().%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !strings.HasPrefix(p.Message, p.Title+"\n\n") {
		t.Errorf("the message does not start with the title: %q", p.Message)
	}
	for _, want := range []string{fullCommit, "3.0.0-nightly", "Pulumi.nightly.yaml", "Nightly-Commit: " + fullCommit} {
		if !strings.Contains(p.Message, want) {
			t.Errorf("the message lacks %q:\n%s", want, p.Message)
		}
		if !strings.Contains(p.Body, strings.TrimPrefix(want, "Nightly-Commit: ")) {
			t.Errorf("the pull request body lacks %q:\n%s", want, p.Body)
		}
	}

	in := gitopsInput()
	in.Mode = GitopsDirect
	if p, _ := PlanGitops(in); p.Branch != "master" {
		t.Errorf("direct mode pushes %q, want the base branch", p.Branch)
	}
}

func TestPlanGitopsBadInputs(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*GitopsInput)
		wantErr string
	}{
		{"token in the URL", func(i *GitopsInput) { i.RepositoryURL = "https://x:s3cret@github.com/o/r.git" }, "carries credentials"},
		{"ssh URL", func(i *GitopsInput) { i.RepositoryURL = "git@github.com:o/r.git" }, "http(s)://"},
		{"no owner", func(i *GitopsInput) { i.RepositoryURL = "https://github.com/r.git" }, "OWNER/NAME"},
		{"unknown host", func(i *GitopsInput) { i.RepositoryURL = "https://git.example.com/o/r.git" }, "--forge=gitea"},
		{"unknown forge", func(i *GitopsInput) { i.Forge = "gitlab" }, `forge "gitlab"`},
		{"mode", func(i *GitopsInput) { i.Mode = "push" }, `mode "push"`},
		{"absolute path", func(i *GitopsInput) { i.StackPath = "/etc/passwd" }, "relative"},
		{"escaping path", func(i *GitopsInput) { i.StackPath = "a/../../x" }, "inside it"},
		{"path in .git", func(i *GitopsInput) { i.StackPath = ".git/config" }, "inside .git"},
		{"empty path", func(i *GitopsInput) { i.StackPath = "" }, "empty"},
		{"bad base", func(i *GitopsInput) { i.Base = "ma ster" }, `"ma ster" is not a valid`},
		{"short commit", func(i *GitopsInput) { i.Commit = "abc" }, `commit "abc"`},
		{"no tag", func(i *GitopsInput) { i.ImageTag = "" }, "image tag"},
		{"author", func(i *GitopsInput) { i.Author = "nightly" }, `author "nightly"`},
		{"base is the deployment branch", func(i *GitopsInput) { i.Base = "deployment-0123456789abcde" }, "two branches"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := gitopsInput()
			tt.edit(&in)
			_, err := PlanGitops(in)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("PlanGitops() error = %v, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("the error repeats the URL's password: %v", err)
			}
		})
	}
}

func TestParseRepoURLAndForge(t *testing.T) {
	tests := []struct {
		url, forge                        string
		wantForge, wantAPI, wantSlug, pre string
	}{
		{"https://github.com/o/r.git", "", "github", "https://api.github.com/", "o/r", ""},
		{"https://github.com/o/r", "auto", "github", "https://api.github.com/", "o/r", ""},
		{"https://ghe.example.com/o/r.git", "github", "github", "https://ghe.example.com/api/v3/", "o/r", ""},
		{"http://gitea:47520/nightly/deploy.git", "", "gitea", "http://gitea:47520/", "nightly/deploy", ""},
		{"https://codeberg.org/o/r.git", "", "gitea", "https://codeberg.org/", "o/r", ""},
		{"https://git.example.com/forge/o/r.git", "gitea", "gitea", "https://git.example.com/forge/", "o/r", "forge"},
	}
	for _, tt := range tests {
		r, err := ParseRepoURL(tt.url)
		if err != nil {
			t.Fatalf("ParseRepoURL(%q): %v", tt.url, err)
		}
		f, err := DetectForge(r, tt.forge)
		if err != nil {
			t.Fatalf("DetectForge(%q, %q): %v", tt.url, tt.forge, err)
		}
		if f != tt.wantForge || ForgeAPIURL(r, f) != tt.wantAPI || r.Slug() != tt.wantSlug || r.Prefix != tt.pre {
			t.Errorf("%s: forge %s, API %s, slug %s, prefix %q; want %s, %s, %s, %q", tt.url,
				f, ForgeAPIURL(r, f), r.Slug(), r.Prefix, tt.wantForge, tt.wantAPI, tt.wantSlug, tt.pre)
		}
	}
}

func TestParseGitopsMode(t *testing.T) {
	for _, ok := range []string{"direct", "pull-request"} {
		if got, err := ParseGitopsMode(ok); err != nil || got != ok {
			t.Errorf("ParseGitopsMode(%q) = %q, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "Direct", "pr", "pull_request"} {
		if _, err := ParseGitopsMode(bad); err == nil {
			t.Errorf("ParseGitopsMode(%q) accepted it", bad)
		}
	}
}

func TestCheckBranch(t *testing.T) {
	for _, ok := range []string{"master", "main", "release/3.0", "deployment-0123456789abcde", "a.b"} {
		if err := CheckBranch(ok); err != nil {
			t.Errorf("CheckBranch(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a..b", "a b", "a:b", "a~1", "x.lock", "a/", "a//b", "@", "a@{1}", ".hidden", "a/.b", "end."} {
		if err := CheckBranch(bad); err == nil {
			t.Errorf("CheckBranch(%q) accepted it", bad)
		}
	}
}

// Outputs as git 2.39 prints them against Gitea 1.24 (seen on the test bed) and as GitHub's
// documented protected-branch and permission refusals read.
func TestClassifyGitFailure(t *testing.T) {
	tests := []struct{ name, out, want string }{
		{"moved", "To http://gitea:47520/o/r.git\n ! [rejected]        HEAD -> master (fetch first)\nerror: failed to push some refs to 'http://gitea:47520/o/r.git'\nhint: Updates were rejected because the remote contains work that you do not\n", GitMoved},
		{"non-fast-forward", " ! [rejected]        HEAD -> master (non-fast-forward)\n", GitMoved},
		{"lease", " ! [rejected]        HEAD -> deployment-0123456789abcde (stale info)\n", GitMoved},
		{"ref moved during push", " ! [remote rejected] HEAD -> master (failed to update ref)\n", GitMoved},
		{"gitea protected", "remote: error: Not allowed to push to protected branch master\nTo http://gitea:47520/o/r.git\n ! [remote rejected] HEAD -> master (pre-receive hook declined)\n", GitProtected},
		{"github protected", "remote: error: GH006: Protected branch update failed for refs/heads/master.\n ! [remote rejected] HEAD -> master (protected branch hook declined)\n", GitProtected},
		{"wrong token", "fatal: Authentication failed for 'http://gitea:47520/o/r.git/'\n", GitAuth},
		{"no prompt", "fatal: could not read Username for 'http://gitea:47520': terminal prompts disabled\n", GitAuth},
		{"forbidden", "remote: User permission denied for writing.\nfatal: unable to access 'http://gitea:47520/o/r.git/': The requested URL returned error: 403\n", GitForbidden},
		{"github forbidden", "remote: Permission to o/r.git denied to someone.\nfatal: unable to access 'https://github.com/o/r.git/': The requested URL returned error: 403\n", GitForbidden},
		{"missing repository", "remote: Not found.\nfatal: repository 'http://gitea:47520/o/nope.git/' not found\n", GitNotFound},
		{"missing branch", "Cloning into '/repo'...\nwarning: Could not find remote branch master to clone.\nfatal: Remote branch master not found in upstream origin\n", GitNoBranch},
		{"server error", "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502\n", GitTransient},
		{"reset", "fatal: unable to access 'x': Recv failure: Connection reset by peer\n", GitTransient},
		{"other", "error: pathspec 'x' did not match any file(s) known to git\n", GitFailed},
	}
	for _, tt := range tests {
		if got := ClassifyGitFailure(tt.out); got != tt.want {
			t.Errorf("%s: ClassifyGitFailure() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPushArgsNeverForceTheBase(t *testing.T) {
	in := gitopsInput()
	in.Mode = GitopsDirect
	direct, _ := PlanGitops(in)
	got := PushArgs(direct, "")
	if want := []string{"push", "origin", "HEAD:refs/heads/master"}; !slices.Equal(got, want) {
		t.Errorf("PushArgs(direct) = %q, want %q", got, want)
	}
	for _, a := range got {
		if strings.Contains(a, "force") || strings.HasPrefix(a, "+") || a == "-f" {
			t.Errorf("a direct push forces: %q", got)
		}
	}

	pr, _ := PlanGitops(gitopsInput())
	got = PushArgs(pr, "6dcb09b5b57875f334f61aebed695e2e4193db5e")
	want := []string{"push", "--force-with-lease=refs/heads/deployment-0123456789abcde:6dcb09b5b57875f334f61aebed695e2e4193db5e",
		"origin", "HEAD:refs/heads/deployment-0123456789abcde"}
	if !slices.Equal(got, want) {
		t.Errorf("PushArgs(pull-request) = %q, want %q", got, want)
	}
	if got := PushArgs(pr, ""); got[1] != "--force-with-lease=refs/heads/deployment-0123456789abcde:" {
		t.Errorf("a new deployment branch must be pushed only if it does not exist yet: %q", got)
	}
	for _, a := range got {
		if strings.Contains(a, "refs/heads/master") {
			t.Errorf("a pull-request push touches the base branch: %q", got)
		}
	}
}
