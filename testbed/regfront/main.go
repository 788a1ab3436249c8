// Command regfront puts the test bed's real registries (Debian's docker-registry, distribution 2.8)
// behind two small loopback fronts, so tests meet what production meets without leaving loopback.
//
//	regfront dockerhub -listen 127.0.0.1:PORT -backend SOCKET -storage DIR -key KEY.pem -cert CERT.pem
//	                   -user USER -password-file FILE [-service S] [-issuer I] [-foreign library] [-log FILE]
//	regfront faulty    -listen 127.0.0.1:PORT -control 127.0.0.1:PORT -upstream http://HOST:PORT [-log FILE]
//
// # dockerhub: a registry that authenticates like Docker Hub
//
// One host:port serves the token endpoint (/token) and reverse-proxies everything else to a real
// distribution configured with `auth: token:` (realm, service, issuer, rootcertbundle), which
// validates the JWTs this front signs (ES256, the signing certificate in the `x5c` header, chained
// to the rootcertbundle). Reproduced from Docker Hub:
//   - A request without a token gets 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
//     (distribution's own challenge). The realm is rewritten to http://<Host of the request>/token,
//     so a client that reaches the registry under another name (a Dagger service alias such as
//     tcp://localhost:PORT inside a container) fetches its token from the same place.
//   - The token endpoint takes HTTP Basic credentials on GET (docker/distribution token protocol)
//     and the OAuth2 password grant on POST (what containerd and BuildKit try first). Wrong
//     credentials are refused there with 401, so a client fails before it pushes anything.
//     No credentials give an anonymous token with no access (every repository here is private).
//   - With valid credentials, a repository that does not exist yet gets no access for a pull-only
//     scope, so the registry answers 401 (error="insufficient_scope"), not 404, to a HEAD/GET of a
//     manifest or a tag list. An existing repository with a missing tag answers 404 as usual.
//   - A push,pull scope in a namespace the user owns grants push and pull even when the repository
//     does not exist yet: the first push creates it. The user owns every namespace except the
//     -foreign ones (default "library"), where an existing repository can be pulled and nothing can
//     be pushed. Names must be NAMESPACE/REPO: a one-part name is under library/, and deeper names
//     get no access (Docker Hub has no nested repositories).
//   - Tokens expire after 300 s (the client fetches a new one), delete is never granted (Docker Hub
//     does not delete through the registry API), and the catalog is never granted.
//
// "Exists" is read from distribution's storage: the repository has pushed at least one manifest
// (DIR/docker/registry/v2/repositories/NAME/_manifests). Not reproduced: TLS, refresh tokens (the
// POST grant returns no refresh_token, so clients keep using the password), anonymous pulls of
// public repositories, rate limits, organisations and teams, personal access tokens, Docker Hub's
// own repository API (hub.docker.com), and the exact wording of its error bodies.
//
// # faulty: a fault-injecting proxy
//
// Listens on -listen and forwards everything to -upstream (the test bed's basic-auth registry),
// keeping the Host header so distribution's Location headers point back at the proxy. Rules set at
// run time through the control API on -control inject faults into matching requests. A rule:
//
//	{
//	  "prefix":      "/v2/e2e123/",   // required: only paths under it (scope rules per test)
//	  "target":      "upload",        // optional: manifest | blob | upload | tags | base ("" = any)
//	  "methods":     ["PATCH","PUT"], // optional: HTTP methods ("" = any)
//	  "fault":       "status",        // status | drop | delay | none
//	  "status":      503,             // fault "status": the status answered (500, 503, 429, …)
//	  "retryAfter":  2,               // fault "status": adds Retry-After: 2 (seconds)
//	  "afterBytes":  65536,           // fault "drop": request body bytes forwarded before the drop
//	  "delayMs":     1500,            // fault "delay": wait, then forward normally
//	  "times":       2,               // fire at most this many times (0 = no limit)
//	  "probability": 0.5              // fire with this probability (0 or absent = always)
//	}
//
// Targets: manifest = /v2/NAME/manifests/REF, blob = /v2/NAME/blobs/DIGEST, upload =
// /v2/NAME/blobs/uploads/… (POST starts an upload, PATCH sends a chunk, PUT finishes it), tags =
// /v2/NAME/tags/list, base = /v2/. So a manifest PUT is {target: manifest, methods: [PUT]} and a
// blob chunk is {target: upload, methods: [PATCH]}. Faults:
//   - status: answers the status with a registry error body, without contacting the upstream.
//   - drop: forwards the first afterBytes bytes of the request body to the upstream, then closes
//     both connections (the client sees a reset in the middle of its upload; the upstream sees a
//     truncated body). When the body is shorter, the request completes upstream and the response
//     is lost: the client's connection is closed before it gets any answer.
//   - delay: a slow response: waits delayMs before forwarding.
//   - none: injects nothing; only counts the requests it matches.
//
// Every matching rule counts the request in "seen"; the first matching rule (in creation order,
// fault other than none) whose budget and probability allow fires, and counts it in "injected".
// At most one fault is injected per request.
//
// Control API (JSON):
//
//	POST   /rules               add a rule; 201 with the rule and its "id"
//	GET    /rules[?prefix=P]    {"requests": N, "rules": [rule + "seen", "injected"]…}; N = all
//	                            requests proxied since start
//	GET    /rules/{id}          one rule with its counters
//	DELETE /rules/{id}          remove one rule
//	DELETE /rules?prefix=P      remove the rules with exactly this prefix (a test's own)
//	DELETE /rules               remove every rule
//
// Not reproduced: faults in the response body (a response cut half-way), TLS, HTTP/2.
package main

import (
	"fmt"
	"log"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: regfront dockerhub|faulty [flags] (see the doc comment)"))
	}
	var err error
	switch os.Args[1] {
	case "dockerhub":
		err = cmdDockerHub(os.Args[2:])
	case "faulty":
		err = cmdFaulty(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want dockerhub or faulty)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "regfront:", err)
	os.Exit(1)
}

// openLog sends the log to path (appending), or keeps stderr when path is empty.
func openLog(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the log -log %s: %w", path, err)
	}
	log.SetOutput(f)
	return nil
}
