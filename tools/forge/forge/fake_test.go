package forge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// reply is one recorded response: a status and a file from testdata.
type reply struct {
	status int
	file   string
	header map[string]string
}

// request is what the client sent.
type request struct {
	method, path, query, auth, body string
}

// fakeAPI serves recorded responses: for each "METHOD /path" a queue of replies, the last one
// repeating. Anything else is a 599 and a test failure.
type fakeAPI struct {
	t      *testing.T
	dir    string
	mu     sync.Mutex
	routes map[string][]reply
	reqs   []request
}

func newFakeAPI(t *testing.T, dir string, routes map[string][]reply) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, dir: dir, routes: routes}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), string(body)})
	key := r.Method + " " + r.URL.Path
	queue := f.routes[key]
	if len(queue) == 0 {
		f.t.Errorf("unexpected request %s?%s", key, r.URL.RawQuery)
		w.WriteHeader(599)
		return
	}
	rep := queue[0]
	if len(queue) > 1 {
		f.routes[key] = queue[1:]
	}
	data, err := os.ReadFile(filepath.Join(f.dir, rep.file))
	if err != nil {
		f.t.Errorf("recorded response: %v", err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(data)
}

// sent returns the requests made so far, as "METHOD path".
func (f *fakeAPI) sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.reqs))
	for i, r := range f.reqs {
		out[i] = r.method + " " + r.path
	}
	return out
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}
