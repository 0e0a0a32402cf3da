package httpapi_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/httpapi"
)

var update = flag.Bool("update", false, "rewrite the golden responses in testdata/v3 and testdata/legacy")

// goldenSecret is the legacy secret key of the golden server: legacy golden requests carry the
// requestContext Wix sends (legacy §3).
const goldenSecret = "s3cr3t-value"

// goldenCase is one request to one endpoint and the file that holds its expected answer.
type goldenCase struct {
	file string // under testdata/, like "v3/items-query.json"
	path string
	body string
}

// v3GoldenCases cover every v3 endpoint (spec v3 §1.1). Requests are the plain JSON request
// objects an AuthOpen server takes; TestV3Auth sends the same requests signed.
var v3GoldenCases = []goldenCase{
	{"v3/items-query.json", "/v3/items/query", `{
		"collectionId": "products",
		"query": {
			"filter": {"$or": [{"category": "tools"}, {"price": {"$lt": 20}}]},
			"sort": [{"fieldName": "price", "order": "DESC"}],
			"fields": ["name", "price", "released", "note"],
			"paging": {"limit": 2, "offset": 1}
		},
		"consistentRead": false,
		"returnTotalCount": true
	}`},
	{"v3/items-query-all.json", "/v3/items/query", `{"collectionId": "products", "query": {"filter": {}}, "consistentRead": true, "returnTotalCount": true}`},
	{"v3/items-query-no-total.json", "/v3/items/query", `{"collectionId": "orders", "query": {"filter": {"paid": true}, "paging": {"limit": 1}}}`},
	{"v3/items-query-xlsx.json", "/v3/items/query", `{"collectionId": "inventory", "query": {"sort": [{"fieldName": "seen"}]}, "returnTotalCount": true}`},
	{"v3/items-count.json", "/v3/items/count", `{"collectionId": "products", "filter": {"inStock": true}, "consistentRead": false}`},
	{"v3/items-count-all.json", "/v3/items/count", `{"collectionId": "products", "filter": {}}`},
	{"v3/items-aggregate.json", "/v3/items/aggregate", `{
		"collectionId": "products",
		"initialFilter": {"_owner": {"$ne": "u-3"}},
		"aggregation": {
			"groupingFields": ["category"],
			"operations": [
				{"resultFieldName": "total", "sum": {"itemFieldName": "price"}},
				{"resultFieldName": "avgPrice", "average": {"itemFieldName": "price"}},
				{"resultFieldName": "newest", "max": {"itemFieldName": "released"}},
				{"resultFieldName": "n", "itemCount": {}}
			]
		},
		"finalFilter": {"n": {"$gt": 1}},
		"sort": [{"fieldName": "total", "order": "DESC"}],
		"paging": {"limit": 10, "offset": 0},
		"consistentRead": false,
		"returnTotalCount": true
	}`},
	{"v3/items-aggregate-all.json", "/v3/items/aggregate", `{
		"collectionId": "products",
		"aggregation": {"operations": [
			{"resultFieldName": "items", "count": {}},
			{"resultFieldName": "cheapest", "min": {"itemFieldName": "price"}},
			{"resultFieldName": "oldest", "min": {"itemFieldName": "released"}},
			{"resultFieldName": "firstName", "min": {"itemFieldName": "name"}}
		]},
		"returnTotalCount": true
	}`},
	{"v3/items-query-distinct-values.json", "/v3/items/query-distinct-values", `{
		"collectionId": "products", "fieldName": "category", "filter": {}, "order": "ASC",
		"paging": {"limit": 50, "offset": 0}, "consistentRead": false, "returnTotalCount": true
	}`},
	{"v3/items-query-distinct-values-desc.json", "/v3/items/query-distinct-values", `{
		"collectionId": "products", "fieldName": "released", "filter": {"inStock": {"$exists": true}}, "order": "DESC",
		"paging": {"limit": 2, "offset": 1}
	}`},
	{"v3/items-query-referenced.json", "/v3/items/query-referenced", `{
		"collectionId": "products", "referringItemIds": ["p-1"], "referencedItemIds": [], "referringFieldKey": "category",
		"order": "ASC", "includeReferencedItems": true, "returnTotalCount": true, "consistentRead": false,
		"paging": {"limit": 50, "offset": 0}
	}`},
	{"v3/collections-get-all.json", "/v3/collections/get", `{"collectionIds": []}`},
	{"v3/collections-get-one.json", "/v3/collections/get", `{"collectionIds": ["products"]}`},
	{"v3/capabilities-get.json", "/v3/capabilities/get", `{}`},
	{"v3/provision.json", "/v3/provision", `{}`},
	{"v3/indexes-list.json", "/v3/indexes/list", `{"collectionId": "products"}`},
	// Item writes, after every read: each changes the data the next one sees. Items carry their
	// system dates, so no answer holds the time the test ran.
	{"v3/items-insert.json", "/v3/items/insert", `{"collectionId": "products", "items": [
		{"_id": "p-90", "_owner": "u-1", "name": "Rake", "price": 12, "released": {"$date": "2025-01-02T03:04:05Z"},
		 "_createdDate": {"$date": "2025-01-02T03:04:05.000Z"}, "_updatedDate": {"$date": "2025-01-02T03:04:05.000Z"}},
		{"_id": "p-1", "name": "Chisel again"},
		{"_id": "p-91", "name": "Hoe", "price": "cheap"}
	]}`},
	{"v3/items-update.json", "/v3/items/update", `{"collectionId": "products", "items": [
		{"_id": "p-1", "name": "Chisel XL", "price": 40, "inStock": false, "_updatedDate": {"$date": "2025-02-03T04:05:06.000Z"}},
		{"_id": "p-404", "name": "Ghost"}
	]}`},
	{"v3/items-remove.json", "/v3/items/remove", `{"collectionId": "products", "itemIds": ["p-1", "p-404"]}`},
	{"v3/items-truncate.json", "/v3/items/truncate", `{"collectionId": "products"}`},
	// References, collection and index changes: not served yet.
	{"v3/items-insert-references.json", "/v3/items/insert-references", `{"collectionId": "products", "referringFieldKey": "category", "references": [{"referringItemId": "p-1", "referencedItemId": "c-1"}]}`},
	{"v3/items-remove-references.json", "/v3/items/remove-references", `{"collectionId": "products", "referringFieldKey": "category", "references": [{"referringItemId": "p-1", "referencedItemId": "c-1"}]}`},
	{"v3/collections-create.json", "/v3/collections/create", `{"collection": {"id": "tools", "fields": [{"key": "_id", "type": "TEXT"}]}}`},
	{"v3/collections-update.json", "/v3/collections/update", `{"collection": {"id": "products", "fields": [{"key": "_id", "type": "TEXT"}]}}`},
	{"v3/collections-delete.json", "/v3/collections/delete", `{"collectionId": "products"}`},
	{"v3/indexes-create.json", "/v3/indexes/create", `{"collectionId": "products", "index": {"name": "idx_price", "fields": [{"path": "price", "order": "ASC"}]}}`},
	{"v3/indexes-remove.json", "/v3/indexes/remove", `{"collectionId": "products", "indexName": "idx_price"}`},
}

// legacyGoldenCases cover every legacy endpoint (legacy §12.19). requestContext is added by
// legacyBody.
var legacyGoldenCases = []goldenCase{
	{"legacy/provision.json", "/provision", `{}`},
	{"legacy/schemas-list.json", "/schemas/list", `{}`},
	{"legacy/schemas-list-headers.json", "/schemas/list/headers", `{}`},
	{"legacy/schemas-find.json", "/schemas/find", `{"schemaIds": ["products", "no-such-collection"]}`},
	{"legacy/data-find.json", "/data/find", `{
		"collectionName": "products",
		"filter": {"price": {"$gt": 10}},
		"sort": [{"fieldName": "price", "direction": "desc"}],
		"skip": 1,
		"limit": 2,
		"projection": ["name", "price", "inStock"]
	}`},
	{"legacy/data-find-all.json", "/data/find", `{"collectionName": "products", "filter": "", "sort": "", "skip": 0, "limit": 50}`},
	{"legacy/data-find-omit-total.json", "/data/find", `{
		"collectionName": "products",
		"filter": {"operator": "$and", "value": [
			{"operator": "$ne", "fieldName": "category", "value": "tools"},
			{"operator": "$not", "value": {"operator": "$eq", "fieldName": "inStock", "value": true}}
		]},
		"sort": [{"fieldName": "name"}],
		"skip": 0,
		"limit": 10,
		"projection": ["name", "released", "_updatedDate"],
		"omitTotalCount": true
	}`},
	{"legacy/data-get.json", "/data/get", `{"collectionName": "products", "itemId": "p-3"}`},
	{"legacy/data-get-projection.json", "/data/get", `{"collectionName": "products", "itemId": "p-2", "projection": ["note", "_createdDate"]}`},
	{"legacy/data-get-missing.json", "/data/get", `{"collectionName": "products", "itemId": "wrong"}`},
	{"legacy/data-count.json", "/data/count", `{"collectionName": "products", "filter": {"category": {"$eq": "garden"}}}`},
	{"legacy/data-count-all.json", "/data/count", `{"collectionName": "products", "filter": ""}`},
	{"legacy/data-aggregate-v2.json", "/data/aggregate", `{
		"collectionName": "products",
		"filter": {"_owner": {"$ne": "u-3"}},
		"processingStep": {
			"_id": {"c": "$category", "o": "$_owner"},
			"avgPrice": {"$avg": "$price"},
			"total": {"$sum": "$price"},
			"n": {"$sum": 1}
		},
		"postFilteringStep": {"total": {"$gt": 10}}
	}`},
	{"legacy/data-aggregate-v1.json", "/data/aggregate", `{
		"collectionName": "products",
		"filter": {"operator": "$gt", "fieldName": "price", "value": 0},
		"aggregation": {
			"processingStep": {"_id": {"field1": "_id", "field2": "_owner"}, "myAvg": {"$avg": "price"}, "mySum": {"$sum": "price"}},
			"postFilteringStep": {"operator": "$and", "value": [
				{"operator": "$gt", "fieldName": "myAvg", "value": 10},
				{"operator": "$lt", "fieldName": "mySum", "value": 1000}
			]}
		}
	}`},
	{"legacy/data-aggregate-no-group.json", "/data/aggregate", `{
		"collectionName": "products",
		"filter": "",
		"processingStep": {"_id": null, "n": {"$count": {}}, "maxPrice": {"$max": "$price"}}
	}`},
	// Writes, after every read: each changes the data the next one sees. Items carry their system
	// dates, so no answer holds the time the test ran.
	{"legacy/data-insert.json", "/data/insert", `{"collectionName": "products", "item": {"_id": "p-90", "_owner": "u-1", "name": "Rake", "price": 12,
		"_createdDate": {"$date": "2025-01-02T03:04:05.000Z"}, "_updatedDate": {"$date": "2025-01-02T03:04:05.000Z"}}}`},
	{"legacy/data-insert-duplicate.json", "/data/insert", `{"collectionName": "products", "item": {"_id": "p-90", "name": "Rake again"}}`},
	{"legacy/data-insert-bulk.json", "/data/insert/bulk", `{"collectionName": "orders", "items": [
		{"_id": "o-4", "product": "p-2", "qty": 3, "paid": false, "_createdDate": {"$date": "2025-03-01T10:00:00.000Z"}, "_updatedDate": {"$date": "2025-03-01T10:00:00.000Z"}},
		{"_id": "o-5", "product": "p-6", "qty": 1, "paid": true, "_createdDate": {"$date": "2025-03-02T10:00:00.000Z"}, "_updatedDate": {"$date": "2025-03-02T10:00:00.000Z"}}
	]}`},
	{"legacy/data-update.json", "/data/update", `{"collectionName": "products", "item": {"_id": "p-90", "name": "Rake XL", "inStock": true,
		"_updatedDate": {"$date": "2025-02-03T04:05:06.000Z"}}}`},
	{"legacy/data-update-missing.json", "/data/update", `{"collectionName": "products", "item": {"_id": "p-404", "name": "Ghost"}}`},
	{"legacy/data-update-bulk.json", "/data/update/bulk", `{"collectionName": "orders", "items": [
		{"_id": "o-4", "product": "p-2", "qty": 4, "paid": true, "_updatedDate": {"$date": "2025-03-03T10:00:00.000Z"}},
		{"_id": "o-5", "product": "p-6", "qty": 2, "_updatedDate": {"$date": "2025-03-03T10:00:00.000Z"}}
	]}`},
	{"legacy/data-remove.json", "/data/remove", `{"collectionName": "products", "itemId": "p-90"}`},
	{"legacy/data-remove-missing.json", "/data/remove", `{"collectionName": "products", "itemId": "p-90"}`},
	{"legacy/data-remove-bulk.json", "/data/remove/bulk", `{"collectionName": "orders", "itemIds": ["o-5", "o-4"]}`},
	{"legacy/data-truncate.json", "/data/truncate", `{"collectionName": "orders"}`},
}

// legacyContext is the requestContext of legacy golden requests (legacy §3).
var legacyContext = map[string]any{
	"settings":       map[string]any{"secretKey": goldenSecret},
	"instanceId":     "0c6f4b1e-2a7d-4f58-9a51-3d2b7e9c1a40",
	"installationId": "5e1d0a77-91c3-4b2a-8f0e-6a4c2d9b8e13",
	"memberId":       nil,
	"role":           "OWNER",
}

// withContext returns body with requestContext added.
func withContext(tb testing.TB, body string, rc any) []byte {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		tb.Fatalf("bad test request %s: %v", body, err)
	}
	rcb, err := json.Marshal(rc)
	if err != nil {
		tb.Fatal(err)
	}
	// requestContext goes first, as in the protocol reference's examples
	var b bytes.Buffer
	b.WriteString(`{"requestContext":`)
	b.Write(rcb)
	rest := bytes.TrimSpace([]byte(body))
	rest = bytes.TrimSpace(rest[1 : len(rest)-1])
	if len(rest) > 0 {
		b.WriteByte(',')
		b.Write(rest)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// golden is the content of a golden file: a request and the answer it must get.
type golden struct {
	Request struct {
		Method string          `json:"method"`
		Path   string          `json:"path"`
		Body   json.RawMessage `json:"body"`
	} `json:"request"`
	Response struct {
		Status      int             `json:"status"`
		ContentType string          `json:"contentType"`
		Body        json.RawMessage `json:"body"`
	} `json:"response"`
}

// goldenBytes renders a golden file. Bodies keep their key order (json.Indent never sorts), so
// the file shows _id first as the server writes it.
func goldenBytes(tb testing.TB, path string, req []byte, r *Response) []byte {
	tb.Helper()
	var g golden
	g.Request.Method, g.Request.Path, g.Request.Body = http.MethodPost, path, compact(tb, req)
	g.Response.Status, g.Response.ContentType, g.Response.Body = r.Status, r.Header.Get("Content-Type"), compact(tb, r.Body)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the bodies byte for byte as the server wrote them
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func compact(tb testing.TB, b []byte) json.RawMessage {
	tb.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		tb.Fatalf("not JSON: %v\n%s", err, b)
	}
	return buf.Bytes()
}

// checkGolden compares what a request got with testdata/<file>, or rewrites the file with -update.
func checkGolden(t *testing.T, file, path string, req []byte, r *Response) {
	t.Helper()
	got := goldenBytes(t, path, req, r)
	name := filepath.Join("testdata", filepath.FromSlash(file))
	if *update {
		if err := os.WriteFile(name, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test ./httpapi -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the server answers; if the change is intended, run go test ./httpapi -run Golden -update\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

// readGolden returns the expected response of a golden file.
func readGolden(tb testing.TB, file string) (status int, body []byte) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(file)))
	if err != nil {
		tb.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
	return g.Response.Status, compact(tb, g.Response.Body)
}

// goldenRequest returns the request body a golden file holds.
func goldenRequest(tb testing.TB, file string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(file)))
	if err != nil {
		tb.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(b, &g); err != nil {
		tb.Fatal(err)
	}
	return compact(tb, g.Request.Body)
}

func goldenServer(t *testing.T) *TestServer {
	return MustOpenServer(t, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthOpen},
		Legacy: httpapi.Auth{Mode: httpapi.AuthKey, SecretKey: goldenSecret},
	}, nil)
}

func TestGolden_V3(t *testing.T) {
	s := goldenServer(t)
	for _, tc := range v3GoldenCases {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".json"), func(t *testing.T) {
			req := []byte(tc.body)
			checkGolden(t, tc.file, tc.path, req, s.Do(t, http.MethodPost, tc.path, req))
		})
	}
}

// TestGolden_V3Cursor pages with cursorPaging (spec v3 §5.1): the follow-up request carries only
// the cursor of the first answer, which holds the filter, sort and projection.
func TestGolden_V3Cursor(t *testing.T) {
	s := goldenServer(t)
	first := []byte(`{"collectionId": "products", "query": {
		"filter": {"price": {"$gt": 10}},
		"sort": [{"fieldName": "name", "order": "ASC"}],
		"fields": ["name", "price"],
		"cursorPaging": {"limit": 2}
	}, "returnTotalCount": true}`)
	r := s.Do(t, http.MethodPost, "/v3/items/query", first)
	checkGolden(t, "v3/items-query-cursor-first.json", "/v3/items/query", first, r)

	var page struct {
		PagingMetadata struct {
			Cursors struct {
				Next string `json:"next"`
			} `json:"cursors"`
		} `json:"pagingMetadata"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil || page.PagingMetadata.Cursors.Next == "" {
		t.Fatalf("first page has no next cursor: %v\n%s", err, r.Body)
	}
	next, _ := json.Marshal(map[string]any{
		"collectionId":     "products",
		"query":            map[string]any{"cursorPaging": map[string]any{"limit": 2, "cursor": page.PagingMetadata.Cursors.Next}},
		"returnTotalCount": true,
	})
	checkGolden(t, "v3/items-query-cursor-next.json", "/v3/items/query", next, s.Do(t, http.MethodPost, "/v3/items/query", next))
}

func TestGolden_Legacy(t *testing.T) {
	s := goldenServer(t)
	for _, tc := range legacyGoldenCases {
		t.Run(strings.TrimSuffix(filepath.Base(tc.file), ".json"), func(t *testing.T) {
			req := withContext(t, tc.body, legacyContext)
			checkGolden(t, tc.file, tc.path, req, s.Do(t, http.MethodPost, tc.path, req))
		})
	}
}

// v3Statuses is the HTTP status of each v3 error code (spec v3 §4.2).
var v3Statuses = map[string]int{
	"COLLECTION_NOT_FOUND": 404, "ITEM_NOT_FOUND": 404, "ITEM_ALREADY_EXISTS": 409, "VALIDATION_ERROR": 400, "BAD_REQUEST": 400,
	"FIELD_DOESNT_EXIST": 400, "UNSUPPORTED_OPERATION": 400, "UNAUTHORIZED": 401, "UNKNOWN_ERROR": 500,
}

// TestGolden_Shape checks every golden file against the protocol rules a reader could miss by
// eye: the error shapes and statuses, _id first in every item, pagingMetadata and totalCount
// present exactly when asked, and no volatile value (nothing dated today).
func TestGolden_Shape(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil || len(files) < len(v3GoldenCases)+len(legacyGoldenCases) {
		t.Fatalf("golden files: %v, %d found", err, len(files))
	}
	today := time.Now().UTC().Format("2006-01-02")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var g golden
		if err := json.Unmarshal(b, &g); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if g.Response.ContentType != "application/json; charset=utf-8" {
			t.Errorf("%s: contentType %q", name, g.Response.ContentType)
		}
		if bytes.Contains(g.Response.Body, []byte(today)) {
			t.Errorf("%s: the response holds today's date, a volatile value", name)
		}
		var req map[string]any
		json.Unmarshal(g.Request.Body, &req)
		var resp map[string]json.RawMessage
		if err := json.Unmarshal(g.Response.Body, &resp); err != nil {
			t.Errorf("%s: response is not an object: %v", name, err)
			continue
		}
		switch filepath.Base(filepath.Dir(name)) {
		case "v3":
			checkV3Shape(t, name, g.Request.Path, req, g.Response.Status, resp)
		case "legacy":
			checkLegacyShape(t, name, g.Request.Path, req, g.Response.Status, resp)
		default:
			t.Errorf("%s: unexpected golden folder", name)
		}
	}
}

func checkV3Shape(t *testing.T, name, path string, req map[string]any, status int, resp map[string]json.RawMessage) {
	t.Helper()
	if status != http.StatusOK {
		var code string
		json.Unmarshal(resp["errorCode"], &code)
		if want, ok := v3Statuses[code]; !ok || want != status {
			t.Errorf("%s: status %d with errorCode %q", name, status, code)
		}
		for _, k := range []string{"errorCode", "errorMessage", "data", "applicationError"} {
			if resp[k] == nil {
				t.Errorf("%s: error body without %s", name, k)
			}
		}
		return
	}
	switch path {
	case "/v3/items/insert", "/v3/items/update", "/v3/items/remove":
		checkV3Results(t, name, req, resp)
		return
	case "/v3/items/query", "/v3/items/aggregate", "/v3/items/query-distinct-values":
	default:
		return
	}
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(resp["pagingMetadata"], &meta); err != nil || meta["count"] == nil {
		t.Errorf("%s: pagingMetadata without count: %s", name, resp["pagingMetadata"])
	}
	q, _ := req["query"].(map[string]any)
	cursor := q["cursorPaging"] != nil
	if (meta["offset"] != nil) == cursor {
		t.Errorf("%s: pagingMetadata.offset present %t with cursor paging %t", name, meta["offset"] != nil, cursor)
	}
	if wantTotal := req["returnTotalCount"] == true; (meta["total"] != nil) != wantTotal {
		t.Errorf("%s: pagingMetadata.total present %t, returnTotalCount %t", name, meta["total"] != nil, wantTotal)
	}
	if path == "/v3/items/query" {
		checkIDFirst(t, name, resp["items"])
	}
}

func checkLegacyShape(t *testing.T, name, path string, req map[string]any, status int, resp map[string]json.RawMessage) {
	t.Helper()
	if status != http.StatusOK {
		if len(resp) != 1 || resp["message"] == nil {
			t.Errorf("%s: legacy error body is not {\"message\": ...}", name)
		}
		return
	}
	switch path {
	case "/data/find":
		checkIDFirst(t, name, resp["items"])
		if omit := req["omitTotalCount"] == true; (resp["totalCount"] != nil) == omit {
			t.Errorf("%s: totalCount present %t with omitTotalCount %t", name, resp["totalCount"] != nil, omit)
		}
	case "/data/get":
		checkIDFirst(t, name, json.RawMessage("["+string(resp["item"])+"]"))
	case "/data/aggregate", "/data/count":
		if resp["totalCount"] == nil {
			t.Errorf("%s: no totalCount", name)
		}
	case "/data/insert", "/data/update", "/data/remove":
		checkIDFirst(t, name, json.RawMessage("["+string(resp["item"])+"]"))
	case "/data/insert/bulk", "/data/update/bulk", "/data/remove/bulk":
		checkIDFirst(t, name, resp["items"])
		var items []json.RawMessage
		json.Unmarshal(resp["items"], &items)
		in, _ := req["items"].([]any)
		if ids, _ := req["itemIds"].([]any); ids != nil {
			in = ids
		}
		if len(items) != len(in) {
			t.Errorf("%s: %d items for %d in the request", name, len(items), len(in))
		}
	}
}

// checkV3Results checks a bulk answer (spec v3 §4.3): one result per input, each exactly one of
// item (starting with _id) or error ({errorCode, errorMessage, data}, with a known code).
func checkV3Results(t *testing.T, name string, req map[string]any, resp map[string]json.RawMessage) {
	t.Helper()
	var results []map[string]json.RawMessage
	if err := json.Unmarshal(resp["results"], &results); err != nil {
		t.Errorf("%s: results: %v", name, err)
		return
	}
	in, _ := req["items"].([]any)
	if ids, _ := req["itemIds"].([]any); ids != nil {
		in = ids
	}
	if len(results) != len(in) || len(resp) != 1 {
		t.Errorf("%s: %d results for %d inputs (answer keys %d)", name, len(results), len(in), len(resp))
	}
	for i, r := range results {
		switch {
		case len(r) != 1:
			t.Errorf("%s: results[%d] has %d keys, want item or error", name, i, len(r))
		case r["item"] != nil:
			checkIDFirst(t, name, json.RawMessage("["+string(r["item"])+"]"))
		case r["error"] != nil:
			var e map[string]json.RawMessage
			json.Unmarshal(r["error"], &e)
			var code string
			json.Unmarshal(e["errorCode"], &code)
			if _, ok := v3Statuses[code]; !ok || len(e) != 3 || e["errorMessage"] == nil || e["data"] == nil {
				t.Errorf("%s: results[%d].error is not {errorCode, errorMessage, data} with a known code: %s", name, i, r["error"])
			}
		default:
			t.Errorf("%s: results[%d] is neither item nor error", name, i)
		}
	}
}

// checkIDFirst checks that every item of a JSON list starts with _id.
func checkIDFirst(t *testing.T, name string, items json.RawMessage) {
	t.Helper()
	var list []json.RawMessage
	if err := json.Unmarshal(items, &list); err != nil {
		t.Errorf("%s: items: %v", name, err)
		return
	}
	for i, it := range list {
		dec := json.NewDecoder(bytes.NewReader(it))
		dec.Token() // {
		if k, _ := dec.Token(); k != "_id" {
			t.Errorf("%s: item %d starts with %v, not _id", name, i, k)
		}
	}
}
