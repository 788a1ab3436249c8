package ci

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"dagger/nightly/ci/plan"
	"dagger/nightly/ci/registry"
	"dagger/nightly/internal/dagger"
)

// PublishOpts say where and how the images are published.
type PublishOpts struct {
	// Namespace is registry/namespace, e.g. docker.io/graviteeio.
	Namespace string
	// Repositories maps image name → repository under Namespace.
	Repositories map[string]string
	Build        BuildOpts
	Registry     RegistryOpts
	// Lint gates the push: findings at or above its threshold stop everything.
	Lint   LintOpts
	DryRun bool
}

// PublishedImage is what publishing did to one image's tags.
type PublishedImage struct {
	Name, Repository string
	// CommitTag (X.Y.Z-nightly-<gitCommitID>) is where the build was pushed first.
	CommitTag string
	Promotion plan.Promotion
}

// Publication is the outcome of a publish, image by image.
type Publication struct {
	Version     plan.Version
	GitCommitID string
	DryRun      bool
	Images      []PublishedImage
}

// Publish pushes every image under its commit tag, then promotes: the current X.Y.Z-nightly
// becomes X.Y.Z-nightly-previous and the new build X.Y.Z-nightly, by copying manifests. Nothing is
// re-tagged until every image is pushed, a re-run of the same build re-tags nothing, and the tags
// are read back from the registry at the end.
func Publish(ctx context.Context, m Maven, images []ImageSource, o PublishOpts) (*Publication, error) {
	gitCommitID, err := plan.GitCommitID(o.Build.Commit)
	if err != nil {
		return nil, err
	}
	host, namespace, err := splitNamespace(o.Namespace)
	if err != nil {
		return nil, err
	}
	for _, img := range images {
		repo := namespace + "/" + o.Repositories[img.Name]
		if _, err := name.NewRepository(host+"/"+repo, name.StrictValidation); err != nil {
			return nil, fmt.Errorf("image %s: repository %q: %v", img.Name, host+"/"+repo, err)
		}
	}
	if _, err := o.Lint.Check(); err != nil {
		return nil, err
	}
	contexts, err := m.PrepareContexts(ctx, images)
	if err != nil {
		return nil, err
	}
	lint, err := Lint(ctx, m.Source, contexts, o.Lint)
	if err != nil {
		return nil, err
	}
	if err := lint.Err(); err != nil {
		return nil, fmt.Errorf("%v\nnothing was pushed", err)
	}
	versions := map[string]plan.Version{}
	for _, c := range contexts {
		versions[c.Source.Name] = c.Version
	}
	version, err := plan.SameVersion(versions)
	if err != nil {
		return nil, err
	}
	reg, err := newRegistry(ctx, host, o.Registry)
	if err != nil {
		return nil, err
	}
	pub := &Publication{Version: version, GitCommitID: gitCommitID, DryRun: o.DryRun}
	// Read every current nightly first: this also proves the credentials before anything is pushed.
	for _, c := range contexts {
		repo := namespace + "/" + o.Repositories[c.Source.Name]
		current, err := reg.Digest(ctx, repo, version.NightlyTag())
		if err != nil {
			return nil, fmt.Errorf("image %s: %v; nothing was pushed", c.Source.Name, err)
		}
		pub.Images = append(pub.Images, PublishedImage{
			Name: c.Source.Name, Repository: host + "/" + repo,
			CommitTag: plan.CommitTag(version.Base, gitCommitID),
			Promotion: plan.Promotion{Current: current},
		})
	}
	auth, err := engineAuth(ctx, host, o.Registry)
	if err != nil {
		return nil, err
	}
	// Phase 1: push each build under its own commit tag; no existing tag is touched.
	for i, c := range contexts {
		variants := Build(c, o.Build)
		img := &pub.Images[i]
		if o.DryRun {
			for _, v := range variants { // build for real, push nothing
				if _, err := v.Sync(ctx); err != nil {
					return nil, fmt.Errorf("image %s: building: %v", c.Source.Name, err)
				}
			}
			continue
		}
		digest, err := publishImage(ctx, variants, img.Repository+":"+img.CommitTag, auth)
		if err != nil {
			return nil, fmt.Errorf("image %s: %v; no nightly tag was changed%s", c.Source.Name, err, pushedSoFar(pub.Images[:i]))
		}
		img.Promotion = plan.PlanPromotion(version.Base, img.Promotion.Current, digest)
	}
	if o.DryRun {
		return pub, nil
	}
	// Phase 2: re-point the tags, manifests only.
	for i, img := range pub.Images {
		repo := strings.TrimPrefix(img.Repository, host+"/")
		for _, mv := range img.Promotion.Moves {
			if err := reg.Tag(ctx, repo, mv.Tag, mv.Digest); err != nil {
				return nil, fmt.Errorf("image %s: %v; the images are pushed under their commit tags, and running publish again finishes the promotion%s",
					img.Name, err, promotedSoFar(pub.Images[:i]))
			}
		}
	}
	// Phase 3: read the tags back.
	for _, img := range pub.Images {
		if err := verifyTags(ctx, reg, strings.TrimPrefix(img.Repository, host+"/"), version, img.Promotion); err != nil {
			return nil, fmt.Errorf("image %s: %v", img.Name, err)
		}
	}
	return pub, nil
}

// Rollback re-points every image's X.Y.Z-nightly at its X.Y.Z-nightly-previous digest.
func Rollback(ctx context.Context, version plan.Version, namespaceRef string, repos []string, o RegistryOpts) ([]PublishedImage, error) {
	host, namespace, err := splitNamespace(namespaceRef)
	if err != nil {
		return nil, err
	}
	reg, err := newRegistry(ctx, host, o)
	if err != nil {
		return nil, err
	}
	type rb struct {
		name, repo string
		moves      []plan.TagMove
		cur        string
	}
	var plans []rb
	for _, r := range repos { // plan all before moving any: one missing -previous stops everything
		repo := namespace + "/" + r
		nightly, err := reg.Digest(ctx, repo, version.NightlyTag())
		if err != nil {
			return nil, err
		}
		previous, err := reg.Digest(ctx, repo, version.PreviousTag())
		if err != nil {
			return nil, err
		}
		moves, err := plan.PlanRollback(version.Base, nightly, previous)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %v; nothing was rolled back", host, repo, err)
		}
		plans = append(plans, rb{r, repo, moves, nightly})
	}
	var out []PublishedImage
	for _, p := range plans {
		for _, mv := range p.moves {
			if err := reg.Tag(ctx, p.repo, mv.Tag, mv.Digest); err != nil {
				return nil, err
			}
		}
		out = append(out, PublishedImage{Name: p.name, Repository: host + "/" + p.repo, Promotion: plan.Promotion{Current: p.cur, Moves: p.moves}})
	}
	return out, nil
}

func verifyTags(ctx context.Context, reg *registry.Client, repo string, version plan.Version, p plan.Promotion) error {
	for _, mv := range p.Moves {
		got, err := reg.Digest(ctx, repo, mv.Tag)
		if err != nil {
			return fmt.Errorf("verifying %s: %v", mv.Tag, err)
		}
		if got != mv.Digest {
			return fmt.Errorf("verifying %s/%s:%s: the registry has %s, want %s (another publish at the same time?)", reg.Host, repo, mv.Tag, got, mv.Digest)
		}
	}
	if p.Unchanged() {
		got, err := reg.Digest(ctx, repo, version.NightlyTag())
		if err != nil {
			return err
		}
		if got != p.Pushed {
			return fmt.Errorf("verifying %s/%s: nightly is %s, want %s", reg.Host, repo, got, p.Pushed)
		}
	}
	return nil
}

// engineAuth gives containers the registry credentials for the engine's pushes.
func engineAuth(ctx context.Context, host string, o RegistryOpts) (func(*dagger.Container) *dagger.Container, error) {
	if o.Username == nil {
		return func(c *dagger.Container) *dagger.Container { return c }, nil
	}
	user, err := o.Username.Plaintext(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the registry username secret: %v", err)
	}
	return func(c *dagger.Container) *dagger.Container {
		return c.WithRegistryAuth(host, strings.TrimRight(user, "\r\n"), o.Password)
	}, nil
}

// splitNamespace splits docker.io/graviteeio into its registry host and namespace.
func splitNamespace(ref string) (host, namespace string, err error) {
	host, namespace, ok := strings.Cut(strings.TrimSuffix(ref, "/"), "/")
	if !ok || namespace == "" || (!strings.ContainsAny(host, ".:") && host != "localhost") {
		return "", "", fmt.Errorf("registry namespace %q: want REGISTRY/NAMESPACE, e.g. docker.io/graviteeio", ref)
	}
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
		return "", "", fmt.Errorf("registry namespace %q: %v", ref, err)
	}
	return host, namespace, nil
}

func pushedSoFar(imgs []PublishedImage) string {
	var s []string
	for _, i := range imgs {
		s = append(s, i.Repository+":"+i.CommitTag)
	}
	if len(s) == 0 {
		return ""
	}
	return " (already pushed, under commit tags only: " + strings.Join(s, ", ") + ")"
}

func promotedSoFar(imgs []PublishedImage) string {
	var s []string
	for _, i := range imgs {
		s = append(s, i.Repository)
	}
	if len(s) == 0 {
		return ""
	}
	return " (already promoted: " + strings.Join(s, ", ") + ")"
}
