package plan

import (
	"fmt"
	"regexp"
	"strings"
)

var baseImageArgRE = regexp.MustCompile(`(?m)^ARG BASE_IMAGE(=.*)?$`)

// PrepareDockerfile sets the default of the Dockerfile's `ARG BASE_IMAGE` to baseImage, so the
// prepared context builds (and is linted) with the base image the pipeline was given. A
// Dockerfile without that ARG pins its own base and is returned unchanged.
func PrepareDockerfile(dockerfile, baseImage string) string {
	if baseImage == "" || !baseImageArgRE.MatchString(dockerfile) {
		return dockerfile
	}
	return baseImageArgRE.ReplaceAllLiteralString(dockerfile, "ARG BASE_IMAGE="+baseImage)
}

// PickArtifact chooses the one artifact an image ships among the files a glob matched, leaving
// out Maven's side artifacts (sources, javadoc, tests, original-*.jar from the shade plugin).
func PickArtifact(glob string, matches []string) (string, error) {
	var picked []string
	for _, m := range matches {
		base := m[strings.LastIndex(m, "/")+1:]
		if strings.HasPrefix(base, "original-") {
			continue
		}
		side := false
		for _, s := range []string{"-sources.jar", "-javadoc.jar", "-tests.jar", "-test-sources.jar"} {
			side = side || strings.HasSuffix(base, s)
		}
		if !side {
			picked = append(picked, m)
		}
	}
	switch len(picked) {
	case 0:
		return "", fmt.Errorf("artifact %q: no file matches after packaging (matched: %q)", glob, matches)
	case 1:
		return picked[0], nil
	}
	return "", fmt.Errorf("artifact %q: %d files match (%s); make the pattern name exactly one", glob, len(picked), strings.Join(picked, ", "))
}
