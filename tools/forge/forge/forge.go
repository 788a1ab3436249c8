// Package forge opens pull requests on the forges the nightly's GitOps stage writes to, behind one
// small interface: GitHub (go-github) and Gitea (its Go SDK). Plain git (clone, commit, push) is the
// same for every forge and is not here; only what git cannot do is.
//
// The package has no Dagger import: it runs inside the nightly-forge tool's container, and its
// tests are hermetic (recorded responses served by httptest).
package forge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Forge is one repository on one forge, reached with one token.
type Forge interface {
	// FindPullRequest returns the open pull request from head to base in this repository, or nil
	// when there is none.
	FindPullRequest(ctx context.Context, head, base string) (*PullRequest, error)
	// CreatePullRequest opens a pull request; an *Error of kind Exists when one is already open
	// for the same head and base.
	CreatePullRequest(ctx context.Context, pr NewPullRequest) (*PullRequest, error)
}

// NewPullRequest is what a pull request is opened with. Head is a branch of the same repository.
type NewPullRequest struct {
	Head, Base, Title, Body string
}

// PullRequest is an open pull request.
type PullRequest struct {
	Number int64  `json:"number"`
	URL    string `json:"url"`
	Head   string `json:"head"`
	Base   string `json:"base"`
	Title  string `json:"title"`
	// Created is true when this call opened it, false when it was already open.
	Created bool `json:"created"`
}

// Kinds of failure, so that callers can say what to fix.
type Kind string

const (
	Unauthorized Kind = "unauthorized" // 401: the token is wrong or expired
	Forbidden    Kind = "forbidden"    // 403: the token lacks a permission (or a rate limit)
	NotFound     Kind = "not-found"    // 404: no such repository or branch (or no access to it)
	Exists       Kind = "exists"       // the pull request is already open
	Invalid      Kind = "invalid"      // 422 and the like: the request was refused as it stands
	Transient    Kind = "transient"    // 429, 5xx, network: worth retrying
	Other        Kind = "other"
)

// Error is a forge API failure, naming the repository and what was being done.
type Error struct {
	Kind   Kind
	Status int // HTTP status, 0 when there was no response
	Repo   string
	Op     string
	Msg    string
}

func (e *Error) Error() string {
	hint := map[Kind]string{
		Unauthorized: " (HTTP 401: the token is wrong or expired)",
		Forbidden:    " (HTTP 403: the token lacks a permission on the repository, or a rate limit was hit)",
		NotFound:     " (HTTP 404: no such repository or branch, or the token cannot see it)",
	}[e.Kind]
	return fmt.Sprintf("%s: %s on repository %s failed%s: %s", e.Kind, e.Op, e.Repo, hint, e.Msg)
}

// KindOf is the Kind of err, Other when it is not an *Error.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Other
}

// kindOfStatus maps an HTTP status (0: no response) to a Kind.
func kindOfStatus(status int) Kind {
	switch {
	case status == 0:
		return Transient
	case status == http.StatusUnauthorized:
		return Unauthorized
	case status == http.StatusForbidden:
		return Forbidden
	case status == http.StatusNotFound:
		return NotFound
	case status == http.StatusConflict:
		return Exists
	case status == http.StatusTooManyRequests || status >= 500:
		return Transient
	case status == http.StatusUnprocessableEntity || status == http.StatusBadRequest:
		return Invalid
	}
	return Other
}

// EnsurePullRequest returns the open pull request from pr.Head to pr.Base, opening it when there is
// none: a re-run finds the one it opened before, never opens a second. When two runs race, the loser's
// create is refused as a duplicate and it returns the winner's.
func EnsurePullRequest(ctx context.Context, f Forge, pr NewPullRequest) (*PullRequest, error) {
	if pr.Head == "" || pr.Base == "" || pr.Head == pr.Base {
		return nil, fmt.Errorf("a pull request needs a head and a base branch that differ (head %q, base %q)", pr.Head, pr.Base)
	}
	if strings.TrimSpace(pr.Title) == "" {
		return nil, errors.New("a pull request needs a title")
	}
	found, err := f.FindPullRequest(ctx, pr.Head, pr.Base)
	if err != nil || found != nil {
		return found, err
	}
	created, err := f.CreatePullRequest(ctx, pr)
	if err == nil {
		created.Created = true
		return created, nil
	}
	if KindOf(err) != Exists {
		return nil, err
	}
	found, ferr := f.FindPullRequest(ctx, pr.Head, pr.Base)
	if ferr != nil {
		return nil, ferr
	}
	if found == nil {
		return nil, fmt.Errorf("the forge says a pull request from %s to %s exists, but none is open: %w", pr.Head, pr.Base, err)
	}
	return found, nil
}

// New returns the Forge for kind ("github" or "gitea") at apiURL (GitHub: https://api.github.com/
// or https://HOST/api/v3/; Gitea: the server's root URL) for the repository owner/name.
func New(ctx context.Context, kind, apiURL, owner, name, token string, client *http.Client) (Forge, error) {
	if owner == "" || name == "" {
		return nil, fmt.Errorf("repository %q/%q: want an owner and a name", owner, name)
	}
	if client == nil {
		client = &http.Client{}
	}
	switch kind {
	case "github":
		return newGitHub(apiURL, owner, name, token, client)
	case "gitea":
		return newGitea(ctx, apiURL, owner, name, token, client)
	}
	return nil, fmt.Errorf("forge %q: want github or gitea", kind)
}
