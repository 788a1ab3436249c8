package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
)

// BaseImage is one base image's config as the caller resolved it (nightly reads it through the
// Dagger engine), or why it could not.
type BaseImage struct {
	// Ref is the normalized reference BuildKit asks for (docker.io/library/busybox:1.37.0).
	Ref string `json:"ref"`
	// Platform it was resolved for (linux/amd64).
	Platform string `json:"platform"`
	// Config is the image config JSON (OCI: os, architecture, config.Env …); empty when Error is set.
	Config json.RawMessage `json:"config,omitempty"`
	// Error says why the config could not be resolved.
	Error string `json:"error,omitempty"`
}

// BaseRef is a base image BuildKit resolves while linting a file.
type BaseRef struct {
	Ref      string `json:"ref"`
	Platform string `json:"platform"`
}

// resolver answers BuildKit's image config requests from the configs it was given, never from a
// registry. A base image it was not given, or that could not be resolved, gets an empty config of
// the requested platform (what BuildKit sees for scratch), and is recorded as unresolved.
type resolver struct {
	images map[string]BaseImage // by key(ref, platform)

	mu    sync.Mutex
	asked map[BaseRef]bool
}

func key(ref, platform string) string { return ref + " " + platform }

func newResolver(images []BaseImage) (*resolver, error) {
	r := &resolver{images: map[string]BaseImage{}, asked: map[BaseRef]bool{}}
	for _, img := range images {
		if img.Error == "" {
			if _, err := parseConfig(img.Config); err != nil {
				return nil, fmt.Errorf("base image %s (%s): %w", img.Ref, img.Platform, err)
			}
		}
		r.images[key(img.Ref, normalizePlatform(img.Platform))] = img
	}
	return r, nil
}

func normalizePlatform(p string) string {
	if pl, err := platforms.Parse(p); err == nil {
		return platforms.Format(platforms.Normalize(pl))
	}
	return p
}

func parseConfig(dt []byte) (*dockerspec.DockerOCIImage, error) {
	var img dockerspec.DockerOCIImage
	if err := json.Unmarshal(dt, &img); err != nil {
		return nil, fmt.Errorf("reading its config: %w", err)
	}
	return &img, nil
}

// lookup is the config of ref for platform, or nil and why it is unknown.
func (r *resolver) lookup(ref, platform string) (*dockerspec.DockerOCIImage, string) {
	if r == nil {
		return nil, "no base image configs were given"
	}
	img, ok := r.images[key(ref, platform)]
	if !ok {
		return nil, "its config was not given to the linter"
	}
	if img.Error != "" {
		return nil, img.Error
	}
	cfg, _ := parseConfig(img.Config) // checked in newResolver
	return cfg, ""
}

// ResolveImageConfig implements BuildKit's llb.ImageMetaResolver.
func (r *resolver) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := targetPlatform
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = platforms.Normalize(*opt.ImageOpt.Platform)
	}
	platform := platforms.Format(p)
	r.mu.Lock()
	r.asked[BaseRef{Ref: ref, Platform: platform}] = true
	r.mu.Unlock()

	img, _ := r.lookup(ref, platform)
	if img == nil {
		// Unknown: an empty config of the requested platform, as the offline linter always did.
		empty := dockerspec.DockerOCIImage{}
		empty.OS, empty.Architecture, empty.Variant = p.OS, p.Architecture, p.Variant
		empty.RootFS.Type = "layers"
		dt, err := json.Marshal(empty)
		return ref, digest.FromBytes(dt), dt, err
	}
	if len(img.RootFS.DiffIDs) == 0 {
		// A pulled image has layers; BuildKit treats a config without any as scratch and would skip
		// the checks it makes on real base images (InvalidBaseImagePlatform).
		img.RootFS.Type = "layers"
		img.RootFS.DiffIDs = []digest.Digest{digest.FromString("nightly-dockerlint layer of " + ref)}
	}
	dt, err := json.Marshal(img)
	return ref, digest.FromBytes(dt), dt, err
}

// bases lists the base images BuildKit asked for, sorted.
func (r *resolver) bases() []BaseRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]BaseRef, 0, len(r.asked))
	for b := range r.asked {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.Compare(key(out[i].Ref, out[i].Platform), key(out[j].Ref, out[j].Platform)) < 0
	})
	return out
}
