package ci

import (
	"context"
	"fmt"
	"strings"

	"dagger/nightly/internal/dagger"
)

// BuildOpts are what every image build shares.
type BuildOpts struct {
	// Platforms to build, e.g. linux/amd64 (more than one makes a multi-platform image).
	Platforms []string
	// Commit is the full git commit hash (the revision label).
	Commit string
	// Created (RFC 3339, typically the commit date) and SourceURL become OCI labels when set.
	// Created is not "now": the same commit must give the same image, so re-runs change nothing.
	Created, SourceURL string
}

// Build builds an image from its prepared context, one container per platform.
func Build(c ImageContext, o BuildOpts) []*dagger.Container {
	labels := [][2]string{
		{"org.opencontainers.image.title", c.Source.Name},
		{"org.opencontainers.image.version", c.Version.POM},
		{"org.opencontainers.image.revision", o.Commit},
		{"org.opencontainers.image.created", o.Created},
		{"org.opencontainers.image.source", o.SourceURL},
	}
	platforms := o.Platforms
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64"}
	}
	var variants []*dagger.Container
	for _, p := range platforms {
		ctr := c.Dir.DockerBuild(dagger.DirectoryDockerBuildOpts{Platform: dagger.Platform(p)})
		for _, l := range labels {
			if l[1] != "" {
				ctr = ctr.WithLabel(l[0], l[1])
			}
		}
		variants = append(variants, ctr)
	}
	return variants
}

// publishImage pushes the variants as one image to ref (the engine publishes the receiver and its
// PlatformVariants together) and returns the pushed digest.
func publishImage(ctx context.Context, variants []*dagger.Container, ref string, auth func(*dagger.Container) *dagger.Container) (string, error) {
	first := auth(variants[0])
	pushed, err := first.Publish(ctx, ref, dagger.ContainerPublishOpts{PlatformVariants: variants[1:]})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %v", ref, err)
	}
	i := strings.LastIndex(pushed, "@")
	if i < 0 {
		return "", fmt.Errorf("pushing %s: the engine returned %q, with no digest", ref, pushed)
	}
	return pushed[i+1:], nil
}
