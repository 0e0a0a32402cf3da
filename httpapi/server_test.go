package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
	"github.com/sheetsync/sheetsync/ingest"
	"github.com/sheetsync/sheetsync/query"
)

// fixtureDir holds the spreadsheets every test server serves: products.csv (every field type,
// empty cells, quotes, unicode), orders.csv (system fields added by the loader) and
// inventory.xlsx (typed cells).
const fixtureDir = "testdata/fixtures"

// TestServer is an httpapi.Server over a real store, served by httptest on loopback.
type TestServer struct {
	*httptest.Server
	API     *httpapi.Server
	Logs    *LogBuffer     // what the server logged
	Results *cache.Results // the memoised answers; Wait before counting on a hit
}

// MustLoadStore copies the spreadsheets of dir into a temporary folder and loads them into a new
// store through the real loader, as cmd does.
func MustLoadStore(tb testing.TB, dir string) *cache.Store {
	tb.Helper()
	tmp := tb.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return MustLoadDir(tb, tmp)
}

// MustLoadDir loads the spreadsheets of dir, in place, into a new store.
func MustLoadDir(tb testing.TB, dir string) *cache.Store {
	tb.Helper()
	store := cache.NewStore()
	report, err := (&ingest.Loader{Logger: discardLogger()}).LoadDir(context.Background(), dir, store)
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range report.Problems {
		tb.Fatalf("fixture problem: %s", p.String())
	}
	return store
}

// MustOpenServer serves the fixtures with cfg. A nil store means the fixtures in a fresh store.
func MustOpenServer(tb testing.TB, cfg httpapi.Config, store httpapi.Store) *TestServer {
	tb.Helper()
	if store == nil {
		store = MustLoadStore(tb, fixtureDir)
	}
	results, err := cache.NewResults(32 << 20)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(results.Close)
	logs := &LogBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(logs)
	}
	if cfg.Version == "" {
		cfg.Version = "test"
	}
	api, err := httpapi.NewServer(cfg, store, &query.Engine{Results: results, Indexes: query.NewIndexes()})
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	tb.Cleanup(ts.Close)
	return &TestServer{Server: ts, API: api, Logs: logs, Results: results}
}

// openConfig serves both protocols unauthenticated, as on a loopback address without keys.
func openConfig() httpapi.Config {
	return httpapi.Config{V3: httpapi.Auth{Mode: httpapi.AuthOpen}, Legacy: httpapi.Auth{Mode: httpapi.AuthOpen}}
}

// Response is what a request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic value.
func (r *Response) JSON(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		tb.Fatalf("response is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Do sends method path with body and reads the whole answer.
func (s *TestServer) Do(tb testing.TB, method, path string, body []byte) *Response {
	tb.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Post sends a POST with a raw body.
func (s *TestServer) Post(tb testing.TB, path string, body string) *Response {
	tb.Helper()
	return s.Do(tb, http.MethodPost, path, []byte(body))
}

// PostJSON sends v encoded as JSON.
func (s *TestServer) PostJSON(tb testing.TB, path string, v any) *Response {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Do(tb, http.MethodPost, path, b)
}

// LogBuffer is a slog.Handler that keeps every record, for tests that check what was logged.
type LogBuffer struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *LogBuffer) Enabled(context.Context, slog.Level) bool { return true }

func (h *LogBuffer) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}

func (h *LogBuffer) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *LogBuffer) WithGroup(string) slog.Handler      { return h }

// Records returns the records at level or above.
func (h *LogBuffer) Records(level slog.Level) []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.records {
		if r.Level >= level {
			out = append(out, r)
		}
	}
	return out
}

// attr returns the value of a record's attribute as text.
func attr(r slog.Record, key string) string {
	var v string
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// v3Error checks that r is the v3 error body (spec v3 §4.1) with the wanted status and code, and
// that its message holds msg. It returns the decoded body.
func v3Error(tb testing.TB, r *Response, status int, code, msg string) map[string]any {
	tb.Helper()
	m := r.JSON(tb)
	if r.Status != status || m["errorCode"] != code {
		tb.Fatalf("got %d %v, want %d %s\n%s", r.Status, m["errorCode"], status, code, r.Body)
	}
	got, _ := m["errorMessage"].(string)
	if !strings.Contains(got, msg) {
		tb.Fatalf("errorMessage %q does not contain %q", got, msg)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type %q, want application/json", ct)
	}
	app, _ := m["applicationError"].(map[string]any)
	if app["code"] != code {
		tb.Fatalf("applicationError.code %v, want %s", app["code"], code)
	}
	return m
}

// legacyError checks that r is the legacy error body {"message": ...} (legacy §6) with the
// wanted status, and that its message holds msg.
func legacyError(tb testing.TB, r *Response, status int, msg string) {
	tb.Helper()
	m := r.JSON(tb)
	if r.Status != status {
		tb.Fatalf("got status %d, want %d\n%s", r.Status, status, r.Body)
	}
	if len(m) != 1 {
		tb.Fatalf("legacy error body has keys other than message: %s", r.Body)
	}
	got, _ := m["message"].(string)
	if !strings.Contains(got, msg) {
		tb.Fatalf("message %q does not contain %q", got, msg)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type %q, want application/json", ct)
	}
}

// panicStore is a store whose Snapshot panics, to provoke a handler panic.
type panicStore struct{ *cache.Store }

func (panicStore) Snapshot(name string) (*cache.Snapshot, error) { panic("boom: " + name) }

// TestServer_Panic: a handler panic is the protocol's 500 internal error with generic text, and
// one error log line with the stack; the server goes on serving.
func TestServer_Panic(t *testing.T) {
	s := MustOpenServer(t, openConfig(), panicStore{MustLoadStore(t, fixtureDir)})
	t.Run("V3", func(t *testing.T) {
		before := len(s.Logs.Records(slog.LevelError))
		r := s.Post(t, "/v3/items/query", `{"collectionId": "products", "query": {}}`)
		m := v3Error(t, r, http.StatusInternalServerError, "UNKNOWN_ERROR", "internal error")
		if data, _ := m["data"].(map[string]any); data["description"] != "internal error" {
			t.Errorf("data %v, want description internal error", m["data"])
		}
		if strings.Contains(string(r.Body), "boom") {
			t.Errorf("the panic leaks to the caller: %s", r.Body)
		}
		checkPanicLogged(t, s.Logs.Records(slog.LevelError)[before:], "/v3/items/query")
	})
	t.Run("Legacy", func(t *testing.T) {
		before := len(s.Logs.Records(slog.LevelError))
		r := s.Post(t, "/data/find", `{"collectionName": "products"}`)
		legacyError(t, r, http.StatusInternalServerError, "internal error")
		if strings.Contains(string(r.Body), "boom") {
			t.Errorf("the panic leaks to the caller: %s", r.Body)
		}
		checkPanicLogged(t, s.Logs.Records(slog.LevelError)[before:], "/data/find")
	})
	t.Run("StillServing", func(t *testing.T) {
		if r := s.Post(t, "/v3/collections/get", `{}`); r.Status != http.StatusOK {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
}

func checkPanicLogged(t *testing.T, recs []slog.Record, path string) {
	t.Helper()
	if len(recs) != 1 {
		var msgs []string
		for _, r := range recs {
			msgs = append(msgs, r.Message)
		}
		t.Fatalf("got %d error log records %q, want 1", len(recs), msgs)
	}
	r := recs[0]
	if attr(r, "path") != path || !strings.Contains(attr(r, "panic"), "boom: products") || !strings.Contains(attr(r, "stack"), "panicStore.Snapshot") {
		t.Fatalf("log record %q path=%q panic=%q, want the path, the panic and its stack", r.Message, attr(r, "path"), attr(r, "panic"))
	}
}

// TestServer_BodyLimit: a body over Config.MaxBodyBytes is refused with 413 in the protocol's
// shape, before it is read whole.
func TestServer_BodyLimit(t *testing.T) {
	cfg := openConfig()
	cfg.MaxBodyBytes = 256
	s := MustOpenServer(t, cfg, nil)
	big := `{"collectionId": "products", "collectionName": "products", "pad": "` + strings.Repeat("x", 4096) + `"}`
	v3Error(t, s.Post(t, "/v3/items/query", big), http.StatusRequestEntityTooLarge, "BAD_REQUEST", "request body is larger than the 256-byte limit")
	legacyError(t, s.Post(t, "/data/find", big), http.StatusRequestEntityTooLarge, "request body is larger than the 256-byte limit")
	// just under the limit is fine
	small := `{"collectionId": "products", "collectionName": "products"}`
	if r := s.Post(t, "/v3/items/count", small); r.Status != http.StatusOK {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	if r := s.Post(t, "/data/count", small); r.Status != http.StatusOK {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
}

// TestServer_Routes: a wrong method or an unknown path is JSON in the shape of the protocol the
// path belongs to.
func TestServer_Routes(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	t.Run("V3MethodNotAllowed", func(t *testing.T) {
		r := s.Do(t, http.MethodGet, "/v3/items/query", nil)
		v3Error(t, r, http.StatusMethodNotAllowed, "BAD_REQUEST", "GET /v3/items/query: use POST")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
	})
	t.Run("LegacyMethodNotAllowed", func(t *testing.T) {
		r := s.Do(t, http.MethodGet, "/data/find", nil)
		legacyError(t, r, http.StatusMethodNotAllowed, "GET /data/find: use POST")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
	})
	t.Run("OpsMethodNotAllowed", func(t *testing.T) {
		r := s.Post(t, "/healthz", `{}`)
		if got := r.Header.Get("Allow"); got != "GET, HEAD" {
			t.Errorf("Allow %q, want GET, HEAD", got)
		}
		legacyError(t, r, http.StatusMethodNotAllowed, "POST /healthz: use GET, HEAD")
	})
	t.Run("PutProvision", func(t *testing.T) {
		legacyError(t, s.Do(t, http.MethodPut, "/provision", []byte(`{}`)), http.StatusMethodNotAllowed, "PUT /provision: use POST")
	})
	t.Run("V3NotFound", func(t *testing.T) {
		v3Error(t, s.Post(t, "/v3/items/nope", `{}`), http.StatusNotFound, "BAD_REQUEST", "no endpoint POST /v3/items/nope")
		v3Error(t, s.Post(t, "/v3", `{}`), http.StatusNotFound, "BAD_REQUEST", "no endpoint POST /v3")
	})
	t.Run("LegacyNotFound", func(t *testing.T) {
		legacyError(t, s.Post(t, "/data/nope", `{}`), http.StatusNotFound, "no endpoint POST /data/nope")
		legacyError(t, s.Do(t, http.MethodGet, "/favicon.ico", nil), http.StatusNotFound, "no endpoint GET /favicon.ico")
	})
}

// TestServer_Ops checks the operational routes, which need no Wix credential (DESIGN §2), on a
// server whose protocols are both keyed.
func TestServer_Ops(t *testing.T) {
	s := MustOpenServer(t, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthKey, PublicKey: &rsaKey().PublicKey, AppID: testAppID},
		Legacy: httpapi.Auth{Mode: httpapi.AuthKey, SecretKey: legacySecret},
	}, nil)
	get := func(path string) *Response { return s.Do(t, http.MethodGet, path, nil) }
	t.Run("Healthz", func(t *testing.T) {
		if r := get("/healthz"); r.Status != http.StatusOK || string(r.Body) != `{"status":"ok"}` {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
	})
	t.Run("Readyz", func(t *testing.T) {
		if r := get("/readyz"); r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"ready":false,"reason":"starting"}` {
			t.Fatalf("before SetReady: got %d %s", r.Status, r.Body)
		}
		s.API.SetNotReady(`catching up with the "log"`)
		if r := get("/readyz"); r.Status != http.StatusServiceUnavailable || string(r.Body) != `{"ready":false,"reason":"catching up with the \"log\""}` {
			t.Fatalf("after SetNotReady: got %d %s", r.Status, r.Body)
		}
		s.API.SetReady()
		if r := get("/readyz"); r.Status != http.StatusOK || string(r.Body) != `{"ready":true}` {
			t.Fatalf("after SetReady: got %d %s", r.Status, r.Body)
		}
	})
	t.Run("Index", func(t *testing.T) {
		r := get("/")
		if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("got %d %s", r.Status, r.Header.Get("Content-Type"))
		}
		page := string(r.Body)
		for _, want := range []string{"sheetsync test", "3 collections:", "inventory", "orders", "products", "6 rows", "11 fields",
			"v3 service plugin:  POST " + s.URL + "/v3/...   (authenticated)"} {
			if !strings.Contains(page, want) {
				t.Errorf("status page lacks %q:\n%s", want, page)
			}
		}
		if strings.Contains(page, legacySecret) {
			t.Errorf("status page shows the secret key:\n%s", page)
		}
	})
	t.Run("IndexOpen", func(t *testing.T) {
		o := MustOpenServer(t, httpapi.Config{V3: httpapi.Auth{Mode: httpapi.AuthOpen}}, nil)
		page := string(o.Do(t, http.MethodGet, "/", nil).Body)
		for _, want := range []string{"(NOT authenticated: no --jwt-public-key)", "(off: set --secret-key)"} {
			if !strings.Contains(page, want) {
				t.Errorf("status page lacks %q:\n%s", want, page)
			}
		}
	})
}

// TestServer_EmptyStore: a folder without spreadsheets lists no collections, in both protocols
// (legacy §13.5).
func TestServer_EmptyStore(t *testing.T) {
	s := MustOpenServer(t, openConfig(), cache.NewStore())
	for _, tt := range []struct{ path, want string }{
		{"/v3/collections/get", `{"collections":[]}`},
		{"/schemas/list", `{"schemas":[]}`},
		{"/schemas/list/headers", `{"schemas":[]}`},
		{"/schemas/find", `{"schemas":[]}`},
	} {
		body := `{}`
		if tt.path == "/schemas/find" {
			body = `{"schemaIds": []}`
		}
		if r := s.Post(t, tt.path, body); r.Status != http.StatusOK || string(r.Body) != tt.want {
			t.Errorf("%s: got %d %s, want 200 %s", tt.path, r.Status, r.Body, tt.want)
		}
	}
	v3Error(t, s.Post(t, "/v3/items/query", `{"collectionId": "products"}`), http.StatusNotFound, "COLLECTION_NOT_FOUND", `collection "products" does not exist`)
	if page := string(s.Do(t, http.MethodGet, "/", nil).Body); !strings.Contains(page, "0 collections") {
		t.Errorf("status page: %s", page)
	}
}

// TestServer_Open listens on a loopback port with Open, as cmd does, and serves until Close.
func TestServer_Open(t *testing.T) {
	cfg := openConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Logger = discardLogger()
	api, err := httpapi.NewServer(cfg, MustLoadStore(t, fixtureDir), &query.Engine{})
	if err != nil {
		t.Fatal(err)
	}
	if api.URL() != "" || api.Port() != 0 {
		t.Fatalf("before Open: URL %q port %d", api.URL(), api.Port())
	}
	if err := api.Open(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(api.URL(), "http://127.0.0.1:") || api.Port() == 0 {
		t.Fatalf("URL %q port %d", api.URL(), api.Port())
	}
	mustCountOrders(t, http.DefaultClient, api.URL())
	if err := api.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Post(api.URL()+"/v3/items/count", "application/json", strings.NewReader(`{}`)); err == nil {
		t.Fatal("still serving after Close")
	}
	// a port in use is an error from Open
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	cfg.Addr = holder.Addr().String()
	other, err := httpapi.NewServer(cfg, MustLoadStore(t, fixtureDir), &query.Engine{})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Open(); err == nil || !strings.Contains(err.Error(), "listen on "+cfg.Addr) {
		other.Close()
		t.Fatalf("Open on a taken port: %v, want a listen error", err)
	}
}

func TestNewServer_Err(t *testing.T) {
	store := cache.NewStore()
	for _, tt := range []struct {
		name string
		cfg  httpapi.Config
		msg  string
	}{
		{"V3NoKey", httpapi.Config{V3: httpapi.Auth{Mode: httpapi.AuthKey, AppID: testAppID}}, "--jwt-public-key"},
		{"V3NoAppID", httpapi.Config{V3: httpapi.Auth{Mode: httpapi.AuthKey, PublicKey: &rsaKey().PublicKey}}, "--app-id"},
		{"LegacyNoSecret", httpapi.Config{Legacy: httpapi.Auth{Mode: httpapi.AuthKey}}, "legacy protocol: AuthKey needs a secret key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.NewServer(tt.cfg, store, &query.Engine{})
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %v, want an error naming %s", err, tt.msg)
			}
		})
	}
}

// TestServer_Concurrent sends many different requests at once, through both protocols and with
// a keyed v3, and checks every answer is its own: request bodies are read into pooled buffers,
// and verified tokens are shared through a cache.
func TestServer_Concurrent(t *testing.T) {
	s := MustOpenServer(t, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthKey, PublicKey: &rsaKey().PublicKey, AppID: testAppID},
		Legacy: httpapi.Auth{Mode: httpapi.AuthOpen},
	}, nil)
	type call struct {
		path string
		body []byte
		want string
	}
	now := time.Now()
	var calls []call
	for i, id := range allProducts {
		v3 := fmt.Sprintf(`{"collectionId": "products", "query": {"filter": {"_id": %q}, "fields": ["_id"]}}`, id)
		calls = append(calls,
			call{"/v3/items/query", httpapi.MustMint(t, jwt.SigningMethodRS256, rsaKey(), wixClaims([]byte(v3), now)),
				fmt.Sprintf(`{"items":[{"_id":%q}],"pagingMetadata":{"count":1,"offset":0}}`, id)},
			call{"/data/get", fmt.Appendf(nil, `{"collectionName": "products", "itemId": %q, "projection": ["_id"]}`, id),
				fmt.Sprintf(`{"item":{"_id":%q}}`, id)},
			call{"/v3/items/count", httpapi.MustMint(t, jwt.SigningMethodRS256, rsaKey(),
				wixClaims(fmt.Appendf(nil, `{"collectionId": "orders", "filter": {"qty": {"$gte": %d}}}`, i), now)),
				fmt.Sprintf(`{"totalCount":%d}`, map[int]int{0: 3, 1: 3, 2: 2, 3: 1, 4: 1, 5: 1}[i])},
		)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*len(calls))
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 20 {
				c := calls[(w*7+k)%len(calls)]
				resp, err := s.Client().Post(s.URL+c.path, "text/plain", bytes.NewReader(c.body))
				if err != nil {
					errs <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != c.want {
					errs <- fmt.Sprintf("%s: got %s, want %s", c.path, b, c.want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestServer_CloseTwice: closing a closed server returns at once.
func TestServer_CloseTwice(t *testing.T) {
	cfg := openConfig()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", discardLogger()
	api, err := httpapi.NewServer(cfg, cache.NewStore(), &query.Engine{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Open(); err != nil {
		t.Fatal(err)
	}
	if err := api.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("second Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second Close did not return")
	}
}

// localhostCert returns a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func localhostCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sheetsync test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestServer_OpenTLS: with a TLS configuration Open serves HTTPS, TLS 1.2 or later, and URL
// says https.
func TestServer_OpenTLS(t *testing.T) {
	cert, pool := localhostCert(t)
	cfg := openConfig()
	cfg.Addr, cfg.Logger = "127.0.0.1:0", discardLogger()
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10} // raised to 1.2
	api, err := httpapi.NewServer(cfg, MustLoadStore(t, fixtureDir), &query.Engine{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Open(); err != nil {
		t.Fatal(err)
	}
	defer api.Close()
	if !strings.HasPrefix(api.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %q, want https://127.0.0.1:port", api.URL())
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	resp := mustCountOrders(t, client, api.URL())
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("connection state %+v, want TLS 1.2 or later", resp.TLS)
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(api.URL() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.1 client got %d, want a failed handshake", resp.StatusCode)
	}
	if err := api.Close(); err != nil {
		t.Fatal(err)
	}
}

// mustCountOrders asks the server at url to count the fixtures' orders through v3, and fails the
// test unless it answers 3.
func mustCountOrders(t *testing.T, client *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := client.Post(url+"/v3/items/count", "application/json", strings.NewReader(`{"collectionId": "orders"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != `{"totalCount":3}` {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	return resp
}
