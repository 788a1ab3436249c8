//go:build tools

// Package gitea only pins the Gitea server's module: build-gitea.sh builds code.gitea.io/gitea
// (its main package is the module root) with this module's go.sum.
package gitea

import _ "code.gitea.io/gitea"
