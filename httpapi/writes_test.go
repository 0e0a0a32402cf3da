package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
)

// CommitStore is a real store that records every commit it is asked for, and can run a hook
// before passing one on (to let another producer get in first).
type CommitStore struct {
	*cache.Store
	mu      sync.Mutex
	commits []cache.ChangeSet
	before  func(n int, cs cache.ChangeSet) // called with the 1-based number of the commit
}

var _ httpapi.Store = (*CommitStore)(nil)

func (s *CommitStore) Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error) {
	s.mu.Lock()
	s.commits = append(s.commits, cs)
	n, hook := len(s.commits), s.before
	s.mu.Unlock()
	if hook != nil {
		hook(n, cs)
	}
	return s.Store.Commit(ctx, cs)
}

// Commits returns the change sets committed so far.
func (s *CommitStore) Commits() []cache.ChangeSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]cache.ChangeSet(nil), s.commits...)
}

// conflictStore fails every commit with a version conflict.
type conflictStore struct{ *CommitStore }

func (s conflictStore) Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error) {
	s.mu.Lock()
	s.commits = append(s.commits, cs)
	s.mu.Unlock()
	return 0, fmt.Errorf("collection %s: %w", cs.Collection, cache.ErrVersionConflict)
}

// refuseFiles refuses writes to the collections it names, with the error given.
type refuseFiles map[string]error

func (f refuseFiles) Writable(collection string) error { return f[collection] }

// errExcelOpen is how the file side refuses a write to a workbook another program holds.
var errExcelOpen = fmt.Errorf("%w: products.xlsx is open in Excel", cache.ErrReadOnly)

// MustAddTable commits a collection of the given fields and rows to store, as a file load would.
func MustAddTable(tb testing.TB, store *cache.Store, name string, fields []cache.Field, rows [][]cache.Value) {
	tb.Helper()
	schema, err := cache.NewSchema(fields)
	if err != nil {
		tb.Fatal(err)
	}
	cols := make([]*cache.Column, len(fields))
	for i, f := range fields {
		b := cache.NewColumnBuilder(f.Type)
		for _, row := range rows {
			b.Append(row[i])
		}
		cols[i] = b.Build()
	}
	cs := cache.ChangeSet{Collection: name, Origin: cache.Origin{Kind: cache.OriginFile}, Replace: &cache.Table{Schema: schema, Columns: cols}}
	if _, err := store.Commit(context.Background(), cs); err != nil {
		tb.Fatal(err)
	}
}

// sheetFields are the fields of the "sheet" collection: total is a column of formulas.
var sheetFields = []cache.Field{
	{Key: "item", Type: cache.TypeText}, {Key: "qty", Type: cache.TypeNumber},
	{Key: "total", Type: cache.TypeNumber, ReadOnly: true},
	{Key: cache.FieldID, Type: cache.TypeText}, {Key: cache.FieldCreatedDate, Type: cache.TypeDateTime},
	{Key: cache.FieldUpdatedDate, Type: cache.TypeDateTime}, {Key: cache.FieldOwner, Type: cache.TypeText},
}

// MustWriteStore is the fixtures plus "sheet" (a formula column) and "log" (no _id column).
func MustWriteStore(tb testing.TB) *CommitStore {
	tb.Helper()
	store := MustLoadStore(tb, fixtureDir)
	t0 := cache.Time(1700000000000)
	MustAddTable(tb, store, "sheet", sheetFields, [][]cache.Value{
		{cache.Text("nails"), cache.Number(3), cache.Number(30), cache.Text("s-1"), t0, t0, cache.Text("u-1")},
	})
	MustAddTable(tb, store, "log", []cache.Field{{Key: "line", Type: cache.TypeText}}, [][]cache.Value{{cache.Text("started")}})
	return &CommitStore{Store: store}
}

// TestWrites_BulkInsertIsOneCommit: 1,000 items in one request are one ChangeSet, based on the
// version the request was validated against, from the API (STYLE.md §3).
func TestWrites_BulkInsertIsOneCommit(t *testing.T) {
	store := MustWriteStore(t)
	s := MustOpenServer(t, openConfig(), store)
	base := mustVersion(t, store, "orders")
	items := make([]map[string]any, 1000)
	for i := range items {
		items[i] = map[string]any{"_id": fmt.Sprintf("bulk-%04d", i), "product": "p-1", "qty": i}
	}
	for _, tc := range []struct {
		path string
		body any
	}{
		{"/v3/items/insert", map[string]any{"collectionId": "orders", "items": items[:500]}},
		{"/data/insert/bulk", map[string]any{"collectionName": "orders", "items": items[500:]}},
	} {
		before := len(store.Commits())
		if r := s.PostJSON(t, tc.path, tc.body); r.Status != http.StatusOK {
			t.Fatalf("%s: got %d %s", tc.path, r.Status, r.Body)
		}
		commits := store.Commits()[before:]
		if len(commits) != 1 {
			t.Fatalf("%s: %d commits, want 1", tc.path, len(commits))
		}
		cs := commits[0]
		if len(cs.Insert) != 500 || cs.BaseVersion != base || cs.Origin.Kind != cache.OriginAPI || cs.Collection != "orders" {
			t.Fatalf("%s: commit of %d inserts on version %d from %v to %q, want 500 on %d from api to orders",
				tc.path, len(cs.Insert), cs.BaseVersion, cs.Origin.Kind, cs.Collection, base)
		}
		base = mustVersion(t, store, "orders")
	}
	if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`)); n != 1003 {
		t.Fatalf("count %d, want 1003", n)
	}
}

func mustVersion(tb testing.TB, store httpapi.Store, collection string) uint64 {
	tb.Helper()
	snap, err := store.Snapshot(collection)
	if err != nil {
		tb.Fatal(err)
	}
	return snap.Version()
}

// TestWrites_Retry: when another producer commits between validation and commit, the write is
// validated again on the newer version: an _id the other change took is now ITEM_ALREADY_EXISTS,
// and the rest still goes in, in one more commit.
func TestWrites_Retry(t *testing.T) {
	store := MustWriteStore(t)
	s := MustOpenServer(t, openConfig(), store)
	store.before = func(n int, cs cache.ChangeSet) {
		if n != 1 {
			return
		}
		// a file edit adds o-9 first
		if _, err := store.Store.Commit(context.Background(), cache.ChangeSet{Collection: "orders", Origin: cache.Origin{Kind: cache.OriginFile},
			Insert: []cache.Item{{cache.FieldID: cache.Text("o-9"), "product": cache.Text("from the file")}}}); err != nil {
			t.Error(err)
		}
	}
	r := s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9", "product": "api"}, {"_id": "o-10", "product": "api"}]}`)
	checkResults(t, r, "error:ITEM_ALREADY_EXISTS", "item:o-10")
	if got := len(store.Commits()); got != 2 {
		t.Fatalf("%d commits, want 2 (one conflict, one retry)", got)
	}
	if it := v3Get(t, s, "orders", "o-9"); it["product"] != "from the file" {
		t.Fatalf("o-9 is %v, want the file's", it)
	}
}

// TestWrites_RetryBounded: a collection that keeps changing fails the write after a bounded
// number of attempts, with a message saying so, and nothing written.
func TestWrites_RetryBounded(t *testing.T) {
	store := conflictStore{MustWriteStore(t)}
	s := MustOpenServer(t, openConfig(), store)
	m := v3Error(t, s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9"}]}`),
		http.StatusServiceUnavailable, "UNKNOWN_ERROR", `collection "orders" changed 25 times while this insert was being validated; nothing was written`)
	if data, _ := m["data"].(map[string]any); data["collectionId"] != "orders" {
		t.Errorf("data %v", m["data"])
	}
	legacyError(t, s.Post(t, "/data/truncate", `{"collectionName": "orders"}`), http.StatusServiceUnavailable, "changed 25 times")
	if got := len(store.Commits()); got != 50 {
		t.Fatalf("%d commit attempts, want 25 per request", got)
	}
}

// TestWrites_NotWritable: a collection Files refuses, or one without _id, refuses every write
// with the reason, in each protocol's shape, and nothing is committed; reads go on.
func TestWrites_NotWritable(t *testing.T) {
	store := MustWriteStore(t)
	cfg := openConfig()
	cfg.Files = refuseFiles{"products": errExcelOpen}
	s := MustOpenServer(t, cfg, store)
	for _, tc := range []struct{ collection, path, body, reason string }{
		{"products", "/v3/items/insert", `{"collectionId": "products", "items": [{"_id": "p-9"}]}`, "products.xlsx is open in Excel"},
		{"products", "/v3/items/update", `{"collectionId": "products", "items": [{"_id": "p-1"}]}`, "products.xlsx is open in Excel"},
		{"products", "/v3/items/remove", `{"collectionId": "products", "itemIds": ["p-1"]}`, "products.xlsx is open in Excel"},
		{"products", "/v3/items/truncate", `{"collectionId": "products"}`, "products.xlsx is open in Excel"},
		{"log", "/v3/items/insert", `{"collectionId": "log", "items": [{"line": "x"}]}`, "it has no _id column"},
		{"log", "/v3/items/truncate", `{"collectionId": "log"}`, "it has no _id column"},
	} {
		op := tc.path[strings.LastIndex(tc.path, "/")+1:]
		m := v3Error(t, s.Post(t, tc.path, tc.body), http.StatusBadRequest, "UNSUPPORTED_OPERATION",
			fmt.Sprintf("cannot %s in collection %q: ", op, tc.collection))
		if !strings.Contains(m["errorMessage"].(string), tc.reason) {
			t.Errorf("%s: message %q does not give the reason %q", tc.path, m["errorMessage"], tc.reason)
		}
		if data, _ := m["data"].(map[string]any); data["collectionId"] != tc.collection || data["operation"] != op {
			t.Errorf("%s: data %v", tc.path, m["data"])
		}
	}
	for _, tc := range []struct{ path, body, reason string }{
		{"/data/insert", `{"collectionName": "products", "item": {"_id": "p-9"}}`, "products.xlsx is open in Excel"},
		{"/data/insert/bulk", `{"collectionName": "products", "items": [{"_id": "p-9"}]}`, "products.xlsx is open in Excel"},
		{"/data/update", `{"collectionName": "products", "item": {"_id": "p-1"}}`, "products.xlsx is open in Excel"},
		{"/data/update/bulk", `{"collectionName": "products", "items": [{"_id": "p-1"}]}`, "products.xlsx is open in Excel"},
		{"/data/remove", `{"collectionName": "products", "itemId": "p-1"}`, "products.xlsx is open in Excel"},
		{"/data/remove/bulk", `{"collectionName": "products", "itemIds": ["p-1"]}`, "products.xlsx is open in Excel"},
		{"/data/truncate", `{"collectionName": "products"}`, "products.xlsx is open in Excel"},
		{"/data/truncate", `{"collectionName": "log"}`, "it has no _id column"},
	} {
		legacyError(t, s.Post(t, tc.path, tc.body), http.StatusMethodNotAllowed, tc.reason)
	}
	if n := len(store.Commits()); n != 0 {
		t.Fatalf("%d commits, want none", n)
	}
	if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "products"}`)); n != 6 {
		t.Fatalf("products has %d items, want the 6 it had", n)
	}
	// the other collections take writes
	checkResults(t, s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9"}]}`), "item:o-9")
}

// TestWrites_Capabilities: what each protocol advertises follows what can be written now
// (spec v3 §7.1 dataOperations, legacy §7.4 allowedOperations).
func TestWrites_Capabilities(t *testing.T) {
	files := refuseFiles{}
	cfg := openConfig()
	cfg.Files = files
	s := MustOpenServer(t, cfg, MustWriteStore(t))
	v3Ops := func() map[string]string {
		var out struct {
			Collections []struct {
				ID           string
				Capabilities struct{ DataOperations []string }
			}
		}
		r := s.Post(t, "/v3/collections/get", `{}`)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		m := map[string]string{}
		for _, c := range out.Collections {
			m[c.ID] = strings.Join(c.Capabilities.DataOperations, " ")
		}
		return m
	}
	legacyOps := func(path, body string) map[string]string {
		var out struct {
			Schemas []struct {
				ID                string
				AllowedOperations []string
			}
		}
		r := s.Post(t, path, body)
		if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
			t.Fatalf("got %d %s", r.Status, r.Body)
		}
		m := map[string]string{}
		for _, sc := range out.Schemas {
			m[sc.ID] = strings.Join(sc.AllowedOperations, " ")
		}
		return m
	}
	const (
		v3RW     = "QUERY COUNT AGGREGATE DISTINCT INSERT UPDATE REMOVE TRUNCATE"
		v3RO     = "QUERY COUNT AGGREGATE DISTINCT"
		legacyRW = "get find count insert update remove bulkInsert bulkUpdate bulkRemove"
		legacyRO = "get find count"
	)
	check := func(name string, got map[string]string, want map[string]string) {
		t.Helper()
		for id, w := range want {
			if got[id] != w {
				t.Errorf("%s %s: %q, want %q", name, id, got[id], w)
			}
		}
	}
	check("v3", v3Ops(), map[string]string{"products": v3RW, "orders": v3RW, "sheet": v3RW, "log": v3RO})
	check("legacy list", legacyOps("/schemas/list", `{}`), map[string]string{"products": legacyRW, "log": legacyRO})
	check("legacy find", legacyOps("/schemas/find", `{"schemaIds": ["products", "log"]}`), map[string]string{"products": legacyRW, "log": legacyRO})
	// the file is opened in Excel: the very next answers say read-only
	files["products"] = errExcelOpen
	check("v3", v3Ops(), map[string]string{"products": v3RO, "orders": v3RW})
	check("legacy find", legacyOps("/schemas/find", `{"schemaIds": ["products", "orders"]}`), map[string]string{"products": legacyRO, "orders": legacyRW})
	delete(files, "products")
	check("v3", v3Ops(), map[string]string{"products": v3RW})
	// headers carry no operations at all
	if r := s.Post(t, "/schemas/list/headers", `{}`); strings.Contains(string(r.Body), "allowedOperations") {
		t.Errorf("headers carry allowedOperations: %s", r.Body)
	}
}

// TestWrites_ReadYourWrites: a query answered (and memoised) before a write is answered anew
// right after it, in both protocols.
func TestWrites_ReadYourWrites(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	queries := []struct{ path, body string }{
		{"/v3/items/query", `{"collectionId": "orders", "query": {"filter": {"product": "p-9"}}, "returnTotalCount": true}`},
		{"/data/find", `{"collectionName": "orders", "filter": {"product": {"$eq": "p-9"}}}`},
		{"/v3/items/count", `{"collectionId": "orders", "filter": {"product": "p-9"}}`},
	}
	for _, q := range queries {
		s.Post(t, q.path, q.body)
	}
	s.Results.Wait() // the answers are memoised now
	checkResults(t, s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9", "product": "p-9"}]}`), "item:o-9")
	for _, q := range queries {
		if r := s.Post(t, q.path, q.body); !strings.Contains(string(r.Body), "o-9") && !strings.Contains(string(r.Body), `"totalCount":1`) {
			t.Errorf("%s right after the insert does not show it: %s", q.path, r.Body)
		}
	}
	s.Results.Wait()
	if r := s.Post(t, "/data/remove", `{"collectionName": "orders", "itemId": "o-9"}`); r.Status != http.StatusOK {
		t.Fatalf("got %d %s", r.Status, r.Body)
	}
	for _, q := range queries {
		if r := s.Post(t, q.path, q.body); strings.Contains(string(r.Body), "o-9") || strings.Contains(string(r.Body), `"totalCount":1`) {
			t.Errorf("%s right after the remove still shows it: %s", q.path, r.Body)
		}
	}
}

// TestWrites_Concurrent: writers in both protocols insert and update at once while readers
// query; every write lands, and each item ends with its writer's last value (run with -race).
func TestWrites_Concurrent(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	const writers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds*2)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("w-%d", w)
			if r := s.PostJSON(t, "/v3/items/insert", map[string]any{"collectionId": "orders", "items": []any{map[string]any{"_id": id, "qty": 0}}}); r.Status != http.StatusOK || !strings.Contains(string(r.Body), `"item"`) {
				errs <- fmt.Errorf("insert %s: %d %s", id, r.Status, r.Body)
				return
			}
			for i := 1; i <= rounds; i++ {
				path, body := "/v3/items/update", map[string]any{"collectionId": "orders", "items": []any{map[string]any{"_id": id, "qty": i}}}
				if i%2 == 0 {
					path, body = "/data/update", map[string]any{"collectionName": "orders", "item": map[string]any{"_id": id, "qty": i}}
				}
				if r := s.PostJSON(t, path, body); r.Status != http.StatusOK || !strings.Contains(string(r.Body), fmt.Sprintf(`"qty":%d`, i)) {
					errs <- fmt.Errorf("%s %s=%d: %d %s", path, id, i, r.Status, r.Body)
				}
				item := map[string]any{"_id": fmt.Sprintf("%s-%d", id, i), "product": id}
				if r := s.PostJSON(t, "/data/insert", map[string]any{"collectionName": "orders", "item": item}); r.Status != http.StatusOK {
					errs <- fmt.Errorf("insert %v: %d %s", item["_id"], r.Status, r.Body)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range rounds {
				if r := s.Post(t, "/v3/items/query", `{"collectionId": "orders", "query": {"sort": [{"fieldName": "qty"}]}}`); r.Status != http.StatusOK {
					errs <- fmt.Errorf("query: %d %s", r.Status, r.Body)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`)); n != 3+writers*(rounds+1) {
		t.Fatalf("%d orders, want %d", n, 3+writers*(rounds+1))
	}
	for w := range writers {
		if it := v3Get(t, s, "orders", fmt.Sprintf("w-%d", w)); it["qty"] != float64(rounds) {
			t.Errorf("w-%d: qty %v, want %d", w, it["qty"], rounds)
		}
	}
}

// errNoFolder is what refuseFiles answers to collection changes: it has no folder behind it.
var errNoFolder = fmt.Errorf("%w: this test has no folder", cache.ErrReadOnly)

func (refuseFiles) CreateCollection(context.Context, string, []cache.Field) error { return errNoFolder }
func (refuseFiles) UpdateCollection(context.Context, string, []cache.Field) error { return errNoFolder }
func (refuseFiles) DeleteCollection(context.Context, string) error                { return errNoFolder }

// unavailableStore fails every commit as the replicated log does when NATS cannot be reached.
type unavailableStore struct{ *CommitStore }

func (s unavailableStore) Commit(context.Context, cache.ChangeSet) (uint64, error) {
	return 0, fmt.Errorf("%w: nats: no servers available for connection", cache.ErrUnavailable)
}

// TestWrites_LogUnavailable: with the change log unreachable a write fails fast with 503 and
// says nothing was written; reads keep answering.
func TestWrites_LogUnavailable(t *testing.T) {
	s := MustOpenServer(t, openConfig(), unavailableStore{MustWriteStore(t)})
	v3Error(t, s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9"}]}`),
		http.StatusServiceUnavailable, "UNKNOWN_ERROR", "nothing was written: the change log is unavailable")
	legacyError(t, s.Post(t, "/data/insert", `{"collectionName": "orders", "item": {"_id": "o-9"}}`), http.StatusServiceUnavailable, "unavailable")
	if r := s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`); r.Status != 200 {
		t.Errorf("a read with the log down: %d %s", r.Status, r.Body)
	}
}

// notAppliedStore commits every change to the log and never sees it applied, as a replica that
// stopped following the log.
type notAppliedStore struct{ *CommitStore }

func (s notAppliedStore) Commit(context.Context, cache.ChangeSet) (uint64, error) {
	return 0, fmt.Errorf("collection orders: change log sequence 7: %w within 10s", cache.ErrNotApplied)
}

// TestWrites_CommittedNotApplied: a write in the log that this replica has not applied within
// the bound is a 503 that says it is recorded and must not be repeated, not "nothing was
// written", which would make the caller insert it twice.
func TestWrites_CommittedNotApplied(t *testing.T) {
	s := MustOpenServer(t, openConfig(), notAppliedStore{MustWriteStore(t)})
	r := s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9"}]}`)
	v3Error(t, r, http.StatusServiceUnavailable, "UNKNOWN_ERROR", "the write was recorded and is not lost")
	if strings.Contains(string(r.Body), "nothing was written") || !strings.Contains(string(r.Body), "do not repeat it") {
		t.Errorf("a committed write not applied here: %s", r.Body)
	}
}

// unknownOutcomeStore sends every change to the log and never learns whether it went in.
type unknownOutcomeStore struct{ *CommitStore }

func (s unknownOutcomeStore) Commit(context.Context, cache.ChangeSet) (uint64, error) {
	return 0, fmt.Errorf("collection orders: %w: nats: timeout; NATS did not come back within 5s to tell", cache.ErrOutcomeUnknown)
}

// TestWrites_OutcomeUnknown: a write whose fate in the log is unknown says so and tells the
// caller to read before writing again, never "nothing was written".
func TestWrites_OutcomeUnknown(t *testing.T) {
	s := MustOpenServer(t, openConfig(), unknownOutcomeStore{MustWriteStore(t)})
	r := s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [{"_id": "o-9"}]}`)
	v3Error(t, r, http.StatusServiceUnavailable, "UNKNOWN_ERROR", "it may have been recorded: read the item before writing it again")
	if strings.Contains(string(r.Body), "nothing was written") {
		t.Errorf("a write of unknown outcome: %s", r.Body)
	}
}
