// Command deployer is nightly's Pulumi program and its driver (the Automation API), run by the
// module in the Pulumi image:
//
//	deployer plugins --provider-version V [--server URL]  install the Kubernetes provider if missing
//	deployer config  --dir D --stack S --set k=v...        set stack config, writing Pulumi.S.yaml
//	deployer up      --dir D --stack S --spec JSON ...     preview with diff, then exactly one up
//	deployer cancel  --dir D --stack S                     remove the stack's lock (pulumi cancel)
//
// up writes a JSON result (--result) even when it fails; the module reads it.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/opthistory"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
)

// Result is what up reports, success or not.
type Result struct {
	Stack  string `json:"stack"`
	DryRun bool   `json:"dryRun"`
	// Pending operations an interrupted update left, and how they were resolved.
	Pending   []string `json:"pending,omitempty"`
	Recovered string   `json:"recovered,omitempty"`
	// LockWaits counts the times the stack was locked by another update and we backed off.
	LockWaits      int            `json:"lockWaits"`
	PreviewDiff    string         `json:"previewDiff"`
	PreviewChanges map[string]int `json:"previewChanges,omitempty"`
	Updated        bool           `json:"updated"`
	UpChanges      map[string]int `json:"upChanges,omitempty"`
	// UpVersion is the update's number in the stack's history (1 for the first operation recorded).
	UpVersion int            `json:"upVersion,omitempty"`
	Outputs   map[string]any `json:"outputs,omitempty"`
	Workloads []Workload     `json:"workloads,omitempty"`
	// Patched lists the workloads whose pod templates the transform labeled.
	Patched     []string           `json:"patched,omitempty"`
	Warnings    []string           `json:"warnings,omitempty"`
	Seconds     map[string]float64 `json:"seconds"`
	Error       *ResultError       `json:"error,omitempty"`
	scrub       *scrubber
	startedStep time.Time
}

// ResultError says where up failed; the module turns it into an error naming the input.
type ResultError struct {
	// Stage: input, config, backend, pending, preview, cluster, lock, update.
	Stage string `json:"stage"`
	// Key: the stack config key at fault, for stage config.
	Key     string `json:"key,omitempty"`
	Message string `json:"message"`
}

// Workload is one workload as the provider last read it from the cluster.
type Workload struct {
	Kind           string            `json:"kind"`
	Namespace      string            `json:"namespace"`
	Name           string            `json:"name"`
	Generation     int64             `json:"generation"`
	TemplateLabels map[string]string `json:"templateLabels,omitempty"`
	Spec           map[string]any    `json:"spec,omitempty"`
	Status         map[string]any    `json:"status,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: deployer plugins|config|up|cancel [flags]")
	}
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "plugins":
		err = cmdPlugins(ctx, os.Args[2:])
	case "config":
		err = cmdConfig(ctx, os.Args[2:])
	case "up":
		err = cmdUp(ctx, os.Args[2:])
	case "cancel":
		err = cmdCancel(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

// fail prints and exits: the Pulumi SDK silences the log package (see testbed-pulumi-program.md).
func fail(msg string) {
	fmt.Fprintln(os.Stderr, "deployer: "+msg)
	os.Exit(1)
}

type common struct {
	dir, stack, backendEnv, kubeconfig, alias, scratch string
	scrub                                              *scrubber
}

func (c *common) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.dir, "dir", "", "the Pulumi project folder")
	fs.StringVar(&c.stack, "stack", "", "the stack name")
	fs.StringVar(&c.backendEnv, "backend-env", "", "a KEY=VALUE file of backend credentials (secret)")
	fs.StringVar(&c.kubeconfig, "kubeconfig", "", "the kubeconfig (secret)")
	fs.StringVar(&c.alias, "cluster-alias", "", "rewrite loopback cluster servers to this host")
	fs.StringVar(&c.scratch, "scratch", os.TempDir(), "a tmpfs folder for rewritten secrets")
}

// setup loads credentials into the environment the Pulumi CLI inherits, registering each secret.
func (c *common) setup() error {
	c.scrub = &scrubber{}
	if c.dir == "" || c.stack == "" {
		return errors.New("--dir and --stack are required")
	}
	abs, err := filepath.Abs(c.dir)
	if err != nil {
		return err
	}
	c.dir = abs
	// Secrets read from files often end in a newline: the passphrase is the text before it.
	if p, ok := os.LookupEnv("PULUMI_CONFIG_PASSPHRASE"); ok {
		os.Setenv("PULUMI_CONFIG_PASSPHRASE", strings.TrimRight(p, "\r\n"))
	}
	c.scrub.add(os.Getenv("PULUMI_CONFIG_PASSPHRASE"))
	c.scrub.add(os.Getenv("PULUMI_ACCESS_TOKEN"))
	if c.backendEnv != "" {
		if err := loadEnvFile(c.backendEnv, c.scrub); err != nil {
			return err
		}
	}
	for _, k := range []string{"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_KEY", "PULUMI_ACCESS_TOKEN"} {
		c.scrub.add(os.Getenv(k))
	}
	os.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	if err := linkPlugins(os.Getenv("NIGHTLY_PULUMI_PLUGINS"), os.Getenv("PULUMI_HOME")); err != nil {
		return err
	}
	if c.kubeconfig != "" {
		p, err := prepareKubeconfig(c.kubeconfig, c.alias, c.scratch)
		if err != nil {
			return &inputError{"kubeconfig", err.Error()}
		}
		os.Setenv("KUBECONFIG", p)
	}
	return nil
}

func cmdPlugins(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plugins", flag.ExitOnError)
	version := fs.String("provider-version", "", "Kubernetes provider version")
	server := fs.String("server", "", "plugin download server (default: Pulumi's)")
	_ = fs.Parse(args)
	ws, err := auto.NewLocalWorkspace(ctx)
	if err != nil {
		return err
	}
	plugins, err := ws.ListPlugins(ctx)
	if err != nil {
		return err
	}
	for _, p := range plugins {
		if p.Name == "kubernetes" && string(p.Kind) == "resource" && p.Version != nil && p.Version.String() == *version {
			fmt.Printf("kubernetes provider v%s: already installed\n", *version)
			return nil
		}
	}
	t0 := time.Now()
	if *server != "" {
		err = ws.InstallPluginFromServer(ctx, "kubernetes", "v"+*version, *server)
	} else {
		err = ws.InstallPlugin(ctx, "kubernetes", "v"+*version)
	}
	if err != nil {
		return fmt.Errorf("installing the kubernetes provider v%s from %s: %w", *version, orDefault(*server, "Pulumi's plugin servers"), err)
	}
	fmt.Printf("kubernetes provider v%s: installed in %.1f s\n", *version, time.Since(t0).Seconds())
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

type pairs []string

func (p *pairs) String() string     { return strings.Join(*p, ",") }
func (p *pairs) Set(v string) error { *p = append(*p, v); return nil }

func cmdConfig(ctx context.Context, args []string) error {
	var c common
	var set pairs
	fs := flag.NewFlagSet("config", flag.ExitOnError)
	c.flags(fs)
	fs.Var(&set, "set", "KEY=VALUE (repeatable)")
	_ = fs.Parse(args)
	if err := c.setup(); err != nil {
		return err
	}
	cfg := auto.ConfigMap{}
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--set %q: want KEY=VALUE", kv)
		}
		cfg[k] = auto.ConfigValue{Value: v}
	}
	// A local source: the project's own Pulumi.yaml; nothing runs, the CLI writes Pulumi.<stack>.yaml.
	s, err := onFreshBackend(func() (auto.Stack, error) { return auto.UpsertStackLocalSource(ctx, c.stack, c.dir) })
	if err != nil {
		return fmt.Errorf("selecting stack %q: %s", c.stack, c.scrub.clean(err.Error()))
	}
	if err := s.SetAllConfig(ctx, cfg); err != nil {
		return fmt.Errorf("setting config of stack %q: %s", c.stack, c.scrub.clean(err.Error()))
	}
	return nil
}

// freshBackendRace is PostgreSQL's answer when two Pulumi CLIs open an empty state database at
// the same moment: both create the state table, CREATE TABLE IF NOT EXISTS is not atomic against
// itself, and the loser fails on the catalog's unique index (seen when several deploys started
// together on a new test bed). The table exists afterwards, so the next attempt opens it.
func freshBackendRace(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "failed to create table") && strings.Contains(m, "duplicate key value violates unique constraint")
}

// onFreshBackend runs open (which selects or creates a stack, the first thing each command does
// with the backend) again when it lost freshBackendRace, at most three times in all.
func onFreshBackend(open func() (auto.Stack, error)) (auto.Stack, error) {
	for attempt := 1; ; attempt++ {
		s, err := open()
		if !freshBackendRace(err) || attempt == 3 {
			return s, err
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
}

func cmdCancel(ctx context.Context, args []string) error {
	var c common
	fs := flag.NewFlagSet("cancel", flag.ExitOnError)
	c.flags(fs)
	_ = fs.Parse(args)
	if err := c.setup(); err != nil {
		return err
	}
	s, err := onFreshBackend(func() (auto.Stack, error) { return auto.SelectStackLocalSource(ctx, c.stack, c.dir) })
	if err != nil {
		return fmt.Errorf("selecting stack %q: %s", c.stack, c.scrub.clean(err.Error()))
	}
	if err := s.Cancel(ctx); err != nil {
		return fmt.Errorf("cancelling stack %q: %s", c.stack, c.scrub.clean(err.Error()))
	}
	fmt.Printf("stack %s: unlocked (the locks of updates that were killed are removed, as pulumi cancel does)\n", c.stack)
	return nil
}

func cmdUp(ctx context.Context, args []string) error {
	var c common
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	c.flags(fs)
	specJSON := fs.String("spec", "", "the program's spec (JSON, from the module)")
	resultPath := fs.String("result", "", "where to write the JSON result")
	dryRun := fs.Bool("dry-run", false, "preview only")
	lockRetries := fs.Int("lock-retries", 5, "retries while another update holds the stack's lock")
	lockBackoff := fs.Duration("lock-backoff", 2*time.Second, "first wait for a locked stack (doubles, at most 30s)")
	_ = fs.Parse(args)

	r := &Result{Stack: c.stack, DryRun: *dryRun, Seconds: map[string]float64{}}
	err := up(ctx, &c, r, *specJSON, *lockRetries, *lockBackoff)
	if err != nil && r.Error == nil {
		r.Error = &ResultError{Stage: "input", Message: err.Error()}
	}
	if r.Error != nil && c.scrub != nil {
		r.Error.Message = c.scrub.clean(r.Error.Message)
	}
	if *resultPath != "" {
		data, jerr := json.MarshalIndent(r, "", "  ")
		if jerr != nil {
			return jerr
		}
		if c.scrub != nil {
			data = []byte(c.scrub.clean(string(data)))
		}
		if werr := os.WriteFile(*resultPath, data, 0o644); werr != nil {
			return werr
		}
	}
	if r.Error != nil {
		return fmt.Errorf("%s: %s", r.Error.Stage, r.Error.Message)
	}
	return nil
}

func (r *Result) step(name string) func() {
	t0 := time.Now()
	return func() { r.Seconds[name] += time.Since(t0).Seconds() }
}

func up(ctx context.Context, c *common, r *Result, specJSON string, lockRetries int, lockBackoff time.Duration) error {
	if err := c.setup(); err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			r.Error = &ResultError{Stage: "input", Key: ie.Key, Message: ie.Msg}
		}
		return err
	}
	spec, err := parseSpec(specJSON)
	if err != nil {
		return err
	}
	stderr := c.scrub.writer(os.Stderr)
	defer stderr.Close()

	rec := &patched{}
	done := r.step("select")
	s, err := onFreshBackend(func() (auto.Stack, error) {
		return auto.UpsertStackInlineSource(ctx, c.stack, "", program(spec, c.dir, c.stack, rec), auto.WorkDir(c.dir))
	})
	done()
	if err != nil {
		r.Error = &ResultError{Stage: "backend", Message: fmt.Sprintf("selecting stack %q: %v", c.stack, err)}
		return nil
	}

	// Check the stack config before anything runs: every key, the chart folder.
	cfg, err := s.GetAllConfig(ctx)
	if err != nil {
		r.Error = &ResultError{Stage: "backend", Message: fmt.Sprintf("reading the config of stack %q: %v", c.stack, err)}
		return nil
	}
	if _, err := readInputs(spec, c.dir, c.stack, func(k string) string { return cfg[k].Value }); err != nil {
		var ie *inputError
		errors.As(err, &ie)
		r.Error = &ResultError{Stage: "config", Key: ie.Key, Message: ie.Msg}
		return nil
	}

	// An update killed half-way leaves pending operations: report them, and resolve them as Pulumi
	// documents (a refresh reads the cluster's truth; pending creates are cleared, and the update
	// then creates or adopts those objects).
	done = r.step("pending")
	pending, err := pendingOperations(ctx, s)
	done()
	if err != nil {
		r.Error = &ResultError{Stage: "backend", Message: fmt.Sprintf("reading the state of stack %q: %v", c.stack, err)}
		return nil
	}
	r.Pending = pending

	backoff := lockBackoff
	for attempt := 0; ; attempt++ {
		if len(r.Pending) > 0 && !r.DryRun && r.Recovered == "" {
			done = r.step("refresh")
			_, err := s.Refresh(ctx, optrefresh.ClearPendingCreates(), optrefresh.ProgressStreams(stderr))
			done()
			if err == nil {
				r.Recovered = fmt.Sprintf("pulumi refresh --clear-pending-creates: state re-read from the cluster, %d pending operation(s) cleared", len(r.Pending))
			} else if auto.IsConcurrentUpdateError(err) && attempt < lockRetries {
				r.LockWaits++
				time.Sleep(backoff)
				backoff = min(2*backoff, 30*time.Second)
				continue
			} else if auto.IsConcurrentUpdateError(err) {
				r.Error = &ResultError{Stage: "lock", Message: lockMessage(c.stack, err, r.LockWaits)}
				return nil
			} else {
				r.Error = &ResultError{Stage: "pending", Message: fmt.Sprintf("resolving the pending operations of stack %q with a refresh: %v", c.stack, err)}
				return nil
			}
		}

		var diff strings.Builder
		evs := make(chan events.EngineEvent)
		warnings := collectWarnings(evs)
		done = r.step("preview")
		pr, err := s.Preview(ctx, optpreview.Diff(), optpreview.ProgressStreams(&diff), optpreview.EventStreams(evs))
		done()
		select {
		case r.Warnings = <-warnings:
		case <-time.After(10 * time.Second): // the event stream never started
		}
		r.PreviewDiff = c.scrub.clean(diff.String())
		if err != nil {
			r.Error = &ResultError{Stage: "preview", Message: fmt.Sprintf("preview of stack %q: %v", c.stack, err)}
			return nil
		}
		r.PreviewChanges = changeCounts(pr.ChangeSummary)
		r.Patched = rec.take()
		for _, w := range r.Warnings {
			// The provider only warns, and would go on to fail (or half-apply) in the update.
			if strings.Contains(w, "cluster is unreachable") {
				r.Error = &ResultError{Stage: "cluster", Message: w}
				return nil
			}
		}
		if r.DryRun {
			return nil
		}

		done = r.step("update")
		res, err := s.Up(ctx, optup.ProgressStreams(stderr))
		done()
		if err != nil && auto.IsConcurrentUpdateError(err) {
			if attempt < lockRetries {
				// Another update holds the lock: wait, then preview again (the state moved on).
				r.LockWaits++
				fmt.Fprintf(stderr, "stack %s is locked by another update; retrying in %s\n", c.stack, backoff)
				time.Sleep(backoff)
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
			r.Error = &ResultError{Stage: "lock", Message: lockMessage(c.stack, err, r.LockWaits)}
			return nil
		}
		if err != nil {
			r.Error = &ResultError{Stage: "update", Message: fmt.Sprintf("update of stack %q: %v", c.stack, err)}
			return nil
		}
		r.Updated = true
		r.Patched = rec.take()
		r.UpChanges = changeCountsFromSummary(res.Summary.ResourceChanges)
		r.UpVersion = res.Summary.Version
		if r.UpVersion == 0 {
			// DIY backends (postgres://, s3://, file://…) number no update: count the stack's history.
			done = r.step("history")
			r.UpVersion, err = historyLength(ctx, s)
			done()
			if err != nil {
				r.Warnings = append(r.Warnings, fmt.Sprintf("reading the history of stack %q: %v", c.stack, c.scrub.clean(err.Error())))
			}
		}
		r.Outputs = map[string]any{}
		for k, v := range res.Outputs {
			if v.Secret {
				r.Outputs[k] = "[secret]"
			} else {
				r.Outputs[k] = v.Value
			}
		}
		break
	}
	done = r.step("export")
	r.Workloads, err = workloads(ctx, s, spec)
	done()
	if err != nil {
		r.Error = &ResultError{Stage: "update", Message: fmt.Sprintf("reading the workloads of stack %q after the update: %v", c.stack, err)}
	}
	return nil
}

// historyLength is how many operations (updates, refreshes, destroys) the stack's history holds:
// the number Pulumi Cloud gives an update, which DIY backends leave at 0.
func historyLength(ctx context.Context, s auto.Stack) (int, error) {
	h, err := s.History(ctx, 0, 0, opthistory.ShowSecrets(false))
	return len(h), err
}

func lockMessage(stack string, err error, waits int) string {
	return fmt.Sprintf("stack %q is locked by another update (still locked after %d retries): %v", stack, waits, err)
}

func collectWarnings(ch <-chan events.EngineEvent) <-chan []string {
	out := make(chan []string, 1)
	go func() {
		var ws []string
		for e := range ch {
			if d := e.DiagnosticEvent; d != nil && (d.Severity == "warning" || d.Severity == "error") {
				ws = append(ws, strings.TrimSpace(d.Message))
			}
		}
		out <- ws
	}()
	return out
}

func changeCounts[K ~string](m map[K]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[string(k)] = v
	}
	return out
}

func changeCountsFromSummary(m *map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return *m
}

// pendingOperations lists what an interrupted update left, as "type urn".
func pendingOperations(ctx context.Context, s auto.Stack) ([]string, error) {
	dep, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	var d struct {
		Pending []struct {
			Type     string `json:"type"`
			Resource struct {
				URN string `json:"urn"`
			} `json:"resource"`
		} `json:"pending_operations"`
	}
	if len(dep.Deployment) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(dep.Deployment, &d); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range d.Pending {
		out = append(out, p.Type+" "+p.Resource.URN)
	}
	return out, nil
}

// workloads reads every workload from the state: the objects as the provider read them back from
// the cluster at the end of its await (their rollout finished, or the update failed).
func workloads(ctx context.Context, s auto.Stack, spec Spec) ([]Workload, error) {
	dep, err := s.Export(ctx)
	if err != nil {
		return nil, err
	}
	var d struct {
		Resources []struct {
			Type    string         `json:"type"`
			Outputs map[string]any `json:"outputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(dep.Deployment, &d); err != nil {
		return nil, err
	}
	var out []Workload
	for _, res := range d.Resources {
		kind := kindOf(res.Type)
		path, ok := spec.PodTemplates[kind]
		if !ok {
			continue
		}
		w := Workload{Kind: kind}
		meta, _ := res.Outputs["metadata"].(map[string]any)
		w.Name, _ = meta["name"].(string)
		w.Namespace, _ = meta["namespace"].(string)
		if g, ok := meta["generation"].(float64); ok {
			w.Generation = int64(g)
		}
		w.Spec, _ = res.Outputs["spec"].(map[string]any)
		w.Status, _ = res.Outputs["status"].(map[string]any)
		var cur any = res.Outputs
		for _, k := range append(strings.Split(path, "."), "metadata", "labels") {
			m, _ := cur.(map[string]any)
			cur = m[k]
		}
		if labels, ok := cur.(map[string]any); ok {
			w.TemplateLabels = map[string]string{}
			for k, v := range labels {
				w.TemplateLabels[k], _ = v.(string)
			}
		}
		out = append(out, w)
	}
	return out, nil
}

var _ io.Writer = (*scrubWriter)(nil)

// linkPlugins makes PULUMI_HOME/plugins the plugins folder mounted at src (PULUMI_HOME is a tmpfs
// the CLI writes its logins to; a folder mounted inside it would be hidden). Nothing when src is "".
func linkPlugins(src, home string) error {
	if src == "" {
		return nil
	}
	if home == "" {
		return errors.New("NIGHTLY_PULUMI_PLUGINS is set but PULUMI_HOME is not")
	}
	dst := filepath.Join(home, "plugins")
	if fi, err := os.Lstat(dst); err == nil {
		if fi.Mode()&os.ModeSymlink != 0 {
			return nil
		}
		return fmt.Errorf("PULUMI_HOME/plugins (%s) already exists: cannot use the plugins in %s", dst, src)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	if err := os.Symlink(src, dst); err != nil {
		return fmt.Errorf("linking the plugins in %s as %s: %v", src, dst, err)
	}
	return nil
}
