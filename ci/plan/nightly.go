package plan

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Build is one commit's images as the registry holds them: the same build in every repository,
// each image under its immutable commit tag X.Y.Z-nightly-<ID>.
type Build struct {
	// ID is the gitCommitID (the first 15 hex digits of the commit).
	ID string
	// Created is the image's org.opencontainers.image.created label: the commit date when publish
	// was given one, else the time the commit was first published. Zero when unknown.
	Created time.Time
	// Digests holds the commit tag's digest in each repository, in the publish's image order.
	Digests []string
}

// NewerThan orders builds: by Created, then by ID so that every publisher, whatever it saw
// first, ranks any two builds the same way.
func (b Build) NewerThan(o Build) bool {
	if !b.Created.Equal(o.Created) {
		return b.Created.After(o.Created)
	}
	return b.ID > o.ID
}

func (b Build) String() string {
	if b.Created.IsZero() {
		return b.ID
	}
	return b.ID + " (" + b.Created.UTC().Format(time.RFC3339) + ")"
}

// Newest returns the newest build and the newest one after it (previous), by NewerThan. Builds
// with the same ID count once. previous is nil when there is only one build.
func Newest(builds []Build) (nightly, previous *Build) {
	seen := map[string]bool{}
	var uniq []Build
	for _, b := range builds {
		if !seen[b.ID] {
			seen[b.ID] = true
			uniq = append(uniq, b)
		}
	}
	sort.SliceStable(uniq, func(i, j int) bool { return uniq[i].NewerThan(uniq[j]) })
	if len(uniq) > 0 {
		nightly = &uniq[0]
	}
	if len(uniq) > 1 {
		previous = &uniq[1]
	}
	return nightly, previous
}

// TagState is what the nightly tags of every image point at ("" when a tag is absent), in the
// publish's image order.
type TagState struct {
	Nightly, Previous []string
}

// Equal is true when both states point every tag at the same digest.
func (s TagState) Equal(o TagState) bool {
	return strings.Join(s.Nightly, ",") == strings.Join(o.Nightly, ",") &&
		strings.Join(s.Previous, ",") == strings.Join(o.Previous, ",")
}

// StateOf is the tag state that makes nightly the X.Y.Z-nightly of every image and previous
// (when not nil) its X.Y.Z-nightly-previous. With no previous, the current -previous tags stay.
func StateOf(nightly, previous *Build, current TagState) TagState {
	n := len(nightly.Digests)
	want := TagState{Nightly: append([]string(nil), nightly.Digests...), Previous: make([]string, n)}
	for i := range n {
		want.Previous[i] = current.Previous[i]
		if previous != nil {
			want.Previous[i] = previous.Digests[i]
		}
	}
	return want
}

// ImageMove is one tag move of one image (Image is the index in the publish's image order).
type ImageMove struct {
	Image int
	TagMove
	// From is the digest the tag pointed at before ("" when it did not exist).
	From string
}

// MovesTo lists the tag moves that take current to want: every -previous first, then every
// -nightly, so that a run stopped half-way leaves the old nightly still kept under -previous.
func MovesTo(base string, current, want TagState) []ImageMove {
	var moves []ImageMove
	for i := range want.Previous {
		if want.Previous[i] != "" && current.Previous[i] != want.Previous[i] {
			moves = append(moves, ImageMove{i, TagMove{previousTag(base), want.Previous[i]}, current.Previous[i]})
		}
	}
	for i := range want.Nightly {
		if current.Nightly[i] != want.Nightly[i] {
			moves = append(moves, ImageMove{i, TagMove{nightlyTag(base), want.Nightly[i]}, current.Nightly[i]})
		}
	}
	return moves
}

// CommitTagID returns the gitCommitID of an X.Y.Z-nightly-<15 hex> commit tag of base, or "".
func CommitTagID(base, tag string) string {
	id, ok := strings.CutPrefix(tag, nightlyTag(base)+"-")
	if !ok || !commitIDRE.MatchString(id) {
		return ""
	}
	return id
}

var commitIDRE = regexp.MustCompile(`^[0-9a-f]{15}$`)

// BuildLabels reads a build's identity from its image labels: the revision (the full commit) and
// created. ok is false for an image that publish did not make (no or malformed revision).
func BuildLabels(labels map[string]string) (id string, created time.Time, ok bool) {
	id, err := GitCommitID(labels["org.opencontainers.image.revision"])
	if err != nil {
		return "", time.Time{}, false
	}
	created, _ = time.Parse(time.RFC3339, labels["org.opencontainers.image.created"])
	return id, created, true
}

// ParseCreated checks a --created value: RFC 3339, as `git log -1 --format=%cI` prints it.
func ParseCreated(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("created %q: want an RFC 3339 date, e.g. $(git log -1 --format=%%cI): %v", s, err)
	}
	return t, nil
}

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

// CheckPlatforms validates --platforms (os/arch[/variant], no duplicates) before any build.
func CheckPlatforms(platforms []string) error {
	seen := map[string]bool{}
	for _, p := range platforms {
		if !platformRE.MatchString(p) {
			return fmt.Errorf("platform %q: want os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8", p)
		}
		if seen[p] {
			return fmt.Errorf("platform %q is listed twice", p)
		}
		seen[p] = true
	}
	return nil
}

// transientPushRE matches what a failed push says when trying again may work: rate limits,
// server errors, dropped or timed-out connections.
var transientPushRE = regexp.MustCompile(`(?i)\b(408|429|500|502|503|504)\b|too many requests|internal server error|bad gateway|service unavailable|gateway time-?out|connection reset|connection refused|broken pipe|unexpected eof|\beof\b|i/o timeout|timeout exceeded|tls handshake timeout|server closed idle connection`)

// authPushRE matches a push refused for its credentials: retrying cannot help.
var authPushRE = regexp.MustCompile(`(?i)\b(401|403)\b|unauthorized|forbidden|denied|authentication required|insufficient_scope`)

// IsTransientPushError says whether a failed image push is worth retrying.
func IsTransientPushError(msg string) bool {
	return !authPushRE.MatchString(msg) && transientPushRE.MatchString(msg)
}

var (
	// A repository path component, as the OCI distribution spec defines it.
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	hostRE      = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$`)
)

// ParseNamespace splits REGISTRY/NAMESPACE (docker.io/graviteeio, 127.0.0.1:5000/team/apps) and
// checks both parts, so a bad reference fails before any build work: the host must be a host
// name (with a dot, a port, or localhost) with a port in 1-65535, everything lower-case, and no
// empty path component.
func ParseNamespace(ref string) (host, namespace string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("registry namespace %q: %s (want REGISTRY/NAMESPACE, e.g. docker.io/graviteeio)", ref, why)
	}
	host, namespace, ok := strings.Cut(strings.TrimSuffix(strings.TrimSpace(ref), "/"), "/")
	if !ok || host == "" {
		return bad("no namespace after the registry")
	}
	if strings.ToLower(ref) != ref {
		return bad("must be lower-case")
	}
	name, port, hasPort := strings.Cut(host, ":")
	if hasPort {
		n, perr := strconv.Atoi(port)
		if perr != nil || n < 1 || n > 65535 || strings.HasPrefix(port, "0") {
			return bad(fmt.Sprintf("port %q is not a number in 1-65535", port))
		}
	}
	if !hostRE.MatchString(name) || (!hasPort && !strings.Contains(name, ".") && name != "localhost") {
		return bad(fmt.Sprintf("%q is not a registry host (a host name with a dot or a port, or localhost)", host))
	}
	if err := CheckRepositoryPath(namespace); err != nil {
		return bad(err.Error())
	}
	return host, namespace, nil
}

// CheckRepositoryPath checks a namespace or repository path: lower-case components of letters,
// digits and single separators, none empty.
func CheckRepositoryPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty repository path")
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" {
			return fmt.Errorf("%q has an empty path component", p)
		}
		if !componentRE.MatchString(c) {
			return fmt.Errorf("%q: component %q must be lower-case letters and digits, with single '.', '_', '__' or '-' separators inside", p, c)
		}
	}
	return nil
}
