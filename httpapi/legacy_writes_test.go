package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// legacyItem decodes {"item": ...}.
func legacyItem(tb testing.TB, r *Response) map[string]any {
	tb.Helper()
	var out struct{ Item map[string]any }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil || out.Item == nil {
		tb.Fatalf("got %d %s, want 200 {\"item\": ...}", r.Status, r.Body)
	}
	return out.Item
}

// legacyItems decodes {"items": [...]} and returns the _id of each.
func legacyItems(tb testing.TB, r *Response) ([]map[string]any, string) {
	tb.Helper()
	var out struct{ Items []map[string]any }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &out) != nil {
		tb.Fatalf("got %d %s, want 200 {\"items\": [...]}", r.Status, r.Body)
	}
	var ids []string
	for _, it := range out.Items {
		id, _ := it["_id"].(string)
		ids = append(ids, id)
	}
	return out.Items, strings.Join(ids, " ")
}

// legacyGet returns an item through /data/get, or nil on 404.
func legacyGet(tb testing.TB, s *TestServer, collection, id string) map[string]any {
	tb.Helper()
	r := s.PostJSON(tb, "/data/get", map[string]any{"collectionName": collection, "itemId": id})
	if r.Status == http.StatusNotFound {
		return nil
	}
	return legacyItem(tb, r)
}

// TestLegacyWrites_RoundTrip runs every legacy write endpoint and checks what find and get show
// afterwards (legacy §12.11-12.18).
func TestLegacyWrites_RoundTrip(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	post := func(path, body string, memberID any) *Response {
		ctx := rc(legacySecret, "BACKEND_CODE")
		ctx["memberId"] = memberID
		return s.Do(t, http.MethodPost, path, withContext(t, body, ctx))
	}
	from := time.Now()
	item := legacyItem(t, post("/data/insert", `{"collectionName": "products", "item": {"name": "Trowel", "price": 7.5, "released": {"$date": "2025-04-01T08:00:00Z"}}}`, "m-1"))
	to := time.Now()
	id, _ := item["_id"].(string)
	if len(id) != 36 || item["_owner"] != "m-1" || item["price"] != 7.5 || item["sku"] != nil {
		t.Fatalf("inserted %v: want a UUID, the member as owner, the values sent and null for the rest", item)
	}
	checkStamped(t, "_createdDate", item["_createdDate"], from, to)
	checkStamped(t, "_updatedDate", item["_updatedDate"], from, to)
	if got := legacyGet(t, s, "products", id); !sameJSON(t, mustJSON(t, got), mustJSON(t, item)) {
		t.Fatalf("get %v, insert answered %v", got, item)
	}

	items, ids := legacyItems(t, post("/data/insert/bulk", `{"collectionName": "products", "items": [
		{"_id": "p-20", "name": "Spade", "_owner": "u-5"}, {"_id": "p-21", "name": "Fork"}]}`, nil))
	if ids != "p-20 p-21" || items[0]["_owner"] != "u-5" || items[1]["_owner"] != nil {
		t.Fatalf("bulk insert %v", items)
	}
	if got, total := legacyIDs(t, s.Post(t, "/data/find", `{"collectionName": "products", "filter": {"_id": {"$hasSome": ["p-20", "p-21"]}}}`)); strings.Join(got, " ") != "p-20 p-21" || total != 2 {
		t.Fatalf("find after bulk insert: %v %d", got, total)
	}

	item = legacyItem(t, post("/data/update", `{"collectionName": "products", "item": {"_id": "p-20", "name": "Big spade", "price": 30}}`, "m-2"))
	if item["name"] != "Big spade" || item["price"] != float64(30) || item["_owner"] != "u-5" || !dateOf(t, item["_updatedDate"]).After(dateOf(t, items[0]["_updatedDate"]).Add(-time.Millisecond)) {
		t.Fatalf("updated %v: want the new values, the owner kept, a new _updatedDate", item)
	}
	if item["_createdDate"].(map[string]any)["$date"] != items[0]["_createdDate"].(map[string]any)["$date"] {
		t.Fatalf("update changed _createdDate: %v, was %v", item["_createdDate"], items[0]["_createdDate"])
	}
	items, ids = legacyItems(t, post("/data/update/bulk", `{"collectionName": "products", "items": [
		{"_id": "p-21", "category": "garden"}, {"_id": "p-20", "name": "Spade"}]}`, nil))
	if ids != "p-21 p-20" || items[0]["name"] != nil || items[0]["category"] != "garden" || items[1]["price"] != nil {
		t.Fatalf("bulk update replaces each item with its own fields: %v", items)
	}
	if got := legacyGet(t, s, "products", "p-21"); got["name"] != nil || got["category"] != "garden" {
		t.Fatalf("get after bulk update: %v", got)
	}

	before := legacyGet(t, s, "products", id)
	if got := legacyItem(t, post("/data/remove", `{"collectionName": "products", "itemId": "`+id+`"}`, nil)); !sameJSON(t, mustJSON(t, got), mustJSON(t, before)) {
		t.Fatalf("remove answered %v, want the removed item %v", got, before)
	}
	if legacyGet(t, s, "products", id) != nil {
		t.Fatal("removed item is still there")
	}
	if _, ids := legacyItems(t, post("/data/remove/bulk", `{"collectionName": "products", "itemIds": ["p-21", "p-20"]}`, nil)); ids != "p-21 p-20" {
		t.Fatalf("bulk remove answered %q", ids)
	}
	if n := countOf(t, s.Do(t, http.MethodPost, "/data/count", withContext(t, `{"collectionName": "products"}`, rc(legacySecret, "")))); n != 6 {
		t.Fatalf("%d products, want the 6 of the fixture", n)
	}

	if r := post("/data/truncate", `{"collectionName": "products"}`, nil); r.Status != http.StatusOK || string(r.Body) != "{}" {
		t.Fatalf("truncate: %d %s", r.Status, r.Body)
	}
	if got, total := legacyIDs(t, s.Do(t, http.MethodPost, "/data/find", withContext(t, `{"collectionName": "products"}`, rc(legacySecret, "")))); len(got) != 0 || total != 0 {
		t.Fatalf("after truncate: %v %d", got, total)
	}
}

// TestLegacyWrites_Errors: the legacy answers have no per-item results, so a write fails whole,
// with {"message"} naming the item and the problem, and nothing is committed (legacy §6).
func TestLegacyWrites_Errors(t *testing.T) {
	store := MustWriteStore(t)
	s := MustOpenServer(t, openConfig(), store)
	for _, tt := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"Duplicate", "/data/insert", `{"collectionName": "orders", "item": {"_id": "o-1"}}`, 400, `Item already exists: an item with _id "o-1" is already in collection "orders"`},
		{"DuplicateInBulk", "/data/insert/bulk", `{"collectionName": "orders", "items": [{"_id": "o-8"}, {"_id": "o-8"}]}`, 400, `items[1]: Item already exists: an item with _id "o-8"`},
		{"BulkOneBad", "/data/insert/bulk", `{"collectionName": "orders", "items": [{"_id": "o-8"}, {"_id": "o-9", "qty": "two"}]}`, 400, `items[1]: qty is a number field, got text "two"`},
		{"WrongType", "/data/insert", `{"collectionName": "orders", "item": {"paid": "yes"}}`, 400, `paid is a boolean field, got text "yes"`},
		{"BadDate", "/data/insert", `{"collectionName": "products", "item": {"released": {"$date": "2024-02-30"}}}`, 400, `"2024-02-30" is not an ISO 8601 date-time`},
		{"UnknownField", "/data/insert", `{"collectionName": "orders", "item": {"colour": "red"}}`, 400, `field "colour" does not exist in collection "orders"`},
		{"ReadOnlyField", "/data/update", `{"collectionName": "sheet", "item": {"_id": "s-1", "total": 99}}`, 400, "total is read-only"},
		{"NoItem", "/data/insert", `{"collectionName": "orders"}`, 400, "item is required"},
		{"ItemNull", "/data/update", `{"collectionName": "orders", "item": null}`, 400, "item is required"},
		{"ItemNotObject", "/data/insert/bulk", `{"collectionName": "orders", "items": [[1]]}`, 400, "items[0]: the item is not a JSON object"},
		{"UpdateMissing", "/data/update", `{"collectionName": "orders", "item": {"_id": "o-404"}}`, 404, `Item not found: no item with _id "o-404" in collection "orders"`},
		{"UpdateNoID", "/data/update", `{"collectionName": "orders", "item": {"qty": 1}}`, 400, "every item of an update needs its _id"},
		{"BulkUpdateMissing", "/data/update/bulk", `{"collectionName": "orders", "items": [{"_id": "o-1", "qty": 9}, {"_id": "o-404"}]}`, 404, `items[1]: Item not found`},
		{"RemoveMissing", "/data/remove", `{"collectionName": "orders", "itemId": "o-404"}`, 404, `Item not found: no item with _id "o-404"`},
		{"RemoveBlank", "/data/remove", `{"collectionName": "orders", "itemId": " "}`, 400, "A value must be provided for itemId"},
		{"BulkRemoveMissing", "/data/remove/bulk", `{"collectionName": "orders", "itemIds": ["o-1", "o-404"]}`, 404, `items[1]: Item not found`},
		{"UnknownCollection", "/data/insert", `{"collectionName": "nonExisting", "item": {}}`, 404, `collection "nonExisting" does not exist`},
		{"UnknownCollectionTruncate", "/data/truncate", `{"collectionName": "nonExisting"}`, 404, `collection "nonExisting" does not exist`},
		{"NoCollection", "/data/remove/bulk", `{"itemIds": ["o-1"]}`, 400, "collectionName is required"},
		{"ItemsNotList", "/data/update/bulk", `{"collectionName": "orders", "items": {"_id": "o-1"}}`, 400, `request member "items"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			legacyError(t, s.Post(t, tt.path, tt.body), tt.status, tt.msg)
		})
	}
	if n := len(store.Commits()); n != 0 {
		t.Fatalf("%d commits, want none", n)
	}
	if it := legacyGet(t, s, "orders", "o-1"); it["qty"] != float64(2) {
		t.Fatalf("o-1 changed: %v", it)
	}
}

// TestLegacyWrites_Roles: like the reads, writes are open to every role once the secret key
// matches (Wix applies the collection's permissions first); the key is still required.
func TestLegacyWrites_Roles(t *testing.T) {
	s := legacyKeyed(t)
	for i, role := range []string{"OWNER", "BACKEND_CODE", "MEMBER", "VISITOR", ""} {
		body := `{"collectionName": "orders", "item": {"_id": "o-role-` + string(rune('a'+i)) + `"}}`
		if r := s.Do(t, http.MethodPost, "/data/insert", withContext(t, body, rc(legacySecret, role))); r.Status != http.StatusOK {
			t.Errorf("role %q: got %d %s", role, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/data/insert/bulk", "/data/update", "/data/update/bulk", "/data/remove", "/data/remove/bulk", "/data/truncate"} {
		legacyError(t, s.Do(t, http.MethodPost, path, withContext(t, `{"collectionName": "orders"}`, rc("guess", "OWNER"))),
			http.StatusUnauthorized, "You are not authorized: requestContext.settings.secretKey does not match")
	}
}
