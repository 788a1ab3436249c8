package ci

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"dagger/nightly/ci/plan"
	"dagger/nightly/ci/registry"
)

// PublishOpts say where and how the images are published.
type PublishOpts struct {
	// Namespace is registry/namespace, e.g. docker.io/graviteeio.
	Namespace string
	// Repositories maps image name → repository under Namespace.
	Repositories map[string]string
	// Build: platforms, commit, source URL (Build.Created is decided by Publish from Created).
	Build BuildOpts
	// Created is the commit date (RFC 3339) or "": then a re-run reuses the date the commit was
	// first published with, and a first publish stamps the current time.
	Created  string
	Registry RegistryOpts
	// Lint gates the push: findings at or above its threshold stop everything.
	Lint   LintOpts
	DryRun bool
}

// PublishedImage is what publishing did to one image.
type PublishedImage struct {
	Name, Repository string
	// CommitTag (X.Y.Z-nightly-<gitCommitID>) holds this build; Digest is its digest.
	CommitTag, Digest string
	// Pushed is false when the commit tag already held this very build (a re-run).
	Pushed bool
	// Before and After are -nightly and -nightly-previous before and after, as digests.
	NightlyBefore, PreviousBefore, NightlyAfter, PreviousAfter string
	// Moves this run made (or would make, for a dry run).
	Moves []plan.ImageMove
}

// Publication is the outcome of a publish, image by image.
type Publication struct {
	Version     plan.Version
	GitCommitID string
	Created     time.Time
	DryRun      bool
	Images      []PublishedImage
	// Nightly and Previous are the builds the tags point at in the end (Previous may be nil).
	Nightly, Previous *plan.Build
	// Yielded: a newer build than this one is the nightly; this one stays under its commit tag.
	Yielded bool
	// Faults is how many transient registry faults were retried; Conflicts how many times
	// another publish moved a tag under this one.
	Faults, Conflicts int
}

// target is where the images go, checked before any work.
type target struct {
	host  string
	repos []string // namespace/repository, in image order
}

func checkPublish(images []ImageSource, o PublishOpts) (target, string, time.Time, error) {
	id, err := plan.GitCommitID(o.Build.Commit)
	if err != nil {
		return target{}, "", time.Time{}, err
	}
	host, namespace, err := plan.ParseNamespace(o.Namespace)
	if err != nil {
		return target{}, "", time.Time{}, err
	}
	t := target{host: host}
	for _, img := range images {
		r := o.Repositories[img.Name]
		if err := plan.CheckRepositoryPath(r); err != nil {
			return target{}, "", time.Time{}, fmt.Errorf("image %s: repository: %v", img.Name, err)
		}
		t.repos = append(t.repos, namespace+"/"+r)
	}
	if err := plan.CheckPlatforms(o.Build.Platforms); err != nil {
		return target{}, "", time.Time{}, err
	}
	created, err := plan.ParseCreated(o.Created)
	if err != nil {
		return target{}, "", time.Time{}, err
	}
	if _, err := o.Lint.Check(); err != nil {
		return target{}, "", time.Time{}, err
	}
	if (o.Registry.Username == nil) != (o.Registry.Password == nil) {
		return target{}, "", time.Time{}, errors.New("registry credentials need both --username and --password, or neither")
	}
	return t, id, created, nil
}

// Publish builds both images, pushes each under its immutable commit tag X.Y.Z-nightly-<commit>,
// then converges X.Y.Z-nightly and X.Y.Z-nightly-previous (plan.Converge): safe when several
// publishes run at once. Nothing moves before both images are pushed; a re-run changes nothing;
// an existing commit tag is never overwritten.
func Publish(ctx context.Context, m Maven, images []ImageSource, o PublishOpts) (*Publication, error) {
	// Everything that can be checked without work, then the credentials, before any Maven run.
	tgt, id, created, err := checkPublish(images, o)
	if err != nil {
		return nil, err
	}
	reg, err := newRegistry(ctx, tgt.host, o.Registry)
	if err != nil {
		return nil, err
	}
	if o.Registry.Username != nil {
		if err := reg.Login(ctx, tgt.repos...); err != nil {
			return nil, fmt.Errorf("%v; nothing was built or pushed", err)
		}
	}
	rootVersion, err := m.Version(ctx)
	if err != nil {
		return nil, err
	}
	// The builds there before this one: Converge looks at later ones too, not at these.
	tagsBefore := map[string][]string{}
	for _, r := range tgt.repos {
		if tagsBefore[r], err = reg.Tags(ctx, r); err != nil {
			return nil, fmt.Errorf("%v; nothing was built or pushed", err)
		}
	}
	// The build's date: given; or the one this commit was first published with, so that a re-run
	// gives the same digest; or now, for a first publish.
	commitTag := plan.CommitTag(rootVersion.Base, id)
	if created.IsZero() {
		if created, err = firstPublished(ctx, reg, tgt.repos, commitTag); err != nil {
			return nil, fmt.Errorf("%v; nothing was built or pushed", err)
		}
	}
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second)
	}
	build := o.Build
	build.Created = created
	// Jars too: their entries carry the build's date, not the time mvn package ran.
	if !slices.ContainsFunc(m.Args, func(a string) bool { return strings.HasPrefix(a, "-Dproject.build.outputTimestamp=") }) {
		m.Args = append(slices.Clip(m.Args), "-Dproject.build.outputTimestamp="+created.Format(time.RFC3339))
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
	if version.Base != rootVersion.Base {
		return nil, fmt.Errorf("the images' modules are version %s but the root POM is %s: their tags would differ; nothing was pushed", version.POM, rootVersion.POM)
	}
	pub := &Publication{Version: version, GitCommitID: id, Created: created, DryRun: o.DryRun}

	// Build every image (reproducibly, so the digest is known before pushing) before pushing any.
	// The images build at the same time: each one's work is independent.
	built := make([]builtImage, len(contexts))
	digests := make([]string, len(contexts))
	errs := make([]error, len(contexts))
	var wg sync.WaitGroup
	for i, c := range contexts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if digests[i], built[i], errs[i] = reproducible(ctx, Build(c, build), build, o.Lint.GolangImage); errs[i] != nil {
				errs[i] = fmt.Errorf("image %s: %v; nothing was pushed", c.Source.Name, errs[i])
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, c := range contexts {
		pub.Images = append(pub.Images, PublishedImage{Name: c.Source.Name, Repository: tgt.host + "/" + tgt.repos[i],
			CommitTag: commitTag, Digest: digests[i]})
	}
	// Push each under its commit tag; an existing one must already be this very build.
	for i := range pub.Images {
		img := &pub.Images[i]
		existing, err := reg.Digest(ctx, tgt.repos[i], commitTag)
		if err != nil {
			return nil, fmt.Errorf("image %s: %v; no nightly tag was changed%s", img.Name, err, pushedSoFar(pub.Images[:i]))
		}
		switch {
		case existing == img.Digest:
		case existing != "":
			return nil, fmt.Errorf("image %s: %s:%s already holds %s, an earlier build of commit %s, and this build gives %s: "+
				"commit tags are never overwritten, and the build is not reproducible (a different base image, Dockerfile or "+
				"--created than that first publish?); no nightly tag was changed%s",
				img.Name, img.Repository, commitTag, existing, id, img.Digest, pushedSoFar(pub.Images[:i]))
		case o.DryRun:
		default:
			art, dir, err := exportArtifact(ctx, built[i])
			defer os.RemoveAll(dir)
			if err != nil {
				return nil, fmt.Errorf("image %s: %v; no nightly tag was changed%s", img.Name, err, pushedSoFar(pub.Images[:i]))
			}
			if _, err := reg.Push(ctx, tgt.repos[i], commitTag, art); err != nil {
				return nil, fmt.Errorf("image %s: %v; no nightly tag was changed%s; running publish again resumes",
					img.Name, err, pushedSoFar(pub.Images[:i]))
			}
			// Two publishes of one commit at once may race on its commit tag: read it back.
			if got, err := reg.Digest(ctx, tgt.repos[i], commitTag); err != nil || got != img.Digest {
				return nil, fmt.Errorf("image %s: %s:%s holds %s after pushing %s (%v): another publish of commit %s ran at the same time with a different build; no nightly tag was changed",
					img.Name, img.Repository, commitTag, got, img.Digest, err, id)
			}
			img.Pushed = true
		}
	}

	seen := map[string]bool{}
	for _, tags := range tagsBefore {
		for _, t := range tags {
			if bid := plan.CommitTagID(version.Base, t); bid != "" {
				seen[bid] = true
			}
		}
	}
	self := plan.Build{ID: id, Created: created}
	for _, img := range pub.Images {
		self.Digests = append(self.Digests, img.Digest)
	}
	conv := &plan.Converge{Reg: reg, Repos: tgt.repos, Base: version.Base, Self: self, Seen: seen, DryRun: o.DryRun}
	out, err := conv.Run(ctx)
	pub.Faults, pub.Conflicts = int(reg.Faults()), out.Conflicts
	if err != nil {
		return nil, fmt.Errorf("promoting: %v%s", err, undo(ctx, reg, tgt.repos, out.Moves))
	}
	pub.Nightly, pub.Previous, pub.Yielded = out.Nightly, out.Previous, out.Yielded(self)
	for i := range pub.Images {
		img := &pub.Images[i]
		img.NightlyBefore, img.PreviousBefore = out.Before.Nightly[i], out.Before.Previous[i]
		img.NightlyAfter, img.PreviousAfter = out.After.Nightly[i], out.After.Previous[i]
		for _, mv := range out.Moves {
			if mv.Image == i {
				img.Moves = append(img.Moves, mv)
			}
		}
	}
	return pub, nil
}

// firstPublished is the created label of commitTag when an earlier run pushed it, else zero.
func firstPublished(ctx context.Context, reg *registry.Client, repos []string, commitTag string) (time.Time, error) {
	for _, r := range repos {
		d, err := reg.Digest(ctx, r, commitTag)
		if err != nil || d == "" {
			return time.Time{}, err
		}
		labels, err := reg.Labels(ctx, r, d)
		if err != nil {
			return time.Time{}, err
		}
		if _, created, ok := plan.BuildLabels(labels); ok && !created.IsZero() {
			return created, nil
		}
	}
	return time.Time{}, nil
}

// undo puts back, best effort, the nightly tags this run moved before it gave up, when no one
// moved them since, and says what it did.
func undo(ctx context.Context, reg *registry.Client, repos []string, moves []plan.ImageMove) string {
	if len(moves) == 0 {
		return "; no nightly tag was changed; running publish again finishes the promotion"
	}
	var restored, left []plan.ImageMove
	for i := len(moves) - 1; i >= 0; i-- {
		mv := moves[i]
		cur, err := reg.Digest(ctx, repos[mv.Image], mv.Tag)
		if err == nil && cur == mv.Digest && mv.From != "" && reg.Tag(ctx, repos[mv.Image], mv.Tag, mv.From) == nil {
			restored = append(restored, mv)
			continue
		}
		left = append(left, mv)
	}
	msg := ""
	if len(restored) > 0 {
		msg += "; put back:" + plan.DescribeMoves(repos, restored)
	}
	if len(left) > 0 {
		msg += "\nstill moved (the registry did not let them be put back):" + plan.DescribeMoves(repos, left)
	} else {
		msg += "\nno nightly tag is changed"
	}
	return msg + "\nrunning publish again finishes the promotion"
}

func pushedSoFar(imgs []PublishedImage) string {
	var s []string
	for _, i := range imgs {
		s = append(s, i.Repository+":"+i.CommitTag)
	}
	if len(s) == 0 {
		return ""
	}
	return " (under their commit tags only: " + strings.Join(s, ", ") + ")"
}

// RolledBack is what rollback did to one image.
type RolledBack struct {
	Name, Repository string
	// Nightly and Previous as found (digests) and their builds' commits ("" when not ours).
	Nightly, Previous, NightlyCommit, PreviousCommit string
	// Moved is true when -nightly was moved to -previous by this run.
	Moved bool
}

// Rollback points every image's X.Y.Z-nightly back at its X.Y.Z-nightly-previous. It checks all
// images before moving any; an image already there is left alone, so a run that failed half-way
// is finished by running it again.
func Rollback(ctx context.Context, version plan.Version, namespaceRef string, names, repos []string, o RegistryOpts) ([]RolledBack, error) {
	host, namespace, err := plan.ParseNamespace(namespaceRef)
	if err != nil {
		return nil, err
	}
	var full []string
	for i, r := range repos {
		if err := plan.CheckRepositoryPath(r); err != nil {
			return nil, fmt.Errorf("image %s: repository: %v", names[i], err)
		}
		full = append(full, namespace+"/"+r)
	}
	if (o.Username == nil) != (o.Password == nil) {
		return nil, errors.New("registry credentials need both --username and --password, or neither")
	}
	reg, err := newRegistry(ctx, host, o)
	if err != nil {
		return nil, err
	}
	if o.Username != nil {
		if err := reg.Login(ctx, full...); err != nil {
			return nil, fmt.Errorf("%v; nothing was rolled back", err)
		}
	}
	out := make([]RolledBack, len(full))
	for i, r := range full {
		rb := &out[i]
		rb.Name, rb.Repository = names[i], host+"/"+r
		if rb.Nightly, err = reg.Digest(ctx, r, version.NightlyTag()); err != nil {
			return nil, fmt.Errorf("%v; nothing was rolled back", err)
		}
		if rb.Previous, err = reg.Digest(ctx, r, version.PreviousTag()); err != nil {
			return nil, fmt.Errorf("%v; nothing was rolled back", err)
		}
		if rb.Previous == "" {
			return nil, fmt.Errorf("%s has no %s tag to roll back to; nothing was rolled back", rb.Repository, version.PreviousTag())
		}
		if rb.NightlyCommit, err = commitOf(ctx, reg, r, rb.Nightly); err != nil {
			return nil, fmt.Errorf("%v; nothing was rolled back", err)
		}
		if rb.PreviousCommit, err = commitOf(ctx, reg, r, rb.Previous); err != nil {
			return nil, fmt.Errorf("%v; nothing was rolled back", err)
		}
	}
	for i := 1; i < len(out); i++ {
		if out[i].PreviousCommit != out[0].PreviousCommit {
			return nil, fmt.Errorf("the %s tags name different builds (%s: commit %s, %s: commit %s): rolling back would mix them; nothing was rolled back (run publish to finish the promotion first)",
				version.PreviousTag(), out[0].Name, orUnknown(out[0].PreviousCommit), out[i].Name, orUnknown(out[i].PreviousCommit))
		}
	}
	for i, r := range full {
		rb := &out[i]
		if rb.Nightly == rb.Previous {
			continue
		}
		if err := reg.Tag(ctx, r, version.NightlyTag(), rb.Previous); err != nil {
			return out, fmt.Errorf("%v%s; running rollback again finishes it", err, rolledSoFar(out[:i]))
		}
		rb.Moved = true
	}
	return out, nil
}

func commitOf(ctx context.Context, reg *registry.Client, repo, digest string) (string, error) {
	if digest == "" {
		return "", nil
	}
	labels, err := reg.Labels(ctx, repo, digest)
	if err != nil {
		return "", err
	}
	id, _, _ := plan.BuildLabels(labels)
	return id, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func rolledSoFar(done []RolledBack) string {
	var s []string
	for _, rb := range done {
		if rb.Moved {
			s = append(s, rb.Name+" (moved)")
		} else {
			s = append(s, rb.Name+" (already there)")
		}
	}
	if len(s) == 0 {
		return "; no image was rolled back"
	}
	return "; already rolled back: " + strings.Join(s, ", ")
}

// Summary says, image by image, what publish pushed and moved, or that nothing did.
func (p *Publication) Summary() string {
	var b strings.Builder
	nightly, previous := p.Version.NightlyTag(), p.Version.PreviousTag()
	mode := ""
	if p.DryRun {
		mode = " (dry run: nothing was pushed or moved; this is what publish would do)"
	}
	fmt.Fprintf(&b, "publish %s of commit %s (created %s)%s\n", nightly, p.GitCommitID, p.Created.UTC().Format(time.RFC3339), mode)
	for _, img := range p.Images {
		fmt.Fprintf(&b, "%s  %s\n", img.Name, img.Repository)
		switch {
		case img.Pushed:
			fmt.Fprintf(&b, "  pushed   %s  %s\n", img.CommitTag, img.Digest)
		case p.DryRun:
			fmt.Fprintf(&b, "  would push  %s  %s\n", img.CommitTag, img.Digest)
		default:
			fmt.Fprintf(&b, "  %s already holds this build (%s): not pushed again\n", img.CommitTag, img.Digest)
		}
		verb := "moved"
		if p.DryRun {
			verb = "would move"
		}
		for _, mv := range img.Moves {
			from := mv.From
			if from == "" {
				from = "(none)"
			}
			fmt.Fprintf(&b, "  %s  %s  %s → %s\n", verb, mv.Tag, from, mv.Digest)
		}
		if len(img.Moves) == 0 {
			switch {
			case img.NightlyAfter == img.Digest:
				fmt.Fprintf(&b, "  nothing moved: %s already is this build\n", nightly)
			default:
				fmt.Fprintf(&b, "  nothing moved: %s is %s\n", nightly, img.NightlyAfter)
			}
		}
	}
	if p.Nightly != nil {
		fmt.Fprintf(&b, "%s is commit %s", nightly, p.Nightly)
		if p.Previous != nil {
			fmt.Fprintf(&b, ", %s is commit %s", previous, p.Previous)
		}
		b.WriteString("\n")
	}
	if p.Yielded {
		fmt.Fprintf(&b, "not promoted: commit %s is newer than this build, which stays under its commit tag\n", p.Nightly.ID)
	}
	if p.Faults > 0 || p.Conflicts > 0 {
		fmt.Fprintf(&b, "registry faults retried: %d; tags moved by another publish meanwhile: %d\n", p.Faults, p.Conflicts)
	}
	return b.String()
}

// RollbackSummary says, image by image, what rollback moved, or that nothing needed to.
func RollbackSummary(version plan.Version, rbs []RolledBack) string {
	var b strings.Builder
	moved := 0
	for _, rb := range rbs {
		if rb.Moved {
			moved++
			fmt.Fprintf(&b, "%s  %s\n  moved  %s  %s → %s (commit %s → %s)\n", rb.Name, rb.Repository, version.NightlyTag(),
				rb.Nightly, rb.Previous, orUnknown(rb.NightlyCommit), orUnknown(rb.PreviousCommit))
		} else {
			fmt.Fprintf(&b, "%s  %s\n  nothing moved: %s already is %s (%s, commit %s)\n", rb.Name, rb.Repository,
				version.NightlyTag(), version.PreviousTag(), rb.Previous, orUnknown(rb.PreviousCommit))
		}
	}
	if moved == 0 {
		fmt.Fprintf(&b, "nothing to roll back: %s already is %s for every image\n", version.NightlyTag(), version.PreviousTag())
	}
	return b.String()
}
