package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-github/v74/github"
)

// gitHub is a repository on github.com or GitHub Enterprise Server, through go-github.
type gitHub struct {
	c           *github.Client
	owner, name string
}

func newGitHub(apiURL, owner, name, token string, client *http.Client) (*gitHub, error) {
	c := github.NewClient(client).WithAuthToken(token)
	if apiURL != "" && strings.TrimSuffix(apiURL, "/") != "https://api.github.com" {
		var err error
		// GitHub Enterprise Server: https://HOST/api/v3/ (the upload URL is unused here).
		if c, err = c.WithEnterpriseURLs(apiURL, apiURL); err != nil {
			return nil, fmt.Errorf("GitHub API URL %q: %v", apiURL, err)
		}
	}
	return &gitHub{c: c, owner: owner, name: name}, nil
}

func (g *gitHub) repo() string { return g.owner + "/" + g.name }

func (g *gitHub) FindPullRequest(ctx context.Context, head, base string) (*PullRequest, error) {
	// The API filters by head ("owner:branch") and base itself; still check, and follow pages.
	opts := &github.PullRequestListOptions{State: "open", Head: g.owner + ":" + head, Base: base,
		ListOptions: github.ListOptions{PerPage: 100}}
	for {
		prs, resp, err := g.c.PullRequests.List(ctx, g.owner, g.name, opts)
		if err != nil {
			return nil, g.err("listing open pull requests", err)
		}
		for _, pr := range prs {
			if pr.GetHead().GetRef() == head && pr.GetBase().GetRef() == base &&
				pr.GetHead().GetRepo().GetFullName() == pr.GetBase().GetRepo().GetFullName() {
				return g.pullRequest(pr), nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *gitHub) CreatePullRequest(ctx context.Context, pr NewPullRequest) (*PullRequest, error) {
	created, _, err := g.c.PullRequests.Create(ctx, g.owner, g.name, &github.NewPullRequest{
		Title: github.Ptr(pr.Title), Head: github.Ptr(pr.Head), Base: github.Ptr(pr.Base), Body: github.Ptr(pr.Body),
	})
	if err != nil {
		return nil, g.err(fmt.Sprintf("opening a pull request from %s to %s", pr.Head, pr.Base), err)
	}
	return g.pullRequest(created), nil
}

func (g *gitHub) pullRequest(pr *github.PullRequest) *PullRequest {
	return &PullRequest{Number: int64(pr.GetNumber()), URL: pr.GetHTMLURL(), Head: pr.GetHead().GetRef(),
		Base: pr.GetBase().GetRef(), Title: pr.GetTitle()}
}

// err classifies a go-github error: its status, rate limits, and the 422 GitHub answers for a
// duplicate pull request ("A pull request already exists for owner:branch.").
func (g *gitHub) err(op string, err error) error {
	e := &Error{Repo: g.repo(), Op: op, Msg: err.Error()}
	var rate *github.RateLimitError
	var abuse *github.AbuseRateLimitError
	var resp *github.ErrorResponse
	switch {
	case errors.As(err, &rate), errors.As(err, &abuse):
		e.Kind, e.Status = Transient, http.StatusForbidden
	case errors.As(err, &resp) && resp.Response != nil:
		e.Status = resp.Response.StatusCode
		e.Kind = kindOfStatus(e.Status)
		e.Msg = resp.Message
		for _, d := range resp.Errors {
			if d.Message != "" {
				e.Msg += "; " + d.Message
			}
			if e.Status == http.StatusUnprocessableEntity && strings.Contains(d.Message, "pull request already exists") {
				e.Kind = Exists
			}
		}
	default:
		e.Kind = kindOfStatus(0)
	}
	return e
}
