package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The nightly's report: what `run` did, stage by stage. It is data first (JSON, the contract CI
// tools read: tools/gha, scripts), then Markdown (the job summary people read) and a few lines of
// plain text. Everything here is pure: ci/report.go fills it from the stages' results.

// Stage statuses.
const (
	StagePassed = "passed"
	StageFailed = "failed"
	// StageSkipped: not configured or not asked for; the stage's summary says which.
	StageSkipped = "skipped"
	// StageNotRun: an earlier stage failed, so this one did not start.
	StageNotRun = "not-run"
)

// The stages, in the order the nightly runs them (the seed's order).
const (
	StageTest        = "test"         // mvn clean test
	StageMavenDeploy = "maven-deploy" // mvn clean deploy of the SNAPSHOTs
	StageContexts    = "contexts"     // mvn package and the two Docker build contexts
	StageLint        = "lint"         // every Dockerfile, versioned and prepared
	StagePublish     = "publish"      // build, push under the commit tag, promote to X.Y.Z-nightly
	StageStackConfig = "stack-config" // Pulumi.<stack>.yaml with the tag and the commit
	StageGitops      = "gitops"       // commit the stack file to the deployment repository
	StageUp          = "up"           // preview --diff and one pulumi up, when deploying directly
)

// StageOrder lists every stage in run order.
var StageOrder = []string{StageTest, StageMavenDeploy, StageContexts, StageLint, StagePublish,
	StageStackConfig, StageGitops, StageUp}

// ReportSchema is the version of the report's JSON shape; it changes only when a field changes
// meaning or goes away (new fields do not change it).
const ReportSchema = 1

// Report is one nightly run.
type Report struct {
	Schema int `json:"schema"`
	// Status is passed or failed; Passed says the same as a boolean.
	Status string `json:"status"`
	Passed bool   `json:"passed"`
	// DryRun: nothing was published, pushed, committed or deployed.
	DryRun bool `json:"dryRun"`
	// Commit is the full source commit, GitCommitID its first 15 hex digits.
	Commit      string `json:"commit"`
	GitCommitID string `json:"gitCommitId"`
	// Version is the POM version, NightlyTag the tag the images get (3.0.0-nightly).
	Version    string `json:"version,omitempty"`
	NightlyTag string `json:"nightlyTag,omitempty"`
	// StartedAt is RFC 3339; Seconds the whole run's wall time.
	StartedAt string  `json:"startedAt"`
	Seconds   float64 `json:"seconds"`
	// FailedStage and Cause name the first failing stage and its error (empty when passed).
	FailedStage string  `json:"failedStage,omitempty"`
	Cause       string  `json:"cause,omitempty"`
	Stages      []Stage `json:"stages"`

	Tests       *TestsSection       `json:"tests,omitempty"`
	MavenDeploy *MavenDeploySection `json:"mavenDeploy,omitempty"`
	Lint        *LintSection        `json:"lint,omitempty"`
	Images      *ImagesSection      `json:"images,omitempty"`
	Stack       *StackSection       `json:"stack,omitempty"`
	Gitops      *GitopsSection      `json:"gitops,omitempty"`
	Deployment  *DeploymentSection  `json:"deployment,omitempty"`
}

// Stage is one stage's outcome.
type Stage struct {
	Name    string  `json:"name"`
	Status  string  `json:"status"`
	Seconds float64 `json:"seconds"`
	// Summary says in one line what the stage did, or why it was skipped.
	Summary string `json:"summary,omitempty"`
	// Error is the failing stage's whole error.
	Error string `json:"error,omitempty"`
	// Parts are the stage's concurrent parts (the two images' builds), with their own times.
	Parts []StagePart `json:"parts,omitempty"`
}

// StagePart is a part of a stage that ran beside others.
type StagePart struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// TestsSection is what mvn clean test said.
type TestsSection struct {
	Passed   bool `json:"passed"`
	Tests    int  `json:"tests"`
	Failures int  `json:"failures"`
	Errors   int  `json:"errors"`
	Skipped  int  `json:"skipped"`
	ExitCode int  `json:"exitCode"`
	// Failed lists every failing or erroring test.
	Failed []FailedTestEntry `json:"failed,omitempty"`
	// JUnitDir is where the surefire XML reports are in the report's files.
	JUnitDir string `json:"junitDir,omitempty"`
	// RanAgain: the engine's cache held a red run for the same inputs, and the tests ran again.
	RanAgain bool `json:"ranAgain,omitempty"`
}

// FailedTestEntry is one failing test: Kind is failure (an assertion) or error (an exception).
type FailedTestEntry struct {
	Class   string `json:"class"`
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Message string `json:"message,omitempty"`
}

// MavenDeploySection is what mvn clean deploy published.
type MavenDeploySection struct {
	Repository string   `json:"repository"`
	Version    string   `json:"version"`
	DryRun     bool     `json:"dryRun"`
	Attempts   int      `json:"attempts"`
	Artifacts  []string `json:"artifacts"`
}

// LintSection is every Dockerfile finding.
type LintSection struct {
	Linter    string      `json:"linter"`
	Threshold string      `json:"threshold"`
	Files     []string    `json:"files"`
	Failing   int         `json:"failing"`
	Findings  []LintEntry `json:"findings"`
	Notes     []string    `json:"notes,omitempty"`
	// SarifFile is the SARIF report's path in the report's files.
	SarifFile string `json:"sarifFile,omitempty"`
}

// LintEntry is one finding. File is the path as linted (prepared/<image>/Dockerfile for a
// prepared one); Source is the file in the repository it comes from, at the same line.
type LintEntry struct {
	File    string `json:"file"`
	Source  string `json:"source"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Code    string `json:"code"`
	Level   string `json:"level"`
	Message string `json:"message"`
	// Failing: at or above the threshold.
	Failing bool `json:"failing"`
}

// ImagesSection is what publish pushed and moved.
type ImagesSection struct {
	NightlyTag  string       `json:"nightlyTag"`
	PreviousTag string       `json:"previousTag"`
	CommitTag   string       `json:"commitTag"`
	Created     string       `json:"created"`
	DryRun      bool         `json:"dryRun"`
	Images      []ImageEntry `json:"images"`
	// Nightly and Previous are the builds (gitCommitId) the tags name in the end.
	Nightly  string `json:"nightly,omitempty"`
	Previous string `json:"previous,omitempty"`
	// Yielded: a newer commit's build already is the nightly; this one stays under its commit tag.
	Yielded   bool `json:"yielded,omitempty"`
	Faults    int  `json:"faults,omitempty"`
	Conflicts int  `json:"conflicts,omitempty"`
}

// ImageEntry is one image.
type ImageEntry struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	// Pushed is false for a re-run (the commit tag already held this build) and a dry run.
	Pushed bool       `json:"pushed"`
	Moves  []TagEntry `json:"moves,omitempty"`
	// NightlyDigest and PreviousDigest are what the two tags point at in the end.
	NightlyDigest  string `json:"nightlyDigest,omitempty"`
	PreviousDigest string `json:"previousDigest,omitempty"`
}

// TagEntry is one tag moved (or, in a dry run, that would move): From is "" when it was new.
type TagEntry struct {
	Tag  string `json:"tag"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
}

// StackSection is the stack config the run set.
type StackSection struct {
	Stack string `json:"stack"`
	// File is the stack file's name (Pulumi.<stack>.yaml), also in the report's files.
	File   string            `json:"file"`
	Config map[string]string `json:"config"`
}

// GitopsSection is the GitOps commit or pull request.
type GitopsSection struct {
	Repository         string `json:"repository"`
	Forge              string `json:"forge"`
	Mode               string `json:"mode"`
	Base               string `json:"base"`
	Branch             string `json:"branch"`
	Path               string `json:"path"`
	Commit             string `json:"commit,omitempty"`
	Changed            bool   `json:"changed"`
	Pushed             bool   `json:"pushed"`
	DryRun             bool   `json:"dryRun"`
	Attempts           int    `json:"attempts,omitempty"`
	PullRequest        int64  `json:"pullRequest,omitempty"`
	PullRequestURL     string `json:"pullRequestUrl,omitempty"`
	PullRequestCreated bool   `json:"pullRequestCreated,omitempty"`
	Result             string `json:"result"`
	Diff               string `json:"diff,omitempty"`
}

// DeploymentSection is what up did.
type DeploymentSection struct {
	Stack          string `json:"stack"`
	DryRun         bool   `json:"dryRun"`
	PreviewChanges string `json:"previewChanges"`
	// Changes and Changed are empty for a dry run.
	Changes     string            `json:"changes,omitempty"`
	Changed     int               `json:"changed"`
	Version     int               `json:"version,omitempty"`
	PreviewDiff string            `json:"previewDiff,omitempty"`
	Outputs     map[string]string `json:"outputs,omitempty"`
	Workloads   []WorkloadEntry   `json:"workloads,omitempty"`
	LockWaits   int               `json:"lockWaits,omitempty"`
	Pending     []string          `json:"pending,omitempty"`
	Recovered   string            `json:"recovered,omitempty"`
}

// WorkloadEntry is one workload after the update.
type WorkloadEntry struct {
	Kind        string `json:"kind"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	GitCommitID string `json:"gitCommitId"`
	RolledOut   bool   `json:"rolledOut"`
	State       string `json:"state"`
}

// NewReport starts the report of a run of commit (already checked) at start.
func NewReport(commit string, dryRun bool, start time.Time) *Report {
	id := strings.ToLower(strings.TrimSpace(commit))
	if len(id) > 15 {
		id = id[:15]
	}
	return &Report{Schema: ReportSchema, Commit: strings.ToLower(strings.TrimSpace(commit)), GitCommitID: id,
		DryRun: dryRun, StartedAt: start.UTC().Format(time.RFC3339)}
}

// Failed is true once a stage failed: the run stops there.
func (r *Report) Failed() bool { return r.FailedStage != "" }

// Pass records a stage that passed.
func (r *Report) Pass(name string, d time.Duration, summary string) {
	r.add(Stage{Name: name, Status: StagePassed, Seconds: seconds(d), Summary: oneLine(summary)})
}

// Skip records a stage that did not run because it was not configured or not asked for.
func (r *Report) Skip(name, why string) {
	r.add(Stage{Name: name, Status: StageSkipped, Summary: oneLine(why)})
}

// Fail records the failing stage: the run's cause is the first line of its error.
func (r *Report) Fail(name string, d time.Duration, err error) {
	msg := strings.TrimSpace(err.Error())
	r.add(Stage{Name: name, Status: StageFailed, Seconds: seconds(d), Summary: oneLine(msg), Error: msg})
	if r.FailedStage == "" {
		r.FailedStage, r.Cause = name, causeOf(msg)
	}
}

// causeOf is an error in one line: its first line, and when that line announces a list (ends
// with a colon), the list's first item and how many more there are.
func causeOf(msg string) string {
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	cause := lines[0]
	if strings.HasSuffix(cause, ":") && len(lines) > 1 {
		cause += " " + lines[1]
		if len(lines) > 2 {
			cause += fmt.Sprintf(" (and %d more line(s))", len(lines)-2)
		}
	}
	return cause
}

// add records a stage, replacing an earlier record of the same name.
func (r *Report) add(s Stage) {
	for i := range r.Stages {
		if r.Stages[i].Name == s.Name {
			s.Parts = append(r.Stages[i].Parts, s.Parts...)
			r.Stages[i] = s
			return
		}
	}
	r.Stages = append(r.Stages, s)
}

// AddPart records a concurrent part of a stage (before or after the stage itself).
func (r *Report) AddPart(stage, part string, d time.Duration) {
	for i := range r.Stages {
		if r.Stages[i].Name == stage {
			r.Stages[i].Parts = append(r.Stages[i].Parts, StagePart{part, seconds(d)})
			return
		}
	}
	r.Stages = append(r.Stages, Stage{Name: stage, Parts: []StagePart{{part, seconds(d)}}})
}

// Stage returns the named stage's record (nil when there is none).
func (r *Report) Stage(name string) *Stage {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// Close ends the report: every stage not recorded is not-run (after a failure) or skipped, the
// stages are put in run order, and the verdict is set. A run passes when no stage failed.
func (r *Report) Close(d time.Duration) {
	r.Seconds = seconds(d)
	for _, name := range StageOrder {
		s := r.Stage(name)
		switch {
		case s != nil && s.Status != "":
			continue
		case s == nil:
			r.Stages = append(r.Stages, Stage{Name: name})
			s = &r.Stages[len(r.Stages)-1]
		}
		if r.Failed() {
			s.Status, s.Summary = StageNotRun, "not run: stage "+r.FailedStage+" failed"
		} else {
			s.Status, s.Summary = StageSkipped, "not run"
		}
	}
	rank := map[string]int{}
	for i, n := range StageOrder {
		rank[n] = i
	}
	sort.SliceStable(r.Stages, func(i, j int) bool { return rank[r.Stages[i].Name] < rank[r.Stages[j].Name] })
	r.Passed = !r.Failed()
	r.Status = StagePassed
	if !r.Passed {
		r.Status = StageFailed
	}
}

// JSON is the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseReport reads a report's JSON, refusing a schema this code does not know.
func ParseReport(b []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("reading the nightly report: %w", err)
	}
	if r.Schema != ReportSchema {
		return nil, fmt.Errorf("nightly report schema %d: want %d", r.Schema, ReportSchema)
	}
	return &r, nil
}

// Headline is the verdict on one line.
func (r *Report) Headline() string {
	what := "nightly"
	if r.NightlyTag != "" {
		what += " " + r.NightlyTag
	}
	what += " of " + r.GitCommitID
	if r.DryRun {
		what += " (dry run)"
	}
	if r.Passed {
		return what + ": passed"
	}
	return fmt.Sprintf("%s: failed at %s: %s", what, r.FailedStage, r.Cause)
}

// Text is the report as a few plain lines: the verdict, then one line a stage.
func (r *Report) Text() string {
	var b strings.Builder
	b.WriteString(r.Headline() + "\n")
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "  %-13s %-8s %7s  %s\n", s.Name, s.Status, duration(s), s.Summary)
	}
	return b.String()
}

var statusMark = map[string]string{StagePassed: "✅", StageFailed: "❌", StageSkipped: "⏭️", StageNotRun: "⛔"}

// Markdown is the report for people: the verdict, a table of the stages, then each stage's
// details. GitHub renders it as the job summary.
func (r *Report) Markdown() string {
	var b strings.Builder
	mark := statusMark[r.Status]
	fmt.Fprintf(&b, "## %s %s\n\n", mark, mdEscape(r.Headline()))
	fmt.Fprintf(&b, "Commit `%s`", r.Commit)
	if r.Version != "" {
		fmt.Fprintf(&b, ", version `%s`", r.Version)
	}
	fmt.Fprintf(&b, ", started %s, %s in all.", r.StartedAt, fmtSeconds(r.Seconds))
	if r.DryRun {
		b.WriteString(" **Dry run: nothing was published, pushed, committed or deployed.**")
	}
	b.WriteString("\n\n")
	if !r.Passed {
		if s := r.Stage(r.FailedStage); s != nil && s.Error != "" {
			fmt.Fprintf(&b, "Stage **%s** failed:\n\n```text\n%s\n```\n\n", r.FailedStage, fence(s.Error))
		}
	}
	b.WriteString("| stage | status | time | what happened |\n| --- | --- | ---: | --- |\n")
	for _, s := range r.Stages {
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s |\n", s.Name, statusMark[s.Status], s.Status, duration(s), cell(s.Summary))
	}
	b.WriteString("\n")
	r.mdTests(&b)
	r.mdMavenDeploy(&b)
	r.mdLint(&b)
	r.mdImages(&b)
	r.mdStack(&b)
	r.mdGitops(&b)
	r.mdDeployment(&b)
	return b.String()
}

func (r *Report) mdTests(b *strings.Builder) {
	t := r.Tests
	if t == nil {
		return
	}
	fmt.Fprintf(b, "### Tests\n\nTests run: %d, Failures: %d, Errors: %d, Skipped: %d", t.Tests, t.Failures, t.Errors, t.Skipped)
	if t.JUnitDir != "" {
		fmt.Fprintf(b, " (JUnit XML in `%s`)", t.JUnitDir)
	}
	b.WriteString("\n\n")
	if t.RanAgain {
		b.WriteString("The engine's cache held a red run of these sources; it was not reused: the tests ran again.\n\n")
	}
	if len(t.Failed) > 0 {
		b.WriteString("| test | kind | message |\n| --- | --- | --- |\n")
		for _, f := range t.Failed {
			fmt.Fprintf(b, "| `%s.%s` | %s | %s |\n", f.Class, f.Name, f.Kind, cell(f.Message))
		}
		b.WriteString("\n")
	}
}

func (r *Report) mdMavenDeploy(b *strings.Builder) {
	d := r.MavenDeploy
	if d == nil {
		return
	}
	verb := "Deployed"
	if d.DryRun {
		verb = "Dry run: would deploy"
	}
	fmt.Fprintf(b, "### Maven SNAPSHOTs\n\n%s `%s` to %s (%d attempt(s)), %d file(s)", verb, d.Version, d.Repository, d.Attempts, len(d.Artifacts))
	if len(d.Artifacts) > 0 {
		b.WriteString(":\n\n")
		for _, a := range d.Artifacts {
			fmt.Fprintf(b, "- `%s`\n", a)
		}
	} else {
		b.WriteString(".\n")
	}
	b.WriteString("\n")
}

func (r *Report) mdLint(b *strings.Builder) {
	l := r.Lint
	if l == nil {
		return
	}
	fmt.Fprintf(b, "### Dockerfile lint\n\n%s, threshold `%s`: %d file(s), %d finding(s), %d at or above the threshold.\n\n",
		l.Linter, l.Threshold, len(l.Files), len(l.Findings), l.Failing)
	if len(l.Findings) > 0 {
		b.WriteString("| file | line | rule | level | message |\n| --- | ---: | --- | --- | --- |\n")
		for _, f := range l.Findings {
			level := f.Level
			if f.Failing {
				level = "**" + level + "**"
			}
			fmt.Fprintf(b, "| `%s` | %d | %s | %s | %s |\n", f.File, f.Line, f.Code, level, cell(f.Message))
		}
		b.WriteString("\n")
	}
	for _, n := range l.Notes {
		fmt.Fprintf(b, "> %s\n", cell(n))
	}
	if len(l.Notes) > 0 {
		b.WriteString("\n")
	}
}

func (r *Report) mdImages(b *strings.Builder) {
	im := r.Images
	if im == nil {
		return
	}
	fmt.Fprintf(b, "### Images\n\n`%s` (commit tag `%s`, created %s)", im.NightlyTag, im.CommitTag, im.Created)
	if im.DryRun {
		b.WriteString(", dry run: nothing was pushed or moved")
	}
	b.WriteString(".\n\n| image | digest | pushed | tags moved |\n| --- | --- | --- | --- |\n")
	for _, i := range im.Images {
		var moves []string
		for _, m := range i.Moves {
			from := m.From
			if from == "" {
				from = "(new)"
			}
			moves = append(moves, fmt.Sprintf("`%s` %s → %s", m.Tag, shortDigest(from), shortDigest(m.To)))
		}
		if len(moves) == 0 {
			moves = []string{"none"}
		}
		pushed := "no (already there)"
		switch {
		case i.Pushed:
			pushed = "yes"
		case im.DryRun:
			pushed = "no (dry run)"
		}
		fmt.Fprintf(b, "| `%s` | `%s` | %s | %s |\n", i.Repository, i.Digest, pushed, strings.Join(moves, "<br>"))
	}
	b.WriteString("\n")
	if im.Nightly != "" {
		fmt.Fprintf(b, "`%s` is commit `%s`", im.NightlyTag, im.Nightly)
		if im.Previous != "" {
			fmt.Fprintf(b, ", `%s` is commit `%s`", im.PreviousTag, im.Previous)
		}
		b.WriteString(".\n")
	}
	if im.Yielded {
		b.WriteString("Not promoted: a newer commit already is the nightly; this build stays under its commit tag.\n")
	}
	b.WriteString("\n")
}

func (r *Report) mdStack(b *strings.Builder) {
	s := r.Stack
	if s == nil {
		return
	}
	fmt.Fprintf(b, "### Stack config\n\n`%s` of stack `%s`:\n\n", s.File, s.Stack)
	for _, k := range sortedKeys(s.Config) {
		fmt.Fprintf(b, "- `%s` = `%s`\n", k, s.Config[k])
	}
	b.WriteString("\n")
}

func (r *Report) mdGitops(b *strings.Builder) {
	g := r.Gitops
	if g == nil {
		return
	}
	fmt.Fprintf(b, "### GitOps\n\n%s\n\n- repository: %s (%s), mode `%s`, branch `%s` → `%s`\n", cell(g.Result), g.Repository, g.Forge, g.Mode, g.Branch, g.Base)
	if g.Commit != "" {
		fmt.Fprintf(b, "- commit: `%s`\n", g.Commit)
	}
	if g.PullRequestURL != "" {
		fmt.Fprintf(b, "- pull request: [#%d](%s)\n", g.PullRequest, g.PullRequestURL)
	}
	if g.Diff != "" {
		fmt.Fprintf(b, "\n<details><summary>diff of %s</summary>\n\n```diff\n%s\n```\n</details>\n", g.Path, fence(g.Diff))
	}
	b.WriteString("\n")
}

func (r *Report) mdDeployment(b *strings.Builder) {
	d := r.Deployment
	if d == nil {
		return
	}
	b.WriteString("### Deployment\n\n")
	if d.DryRun {
		fmt.Fprintf(b, "Stack `%s`: dry run, preview only: %s.\n", d.Stack, d.PreviewChanges)
	} else {
		fmt.Fprintf(b, "Stack `%s`: update #%d: %s (previewed: %s).\n", d.Stack, d.Version, d.Changes, d.PreviewChanges)
	}
	if len(d.Pending) > 0 {
		fmt.Fprintf(b, "\nAn interrupted update had left %d pending operation(s), resolved by %s.\n", len(d.Pending), d.Recovered)
	}
	if len(d.Outputs) > 0 {
		b.WriteString("\n| output | value |\n| --- | --- |\n")
		for _, k := range sortedKeys(d.Outputs) {
			fmt.Fprintf(b, "| %s | %s |\n", k, cell(d.Outputs[k]))
		}
	}
	if len(d.Workloads) > 0 {
		b.WriteString("\n| workload | git_commit_id | rollout |\n| --- | --- | --- |\n")
		for _, w := range d.Workloads {
			fmt.Fprintf(b, "| %s `%s/%s` | `%s` | %s |\n", w.Kind, w.Namespace, w.Name, w.GitCommitID, cell(w.State))
		}
	}
	if d.PreviewDiff != "" {
		fmt.Fprintf(b, "\n<details><summary>pulumi preview --diff</summary>\n\n```diff\n%s\n```\n</details>\n", fence(d.PreviewDiff))
	}
	b.WriteString("\n")
}

func seconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}

func duration(s Stage) string {
	if s.Status == StageSkipped || s.Status == StageNotRun {
		return ""
	}
	return fmtSeconds(s.Seconds)
}

func fmtSeconds(s float64) string {
	if s >= 120 {
		return fmt.Sprintf("%dm%02ds", int(s)/60, int(s)%60)
	}
	return fmt.Sprintf("%.1fs", s)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

// cell makes text safe for one Markdown table cell.
func cell(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", "<br>")
}

// mdEscape keeps a headline's text from being read as Markdown emphasis or links.
func mdEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "[", `\[`, "]", `\]`, "<", "&lt;")
	return r.Replace(s)
}

// fence keeps a fenced block closed: a line of backticks in the text would end it.
func fence(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "```", "`\u200b``")
}

func shortDigest(d string) string {
	if strings.HasPrefix(d, "sha256:") && len(d) > 19 {
		return "`" + d[:19] + "`"
	}
	return d
}
