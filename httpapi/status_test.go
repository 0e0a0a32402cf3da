package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
)

const hostile = `<script>alert("x")</script>`

// statusServer serves the fixtures plus a collection with a hostile name, with a secret key,
// products refused as open in Excel and a status with a broken file.
func statusServer(t *testing.T) *TestServer {
	t.Helper()
	store := MustLoadStore(t, fixtureDir)
	MustAddTable(t, store, hostile, []cache.Field{{Key: "line", Type: cache.TypeText}}, [][]cache.Value{{cache.Text("x")}})
	read := time.Now().Add(-3 * time.Minute)
	status := httpapi.Status{
		Replica: "replica-" + hostile,
		Files: []httpapi.FileStatus{
			{Name: "products.csv", Sheets: []httpapi.SheetStatus{{Collection: "products"}}, Read: read, Written: read.Add(time.Minute)},
			{Name: "broken.csv", Problems: []httpapi.Problem{{Row: 7, Column: 2, Message: "opening quote has no closing quote " + hostile, Fatal: true}}},
			{Name: "orders.xlsx", Sheets: []httpapi.SheetStatus{{Sheet: "Orders", Collection: "orders"}},
				Problems: []httpapi.Problem{{Sheet: "Orders", Row: 3, Column: 28, Field: "total", Message: "not a number"}}},
		},
		Log: &httpapi.LogStatus{Applied: 42, Lag: 2, NATS: "nats://***@nats.example:4222", Connected: false, SharedDir: true, Holder: "other"},
	}
	return MustOpenServer(t, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthOpen},
		Legacy: httpapi.Auth{Mode: httpapi.AuthKey, SecretKey: legacySecret},
		Files:  refuseFiles{"products": errExcelOpen},
		Status: func() httpapi.Status { return status },
	}, store)
}

// browse gets path as a browser does.
func browse(t *testing.T, s *TestServer, method, path string) *Response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestStatusPage: a browser gets an HTML page with every collection, why one is read-only,
// every problem with what to do, the change log, and nothing unescaped or secret.
func TestStatusPage(t *testing.T) {
	s := statusServer(t)
	s.API.SetNotReady("loading the folder")
	r := browse(t, s, http.MethodGet, "/")
	if r.Status != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("got %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	if got := r.Header.Get("Vary"); got != "Accept" {
		t.Errorf("Vary: %q", got)
	}
	page := string(r.Body)
	for _, want := range []string{
		"<!doctype html>", `name="viewport"`, "sheetsync", "version <code>test</code>",
		"not ready", "loading the folder", "What is wrong",
		// protocols
		s.URL + "/v3", "NOT authenticated: no --jwt-public-key", ">authenticated<",
		// collections, with rows, typed fields, files, sheets and times
		">inventory<", ">orders<", ">products<", "products.csv", "Orders", "6", "<code>_id</code> <i>text</i>",
		"read-write", "read-only", "products.xlsx is open in Excel", "3m0s ago", "2m0s ago",
		// problems
		"broken.csv", ">7<", ">B<", "AB (total)", "not a number", "it is not served until it can be read",
		"Fix it in the file when you can", "2 problems in 2 files (1 keeping a file or sheet from being read)",
		"2 collections cannot be written from Wix now", "it has no _id column",
		// replica and log
		"sequence 42", "2 changes behind", "not connected", "nats://***@nats.example:4222", "held by <strong>other</strong>",
		"Not connected to NATS",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Errorf("the page has an unescaped <script>:\n%s", page)
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "replica-&lt;script&gt;"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks the escaped %q", want)
		}
	}
	if strings.Contains(page, legacySecret) {
		t.Errorf("the page shows the secret key")
	}
	if strings.Contains(page, "Internal") || strings.Contains(page, "ZgotmplZ") {
		t.Errorf("the page has a template fault:\n%s", page)
	}
}

// TestStatusPage_NoStatus: without Config.Status the page shows what the server knows.
func TestStatusPage_NoStatus(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	s.API.SetReady()
	page := string(browse(t, s, http.MethodGet, "/").Body)
	for _, want := range []string{">inventory<", ">products<", "ready", "read-write"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"What is wrong", "Problems", "Replica and change log"} {
		if strings.Contains(page, unwanted) {
			t.Errorf("the page has %q", unwanted)
		}
	}
}

// TestStatusPage_PlainText: curl (Accept: */*) and clients without Accept get the plain-text
// summary; HEAD answers without a body.
func TestStatusPage_PlainText(t *testing.T) {
	s := statusServer(t)
	for _, accept := range []string{"", "*/*", "text/plain", "application/json", "text/html;q=0"} {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/", nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("Accept %q: got %d %s, want text/plain", accept, resp.StatusCode, ct)
		}
	}
	page := string(s.Do(t, http.MethodGet, "/", nil).Body)
	if !strings.Contains(page, "4 collections:") || strings.Contains(page, legacySecret) {
		t.Errorf("plain text:\n%s", page)
	}
	for _, html := range []bool{false, true} {
		var r *Response
		if html {
			r = browse(t, s, http.MethodHead, "/")
		} else {
			r = s.Do(t, http.MethodHead, "/", nil)
		}
		if r.Status != http.StatusOK || len(r.Body) != 0 {
			t.Errorf("HEAD (html %v): got %d with %d bytes", html, r.Status, len(r.Body))
		}
	}
}

// TestStatusPage_NotHolder: with --shared-dir, a replica that does not hold the folder says
// which one reads the files instead of claiming they have no problem.
func TestStatusPage_NotHolder(t *testing.T) {
	cfg := openConfig()
	cfg.Status = func() httpapi.Status {
		return httpapi.Status{Replica: "a", Log: &httpapi.LogStatus{Connected: true, SharedDir: true, Holder: "b"}}
	}
	s := MustOpenServer(t, cfg, nil)
	page := string(browse(t, s, http.MethodGet, "/").Body)
	for _, want := range []string{"held by <strong>b</strong>", "This replica does not watch the shared folder: b reads the files"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, "every file was read without a problem") {
		t.Error("a replica that does not read the files says they have no problem")
	}
}
