// Package ci holds the nightly pipeline, one seed step a file; main.go exposes it as Dagger
// functions. Pure decisions live in ci/plan, which needs no engine to test.
//
// The steps, in the order the nightly runs them:
//
//	maven.go    the Maven toolchain; mvn clean test and mvn clean deploy (steps 1-2)
package ci
