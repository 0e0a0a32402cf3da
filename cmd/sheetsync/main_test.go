package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/xuri/excelize/v2"
)

// TestMain lets the tests run this binary as the real command: with SHEETSYNC_TEST_MAIN set,
// the test binary is sheetsync.
func TestMain(m *testing.M) {
	if os.Getenv("SHEETSYNC_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// copySamples copies the repository's samples/ into a fresh folder (tests never modify
// samples/ itself).
func copySamples(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	entries, err := os.ReadDir("../../samples")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue // a state dir left by running serve on samples/ itself
		}
		b, err := os.ReadFile(filepath.Join("../../samples", e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// MustRunMain runs the serve command in this process on dir, on a free loopback port.
func MustRunMain(tb testing.TB, dir string, edit func(*Config)) *Main {
	tb.Helper()
	m := NewMain()
	logs := &lockedBuffer{}
	m.Stderr = logs
	tb.Cleanup(func() { // runs after Close: the log is whole
		if tb.Failed() {
			tb.Logf("log of the server on %s:\n%s", dir, logs.String())
		}
	})
	m.Config.Dir = dir
	m.Config.Addr = "127.0.0.1:0"
	if edit != nil {
		edit(&m.Config)
	}
	if err := m.Run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// lockedBuffer is a log shared by the server's goroutines and the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func post(tb testing.TB, url, body string) (int, map[string]any) {
	tb.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		tb.Fatalf("POST %s: decode: %v", url, err)
	}
	return resp.StatusCode, out
}

func TestServeSamples(t *testing.T) {
	dir := copySamples(t)
	before := snapshotFiles(t, dir)
	m := MustRunMain(t, dir, nil)
	url := m.Server.URL()

	code, out := post(t, url+"/v3/items/query", `{"collectionId":"products","query":{"filter":{"category":"lighting","price":{"$lt":30}},"sort":[{"fieldName":"price","order":"DESC"}],"paging":{"limit":2}},"returnTotalCount":true}`)
	if code != 200 {
		t.Fatalf("v3 query: %d %v", code, out)
	}
	items := out["items"].([]any)
	meta := out["pagingMetadata"].(map[string]any)
	if len(items) != 2 || meta["total"].(float64) < 2 {
		t.Fatalf("v3 query: %d items, metadata %v", len(items), meta)
	}
	first := items[0].(map[string]any)
	if first["category"] != "lighting" || first["price"].(float64) >= 30 || first["price"].(float64) < items[1].(map[string]any)["price"].(float64) {
		t.Errorf("v3 query: first item %v", first)
	}
	if _, ok := first["launchDate"].(map[string]any)["$date"]; !ok {
		t.Errorf("launchDate is not a $date: %v", first["launchDate"])
	}
	if sku := first["sku"].(string); !strings.HasPrefix(sku, "0") {
		t.Errorf("sku %q lost its leading zero", sku)
	}

	code, out = post(t, url+"/v3/items/count", `{"collectionId":"products","filter":{}}`)
	if code != 200 || out["totalCount"].(float64) != 300 {
		t.Errorf("count: %d %v", code, out)
	}

	code, out = post(t, url+"/data/find", `{"collectionName":"stores","filter":{"open24h":{"$eq":true}},"sort":"","skip":0,"limit":50,"requestContext":{"role":"OWNER"}}`)
	if code != 200 || out["totalCount"].(float64) != 2 {
		t.Errorf("legacy find: %d %v", code, out)
	}
	store := out["items"].([]any)[0].(map[string]any)
	if _, ok := store["revenuePerSqm"].(float64); !ok {
		t.Errorf("formula column not served as its cached number: %v", store["revenuePerSqm"])
	}

	code, out = post(t, url+"/schemas/find", `{"schemaIds":["stores-Staff"],"requestContext":{"role":"OWNER"}}`)
	if code != 200 || len(out["schemas"].([]any)) != 1 {
		t.Errorf("schemas/find: %d %v", code, out)
	}
	// serving the samples never rewrites them: they ship with ids
	if after := snapshotFiles(t, dir); after != before {
		t.Error("serving changed the sample files")
	}
	// the state dir keeps each file as last synced, to diff edits made while stopped
	for _, name := range []string{"products.csv", "stores.xlsx"} {
		if _, err := os.Stat(filepath.Join(dir, ".sheetsync", "synced", name)); err != nil {
			t.Errorf("no last-synced copy of %s: %v", name, err)
		}
	}
}

func snapshotFiles(tb testing.TB, dir string) string {
	tb.Helper()
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		info, _ := e.Info()
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + info.ModTime().String() + string(data))
	}
	return b.String()
}

func TestServeGivesRowsIDs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "menu.csv")
	if err := os.WriteFile(path, []byte("dish;price\r\nSoup;4,5\r\nBread;2\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, dir, nil)
	code, out := post(t, m.Server.URL()+"/v3/items/query", `{"collectionId":"menu","query":{}}`)
	if code != 200 {
		t.Fatalf("query: %d %v", code, out)
	}
	items := out["items"].([]any)
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\r\n")
	if len(items) != 2 || !strings.HasPrefix(lines[0], "dish;price;_id;_createdDate;_updatedDate;_owner") {
		t.Fatalf("file after load:\n%s", b)
	}
	for i, it := range items {
		id := it.(map[string]any)["_id"].(string)
		if !strings.HasPrefix(lines[i+1], []string{"Soup;4,5;", "Bread;2;"}[i]+id+";") {
			t.Errorf("line %d = %q, want it to carry id %s", i+1, lines[i+1], id)
		}
	}
}

func TestServeSignedRequest(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "wix.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	m := MustRunMain(t, copySamples(t), func(c *Config) {
		c.JWTPublicKey = keyFile
		c.AppID = "my-app"
	})
	sign := func(aud string) string {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": "wix.com", "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"data": map[string]any{
				"request":  map[string]any{"collectionId": "products", "query": map[string]any{"filter": map[string]any{"sku": "010125"}}, "returnTotalCount": true},
				"metadata": map[string]any{"requestId": "r-1", "identity": map[string]any{"identityType": "WIX_USER", "wixUserId": "u-1"}},
			},
		})
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	code, out := post(t, m.Server.URL()+"/v3/items/query", sign("my-app"))
	if code != 200 || out["pagingMetadata"].(map[string]any)["total"].(float64) != 1 {
		t.Fatalf("signed query: %d %v", code, out)
	}
	code, out = post(t, m.Server.URL()+"/v3/items/query", sign("other-app"))
	if code != 401 || out["errorCode"] != "UNAUTHORIZED" || !strings.Contains(out["errorMessage"].(string), "other-app") {
		t.Errorf("wrong aud: %d %v", code, out)
	}
	code, out = post(t, m.Server.URL()+"/v3/items/query", `{"collectionId":"products","query":{}}`)
	if code != 401 {
		t.Errorf("unsigned request to a keyed server: %d %v", code, out)
	}
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.csv")
	os.WriteFile(file, []byte("a\n1\n"), 0o644)
	tests := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" for none
	}{
		{"OK", func(c *Config) {}, ""},
		{"MissingDir", func(c *Config) { c.Dir = filepath.Join(dir, "nope") }, "--dir"},
		{"DirIsFile", func(c *Config) { c.Dir = file }, "not a folder"},
		{"BadAddr", func(c *Config) { c.Addr = "8080" }, "--addr"},
		{"BadLogFormat", func(c *Config) { c.LogFormat = "xml" }, "--log-format"},
		{"KeyWithoutAppID", func(c *Config) { c.JWTPublicKey = "x" }, "--app-id"},
		{"AppIDWithoutKey", func(c *Config) { c.AppID = "x" }, "--jwt-public-key"},
		{"PublicWithoutKeys", func(c *Config) { c.Addr = ":8080" }, "--allow-unauthenticated"},
		{"PublicAllowed", func(c *Config) { c.Addr = "0.0.0.0:8080"; c.AllowUnauthenticated = true }, ""},
		{"PublicWithSecret", func(c *Config) { c.Addr = "0.0.0.0:8080"; c.SecretKey = "s" }, ""},
		{"Localhost", func(c *Config) { c.Addr = "localhost:0" }, ""},
		{"IPv6Loopback", func(c *Config) { c.Addr = "[::1]:0" }, ""},
		{"SharedDirWithoutNATS", func(c *Config) { c.SharedDir = true }, "--shared-dir needs --nats"},
		{"SharedDir", func(c *Config) { c.SharedDir, c.NATS = true, "nats://127.0.0.1:4222" }, ""},
		{"ShortLease", func(c *Config) { c.SharedDir, c.NATS, c.LeaseTTL = true, "nats://127.0.0.1:4222", time.Millisecond }, "--lease-ttl"},
		{"CredsWithoutNATS", func(c *Config) { c.NATSCreds = file }, "--nats-creds and --nats-ca are for --nats"},
		{"MissingCreds", func(c *Config) { c.NATS, c.NATSCreds = "nats://127.0.0.1:4222", filepath.Join(dir, "nope.creds") }, "--nats-creds"},
		{"MissingCA", func(c *Config) { c.NATS, c.NATSCA = "nats://127.0.0.1:4222", filepath.Join(dir, "nope.pem") }, "--nats-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			c.Dir = dir
			tt.edit(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error naming %s", err, tt.want)
			}
		})
	}
	if c := (Config{Dir: dir, Addr: DefaultAddr, LogFormat: "text"}); c.Validate() == nil && c.StateDir != filepath.Join(dir, ".sheetsync") {
		t.Errorf("StateDir default = %q", c.StateDir)
	}
}

func TestParseFlagsAndEnv(t *testing.T) {
	t.Setenv("SHEETSYNC_DIR", "/from/env")
	t.Setenv("SHEETSYNC_READ_ONLY", "true")
	c := NewConfig()
	if err := c.ParseFlags([]string{"--addr", "127.0.0.1:9999"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.Dir != "/from/env" || !c.ReadOnly || c.Addr != "127.0.0.1:9999" {
		t.Errorf("config = %+v", c)
	}
	c = NewConfig()
	if err := c.ParseFlags([]string{"--dir", "/from/flag"}, io.Discard); err != nil || c.Dir != "/from/flag" {
		t.Errorf("a flag must win over the environment: %+v %v", c, err)
	}
	t.Setenv("SHEETSYNC_READ_ONLY", "maybe")
	c = NewConfig()
	if err := c.ParseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "SHEETSYNC_READ_ONLY") {
		t.Errorf("bad boolean in the environment: %v", err)
	}
}

func TestRunCommands(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "sheetsync ") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
	if code := run(context.Background(), []string{"frobnicate"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown command") {
		t.Errorf("unknown command: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"serve", "--nope"}, &stdout, &stderr); code != 2 {
		t.Errorf("unknown flag: %d %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"serve", "--dir", "/does/not/exist"}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "no such folder") {
		t.Errorf("missing folder: %d %q", code, stderr.String())
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	m := NewMain()
	m.Stderr = io.Discard
	m.Config.Dir = t.TempDir()
	m.Config.Addr = ln.Addr().String()
	err = m.Run(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("Run on a busy port: %v", err)
	}
}

// TestProcess runs the command as a real process on a copy of the samples: it prints where it
// serves, answers, and exits 0 on SIGTERM after shutting down.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	p := startProcess(t, copySamples(t))
	if code, out := post(t, p.url+"/v3/items/count", `{"collectionId":"stores-Staff"}`); code != 200 || out["totalCount"].(float64) != 30 {
		t.Errorf("count: %d %v", code, out)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the process did not exit after SIGTERM")
	}
	if !strings.Contains(p.logged(), "shutting down") {
		t.Errorf("log has no shutdown line:\n%s", p.logged())
	}
}

// TestServeWrites: writes through both protocols reach the sample files, the semicolon CSV keeps
// its dialect, and --read-only refuses them, naming the flag.
func TestServeWrites(t *testing.T) {
	dir := copySamples(t)
	m := MustRunMain(t, dir, nil)
	url := m.Server.URL()
	code, out := post(t, url+"/v3/items/insert", `{"collectionId":"products","items":[{"_id":"rake-1","name":"Garden Rake","category":"garden","price":12.5}]}`)
	if code != 200 || out["results"].([]any)[0].(map[string]any)["item"] == nil {
		t.Fatalf("insert: %d %v", code, out)
	}
	code, out = post(t, url+"/data/remove", `{"collectionName":"stores-Staff","itemId":"d6e3bbf5-8e4d-4109-90bc-65440f3d205c","requestContext":{"role":"OWNER"}}`)
	if code != 200 {
		t.Fatalf("legacy remove: %d %v", code, out)
	}
	// the process writes the files within milliseconds; Close writes what is left
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "products.csv"))
	if !strings.Contains(string(b), "\nGarden Rake,garden,12.5,,,,,rake-1,") {
		t.Errorf("products.csv does not end with the new row:\n%s", b[max(0, len(b)-300):])
	}
	book, err := excelize.OpenFile(filepath.Join(dir, "stores.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer book.Close()
	rows, _ := book.GetRows("Staff")
	if len(rows) != 30 || strings.Contains(fmt.Sprint(rows), "Caoimhe Moran") {
		t.Errorf("Staff has %d rows after removing one of 30 data rows, or still holds the removed one", len(rows))
	}

	ro := MustRunMain(t, copySamples(t), func(c *Config) { c.ReadOnly = true })
	code, out = post(t, ro.Server.URL()+"/v3/items/insert", `{"collectionId":"products","items":[{"name":"x"}]}`)
	if code != 400 || !strings.Contains(fmt.Sprint(out["errorMessage"]), "--read-only") {
		t.Errorf("insert with --read-only: %d %v", code, out)
	}
}

// TestServeKeepsIndexes: an index created through the API is there again after a restart.
func TestServeKeepsIndexes(t *testing.T) {
	dir := copySamples(t)
	m := MustRunMain(t, dir, nil)
	code, out := post(t, m.Server.URL()+"/v3/indexes/create", `{"collectionId":"products","index":{"name":"by_sku","fields":[{"path":"sku"}],"unique":true}}`)
	if code != 200 || out["index"].(map[string]any)["status"] != "ACTIVE" {
		t.Fatalf("create: %d %v", code, out)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	again := MustRunMain(t, dir, nil)
	_, out = post(t, again.Server.URL()+"/v3/indexes/list", `{"collectionId":"products"}`)
	if !strings.Contains(fmt.Sprint(out["indexes"]), "by_sku") {
		t.Errorf("after a restart the indexes are %v", out["indexes"])
	}
}

// TestServeTwiceOnOneStateDir: a second sheetsync on the same state dir refuses to start, naming
// the first, instead of writing the same files and change log.
func TestServeTwiceOnOneStateDir(t *testing.T) {
	dir := copySamples(t)
	MustRunMain(t, dir, nil)
	m := NewMain()
	m.Stderr = io.Discard
	m.Config.Dir, m.Config.Addr = dir, "127.0.0.1:0"
	err := m.Run(context.Background())
	defer m.Close()
	if err == nil || !strings.Contains(err.Error(), "another sheetsync (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Fatalf("second serve on one state dir: %v", err)
	}
}

// TestRedactURL: a NATS URL's password or token never reaches a log line or an error.
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                                 "nats://127.0.0.1:4222",
		"nats://sheetsync:s3cret@a:4222,tls://tok3n@b:4222":     "nats://***@a:4222,tls://***@b:4222",
		"nats://user:p@ss@word@host:4222":                       "nats://***@host:4222",
		"tls://sheetsync:s3cret@nats.example.com:4222,nats://x": "tls://***@nats.example.com:4222,nats://x",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLogsHoldNoSecretsOrItems: at the default (info) level, nothing logged while serving holds
// a key or a value of an item: not on a write, not on a rejected request, not on a wrong key.
func TestLogsHoldNoSecretsOrItems(t *testing.T) {
	const secret, value = "s3cret-key-never-logged", "SENSITIVE-VALUE-42"
	m := MustRunMain(t, copySamples(t), func(c *Config) { c.SecretKey = secret })
	legacy := func(key, op, body string) {
		req := fmt.Sprintf(`{"collectionName":"products",%s,"requestContext":{"settings":{"secretKey":%q},"role":"OWNER"}}`, body, key)
		post(t, m.Server.URL()+"/data/"+op, req)
	}
	legacy(secret, "insert", fmt.Sprintf(`"item":{"_id":"x1","name":%q}`, value))          // a write
	legacy(secret, "insert", fmt.Sprintf(`"item":{"_id":"x2","price":%q}`, value))         // refused: text in a number field
	legacy("wrong-"+secret, "insert", fmt.Sprintf(`"item":{"_id":"x3","name":%q}`, value)) // refused: wrong key
	legacy(secret, "find", fmt.Sprintf(`"filter":{"name":{"$eq":%q}},"skip":0,"limit":5`, value))
	eventually(t, 10*time.Second, func() (bool, string) { return m.Folder.Idle(), "the write never reached the file" })
	logs := m.Stderr.(*lockedBuffer).String()
	for _, leak := range []string{secret, value} {
		if strings.Contains(logs, leak) {
			t.Errorf("the log holds %q:\n%s", leak, logs)
		}
	}
	if !strings.Contains(logs, "request rejected") {
		t.Errorf("the refused requests were not logged:\n%s", logs)
	}
}
