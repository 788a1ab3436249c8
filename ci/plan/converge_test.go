package plan

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memRegistry is a registry in memory with last-writer-wins tags and no compare-and-swap, like a
// real one; every operation waits a random moment first so that concurrent publishers interleave.
type memRegistry struct {
	mu     sync.Mutex
	tags   map[string]map[string]string // repo → tag → digest
	labels map[string]map[string]string // digest → labels
	rng    func() time.Duration
	ops    int
	fail   func(op string) error // injected failures, nil for none
}

func newMemRegistry(maxDelay time.Duration) *memRegistry {
	return &memRegistry{tags: map[string]map[string]string{}, labels: map[string]map[string]string{},
		rng: func() time.Duration {
			if maxDelay == 0 {
				return 0
			}
			return time.Duration(rand.Int64N(int64(maxDelay)))
		}}
}

func (r *memRegistry) wait(op string) error {
	time.Sleep(r.rng())
	r.mu.Lock()
	r.ops++
	f := r.fail
	r.mu.Unlock()
	if f != nil {
		return f(op)
	}
	return nil
}

func (r *memRegistry) Digest(ctx context.Context, repo, tag string) (string, error) {
	if err := r.wait("HEAD " + repo + ":" + tag); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tags[repo][tag], nil
}

func (r *memRegistry) Tag(ctx context.Context, repo, tag, digest string) error {
	if err := r.wait("PUT " + repo + ":" + tag); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.set(repo, tag, digest)
	return nil
}

func (r *memRegistry) set(repo, tag, digest string) {
	if r.tags[repo] == nil {
		r.tags[repo] = map[string]string{}
	}
	r.tags[repo][tag] = digest
}

func (r *memRegistry) Tags(ctx context.Context, repo string) ([]string, error) {
	if err := r.wait("LIST " + repo); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for t := range r.tags[repo] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}

func (r *memRegistry) Labels(ctx context.Context, repo, digest string) (map[string]string, error) {
	if err := r.wait("GET " + repo + "@" + digest); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.labels[digest], nil
}

var (
	repos  = []string{"ns/api", "ns/ui"}
	trials = flag.Int("converge.trials", 60, "random interleavings TestConvergeConcurrentPublishes tries")
)

// build makes a build of commit c (one hex digit repeated) dated at minute m (-1: no date).
func testBuild(c byte, m int) Build {
	id := strings.Repeat(string(c), 15)
	b := Build{ID: id, Digests: []string{"sha256:api-" + id, "sha256:ui-" + id}}
	if m >= 0 {
		b.Created = time.Date(2026, 11, 29, 10, m, 0, 0, time.UTC)
	}
	return b
}

// push puts b under its commit tags, repository by repository, with its labels.
func (r *memRegistry) push(b Build) {
	for i, repo := range repos {
		r.wait("push")
		r.mu.Lock()
		labels := map[string]string{"org.opencontainers.image.revision": strings.Repeat(b.ID, 3)[:40]}
		if !b.Created.IsZero() {
			labels["org.opencontainers.image.created"] = b.Created.Format(time.RFC3339)
		}
		r.labels[b.Digests[i]] = labels
		r.set(repo, CommitTag("3.0.0", b.ID), b.Digests[i])
		r.mu.Unlock()
	}
}

// publish is one publisher: list, push, converge.
func (r *memRegistry) publish(ctx context.Context, b Build) (*Converged, error) {
	seen := map[string]bool{}
	for _, repo := range repos {
		tags, _ := r.Tags(ctx, repo)
		for _, t := range tags {
			if id := CommitTagID("3.0.0", t); id != "" {
				seen[id] = true
			}
		}
	}
	r.push(b)
	c := &Converge{Reg: r, Repos: repos, Base: "3.0.0", Self: b, Seen: seen, Settle: time.Millisecond, Rounds: 40}
	return c.Run(ctx)
}

func (r *memRegistry) state() (nightly, previous [2]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, repo := range repos {
		nightly[i] = r.tags[repo]["3.0.0-nightly"]
		previous[i] = r.tags[repo]["3.0.0-nightly-previous"]
	}
	return
}

func idOf(d string) string { return d[strings.LastIndex(d, "-")+1:] }

// Any interleaving of publishes ends consistent: both -nightly the newest build, both -previous
// the one before it, every commit tag untouched. Run with -race; -converge.trials=3000 for more.
// The trials are independent (own registry, own seed) and mostly sleep, so up to 16 run at once:
// the whole test takes about a second instead of 15.
func TestConvergeConcurrentPublishes(t *testing.T) {
	errs := make([]error, *trials)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for trial := range *trials {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[trial] = convergeTrial(trial)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// convergeTrial races 2-4 publishes of random builds (sometimes over an existing nightly) and
// says what is wrong with the end state, if anything.
func convergeTrial(trial int) error {
	r := newMemRegistry(150 * time.Microsecond)
	rng := rand.New(rand.NewPCG(uint64(trial), 7))
	var all []Build
	// Sometimes an existing nightly and previous, pushed and promoted earlier.
	if rng.IntN(3) > 0 {
		q, o := testBuild('1', 1), testBuild('2', 2)
		r.push(q)
		r.push(o)
		for i, repo := range repos {
			r.set(repo, "3.0.0-nightly-previous", q.Digests[i])
			r.set(repo, "3.0.0-nightly", o.Digests[i])
		}
		all = append(all, q, o)
	}
	n := 2 + rng.IntN(3)
	var builds []Build
	for i := range n {
		m := 3 + rng.IntN(5) // equal dates happen: then the ID decides
		if rng.IntN(4) == 0 {
			m = 0 // older than the existing nightly: must never win over it
		}
		builds = append(builds, testBuild("abcdef"[i], m))
	}
	all = append(all, builds...)
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]*Converged, n)
	for i, b := range builds {
		wg.Add(1)
		delay := time.Duration(rng.IntN(1500)) * time.Microsecond
		go func() {
			defer wg.Done()
			time.Sleep(delay)
			outs[i], errs[i] = r.publish(context.Background(), b)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("trial %d: publish %s: %v", trial, builds[i].ID, err)
		}
	}
	wantN, wantP := Newest(all)
	nightly, previous := r.state()
	desc := fmt.Sprintf("trial %d builds %v: nightly %v previous %v", trial, all, nightly, previous)
	for i, o := range outs {
		desc += fmt.Sprintf("\n  publisher %s: rounds %d conflicts %d moves%s", builds[i].ID, o.Rounds, o.Conflicts, DescribeMoves(repos, o.Moves))
	}
	for i := range repos {
		if nightly[i] != wantN.Digests[i] {
			return fmt.Errorf("%s: -nightly of %s is %s, want the newest build %s", desc, repos[i], idOf(nightly[i]), wantN.ID)
		}
		if previous[i] != wantP.Digests[i] {
			return fmt.Errorf("%s: -nightly-previous of %s is %s, want %s", desc, repos[i], idOf(previous[i]), wantP.ID)
		}
	}
	for _, b := range all {
		for i, repo := range repos {
			if got := r.tags[repo][CommitTag("3.0.0", b.ID)]; got != b.Digests[i] {
				return fmt.Errorf("%s: commit tag of %s in %s moved to %s", desc, b.ID, repo, got)
			}
		}
	}
	return nil
}

func TestConvergeSequential(t *testing.T) {
	ctx := context.Background()
	r := newMemRegistry(0)
	a, b, old := testBuild('a', 5), testBuild('b', 6), testBuild('c', 1)

	c, err := r.publish(ctx, a)
	if err != nil || c.Yielded(a) || len(c.Moves) != 2 {
		t.Fatalf("first publish: %+v, %v; want a as nightly with two moves", c, err)
	}
	if n, p := r.state(); n[0] != a.Digests[0] || p[0] != "" {
		t.Fatalf("after the first publish: nightly %v previous %v", n, p)
	}
	if c, err = r.publish(ctx, b); err != nil || c.Yielded(b) {
		t.Fatalf("second publish: %+v, %v", c, err)
	}
	if n, p := r.state(); n[1] != b.Digests[1] || p[1] != a.Digests[1] {
		t.Fatalf("after the second publish: nightly %v previous %v, want b and a", n, p)
	}
	// A re-run of the same build moves nothing.
	if c, err = r.publish(ctx, b); err != nil || len(c.Moves) != 0 {
		t.Fatalf("re-run: moves %v, %v; want none", c.Moves, err)
	}
	// A build of an older commit, published late: the nightly stays; it yields.
	if c, err = r.publish(ctx, old); err != nil || !c.Yielded(old) {
		t.Fatalf("older build: %+v, %v; want it to yield", c, err)
	}
	if n, p := r.state(); n[0] != b.Digests[0] || p[0] != a.Digests[0] {
		t.Fatalf("after an older build: nightly %v previous %v, want b and a unchanged", n, p)
	}
}

// Builds without a date are stamped with the time of their first publish, so one published
// later wins, whatever its commit hash.
func TestConvergeUndatedLaterPublishWins(t *testing.T) {
	ctx := context.Background()
	r := newMemRegistry(0)
	first, second := testBuild('f', 10), testBuild('1', 11) // '1' < 'f': the hash does not decide
	if _, err := r.publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := r.publish(ctx, second); err != nil {
		t.Fatal(err)
	}
	if n, p := r.state(); n[0] != second.Digests[0] || p[0] != first.Digests[0] {
		t.Fatalf("nightly %v previous %v, want the later publish as nightly", n, p)
	}
}

// A mixed state left by a stopped run (one image promoted, the other not) is finished.
func TestConvergeFinishesAStoppedRun(t *testing.T) {
	ctx := context.Background()
	r := newMemRegistry(0)
	o, p := testBuild('1', 1), testBuild('2', 2)
	r.push(o)
	r.push(p)
	r.set(repos[0], "3.0.0-nightly", p.Digests[0])
	r.set(repos[0], "3.0.0-nightly-previous", o.Digests[0])
	r.set(repos[1], "3.0.0-nightly", o.Digests[1])
	c, err := r.publish(ctx, p) // the re-run
	if err != nil {
		t.Fatal(err)
	}
	if n, prev := r.state(); n[1] != p.Digests[1] || prev[1] != o.Digests[1] {
		t.Fatalf("nightly %v previous %v after the re-run (moves %v)", n, prev, c.Moves)
	}
}

func TestConvergeDryRunWritesNothing(t *testing.T) {
	r := newMemRegistry(0)
	a := testBuild('a', 1)
	r.push(a)
	c := &Converge{Reg: r, Repos: repos, Base: "3.0.0", Self: a, DryRun: true}
	out, err := c.Run(context.Background())
	if err != nil || len(out.Moves) != 2 {
		t.Fatalf("dry run: %+v, %v", out, err)
	}
	if n, _ := r.state(); n[0] != "" {
		t.Fatalf("a dry run moved a tag: %v", n)
	}
}

// A registry that fails stops the run and reports the moves made so far.
func TestConvergeReportsMovesMadeBeforeAFailure(t *testing.T) {
	r := newMemRegistry(0)
	o, a := testBuild('1', 1), testBuild('a', 2)
	r.push(o)
	for i, repo := range repos {
		r.set(repo, "3.0.0-nightly", o.Digests[i])
	}
	r.push(a)
	puts := 0
	r.fail = func(op string) error {
		if strings.HasPrefix(op, "PUT ") {
			if puts++; puts == 3 {
				return errors.New("HTTP 503")
			}
		}
		return nil
	}
	c := &Converge{Reg: r, Repos: repos, Base: "3.0.0", Self: a, Settle: time.Millisecond}
	out, err := c.Run(context.Background())
	if err == nil || len(out.Moves) != 2 {
		t.Fatalf("Run = %+v, %v; want the error and the 2 moves made before it", out, err)
	}
	if got := DescribeMoves(repos, out.Moves); !strings.Contains(got, "ns/api:3.0.0-nightly-previous") {
		t.Errorf("DescribeMoves = %q", got)
	}
}
