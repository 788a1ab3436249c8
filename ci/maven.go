package ci

import (
	"context"
	"fmt"
	"strings"

	"dagger/nightly/internal/dagger"
)

var dag = dagger.Connect()

// Toolchain reports the Maven and Java versions of mavenImage, as `mvn --version` prints them:
// the first thing to check when a nightly behaves differently from a laptop build.
func Toolchain(ctx context.Context, mavenImage string) (string, error) {
	out, err := dag.Container().
		From(mavenImage).
		WithExec([]string{"mvn", "--batch-mode", "--version"}).
		Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("running mvn --version in image %q: %w", mavenImage, err)
	}
	return strings.TrimSpace(out), nil
}
