package httpapi_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/ingest"
)

// openFolderServer serves a folder holding files through a real ingest.Folder, which the server
// uses as its Files, as cmd wires them. It returns the server and the folder.
func openFolderServer(t *testing.T, files map[string]string, readOnly bool) (*TestServer, string) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store := cache.NewStore()
	folder := &ingest.Folder{Dir: dir, StateDir: t.TempDir(), Loader: &ingest.Loader{ReadOnly: readOnly, Logger: discardLogger()},
		Committer: store, Logger: discardLogger()}
	store.Listen(folder.OnCommit)
	if _, err := folder.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { folder.Close() })
	cfg := openConfig()
	cfg.Files = folder
	return MustOpenServer(t, cfg, store), dir
}

const booksCSV = "title,pages,_id,_createdDate,_updatedDate,_owner\nDune,412,b1,,,\n"

// fieldsOf returns a v3 collection's fields as "key:TYPE" in order.
func fieldsOf(tb testing.TB, coll map[string]any) string {
	tb.Helper()
	var out []string
	fields, _ := coll["fields"].([]any)
	for _, f := range fields {
		m := f.(map[string]any)
		out = append(out, m["key"].(string)+":"+m["type"].(string))
	}
	return strings.Join(out, " ")
}

func TestV3CollectionsCreate(t *testing.T) {
	ts, dir := openFolderServer(t, map[string]string{"books.csv": booksCSV}, false)
	r := ts.Post(t, "/v3/collections/create", `{"collection":{"id":"orders","fields":[
		{"key":"_id","type":"TEXT"},{"key":"customer","type":"TEXT"},{"key":"total","type":"NUMBER"},
		{"key":"website","type":"URL"},{"key":"due","type":"DATE"}],"capabilities":{},"pagingMode":"UNKNOWN_PAGING_MODE"}}`)
	if r.Status != 200 {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	coll := r.JSON(t)["collection"].(map[string]any)
	want := "customer:TEXT total:NUMBER website:TEXT due:DATETIME _id:TEXT _createdDate:DATETIME _updatedDate:DATETIME _owner:TEXT"
	if got := fieldsOf(t, coll); got != want {
		t.Errorf("created fields %s, want %s", got, want)
	}
	if coll["pagingMode"] != "OFFSET" {
		t.Errorf("pagingMode %v", coll["pagingMode"])
	}
	if b, err := os.ReadFile(filepath.Join(dir, "orders.csv")); err != nil || string(b) != "customer,total,website,due,_id,_createdDate,_updatedDate,_owner\n" {
		t.Errorf("orders.csv: %q %v", b, err)
	}
	// the new collection takes items at once, typed as created
	r = ts.Post(t, "/v3/items/insert", `{"collectionId":"orders","items":[{"_id":"o1","customer":"Ann","total":12.5}]}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"total":12.5`) {
		t.Fatalf("insert into the new collection: %d %s", r.Status, r.Body)
	}

	v3Error(t, ts.Post(t, "/v3/collections/create", `{"collection":{"id":"books","fields":[]}}`), 409, "COLLECTION_ALREADY_EXISTS", "books")
	v3Error(t, ts.Post(t, "/v3/collections/create", `{"collection":{"id":"tags","fields":[{"key":"list","type":"ARRAY"}]}}`), 400, "VALIDATION_ERROR", "ARRAY")
	v3Error(t, ts.Post(t, "/v3/collections/create", `{"collection":{"id":"a/b","fields":[]}}`), 400, "VALIDATION_ERROR", "letters, digits")
	if _, err := os.Stat(filepath.Join(dir, "tags.csv")); err == nil {
		t.Error("a refused create left a file")
	}
}

func TestV3CollectionsUpdate(t *testing.T) {
	ts, dir := openFolderServer(t, map[string]string{"books.csv": booksCSV}, false)
	r := ts.Post(t, "/v3/collections/update", `{"collection":{"id":"books","fields":[
		{"key":"title","type":"TEXT"},{"key":"author","type":"TEXT"}]}}`)
	if r.Status != 200 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if got := fieldsOf(t, r.JSON(t)["collection"].(map[string]any)); !strings.HasPrefix(got, "title:TEXT _id:TEXT") || !strings.HasSuffix(got, "author:TEXT") || strings.Contains(got, "pages") {
		t.Errorf("fields after update: %s", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "books.csv"))
	if string(b) != "title,_id,_createdDate,_updatedDate,_owner,author\nDune,b1,,,\n" {
		t.Errorf("books.csv after update: %q", b)
	}
	m := v3Error(t, ts.Post(t, "/v3/collections/update", `{"collection":{"id":"books","fields":[
		{"key":"title","type":"NUMBER"},{"key":"author","type":"TEXT"}]}}`), 400, "COLLECTION_CHANGE_NOT_SUPPORTED", "Dune")
	errs, _ := m["data"].(map[string]any)["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["fieldKey"] != "title" {
		t.Errorf("data.errors %v", errs)
	}
	v3Error(t, ts.Post(t, "/v3/collections/update", `{"collection":{"id":"nope","fields":[]}}`), 404, "COLLECTION_NOT_FOUND", "nope")
}

func TestV3CollectionsDelete(t *testing.T) {
	ts, dir := openFolderServer(t, map[string]string{"books.csv": booksCSV}, false)
	r := ts.Post(t, "/v3/collections/delete", `{"collectionId":"books"}`)
	if r.Status != 200 || string(r.Body) != "{}" {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	v3Error(t, ts.Post(t, "/v3/items/query", `{"collectionId":"books"}`), 404, "COLLECTION_NOT_FOUND", "books")
	if _, err := os.Stat(filepath.Join(dir, "books.csv")); err == nil {
		t.Error("books.csv is still in the folder")
	}
	v3Error(t, ts.Post(t, "/v3/collections/delete", `{"collectionId":"books"}`), 404, "COLLECTION_NOT_FOUND", "books")
}

func TestV3CapabilitiesModifications(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		ts, _ := openFolderServer(t, map[string]string{"books.csv": booksCSV}, readOnly)
		m := ts.Post(t, "/v3/capabilities/get", `{}`).JSON(t)
		if m["supportsCollectionModifications"] != !readOnly {
			t.Errorf("read-only %v: supportsCollectionModifications %v", readOnly, m["supportsCollectionModifications"])
		}
		if readOnly {
			v3Error(t, ts.Post(t, "/v3/collections/create", `{"collection":{"id":"x","fields":[]}}`), 400, "UNSUPPORTED_OPERATION", "--read-only")
		}
	}
}

func TestLegacySchemaChanges(t *testing.T) {
	ts, dir := openFolderServer(t, map[string]string{"books.csv": booksCSV}, false)
	owner := `"requestContext":{"settings":{},"role":"OWNER"}`
	if r := ts.Post(t, "/schemas/create", `{"collectionName":"notes",`+owner+`}`); r.Status != 200 || string(r.Body) != "{}" {
		t.Fatalf("schemas/create: %d %s", r.Status, r.Body)
	}
	find := func() string {
		return string(ts.Post(t, "/schemas/find", `{"schemaIds":["notes"],`+owner+`}`).Body)
	}
	if got := find(); !strings.Contains(got, `"_owner":{"displayName":"_owner","type":"text"`) {
		t.Errorf("schemas/find after create: %s", got)
	}
	if r := ts.Post(t, "/schemas/column/add", `{"collectionName":"notes","column":{"name":"pages","type":"number","subtype":"int"},`+owner+`}`); r.Status != 200 {
		t.Fatalf("column/add: %d %s", r.Status, r.Body)
	}
	if got := find(); !strings.Contains(got, `"pages":{"displayName":"pages","type":"number"`) {
		t.Errorf("schemas/find after column/add: %s", got)
	}
	legacyError(t, ts.Post(t, "/schemas/column/add", `{"collectionName":"notes","column":{"name":"pages","type":"text"},`+owner+`}`), 400, "same name")
	legacyError(t, ts.Post(t, "/schemas/column/add", `{"collectionName":"notes","column":{"name":"_owner","type":"text"},`+owner+`}`), 400, "system field")
	legacyError(t, ts.Post(t, "/schemas/column/remove", `{"collectionName":"notes","columnName":"nothing",`+owner+`}`), 404, "does not contain")
	if r := ts.Post(t, "/schemas/column/remove", `{"collectionName":"notes","columnName":"pages",`+owner+`}`); r.Status != 200 {
		t.Fatalf("column/remove: %d %s", r.Status, r.Body)
	}
	if got := find(); strings.Contains(got, `"pages"`) {
		t.Errorf("schemas/find after column/remove: %s", got)
	}
	legacyError(t, ts.Post(t, "/schemas/create", `{"collectionName":"books",`+owner+`}`), 400, "already exists")
	legacyError(t, ts.Post(t, "/schemas/create", `{"collectionName":"x","requestContext":{"settings":{},"role":"VISITOR"}}`), 401, "not authorized")
	if b, _ := os.ReadFile(filepath.Join(dir, "notes.csv")); string(b) != "_id,_createdDate,_updatedDate,_owner\n" {
		t.Errorf("notes.csv: %q", b)
	}
}

// TestV3References: a REFERENCE field is a column of ids: references are inserted, queried with
// the referenced items and removed, each reaching the file; multi-references are refused.
func TestV3References(t *testing.T) {
	ts, dir := openFolderServer(t, map[string]string{"books.csv": booksCSV + "Emma,474,b2,,,\n"}, false)
	r := ts.Post(t, "/v3/collections/create", `{"collection":{"id":"loans","fields":[{"key":"reader","type":"TEXT"},
		{"key":"book","type":"REFERENCE","singleReferenceOptions":{"referencedCollectionId":"books"}}]}}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"type":"REFERENCE","capabilities":{"sortable":true,"queryOperators":["EQ","NE","HAS_SOME","EXISTS"]},"singleReferenceOptions":{"referencedCollectionId":"books"}`) ||
		!strings.Contains(string(r.Body), `"INSERT_REFERENCES"`) {
		t.Fatalf("create with a reference: %d %s", r.Status, r.Body)
	}
	ts.Post(t, "/v3/items/insert", `{"collectionId":"loans","items":[{"_id":"l1","reader":"Ann"},{"_id":"l2","reader":"Bob","book":"b2"}]}`)
	r = ts.Post(t, "/v3/items/insert-references", `{"collectionId":"loans","referringFieldKey":"book","references":[
		{"referringItemId":"l1","referencedItemId":"b1"},{"referringItemId":"l2","referencedItemId":"b2"},
		{"referringItemId":"l1","referencedItemId":"b9"},{"referringItemId":"l9","referencedItemId":"b1"}]}`)
	want := `{"results":[{"reference":{"referringItemId":"l1","referencedItemId":"b1"}},{"error":{"errorCode":"REFERENCE_ALREADY_EXISTS"`
	if r.Status != 200 || !strings.HasPrefix(string(r.Body), want) || strings.Count(string(r.Body), `"ITEM_NOT_FOUND"`) != 2 {
		t.Fatalf("insert-references: %d %s", r.Status, r.Body)
	}
	r = ts.Post(t, "/v3/items/query-referenced", `{"collectionId":"loans","referringItemIds":[],"referencedItemIds":[],"referringFieldKey":"book",
		"order":"ASC","fieldsToReturn":["title"],"includeReferencedItems":true,"returnTotalCount":true,"consistentRead":false}`)
	wantQ := `{"items":[{"referringItemId":"l1","referencedItemId":"b1","referencedItem":{"_id":"b1","title":"Dune"}},` +
		`{"referringItemId":"l2","referencedItemId":"b2","referencedItem":{"_id":"b2","title":"Emma"}}],"pagingMetadata":{"count":2,"offset":0,"total":2}}`
	if string(r.Body) != wantQ {
		t.Errorf("query-referenced:\n%s\nwant\n%s", r.Body, wantQ)
	}
	r = ts.Post(t, "/v3/items/remove-references", `{"collectionId":"loans","referringFieldKey":"book","references":[
		{"referringItemId":"l2","referencedItemId":"b2"},{"referringItemId":"l1","referencedItemId":"b2"}]}`)
	if !strings.HasPrefix(string(r.Body), `{"results":[{"reference":{"referringItemId":"l2","referencedItemId":"b2"}},{"error":{"errorCode":"REFERENCE_NOT_FOUND"`) {
		t.Errorf("remove-references: %s", r.Body)
	}
	// the file holds the references as ids, written back like any write
	eventually(t, func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(dir, "loans.csv"))
		return strings.Contains(string(b), "\nAnn,b1,l1,") && strings.Contains(string(b), "\nBob,,l2,"), string(b)
	})
	v3Error(t, ts.Post(t, "/v3/items/query-referenced", `{"collectionId":"loans","referringFieldKey":"reader"}`), 400, "VALIDATION_ERROR", "not a reference field")
	v3Error(t, ts.Post(t, "/v3/collections/create", `{"collection":{"id":"shelves","fields":[{"key":"books","type":"MULTI_REFERENCE"}]}}`), 400, "VALIDATION_ERROR", "multi-reference")
}

// eventually polls cond every 2 ms for up to 5 s, and fails with what cond last said.
func eventually(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", why)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
