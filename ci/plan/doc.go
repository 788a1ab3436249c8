// Package plan holds the pure decisions of the nightly: the product version and image tags, and
// (as the stages grow) promotion plans, stack config, branch names and report parsing. Nothing here
// talks to an engine, a registry or a server, so every rule has a table test that runs anywhere.
//
// It is separate from package ci because the module's generated Dagger client needs a live
// session as soon as it is imported.
package plan
