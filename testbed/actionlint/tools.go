//go:build tools

// Package actionlint pins actionlint (github.com/rhysd/actionlint), which lints
// .github/workflows: testbed/actionlint.sh builds it from this go.mod and go.sum.
package actionlint

import _ "github.com/rhysd/actionlint/cmd/actionlint"
