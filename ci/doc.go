// Package ci holds the nightly pipeline, one seed step a file; main.go exposes it as Dagger
// functions. Pure decisions live in ci/plan, which needs no engine to test.
//
// The steps, in the order the nightly runs them:
//
//	maven.go     the Maven toolchain; mvn clean test and mvn clean deploy (steps 1-2)
//	contexts.go  mvn package and one Docker build context per image (step 3)
//	lint.go      hadolint or BuildKit's checks + ShellCheck on every Dockerfile (step 4)
//	images.go    image builds with OCI labels, exported and made reproducible (step 5)
//	promote.go   push under immutable commit tags, converge X.Y.Z-nightly/-previous (safe when
//	             publishes overlap), rollback (step 5); the protocol is ci/plan/converge.go
//	registry.go  the registry client (ci/registry: login, retries, manifest copies, pushes)
//
// Errors that wrap a Dagger API error are formatted with %v, not %w: the module runtime returns a
// wrapped GraphQL error's own message (to keep its extensions), which would drop the context that
// names the bad input.
package ci
