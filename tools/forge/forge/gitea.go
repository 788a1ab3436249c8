package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
)

// giteaRepo is a repository on a Gitea (or Forgejo) server, through Gitea's Go SDK.
type giteaRepo struct {
	c           *gitea.Client
	owner, name string
}

func newGitea(ctx context.Context, apiURL, owner, name, token string, client *http.Client) (*giteaRepo, error) {
	if apiURL == "" {
		return nil, errors.New("a Gitea forge needs the server's URL")
	}
	// No version probe: the first request is then a real one, whose status says what is wrong
	// (the SDK's probe loses it), and servers this new need none of the SDK's old-version paths.
	c, err := gitea.NewClient(apiURL, gitea.SetToken(token), gitea.SetHTTPClient(client),
		gitea.SetContext(ctx), gitea.SetGiteaVersion(""))
	if err != nil {
		return nil, fmt.Errorf("Gitea client for %s: %v", apiURL, err)
	}
	return &giteaRepo{c: c, owner: owner, name: name}, nil
}

func (g *giteaRepo) repo() string { return g.owner + "/" + g.name }

func (g *giteaRepo) FindPullRequest(ctx context.Context, head, base string) (*PullRequest, error) {
	g.c.SetContext(ctx)
	// The API filters neither by head nor (in this SDK) by base: read every open one, page by page.
	opts := gitea.ListPullRequestsOptions{State: gitea.StateOpen, ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}
	for {
		prs, resp, err := g.c.ListRepoPullRequests(g.owner, g.name, opts)
		if err != nil {
			return nil, g.err("listing open pull requests", resp, err)
		}
		for _, pr := range prs {
			if pr.Head != nil && pr.Base != nil && pr.Head.Ref == head && pr.Base.Ref == base &&
				pr.Head.RepoID == pr.Base.RepoID {
				return giteaPullRequest(pr), nil
			}
		}
		if resp == nil || resp.NextPage == 0 || len(prs) == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *giteaRepo) CreatePullRequest(ctx context.Context, pr NewPullRequest) (*PullRequest, error) {
	g.c.SetContext(ctx)
	created, resp, err := g.c.CreatePullRequest(g.owner, g.name, gitea.CreatePullRequestOption{
		Head: pr.Head, Base: pr.Base, Title: pr.Title, Body: pr.Body,
	})
	if err != nil {
		return nil, g.err(fmt.Sprintf("opening a pull request from %s to %s", pr.Head, pr.Base), resp, err)
	}
	return giteaPullRequest(created), nil
}

func giteaPullRequest(pr *gitea.PullRequest) *PullRequest {
	out := &PullRequest{Number: pr.Index, URL: pr.HTMLURL, Title: pr.Title}
	if pr.Head != nil {
		out.Head = pr.Head.Ref
	}
	if pr.Base != nil {
		out.Base = pr.Base.Ref
	}
	return out
}

// err classifies an SDK error by the response's status. Gitea answers a duplicate pull request
// with 409 ("pull request already exists for these targets").
func (g *giteaRepo) err(op string, resp *gitea.Response, err error) error {
	e := &Error{Repo: g.repo(), Op: op, Msg: err.Error()}
	if resp != nil && resp.Response != nil {
		e.Status = resp.StatusCode
	}
	e.Kind = kindOfStatus(e.Status)
	if e.Status == http.StatusConflict || strings.Contains(err.Error(), "pull request already exists") {
		e.Kind = Exists
	}
	return e
}
