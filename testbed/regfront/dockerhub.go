package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenLifetime is Docker Hub's: clients fetch a new token when it runs out.
const tokenLifetime = 300 * time.Second

// dockerHub is the token issuer and the front of one distribution configured for token auth.
type dockerHub struct {
	user     string
	password []byte
	service  string // distribution's auth.token.service: the JWT's audience
	issuer   string // distribution's auth.token.issuer
	storage  string // distribution's storage.filesystem.rootdirectory
	foreign  map[string]bool
	key      *ecdsa.PrivateKey
	x5c      []string // the signing certificate (DER, standard base64), as distribution wants it
	now      func() time.Time
}

func cmdDockerHub(args []string) error {
	fs := flag.NewFlagSet("dockerhub", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:47503", "loopback host:port serving /token and the registry")
	backend := fs.String("backend", "", "distribution's unix socket (its http.net: unix, http.addr)")
	storage := fs.String("storage", "", "distribution's storage.filesystem.rootdirectory (repository existence)")
	keyFile := fs.String("key", "", "PEM ECDSA P-256 private key that signs tokens")
	certFile := fs.String("cert", "", "PEM certificate of -key; distribution's auth.token.rootcertbundle")
	user := fs.String("user", "", "the one user")
	passwordFile := fs.String("password-file", "", "the user's password: the file's exact bytes")
	service := fs.String("service", "nightly-testbed-dockerhub", "distribution's auth.token.service")
	issuer := fs.String("issuer", "nightly-testbed-dockerhub-auth", "distribution's auth.token.issuer")
	foreign := fs.String("foreign", "library", "comma-separated namespaces the user does not own (pull only)")
	logFile := fs.String("log", "", "log file (default stderr)")
	_ = fs.Parse(args)
	for flagName, v := range map[string]string{"backend": *backend, "storage": *storage, "key": *keyFile,
		"cert": *certFile, "user": *user, "password-file": *passwordFile} {
		if v == "" {
			return fmt.Errorf("dockerhub: -%s is required", flagName)
		}
	}
	if err := openLog(*logFile); err != nil {
		return err
	}
	password, err := os.ReadFile(*passwordFile)
	if err != nil {
		return fmt.Errorf("reading -password-file: %w", err)
	}
	key, der, err := loadSigningKey(*keyFile, *certFile)
	if err != nil {
		return err
	}
	h := &dockerHub{
		user: *user, password: password, service: *service, issuer: *issuer, storage: *storage,
		foreign: map[string]bool{}, key: key, x5c: []string{base64.StdEncoding.EncodeToString(der)},
		now: time.Now,
	}
	for _, ns := range strings.Split(*foreign, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			h.foreign[ns] = true
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", h.serveToken)
	mux.Handle("/", h.proxy(*backend))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("dockerhub: listening on -listen %s: %w", *listen, err)
	}
	log.Printf("dockerhub: serving on http://%s (token endpoint /token, registry at %s)", *listen, *backend)
	return http.Serve(ln, mux)
}

// loadSigningKey reads the token signing key (SEC1 or PKCS#8 PEM) and its certificate's DER.
func loadSigningKey(keyFile, certFile string) (*ecdsa.PrivateKey, []byte, error) {
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading -key: %w", err)
	}
	block, _ := pem.Decode(kb)
	if block == nil {
		return nil, nil, fmt.Errorf("-key %s: no PEM block", keyFile)
	}
	var key *ecdsa.PrivateKey
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		key = k
	} else if k8, err8 := x509.ParsePKCS8PrivateKey(block.Bytes); err8 == nil {
		if ek, ok := k8.(*ecdsa.PrivateKey); ok {
			key = ek
		}
	}
	if key == nil {
		return nil, nil, fmt.Errorf("-key %s: not an ECDSA private key", keyFile)
	}
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("reading -cert: %w", err)
	}
	cblock, _ := pem.Decode(cb)
	if cblock == nil || cblock.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("-cert %s: no PEM CERTIFICATE", certFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("-cert %s: %w", certFile, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("-cert %s does not hold the public key of -key %s", certFile, keyFile)
	}
	return key, cblock.Bytes, nil
}

// proxy forwards to distribution on its unix socket, keeping the Host header (distribution builds
// its Location headers from it) and pointing the Bearer realm at this front under the same Host.
func (h *dockerHub) proxy(socket string) http.Handler {
	backend := &url.URL{Scheme: "http", Host: "distribution"}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(backend)
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "unix", socket)
			},
			MaxIdleConnsPerHost: 16,
		},
		ModifyResponse: func(resp *http.Response) error {
			if vs := resp.Header.Values("Www-Authenticate"); len(vs) > 0 {
				realm := fmt.Sprintf(`realm="http://%s/token"`, resp.Request.Host)
				resp.Header.Del("Www-Authenticate")
				for _, v := range vs {
					resp.Header.Add("Www-Authenticate", realmParam.ReplaceAllLiteralString(v, realm))
				}
			}
			return nil
		},
	}
}

var realmParam = regexp.MustCompile(`realm="[^"]*"`)

// access is one entry of the JWT's "access" claim, as distribution reads it.
type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

func (h *dockerHub) serveToken(w http.ResponseWriter, r *http.Request) {
	var (
		user, pass, service string
		hasCreds            bool
		scopes              []string
	)
	switch r.Method {
	case http.MethodGet: // docker/distribution token protocol: Basic credentials, scope params
		q := r.URL.Query()
		service = q.Get("service")
		for _, s := range q["scope"] {
			scopes = append(scopes, strings.Fields(s)...)
		}
		user, pass, hasCreds = r.BasicAuth()
		if !hasCreds && r.Header.Get("Authorization") != "" {
			tokenError(w, http.StatusUnauthorized, "malformed Authorization header")
			return
		}
	case http.MethodPost: // OAuth2 password grant, as containerd and BuildKit try first
		if err := r.ParseForm(); err != nil {
			tokenError(w, http.StatusBadRequest, "malformed form: "+err.Error())
			return
		}
		if g := r.PostForm.Get("grant_type"); g != "password" {
			tokenError(w, http.StatusBadRequest, fmt.Sprintf("unsupported grant_type %q (only password)", g))
			return
		}
		user, pass, hasCreds = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		service = r.PostForm.Get("service")
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		w.Header().Set("Allow", "GET, POST")
		tokenError(w, http.StatusMethodNotAllowed, "GET or POST")
		return
	}
	if service != "" && service != h.service {
		tokenError(w, http.StatusBadRequest, fmt.Sprintf("unknown service %q", service))
		return
	}
	if hasCreds && !h.validCredentials(user, pass) {
		log.Printf("token: refused %s %q: incorrect username or password", r.Method, user)
		tokenError(w, http.StatusUnauthorized, "incorrect username or password")
		return
	}
	if !hasCreds {
		user = "" // anonymous
	}
	grants := make([]access, 0, len(scopes))
	for _, s := range scopes {
		typ, name, actions, ok := parseScope(s)
		if !ok {
			tokenError(w, http.StatusBadRequest, fmt.Sprintf("malformed scope %q", s))
			return
		}
		grants = append(grants, access{Type: typ, Name: name, Actions: h.grant(user, typ, name, actions)})
	}
	token, err := h.sign(user, grants)
	if err != nil {
		log.Printf("token: signing: %v", err)
		tokenError(w, http.StatusInternalServerError, "signing failed")
		return
	}
	log.Printf("token: %s user=%q scopes=%q granted=%s", r.Method, user, scopes, grantsString(grants))
	issued := h.now().UTC().Format(time.RFC3339)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": token, "access_token": token, "expires_in": int(tokenLifetime.Seconds()), "issued_at": issued,
	})
}

func (h *dockerHub) validCredentials(user, pass string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(h.user))
	p := subtle.ConstantTimeCompare([]byte(pass), h.password)
	return u&p == 1
}

// parseScope splits "repository:NS/REPO:pull,push" (the type may carry a class: "repository(plugin)").
func parseScope(s string) (typ, name string, actions []string, ok bool) {
	first, last := strings.Index(s, ":"), strings.LastIndex(s, ":")
	if first <= 0 || last == first {
		return "", "", nil, false
	}
	typ, name = s[:first], s[first+1:last]
	if i := strings.Index(typ, "("); i >= 0 {
		typ = typ[:i]
	}
	for _, a := range strings.Split(s[last+1:], ",") {
		if a = strings.TrimSpace(a); a != "" {
			actions = append(actions, a)
		}
	}
	return typ, name, actions, name != ""
}

// grant decides, like Docker Hub, which of the requested actions the token allows.
func (h *dockerHub) grant(user, typ, name string, requested []string) []string {
	granted := []string{} // distribution wants a list, even empty
	if user == "" || typ != "repository" {
		return granted // anonymous: every repository is private; no catalog
	}
	parts := strings.Split(name, "/")
	switch len(parts) {
	case 1:
		parts = []string{"library", parts[0]}
	case 2:
	default:
		return granted // Docker Hub has no nested repositories
	}
	owned := !h.foreign[parts[0]]
	exists := h.repositoryExists(name)
	wantPush := slices.Contains(requested, "push")
	for _, a := range requested {
		switch {
		case a == "push" && owned:
			granted = append(granted, a)
		case a == "pull" && (exists || (owned && wantPush)):
			granted = append(granted, a)
		}
	}
	return granted
}

// repositoryExists: distribution keeps a repository's manifests under _manifests once one is pushed.
func (h *dockerHub) repositoryExists(name string) bool {
	if strings.Contains(name, "..") {
		return false
	}
	fi, err := os.Stat(filepath.Join(h.storage, "docker/registry/v2/repositories", filepath.FromSlash(name), "_manifests"))
	return err == nil && fi.IsDir()
}

// sign makes the JWT distribution 2.8 verifies: ES256, the certificate chain in "x5c", a string "aud".
func (h *dockerHub) sign(user string, grants []access) (string, error) {
	now := h.now()
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss":    h.issuer,
		"sub":    user,
		"aud":    h.service,
		"exp":    now.Add(tokenLifetime).Unix(),
		"nbf":    now.Add(-5 * time.Second).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(jti),
		"access": grants,
	})
	t.Header["x5c"] = h.x5c
	return t.SignedString(h.key)
}

func grantsString(gs []access) string {
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = fmt.Sprintf("%s:%s:[%s]", g.Type, g.Name, strings.Join(g.Actions, ","))
	}
	return strings.Join(parts, " ")
}

// tokenError answers like Docker Hub's token endpoint: {"details": "..."}.
func tokenError(w http.ResponseWriter, status int, details string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"details": details})
}
