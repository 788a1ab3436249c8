package plan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Registry is what converging the nightly tags needs from a registry client.
type Registry interface {
	// Digest of repo:tag, "" when the tag does not exist.
	Digest(ctx context.Context, repo, tag string) (string, error)
	// Tag points repo:tag at digest, an image already in repo.
	Tag(ctx context.Context, repo, tag, digest string) error
	// Tags lists repo's tags (none for a repository that does not exist yet).
	Tags(ctx context.Context, repo string) ([]string, error)
	// Labels of the image at repo@digest (of its first image, for an index).
	Labels(ctx context.Context, repo, digest string) (map[string]string, error)
}

// Converge moves the nightly tags of every image to the newest complete build and the one before
// it, so that any number of publishes running at once end in the same consistent state.
//
// Registries have no compare-and-swap on tags, so the design does not rely on one. Every build is
// pushed first under its own immutable commit tag, in every repository, and carries its commit and
// date in its labels; that makes "the newest build" (Build.NewerThan) a fact every publisher
// computes the same way from what the registry shows. Each publisher then repeatedly reads the
// tags and the builds they name plus any build that appeared while it ran, computes the state
// they should be in, and makes only the moves that are missing, checking each tag right before
// it writes it. It stops when it has read the wanted state twice, a settle time apart, with no
// write in between. A publisher whose build is not the newest therefore writes nothing (it
// yields), or helps finish the winner's state; a stopped or failed run is finished by the next.
type Converge struct {
	Reg Registry
	// Repos are the repositories of the images, in the publish's image order.
	Repos []string
	// Base is X.Y.Z: the tags are X.Y.Z-nightly, X.Y.Z-nightly-previous, X.Y.Z-nightly-<ID>.
	Base string
	// Self is the build this publish pushed.
	Self Build
	// Seen holds the IDs of the builds whose commit tags existed before this publish pushed. Builds
	// that appear later are looked at; older ones count only through the tags that name them.
	Seen map[string]bool
	// DryRun plans the moves without making them.
	DryRun bool
	// Rounds bounds the read-decide-write rounds (default 10); Settle is the wait before the
	// confirming read (default 1.5 s, jittered).
	Rounds int
	Settle time.Duration
	// Sleep waits (tests make it instant); nil means a real, cancellable wait.
	Sleep func(ctx context.Context, d time.Duration) error

	builds map[string]*Build // complete builds by ID
	labels map[string]*Build // repo@digest → the build its labels name (ID and Created only)
	// known are the candidates met so far: a build seen under a tag stays one even after another
	// publish moved the tag, so that no publisher forgets the old nightly halfway through a race.
	known map[string]bool
}

// Converged is where the tags ended, and what this run moved to get there.
type Converged struct {
	// Nightly and Previous are the builds the tags point at in the end (Previous may be nil).
	Nightly, Previous *Build
	// Before is the state first read; After the state last read (or wanted, for a dry run).
	Before, After TagState
	// Moves are the moves this run made (or would make, for a dry run), in order.
	Moves []ImageMove
	// Rounds taken, and the rounds in which a tag had changed under this run (another publish).
	Rounds, Conflicts int
}

// Yielded is true when another build, newer than this publish's, is the nightly.
func (c *Converged) Yielded(self Build) bool { return c.Nightly != nil && c.Nightly.ID != self.ID }

// Run converges the tags. On error, the returned Converged holds the moves made so far.
func (c *Converge) Run(ctx context.Context) (*Converged, error) {
	rounds := c.Rounds
	if rounds <= 0 {
		rounds = 10
	}
	settle := c.Settle
	if settle <= 0 {
		settle = 1500 * time.Millisecond
	}
	sleep := c.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	c.builds, c.labels, c.known = map[string]*Build{c.Self.ID: &c.Self}, map[string]*Build{}, map[string]bool{c.Self.ID: true}
	out := &Converged{}
	confirmed := false
	for round := 1; round <= rounds; round++ {
		out.Rounds = round
		state, err := c.read(ctx)
		if err != nil {
			return out, err
		}
		if round == 1 {
			out.Before = state
		}
		out.After = state
		candidates, err := c.candidates(ctx, state)
		if err != nil {
			return out, err
		}
		nightly, previous := Newest(candidates)
		out.Nightly, out.Previous = nightly, previous
		want := StateOf(nightly, previous, state)
		if state.Equal(want) {
			if confirmed || c.DryRun {
				return out, nil
			}
			// Read once more after a while: a publish that decided on an older view may still write.
			confirmed = true
			if err := sleep(ctx, jitter(settle)); err != nil {
				return out, err
			}
			continue
		}
		confirmed = false
		moves := MovesTo(c.Base, state, want)
		if c.DryRun {
			out.Moves, out.After = moves, want
			return out, nil
		}
		conflict := false
		for _, mv := range moves {
			repo := c.Repos[mv.Image]
			// Check right before writing: when the tag moved since we read it, decide again.
			cur, err := c.Reg.Digest(ctx, repo, mv.Tag)
			if err != nil {
				return out, err
			}
			if cur != mv.From {
				conflict = true
				break
			}
			if err := c.Reg.Tag(ctx, repo, mv.Tag, mv.Digest); err != nil {
				return out, err
			}
			out.Moves = append(out.Moves, mv)
		}
		if conflict {
			out.Conflicts++
			if err := sleep(ctx, jitter(time.Duration(out.Conflicts)*200*time.Millisecond)); err != nil {
				return out, err
			}
		}
	}
	return out, fmt.Errorf("the nightly tags did not settle after %d rounds (other publishes kept moving them); running publish again finishes the promotion", rounds)
}

// read is the current tag state of every image.
func (c *Converge) read(ctx context.Context) (TagState, error) {
	s := TagState{Nightly: make([]string, len(c.Repos)), Previous: make([]string, len(c.Repos))}
	for i, repo := range c.Repos {
		var err error
		if s.Nightly[i], err = c.Reg.Digest(ctx, repo, nightlyTag(c.Base)); err != nil {
			return s, err
		}
		if s.Previous[i], err = c.Reg.Digest(ctx, repo, previousTag(c.Base)); err != nil {
			return s, err
		}
	}
	return s, nil
}

// candidates are this publish's build, the complete builds the tags name or named earlier in
// this run, and the complete builds whose commit tags appeared while this publish ran.
func (c *Converge) candidates(ctx context.Context, state TagState) ([]Build, error) {
	add := func(b *Build) {
		if b != nil {
			c.known[b.ID] = true
		}
	}
	for i := range c.Repos {
		for _, d := range []string{state.Nightly[i], state.Previous[i]} {
			if d == "" {
				continue
			}
			b, err := c.buildAt(ctx, i, d)
			if err != nil {
				return nil, err
			}
			add(b)
		}
	}
	count := map[string]int{}
	for _, repo := range c.Repos {
		tags, err := c.Reg.Tags(ctx, repo)
		if err != nil {
			return nil, err
		}
		for _, t := range tags {
			if id := CommitTagID(c.Base, t); id != "" {
				count[id]++
			}
		}
	}
	for _, id := range sortedKeys(count) {
		if count[id] < len(c.Repos) || c.known[id] || c.Seen[id] {
			continue
		}
		b, err := c.complete(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		add(b)
	}
	var out []Build
	for _, id := range sortedKeys(c.known) {
		out = append(out, *c.builds[id])
	}
	return out, nil
}

// buildAt is the complete build whose commit tag in repository i is digest, or nil for an image
// publish did not make or whose build is not (or no longer) under its commit tag everywhere.
func (c *Converge) buildAt(ctx context.Context, i int, digest string) (*Build, error) {
	key := c.Repos[i] + "@" + digest
	id, ok := c.labels[key]
	if !ok {
		labels, err := c.Reg.Labels(ctx, c.Repos[i], digest)
		if err != nil {
			return nil, err
		}
		if bid, created, ok := BuildLabels(labels); ok {
			id = &Build{ID: bid, Created: created}
		}
		c.labels[key] = id
	}
	if id == nil {
		return nil, nil
	}
	b, err := c.complete(ctx, id.ID, id)
	if err != nil || b == nil || b.Digests[i] != digest {
		return nil, err
	}
	return b, nil
}

// complete is build id when its commit tag exists in every repository, else nil. known, when
// given, already holds its Created; otherwise the labels of its first image are read.
func (c *Converge) complete(ctx context.Context, id string, known *Build) (*Build, error) {
	if b, ok := c.builds[id]; ok {
		return b, nil
	}
	b := &Build{ID: id, Digests: make([]string, len(c.Repos))}
	for i, repo := range c.Repos {
		d, err := c.Reg.Digest(ctx, repo, CommitTag(c.Base, id))
		if err != nil {
			return nil, err
		}
		if d == "" {
			return nil, nil // not pushed everywhere (yet): not a candidate
		}
		b.Digests[i] = d
	}
	if known != nil {
		b.Created = known.Created
	} else {
		labels, err := c.Reg.Labels(ctx, c.Repos[0], b.Digests[0])
		if err != nil {
			return nil, err
		}
		if _, created, ok := BuildLabels(labels); ok {
			b.Created = created
		}
	}
	c.builds[id] = b
	return b, nil
}

func jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(rand.Int64N(int64(d)+1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// DescribeMoves renders moves as "repo:tag sha256:… → sha256:…" lines, for messages.
func DescribeMoves(repos []string, moves []ImageMove) string {
	var b strings.Builder
	for _, mv := range moves {
		from := mv.From
		if from == "" {
			from = "(new)"
		}
		fmt.Fprintf(&b, "\n  %s:%s %s → %s", repos[mv.Image], mv.Tag, ShortDigest(from), ShortDigest(mv.Digest))
	}
	return b.String()
}

// ShortDigest is sha256: and the first 12 hex digits, as registries' UIs show a digest.
func ShortDigest(d string) string {
	if algo, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return algo + ":" + hex[:12]
	}
	return d
}
