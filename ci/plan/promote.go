package plan

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// TagMove points Tag at Digest by copying the manifest: no layer moves.
type TagMove struct{ Tag, Digest string }

// Promotion is what publishing one freshly pushed image does to its nightly tags.
type Promotion struct {
	// Current is the digest X.Y.Z-nightly had before ("" when there was none).
	Current string
	// Pushed is the digest of the image just pushed under its commit tag.
	Pushed string
	// Moves, in order: keep the current nightly as -previous, then point -nightly at the new one.
	Moves []TagMove
}

// Unchanged is true for a re-run: the nightly already is the pushed image.
func (p Promotion) Unchanged() bool { return len(p.Moves) == 0 }

// PlanPromotion decides the tag moves for base version X.Y.Z. The old nightly is kept as
// -previous only when the nightly really changes, so a re-run never overwrites -previous with the
// current nightly (and loses the real previous one).
func PlanPromotion(base, current, pushed string) Promotion {
	p := Promotion{Current: current, Pushed: pushed}
	switch {
	case current == pushed:
	case current == "":
		p.Moves = []TagMove{{nightlyTag(base), pushed}}
	default:
		p.Moves = []TagMove{{previousTag(base), current}, {nightlyTag(base), pushed}}
	}
	return p
}

// PlanRollback points X.Y.Z-nightly back at X.Y.Z-nightly-previous's digest.
func PlanRollback(base, nightly, previous string) ([]TagMove, error) {
	switch {
	case previous == "":
		return nil, fmt.Errorf("no %s tag to roll back to", previousTag(base))
	case nightly == previous:
		return nil, nil
	}
	return []TagMove{{nightlyTag(base), previous}}, nil
}

var commitRE = regexp.MustCompile(`^[0-9a-f]{15,64}$`)

// GitCommitID is the first 15 hex digits of a commit, as `git rev-parse --short=15` gives them:
// the value of the pods' app.gravitee.io/git_commit_id label and of the commit image tag.
func GitCommitID(commit string) (string, error) {
	c := strings.ToLower(strings.TrimSpace(commit))
	if !commitRE.MatchString(c) {
		return "", fmt.Errorf("commit %q: want a git commit hash of at least 15 hex digits (e.g. $(git rev-parse HEAD))", commit)
	}
	return c[:15], nil
}

// CommitTag is the immutable tag of one commit's image: X.Y.Z-nightly-<gitCommitID>.
func CommitTag(base, gitCommitID string) string { return nightlyTag(base) + "-" + gitCommitID }

// SameVersion checks that every image would get the same tag (the seed's "same tag" check, done
// on what we are about to push, before anything is pushed). versions maps image name → version.
func SameVersion(versions map[string]Version) (Version, error) {
	var first Version
	var firstName string
	for _, name := range sortedKeys(versions) {
		v := versions[name]
		if firstName == "" {
			first, firstName = v, name
			continue
		}
		if v.Base != first.Base {
			return Version{}, fmt.Errorf("images would get different tags: %s is %s (%s), %s is %s (%s); nothing was pushed",
				firstName, first.NightlyTag(), first.POM, name, v.NightlyTag(), v.POM)
		}
	}
	return first, nil
}

// DefaultResponseTimeout is how long a registry request waits for its answer by default.
const DefaultResponseTimeout = 3 * time.Minute

// ResponseTimeout reads how long a registry request waits for the registry's answer once it is
// sent (a Go duration: 30s, 3m): "" is DefaultResponseTimeout. A connection cut behind a proxy or
// a tunnel is noticed only when it runs out; the request is then retried.
func ResponseTimeout(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultResponseTimeout, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("response timeout %q: want a duration with its unit, such as 30s or 3m", s)
	}
	if d < time.Second || d > time.Hour {
		return 0, fmt.Errorf("response timeout %q: want between 1s and 1h", s)
	}
	return d, nil
}
