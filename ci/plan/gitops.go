package plan

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// The GitOps stage's two flows (the seed's end): commit to the base branch, or push
// deployment-<gitCommitID> and open a pull request to it.
const (
	GitopsDirect      = "direct"
	GitopsPullRequest = "pull-request"
)

// GitopsInput is what the GitOps stage is asked to do, as given.
type GitopsInput struct {
	RepositoryURL string
	// Forge is github, gitea, or "" / auto to tell from the URL.
	Forge string
	// StackPath is the stack file's path in the deployment repository.
	StackPath string
	Base      string
	Mode      string
	// Commit is the source commit (full hash); ImageTag the tag the nightly deployed.
	Commit, ImageTag string
	// Author is "Name <email>".
	Author string
}

// GitopsPlan is a GitOps run decided and checked before any git or forge work.
type GitopsPlan struct {
	Repo RepoURL
	// Forge is github or gitea; APIURL where its API is.
	Forge, APIURL string
	Mode          string
	// Base is the branch the change lands on; Branch the one pushed (Base for direct, the
	// deployment branch for pull-request).
	Base, Branch string
	StackPath    string
	GitCommitID  string
	// Message is the commit message; Title its first line (the pull request's title); Body the
	// pull request's description.
	Message, Title, Body    string
	AuthorName, AuthorEmail string
}

// PlanGitops checks every input and derives the branch, the message and the forge. Errors name the
// input.
func PlanGitops(in GitopsInput) (GitopsPlan, error) {
	var p GitopsPlan
	var err error
	if p.Repo, err = ParseRepoURL(in.RepositoryURL); err != nil {
		return p, err
	}
	if p.Forge, err = DetectForge(p.Repo, in.Forge); err != nil {
		return p, err
	}
	p.APIURL = ForgeAPIURL(p.Repo, p.Forge)
	if p.Mode, err = ParseGitopsMode(in.Mode); err != nil {
		return p, err
	}
	if p.StackPath, err = CheckStackPath(in.StackPath); err != nil {
		return p, err
	}
	if err = CheckBranch(in.Base); err != nil {
		return p, fmt.Errorf("base branch: %w", err)
	}
	p.Base = in.Base
	if p.GitCommitID, err = GitCommitID(in.Commit); err != nil {
		return p, err
	}
	if strings.TrimSpace(in.ImageTag) == "" || strings.ContainsAny(in.ImageTag, " \t\n") {
		return p, fmt.Errorf("image tag %q: want the tag the nightly deployed (e.g. 3.0.0-nightly)", in.ImageTag)
	}
	if p.AuthorName, p.AuthorEmail, err = ParseAuthor(in.Author); err != nil {
		return p, err
	}
	p.Branch = p.Base
	if p.Mode == GitopsPullRequest {
		p.Branch = "deployment-" + p.GitCommitID
		if p.Branch == p.Base {
			return p, fmt.Errorf("base branch %q is the deployment branch itself: a pull request needs two branches", p.Base)
		}
	}
	commit := strings.ToLower(strings.TrimSpace(in.Commit))
	p.Title = fmt.Sprintf("nightly: deploy %s of %s", in.ImageTag, p.GitCommitID)
	p.Message = GitopsMessage(p.StackPath, commit, in.ImageTag)
	p.Body = fmt.Sprintf("Updates `%s` for the nightly of commit %s, image tag `%s`.\n\n"+
		"Opened by the nightly's GitOps stage; merging it deploys (the repository's CI runs `pulumi up`).\n",
		p.StackPath, commit, in.ImageTag)
	return p, nil
}

// GitopsMessage is the commit message: a title naming the tag and the short commit, a line naming
// the full commit, and trailers a script can read (git log --format=%(trailers)).
func GitopsMessage(stackPath, commit, imageTag string) string {
	short := commit
	if len(short) > 15 {
		short = short[:15]
	}
	return fmt.Sprintf("nightly: deploy %s of %s\n\nUpdate %s for the nightly of commit %s, image tag %s.\n\n"+
		"Nightly-Commit: %s\nNightly-Image-Tag: %s\n", imageTag, short, stackPath, commit, imageTag, commit, imageTag)
}

// ParseGitopsMode accepts direct and pull-request.
func ParseGitopsMode(s string) (string, error) {
	switch s {
	case GitopsDirect, GitopsPullRequest:
		return s, nil
	}
	return "", fmt.Errorf("mode %q: want %s (commit to the base branch) or %s (push deployment-<commit> and open a pull request)",
		s, GitopsDirect, GitopsPullRequest)
}

// RepoURL is a deployment repository's HTTP(S) URL, split.
type RepoURL struct {
	// URL is what git clones (as given, credential-free).
	URL string
	// Scheme and Host (with its port) of the server; Hostname without the port.
	Scheme, Host, Hostname string
	// Prefix is the path before owner/name (a forge served under a sub-path), "" or "a/b".
	Prefix      string
	Owner, Name string
}

// Slug is owner/name.
func (r RepoURL) Slug() string { return r.Owner + "/" + r.Name }

// ParseRepoURL accepts http(s)://host[:port]/[prefix/]owner/name[.git]. The token never goes in the
// URL (git would store it in .git/config and print it), so a URL carrying credentials is refused.
func ParseRepoURL(raw string) (RepoURL, error) {
	if !strings.Contains(raw, "://") {
		return RepoURL{}, errors.New("repository URL: want an http(s):// URL (the token is sent as an HTTP header; ssh is not supported)")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url's error quotes the URL, which may hold a password: say what is wrong without it.
		return RepoURL{}, fmt.Errorf("repository URL: not a URL")
	}
	if u.User != nil {
		return RepoURL{}, fmt.Errorf("repository URL %s://%s%s carries credentials: pass the token with --token, never in the URL", u.Scheme, u.Host, u.Path)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return RepoURL{}, fmt.Errorf("repository URL %q: want an http(s):// URL (the token is sent as an HTTP header; ssh is not supported)", raw)
	}
	if u.Hostname() == "" || u.RawQuery != "" || u.Fragment != "" {
		return RepoURL{}, fmt.Errorf("repository URL %q: want http(s)://HOST/OWNER/NAME with no query", raw)
	}
	segs := strings.Split(strings.TrimSuffix(strings.Trim(u.Path, "/"), ".git"), "/")
	if len(segs) < 2 || segs[len(segs)-1] == "" || segs[len(segs)-2] == "" {
		return RepoURL{}, fmt.Errorf("repository URL %q: want http(s)://HOST/OWNER/NAME", raw)
	}
	n := len(segs)
	return RepoURL{URL: u.String(), Scheme: u.Scheme, Host: u.Host, Hostname: u.Hostname(),
		Prefix: strings.Join(segs[:n-2], "/"), Owner: segs[n-2], Name: segs[n-1]}, nil
}

// DetectForge picks the forge: forge when given (github or gitea), else from the host name:
// github.com is GitHub; a host naming gitea or forgejo, and codeberg.org, are Gitea's API.
func DetectForge(r RepoURL, forge string) (string, error) {
	switch forge {
	case "github", "gitea":
		return forge, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("forge %q: want github, gitea or auto", forge)
	}
	h := strings.ToLower(r.Hostname)
	switch {
	case h == "github.com" || h == "www.github.com":
		return "github", nil
	case h == "codeberg.org" || strings.Contains(h, "gitea") || strings.Contains(h, "forgejo"):
		return "gitea", nil
	}
	return "", fmt.Errorf("cannot tell which forge serves %s (repository URL %s): pass --forge=github (GitHub Enterprise) or --forge=gitea",
		r.Hostname, r.URL)
}

// ForgeAPIURL is where the forge's API is: api.github.com for github.com, /api/v3/ on GitHub
// Enterprise Server, and the server's root (the SDK adds /api/v1) for Gitea.
func ForgeAPIURL(r RepoURL, forge string) string {
	root := r.Scheme + "://" + r.Host + "/"
	if r.Prefix != "" {
		root += r.Prefix + "/"
	}
	if forge == "github" {
		if h := strings.ToLower(r.Hostname); h == "github.com" || h == "www.github.com" {
			return "https://api.github.com/"
		}
		return root + "api/v3/"
	}
	return root
}

// CheckStackPath cleans the stack file's path: relative, inside the repository, not in .git.
func CheckStackPath(p string) (string, error) {
	c := path.Clean(strings.TrimSpace(p))
	switch {
	case p == "" || c == ".":
		return "", errors.New("stack file path: empty (e.g. Pulumi.nightly.yaml)")
	case path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../"):
		return "", fmt.Errorf("stack file path %q: want a path relative to the repository root, inside it", p)
	case c == ".git" || strings.HasPrefix(c, ".git/"):
		return "", fmt.Errorf("stack file path %q: inside .git", p)
	}
	return c, nil
}

var badRef = regexp.MustCompile(`[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock(/|$)`)

// CheckBranch applies git check-ref-format's rules to a branch name.
func CheckBranch(name string) error {
	if name == "" || name == "@" || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, "/") || strings.HasSuffix(name, ".") ||
		badRef.MatchString(name) {
		return fmt.Errorf("%q is not a valid git branch name", name)
	}
	return nil
}

// ParseAuthor splits "Name <email>".
func ParseAuthor(s string) (name, email string, err error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name == "" {
		return "", "", fmt.Errorf("author %q: want \"Name <email>\"", s)
	}
	return a.Name, a.Address, nil
}

// What a failed git command ran into, from its output. Only GitMoved and GitTransient are worth
// another try; the others need a person.
const (
	GitMoved     = "moved"     // the branch moved since we fetched it: fetch, rebase, push again
	GitProtected = "protected" // the forge refuses pushes to this branch
	GitAuth      = "auth"      // 401: the token is wrong, expired or missing
	GitForbidden = "forbidden" // 403: the token may not write to the repository
	GitNotFound  = "not-found" // no such repository (or the token cannot see it)
	GitNoBranch  = "no-branch" // the repository has no such branch
	GitTransient = "transient" // 5xx, 429, a dropped connection
	GitFailed    = "failed"    // anything else
)

var gitFailures = []struct {
	kind     string
	patterns []string
}{
	// Before "moved": a protected branch is refused by a pre-receive hook, not as stale.
	{GitProtected, []string{"protected branch", "not allowed to push code to protected branches"}},
	{GitAuth, []string{"authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "returned error: 401", "bad credentials", "invalid username or password"}},
	{GitForbidden, []string{"returned error: 403", "permission to ", "write access to repository not granted",
		"denied to ", "not allowed to push"}},
	{GitNotFound, []string{"repository not found", "returned error: 404", "remote: not found", "does not appear to be a git repository"}},
	{GitNoBranch, []string{"not found in upstream", "couldn't find remote ref"}},
	{GitMoved, []string{"(fetch first)", "(non-fast-forward)", "(stale info)", "failed to update ref",
		"cannot lock ref", "incorrect old value provided", "failed to lock"}},
	{GitTransient, []string{"returned error: 5", "returned error: 429", "rpc failed", "early eof",
		"connection reset", "timed out", "could not resolve host", "failed to connect", "connection refused",
		"remote end hung up unexpectedly", "unexpected disconnect", "gnutls", "ssl_read", "http/2 stream"}},
}

// ClassifyGitFailure says why a git clone, fetch or push failed, from its combined output.
func ClassifyGitFailure(output string) string {
	o := strings.ToLower(output)
	for _, f := range gitFailures {
		for _, p := range f.patterns {
			if strings.Contains(o, p) {
				return f.kind
			}
		}
	}
	return GitFailed
}

// PushArgs is the git push of HEAD for a plan. Direct pushes the base branch and never forces it;
// pull-request updates its own deployment branch only if it still is at lease (the commit seen
// before; "" when it must not exist yet), so a concurrent update is refused, never overwritten.
func PushArgs(p GitopsPlan, lease string) []string {
	if p.Mode == GitopsDirect {
		return []string{"push", "origin", "HEAD:refs/heads/" + p.Base}
	}
	return []string{"push", "--force-with-lease=refs/heads/" + p.Branch + ":" + lease,
		"origin", "HEAD:refs/heads/" + p.Branch}
}

// GitopsOutcome is what a GitOps run did, for its report.
type GitopsOutcome struct {
	Plan   GitopsPlan
	DryRun bool
	// Changed is false when the base branch already held this stack file: nothing was committed.
	Changed bool
	// Pushed is true when this run moved a branch on the forge.
	Pushed bool
	// Commit holds the stack file on Branch: the pushed commit, the existing tip when nothing was
	// pushed, or the local commit of a dry run.
	Commit string
	// Attempts counts pushes (more than one when the branch moved or the forge faltered).
	Attempts int
	// PullRequest is 0 when none was opened or found.
	PullRequest        int64
	PullRequestURL     string
	PullRequestCreated bool
	// Result says in one sentence what happened.
	Result string
	Diff   string
}

// Render is the report `dagger call gitops` prints: one "key: value" a line (YAML, so `yq` and
// grep read it), the diff last as a block.
func (o GitopsOutcome) Render() string {
	var b strings.Builder
	str := func(k, v string) { fmt.Fprintf(&b, "%s: %s\n", k, strconv.Quote(v)) }
	str("result", o.Result)
	str("repository", o.Plan.Repo.URL)
	str("forge", o.Plan.Forge)
	str("mode", o.Plan.Mode)
	str("base", o.Plan.Base)
	str("branch", o.Plan.Branch)
	str("stack-file", o.Plan.StackPath)
	str("commit", o.Commit)
	fmt.Fprintf(&b, "changed: %t\npushed: %t\ndry-run: %t\nattempts: %d\n", o.Changed, o.Pushed, o.DryRun, o.Attempts)
	if o.Plan.Mode == GitopsPullRequest {
		fmt.Fprintf(&b, "pull-request: %d\n", o.PullRequest)
		str("pull-request-url", o.PullRequestURL)
		fmt.Fprintf(&b, "pull-request-created: %t\n", o.PullRequestCreated)
	}
	if o.Diff != "" {
		b.WriteString("diff: |\n")
		for _, l := range strings.Split(strings.TrimRight(o.Diff, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
	}
	return b.String()
}
