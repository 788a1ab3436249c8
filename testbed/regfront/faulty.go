package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// rule is one fault to inject; see the package doc for the meaning of each field.
type rule struct {
	ID          int      `json:"id"`
	Prefix      string   `json:"prefix"`
	Target      string   `json:"target,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	Fault       string   `json:"fault"`
	Status      int      `json:"status,omitempty"`
	RetryAfter  int      `json:"retryAfter,omitempty"`
	AfterBytes  int64    `json:"afterBytes,omitempty"`
	DelayMs     int      `json:"delayMs,omitempty"`
	Times       int64    `json:"times,omitempty"`
	Probability float64  `json:"probability,omitempty"`
	// Counters, set by the proxy.
	Seen     int64 `json:"seen"`
	Injected int64 `json:"injected"`
}

var targets = []string{"", "manifest", "blob", "upload", "tags", "base"}

func (r *rule) validate() error {
	switch {
	case !strings.HasPrefix(r.Prefix, "/"):
		return fmt.Errorf("prefix %q: want a path prefix such as /v2/<namespace>/", r.Prefix)
	case !slices.Contains(targets, r.Target):
		return fmt.Errorf("target %q: want one of manifest, blob, upload, tags, base (or none)", r.Target)
	case r.Times < 0:
		return fmt.Errorf("times %d: want 0 (no limit) or more", r.Times)
	case r.Probability < 0 || r.Probability > 1:
		return fmt.Errorf("probability %v: want 0..1", r.Probability)
	}
	for i, m := range r.Methods {
		r.Methods[i] = strings.ToUpper(m)
	}
	switch r.Fault {
	case "status":
		if r.Status < 400 || r.Status > 599 {
			return fmt.Errorf("status %d: want an error status (400-599)", r.Status)
		}
	case "drop":
		if r.AfterBytes < 0 {
			return fmt.Errorf("afterBytes %d: want 0 or more", r.AfterBytes)
		}
	case "delay":
		if r.DelayMs <= 0 {
			return fmt.Errorf("delayMs %d: want a positive delay", r.DelayMs)
		}
	case "none":
	default:
		return fmt.Errorf("fault %q: want status, drop, delay or none", r.Fault)
	}
	return nil
}

var targetPatterns = []struct {
	name string
	re   *regexp.Regexp
}{
	{"upload", regexp.MustCompile(`^/v2/.+/blobs/uploads/[^/]*$`)},
	{"blob", regexp.MustCompile(`^/v2/.+/blobs/[^/]+$`)},
	{"manifest", regexp.MustCompile(`^/v2/.+/manifests/[^/]+$`)},
	{"tags", regexp.MustCompile(`^/v2/.+/tags/list$`)},
	{"base", regexp.MustCompile(`^/v2/?$`)},
}

// targetOf classifies a registry API path like distribution's routes do.
func targetOf(path string) string {
	for _, t := range targetPatterns {
		if t.re.MatchString(path) {
			return t.name
		}
	}
	return ""
}

func (r *rule) matches(method, path, target string) bool {
	return strings.HasPrefix(path, r.Prefix) &&
		(r.Target == "" || r.Target == target) &&
		(len(r.Methods) == 0 || slices.Contains(r.Methods, method))
}

// faults is the rule set, shared by the proxy and the control API.
type faults struct {
	mu       sync.Mutex
	rules    []*rule
	nextID   int
	requests atomic.Int64
	chance   func() float64
}

// pick counts the request in every matching rule and returns a copy of the rule that fires, if any.
func (f *faults) pick(method, path string) *rule {
	target := targetOf(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	var fired *rule
	for _, r := range f.rules {
		if !r.matches(method, path, target) {
			continue
		}
		r.Seen++
		if fired != nil || r.Fault == "none" || (r.Times > 0 && r.Injected >= r.Times) {
			continue
		}
		if r.Probability > 0 && r.Probability < 1 && f.chance() >= r.Probability {
			continue
		}
		r.Injected++
		c := *r
		fired = &c
	}
	return fired
}

func (f *faults) add(r rule) (rule, error) {
	if err := r.validate(); err != nil {
		return rule{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	r.ID, r.Seen, r.Injected = f.nextID, 0, 0
	f.rules = append(f.rules, &r)
	return r, nil
}

// list returns copies of the rules, those with prefix only when prefix is not empty.
func (f *faults) list(prefix string) []rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []rule{}
	for _, r := range f.rules {
		if prefix == "" || r.Prefix == prefix {
			out = append(out, *r)
		}
	}
	return out
}

// remove deletes the rules for which drop is true and says how many went.
func (f *faults) remove(drop func(*rule) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	before := len(f.rules)
	f.rules = slices.DeleteFunc(f.rules, drop)
	return before - len(f.rules)
}

func cmdFaulty(args []string) error {
	fs := flag.NewFlagSet("faulty", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:47504", "loopback host:port of the proxy")
	control := fs.String("control", "127.0.0.1:47505", "loopback host:port of the control API")
	upstream := fs.String("upstream", "", "the registry proxied to, e.g. http://127.0.0.1:47501")
	logFile := fs.String("log", "", "log file (default stderr)")
	_ = fs.Parse(args)
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme == "" || up.Host == "" {
		return fmt.Errorf("faulty: -upstream %q: want http://HOST:PORT", *upstream)
	}
	if err := openLog(*logFile); err != nil {
		return err
	}
	f := &faults{chance: rand.Float64}
	pln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("faulty: listening on -listen %s: %w", *listen, err)
	}
	cln, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("faulty: listening on -control %s: %w", *control, err)
	}
	log.Printf("faulty: proxying http://%s to %s; control API on http://%s", *listen, up, *control)
	errc := make(chan error, 2)
	go func() { errc <- http.Serve(cln, f.controlAPI()) }()
	go func() { errc <- http.Serve(pln, newFaultyProxy(f, up)) }()
	return <-errc
}

type dropKey struct{}

var errInjectedDrop = errors.New("connection dropped by a fault rule")

// faultyProxy forwards to the upstream and injects the fault of the rule that fires, if any.
type faultyProxy struct {
	faults *faults
	rp     *httputil.ReverseProxy
}

func newFaultyProxy(f *faults, upstream *url.URL) *faultyProxy {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = pr.In.Host // distribution's Location headers then point back at us
		},
		ModifyResponse: func(resp *http.Response) error {
			if resp.Request.Context().Value(dropKey{}) != nil {
				return errInjectedDrop // the upstream answered; the client never hears of it
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Value(dropKey{}) != nil {
				hangUp(w)
				return
			}
			log.Printf("faulty: proxying %s %s: %v", r.Method, r.URL.Path, err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return &faultyProxy{faults: f, rp: rp}
}

func (p *faultyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.faults.requests.Add(1)
	ru := p.faults.pick(r.Method, r.URL.Path)
	if ru == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	log.Printf("faulty: rule %d (%s %d/%d) fires on %s %s", ru.ID, ru.Fault, ru.Injected, ru.Times, r.Method, r.URL.Path)
	switch ru.Fault {
	case "status":
		writeRegistryError(w, r, ru.Status, ru.RetryAfter, ru.ID)
	case "delay":
		select {
		case <-time.After(time.Duration(ru.DelayMs) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
	case "drop":
		r = r.WithContext(context.WithValue(r.Context(), dropKey{}, ru.ID))
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &cutBody{rc: r.Body, left: ru.AfterBytes}
		}
		p.rp.ServeHTTP(w, r)
	}
}

// cutBody passes on the first left bytes of a request body, then fails: the upstream request is
// aborted with a truncated body.
type cutBody struct {
	rc   io.ReadCloser
	left int64
}

func (c *cutBody) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errInjectedDrop
	}
	if int64(len(b)) > c.left {
		b = b[:c.left]
	}
	n, err := c.rc.Read(b)
	c.left -= int64(n)
	return n, err
}

func (c *cutBody) Close() error { return c.rc.Close() }

// hangUp closes the client's connection without an answer, with a reset (SO_LINGER 0) so that a
// client still sending its body sees the failure at once.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

var errorCodes = map[int]string{
	http.StatusTooManyRequests:     "TOOMANYREQUESTS",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
	http.StatusInternalServerError: "UNKNOWN",
}

// writeRegistryError answers with a distribution-style error body.
func writeRegistryError(w http.ResponseWriter, r *http.Request, status, retryAfter, id int) {
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	}
	code := errorCodes[status]
	if code == "" {
		code = "UNKNOWN"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{
			"code": code, "message": fmt.Sprintf("injected by the test bed's fault proxy (rule %d)", id),
		}}})
	}
}

func (f *faults) controlAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rules", func(w http.ResponseWriter, r *http.Request) {
		var ru rule
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ru); err != nil {
			http.Error(w, "rule: "+err.Error(), http.StatusBadRequest)
			return
		}
		added, err := f.add(ru)
		if err != nil {
			http.Error(w, "rule: "+err.Error(), http.StatusBadRequest)
			return
		}
		log.Printf("faulty: rule %d added: %+v", added.ID, added)
		writeJSON(w, http.StatusCreated, added)
	})
	mux.HandleFunc("GET /rules", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"requests": f.requests.Load(), "rules": f.list(r.URL.Query().Get("prefix"))})
	})
	mux.HandleFunc("GET /rules/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		for _, ru := range f.list("") {
			if ru.ID == id {
				writeJSON(w, http.StatusOK, ru)
				return
			}
		}
		http.Error(w, "no rule "+r.PathValue("id"), http.StatusNotFound)
	})
	mux.HandleFunc("DELETE /rules/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		if f.remove(func(ru *rule) bool { return ru.ID == id }) == 0 {
			http.Error(w, "no rule "+r.PathValue("id"), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /rules", func(w http.ResponseWriter, r *http.Request) {
		prefix := r.URL.Query().Get("prefix")
		n := f.remove(func(ru *rule) bool { return prefix == "" || ru.Prefix == prefix })
		writeJSON(w, http.StatusOK, map[string]int{"removed": n})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
