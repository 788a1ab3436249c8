// Package e2e holds the tests that need the test bed: a real Dagger engine built from source, the
// docker.io mirror serving locally built images under their public names, and an authenticated
// registry standing in for Docker Hub. `make test` starts it; the tests skip, saying why, without it.
package e2e
