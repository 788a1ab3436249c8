// nightly-forge does what git cannot on a forge: find or open the GitOps stage's pull request. It
// runs in a container the nightly module starts; the token comes from the environment variable
// NIGHTLY_FORGE_TOKEN (a Dagger secret), never from an argument.
//
//	nightly-forge pull-request -forge gitea -api-url URL -repo OWNER/NAME -head BRANCH -base BRANCH -title T [-body-file F] [-find-only]
//
// It prints one JSON object on stdout: the pull request ({"number", "url", "head", "base", "title",
// "created"}) or {"kind", "error"} when it failed (exit 1); usage errors exit 2.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"nightly/tools/forge/forge"
)

const tokenEnv = "NIGHTLY_FORGE_TOKEN"

func main() {
	if len(os.Args) < 2 || os.Args[1] != "pull-request" {
		fmt.Fprintln(os.Stderr, "usage: nightly-forge pull-request -forge gitea|github -api-url URL -repo OWNER/NAME -head BRANCH -base BRANCH -title TITLE [-body-file FILE]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("pull-request", flag.ExitOnError)
	kind := fs.String("forge", "", "github or gitea")
	apiURL := fs.String("api-url", "", "API root: https://api.github.com/, https://HOST/api/v3/, or the Gitea server's URL")
	repo := fs.String("repo", "", "OWNER/NAME")
	head := fs.String("head", "", "branch holding the change")
	base := fs.String("base", "", "branch to merge into")
	title := fs.String("title", "", "pull request title")
	bodyFile := fs.String("body-file", "", "file holding the pull request description")
	retries := fs.Int("retries", 3, "retries on transient failures (429, 5xx, network)")
	findOnly := fs.Bool("find-only", false, "only look for the open pull request (a dry run): {\"number\": 0} when there is none")
	_ = fs.Parse(os.Args[2:])

	owner, name, ok := strings.Cut(*repo, "/")
	if !ok || strings.Contains(name, "/") {
		usage("-repo %q: want OWNER/NAME", *repo)
	}
	var body string
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			usage("-body-file: %v", err)
		}
		body = string(b)
	}
	// Secrets read from files often end in a newline.
	token := strings.TrimSpace(os.Getenv(tokenEnv))
	if token == "" {
		usage("no token: set %s", tokenEnv)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 60 * time.Second}
	f, err := forge.New(ctx, *kind, *apiURL, owner, name, token, client)
	if err != nil {
		fail(err)
	}
	want := forge.NewPullRequest{Head: *head, Base: *base, Title: *title, Body: body}
	for attempt := 0; ; attempt++ {
		var pr *forge.PullRequest
		if *findOnly {
			if pr, err = f.FindPullRequest(ctx, want.Head, want.Base); err == nil && pr == nil {
				pr = &forge.PullRequest{Head: want.Head, Base: want.Base}
			}
		} else {
			pr, err = forge.EnsurePullRequest(ctx, f, want)
		}
		if err == nil {
			out, _ := json.Marshal(pr)
			fmt.Println(string(out))
			return
		}
		if forge.KindOf(err) != forge.Transient || attempt >= *retries {
			fail(err)
		}
		wait := time.Duration(2<<attempt) * time.Second // 2s, 4s, 8s…
		fmt.Fprintf(os.Stderr, "nightly-forge: %v; retrying in %s\n", err, wait)
		time.Sleep(wait)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "nightly-forge: "+format+"\n", args...)
	os.Exit(2)
}

func fail(err error) {
	out, _ := json.Marshal(map[string]string{"kind": string(forge.KindOf(err)), "error": err.Error()})
	fmt.Println(string(out))
	fmt.Fprintln(os.Stderr, "nightly-forge:", err)
	os.Exit(1)
}
