package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/sheetsync/sheetsync/httpapi"
)

// writeResult is one entry of a v3 bulk answer (spec v3 §4.3).
type writeResult struct {
	Item  map[string]any `json:"item"`
	Error *struct {
		ErrorCode    string         `json:"errorCode"`
		ErrorMessage string         `json:"errorMessage"`
		Data         map[string]any `json:"data"`
	} `json:"error"`
}

// resultsOf decodes a v3 bulk answer, which is 200 whatever became of its items.
func resultsOf(tb testing.TB, r *Response) []writeResult {
	tb.Helper()
	var out struct {
		Results []writeResult `json:"results"`
	}
	if r.Status != http.StatusOK {
		tb.Fatalf("got status %d, want 200\n%s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		tb.Fatalf("%v\n%s", err, r.Body)
	}
	return out.Results
}

// checkResults checks a bulk answer against a summary per result, in order: "item:<_id>" or
// "error:<errorCode>". It returns the results.
func checkResults(tb testing.TB, r *Response, want ...string) []writeResult {
	tb.Helper()
	results := resultsOf(tb, r)
	got := make([]string, len(results))
	for i, res := range results {
		switch {
		case res.Item != nil && res.Error == nil:
			got[i] = fmt.Sprintf("item:%v", res.Item["_id"])
		case res.Error != nil && res.Item == nil:
			got[i] = "error:" + res.Error.ErrorCode
		default:
			got[i] = "neither or both"
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		tb.Fatalf("results %q, want %q\n%s", got, want, r.Body)
	}
	return results
}

// v3Get returns the item with _id id through a v3 query, or nil when there is none.
func v3Get(tb testing.TB, s *TestServer, collection, id string) map[string]any {
	tb.Helper()
	r := s.PostJSON(tb, "/v3/items/query", map[string]any{"collectionId": collection, "query": map[string]any{"filter": map[string]any{"_id": id}}})
	var page struct{ Items []map[string]any }
	if r.Status != http.StatusOK || json.Unmarshal(r.Body, &page) != nil || len(page.Items) > 1 {
		tb.Fatalf("query %s: got %d %s", id, r.Status, r.Body)
	}
	if len(page.Items) == 0 {
		return nil
	}
	return page.Items[0]
}

// dateOf reads a {"$date": ...} value.
func dateOf(tb testing.TB, v any) time.Time {
	tb.Helper()
	m, _ := v.(map[string]any)
	s, _ := m["$date"].(string)
	d, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("%v is not a {\"$date\": ...}: %v", v, err)
	}
	return d
}

// checkStamped checks that v is a date of the request that ran between from and to.
func checkStamped(tb testing.TB, field string, v any, from, to time.Time) {
	tb.Helper()
	if d := dateOf(tb, v); d.Before(from.Truncate(time.Millisecond)) || d.After(to) {
		tb.Errorf("%s %v, want the time of the request (%v to %v)", field, d, from, to)
	}
}

// TestV3Writes_RoundTrip inserts, updates, removes and truncates, checking each answer and what
// the next query sees (spec v3 §6.5-6.8).
func TestV3Writes_RoundTrip(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	from := time.Now()
	r := s.Post(t, "/v3/items/insert", `{"collectionId": "products", "items": [
		{"name": "Trowel", "price": 7.5, "inStock": true, "released": {"$date": "2025-04-01T08:00:00.123Z"}, "note": "=1+1"},
		{"_id": "p-8", "_owner": "u-9", "name": "", "price": 0, "inStock": false,
		 "_createdDate": {"$date": "2020-01-01T00:00:00Z"}, "_updatedDate": {"$date": "2020-01-02T00:00:00Z"}}
	]}`)
	to := time.Now()
	results := resultsOf(t, r)
	if len(results) != 2 || results[0].Item == nil || results[1].Item == nil {
		t.Fatalf("got %s", r.Body)
	}
	first := results[0].Item
	id, _ := first["_id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("generated _id %q is not a UUID", id)
	}
	checkStamped(t, "_createdDate", first["_createdDate"], from, to)
	if first["_createdDate"].(map[string]any)["$date"] != first["_updatedDate"].(map[string]any)["$date"] {
		t.Errorf("a new item's dates differ: %v %v", first["_createdDate"], first["_updatedDate"])
	}
	if first["released"].(map[string]any)["$date"] != "2025-04-01T08:00:00.123Z" || first["note"] != "=1+1" || first["_owner"] != nil || first["sku"] != nil {
		t.Errorf("inserted item %v", first)
	}
	// falsy values are kept, and dates the item carries are stored as sent
	want := `{"_id":"p-8","name":"","price":0,"inStock":false,"released":null,"sku":null,"category":null,"note":null,` +
		`"_createdDate":{"$date":"2020-01-01T00:00:00.000Z"},"_updatedDate":{"$date":"2020-01-02T00:00:00.000Z"},"_owner":"u-9"}`
	if got, _ := json.Marshal(results[1].Item); !sameJSON(t, got, []byte(want)) {
		t.Errorf("inserted p-8 %s, want %s", got, want)
	}
	// the answer is what a query returns
	for _, res := range results {
		if got := v3Get(t, s, "products", res.Item["_id"].(string)); !sameJSON(t, mustJSON(t, got), mustJSON(t, res.Item)) {
			t.Errorf("query gives %v, insert answered %v", got, res.Item)
		}
	}

	t.Run("Update", func(t *testing.T) {
		from := time.Now()
		r := s.Post(t, "/v3/items/update", `{"collectionId": "products", "items": [{"_id": "p-8", "name": "Renamed", "category": "garden"}]}`)
		to := time.Now()
		item := checkResults(t, r, "item:p-8")[0].Item
		// replaced: fields left out are empty; _createdDate and _owner kept; _updatedDate now
		if item["name"] != "Renamed" || item["category"] != "garden" || item["price"] != nil || item["inStock"] != nil || item["_owner"] != "u-9" {
			t.Errorf("updated item %v", item)
		}
		if d := dateOf(t, item["_createdDate"]); !d.Equal(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("_createdDate %v, want it kept", d)
		}
		checkStamped(t, "_updatedDate", item["_updatedDate"], from, to)
		if got := v3Get(t, s, "products", "p-8"); !sameJSON(t, mustJSON(t, got), mustJSON(t, item)) {
			t.Errorf("query gives %v, update answered %v", got, item)
		}
		// dates sent are kept, null empties a field
		item = checkResults(t, s.Post(t, "/v3/items/update", `{"collectionId": "products", "items": [{"_id": "p-8", "name": null, "price": 3,
			"_createdDate": {"$date": "2019-05-05T05:05:05.005Z"}, "_updatedDate": {"$date": "2021-06-06T06:06:06Z"}, "_owner": "u-10"}]}`), "item:p-8")[0].Item
		if item["name"] != nil || item["price"] != float64(3) || item["_owner"] != "u-10" ||
			dateOf(t, item["_createdDate"]).UnixMilli() != 1557032705005 || dateOf(t, item["_updatedDate"]).Unix() != 1622959566 {
			t.Errorf("updated item %v", item)
		}
	})
	t.Run("Remove", func(t *testing.T) {
		before := v3Get(t, s, "products", "p-8")
		res := checkResults(t, s.Post(t, "/v3/items/remove", `{"collectionId": "products", "itemIds": ["p-8", "p-404", "p-8"]}`), "item:p-8", "error:ITEM_NOT_FOUND", "item:p-8")
		if !sameJSON(t, mustJSON(t, res[0].Item), mustJSON(t, before)) || !sameJSON(t, mustJSON(t, res[2].Item), mustJSON(t, before)) {
			t.Errorf("removed item %v, want its full content %v", res[0].Item, before)
		}
		if !strings.Contains(res[1].Error.ErrorMessage, "Item doesn't exists") || res[1].Error.Data["itemId"] != "p-404" {
			t.Errorf("error %+v", res[1].Error)
		}
		if v3Get(t, s, "products", "p-8") != nil {
			t.Error("p-8 is still there")
		}
	})
	t.Run("Truncate", func(t *testing.T) {
		if r := s.Post(t, "/v3/items/truncate", `{"collectionId": "products"}`); r.Status != http.StatusOK || string(r.Body) != "{}" {
			t.Fatalf("got %d %s, want 200 {}", r.Status, r.Body)
		}
		ids, total := v3IDs(t, s.Post(t, "/v3/items/query", `{"collectionId": "products", "query": {}, "returnTotalCount": true}`))
		if len(ids) != 0 || total != 0 {
			t.Fatalf("after truncate: %v total %d", ids, total)
		}
		if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`)); n != 3 {
			t.Fatalf("orders has %d items; truncate reached another collection", n)
		}
		// and the collection still takes items
		checkResults(t, s.Post(t, "/v3/items/insert", `{"collectionId": "products", "items": [{"_id": "p-1", "name": "Chisel"}]}`), "item:p-1")
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		tb.Fatalf("not JSON: %s / %s", a, b)
	}
	return string(mustJSON(tb, x)) == string(mustJSON(tb, y))
}

// TestV3Writes_Bulk: one result per item, in input order, each item decided on its own; the
// valid ones are stored, the others change nothing (spec v3 §4.3, §12.13-19).
func TestV3Writes_Bulk(t *testing.T) {
	s := MustOpenServer(t, openConfig(), MustWriteStore(t))
	r := s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": [
		{"_id": "o-4", "product": "p-2"},
		{"_id": "o-1", "product": "overwrite?"},
		{"_id": "o-5", "qty": "two"},
		{"_id": "o-4", "product": "again"},
		{"_id": "o-6", "colour": "red"},
		5,
		{"id": "o-7", "createdDate": {"$date": "2024-01-01T00:00:00Z"}, "paid": true}
	]}`)
	res := checkResults(t, r, "item:o-4", "error:ITEM_ALREADY_EXISTS", "error:VALIDATION_ERROR", "error:ITEM_ALREADY_EXISTS",
		"error:VALIDATION_ERROR", "error:VALIDATION_ERROR", "item:o-7")
	if e := res[1].Error; !strings.Contains(e.ErrorMessage, "Item already exists") || e.Data["itemId"] != "o-1" {
		t.Errorf("duplicate error %+v", e)
	}
	if v3Get(t, s, "orders", "o-1")["product"] != "p-1" || v3Get(t, s, "orders", "o-4")["product"] != "p-2" {
		t.Error("a duplicate insert changed the stored item")
	}
	if v3Get(t, s, "orders", "o-5") != nil || v3Get(t, s, "orders", "o-6") != nil {
		t.Error("an invalid item was stored")
	}
	// the JavaScript SDK's names for system fields are read as them (spec v3 §13.6)
	if d := dateOf(t, res[6].Item["_createdDate"]); d.Year() != 2024 {
		t.Errorf("createdDate alias: %v", res[6].Item)
	}

	r = s.Post(t, "/v3/items/update", `{"collectionId": "orders", "items": [
		{"_id": "o-4", "qty": 1}, {"_id": "o-404", "qty": 1}, {"qty": 2}, {"_id": "o-7", "qty": true}, {"_id": "o-1", "qty": 9}, {"_id": "o-4", "qty": 2}
	]}`)
	res = checkResults(t, r, "item:o-4", "error:ITEM_NOT_FOUND", "error:VALIDATION_ERROR", "error:VALIDATION_ERROR", "item:o-1", "item:o-4")
	if res[1].Error.Data["itemId"] != "o-404" || !strings.Contains(res[2].Error.ErrorMessage, "_id") {
		t.Errorf("errors %+v %+v", res[1].Error, res[2].Error)
	}
	// the later of two updates of one item wins, and both answers show what is stored
	if res[0].Item["qty"] != float64(2) || res[5].Item["qty"] != float64(2) || v3Get(t, s, "orders", "o-4")["qty"] != float64(2) {
		t.Errorf("o-4 after two updates: %v %v", res[0].Item, res[5].Item)
	}
	if v3Get(t, s, "orders", "o-7")["qty"] != nil || v3Get(t, s, "orders", "o-7")["paid"] != true {
		t.Error("a failed update changed its item")
	}

	// every item failing is still 200, and commits nothing
	checkResults(t, s.Post(t, "/v3/items/remove", `{"collectionId": "orders", "itemIds": ["x", ""]}`), "error:ITEM_NOT_FOUND", "error:ITEM_NOT_FOUND")
	// no items, no results
	checkResults(t, s.Post(t, "/v3/items/insert", `{"collectionId": "orders", "items": []}`))
}

// TestV3Writes_Validation: a value that does not fit its field is the item's VALIDATION_ERROR
// naming the field and the value (spec v3 §4.2), never stored as text.
func TestV3Writes_Validation(t *testing.T) {
	s := MustOpenServer(t, openConfig(), MustWriteStore(t))
	for _, tt := range []struct {
		name, collection, item string
		field, msg             string
		rejected               any
	}{
		{"TextInNumber", "products", `{"price": "12"}`, "price", `price is a number field, got text "12"`, "12"},
		{"NumberInText", "products", `{"name": 12}`, "name", "name is a text field, got number 12", float64(12)},
		{"TextInBoolean", "products", `{"inStock": "yes"}`, "inStock", `inStock is a boolean field, got text "yes"`, "yes"},
		{"BadDate", "products", `{"released": {"$date": "yesterday"}}`, "released", `released is a datetime field, and "yesterday" is not an ISO 8601 date-time`, map[string]any{"$date": "yesterday"}},
		{"BadDateString", "products", `{"released": "2024-13-01"}`, "released", `"2024-13-01" is not an ISO 8601 date-time`, "2024-13-01"},
		{"DateNotText", "products", `{"released": {"$date": 5}}`, "released", "$date holds number 5", map[string]any{"$date": float64(5)}},
		{"DateInText", "products", `{"name": {"$date": "2024-01-01T00:00:00Z"}}`, "name", `name is a text field, got a {"$date": ...} date`, map[string]any{"$date": "2024-01-01T00:00:00Z"}},
		{"BadSystemDate", "products", `{"_createdDate": "soon"}`, "_createdDate", `"soon" is not an ISO 8601 date-time`, "soon"},
		{"Object", "products", `{"note": {"a": 1}}`, "note", "note is a text field, got an object", map[string]any{"a": float64(1)}},
		{"List", "products", `{"price": [1]}`, "price", "got a list", []any{float64(1)}},
		{"HugeNumber", "products", `{"price": 1e999}`, "price", "1e999 is beyond what it can hold", "1e999"},
		{"IDNotText", "products", `{"_id": 5}`, "_id", "_id is a text field, got number 5", float64(5)},
		{"UnknownField", "products", `{"name": "x", "colour": "red"}`, "colour", `field "colour" does not exist in collection "products"; a new field is a new column`, "red"},
		{"ReadOnlyField", "sheet", `{"item": "screws", "total": 5}`, "total", "total is read-only: its values are computed by formulas in the file", float64(5)},
		{"NotAnObject", "products", `"p-9"`, "", "the item is not a JSON object", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := s.Post(t, "/v3/items/insert", fmt.Sprintf(`{"collectionId": %q, "items": [%s]}`, tt.collection, tt.item))
			e := checkResults(t, r, "error:VALIDATION_ERROR")[0].Error
			if !strings.Contains(e.ErrorMessage, tt.msg) {
				t.Errorf("message %q, want it to say %q", e.ErrorMessage, tt.msg)
			}
			vs, _ := e.Data["violations"].([]any)
			if len(vs) != 1 {
				t.Fatalf("violations %v", e.Data)
			}
			v := vs[0].(map[string]any)
			if v["fieldPath"] != tt.field || v["message"] != e.ErrorMessage {
				t.Errorf("violation %v, want fieldPath %q", v, tt.field)
			}
			if tt.rejected != nil && !sameJSON(t, mustJSON(t, v["rejectedValue"]), mustJSON(t, tt.rejected)) {
				t.Errorf("rejectedValue %v, want %v", v["rejectedValue"], tt.rejected)
			}
		})
	}
	if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "products"}`)); n != 6 {
		t.Fatalf("products has %d items after refused inserts", n)
	}
}

// TestV3Writes_ReadOnlyField: a formula field is never written; an update may echo its stored
// value (as a replacing client does) or leave it out, and it keeps what the file computed.
func TestV3Writes_ReadOnlyField(t *testing.T) {
	s := MustOpenServer(t, openConfig(), MustWriteStore(t))
	for _, tt := range []struct {
		name, item, want string
	}{
		{"Echo", `{"_id": "s-1", "item": "nails", "qty": 4, "total": 30}`, "item:s-1"},
		{"Null", `{"_id": "s-1", "item": "nails", "qty": 5, "total": null}`, "item:s-1"},
		{"LeftOut", `{"_id": "s-1", "item": "nails", "qty": 6}`, "item:s-1"},
		{"Changed", `{"_id": "s-1", "item": "nails", "qty": 7, "total": 31}`, "error:VALIDATION_ERROR"},
		{"WrongType", `{"_id": "s-1", "item": "nails", "total": "30"}`, "error:VALIDATION_ERROR"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkResults(t, s.Post(t, "/v3/items/update", `{"collectionId": "sheet", "items": [`+tt.item+`]}`), tt.want)
			if it := v3Get(t, s, "sheet", "s-1"); it["total"] != float64(30) {
				t.Fatalf("total %v, want the file's 30", it["total"])
			}
		})
	}
	if it := v3Get(t, s, "sheet", "s-1"); it["qty"] != float64(6) {
		t.Fatalf("qty %v, want 6 from the last accepted update", it["qty"])
	}
	// an insert leaves it empty for the file to compute
	res := checkResults(t, s.Post(t, "/v3/items/insert", `{"collectionId": "sheet", "items": [{"_id": "s-2", "item": "screws", "total": null}]}`), "item:s-2")
	if res[0].Item["total"] != nil {
		t.Fatalf("inserted total %v", res[0].Item["total"])
	}
}

// TestV3Writes_Owner: an item inserted without _owner is owned by the identity the request is
// made for (spec v3 §2.1, §8.1); one that names its owner keeps it.
func TestV3Writes_Owner(t *testing.T) {
	t.Run("Signed", func(t *testing.T) {
		s := keyedServer(t, &rsaKey().PublicKey)
		req := []byte(`{"collectionId": "orders", "items": [{"_id": "o-8"}, {"_id": "o-9", "_owner": "u-1"}]}`)
		tok := httpapi.MustMint(t, jwt.SigningMethodRS256, rsaKey(), wixClaims(req, time.Now()))
		res := checkResults(t, s.Do(t, http.MethodPost, "/v3/items/insert", tok), "item:o-8", "item:o-9")
		if res[0].Item["_owner"] != "9a8b7c6d-0000-1111-2222-333344445555" || res[1].Item["_owner"] != "u-1" {
			t.Fatalf("owners %v %v", res[0].Item["_owner"], res[1].Item["_owner"])
		}
	})
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct {
		identity map[string]any
		want     any
	}{
		{map[string]any{"identityType": "MEMBER", "memberId": "m-1"}, "m-1"},
		{map[string]any{"identityType": "ANONYMOUS_VISITOR", "anonymousVisitorId": "v-1"}, "v-1"},
		{map[string]any{"identityType": "APP", "appId": "a-1"}, nil},
		{nil, nil},
	} {
		id := uuid.NewString()
		body := mustJSON(t, map[string]any{"data": map[string]any{
			"request":  map[string]any{"collectionId": "orders", "items": []any{map[string]any{"_id": id}}},
			"metadata": map[string]any{"identity": tt.identity},
		}})
		res := checkResults(t, s.Do(t, http.MethodPost, "/v3/items/insert", body), "item:"+id)
		if res[0].Item["_owner"] != tt.want {
			t.Errorf("identity %v: _owner %v, want %v", tt.identity, res[0].Item["_owner"], tt.want)
		}
	}
}

// TestV3Writes_BadInput: requests that cannot be served at all are errors of the whole request.
func TestV3Writes_BadInput(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, tt := range []struct {
		name, path, body string
		status           int
		code, msg        string
	}{
		// spec v3 §12.24: even an empty insert names the missing collection
		{"InsertUnknownCollection", "/v3/items/insert", `{"collectionId": "nonExistingCollection", "items": []}`, 404, "COLLECTION_NOT_FOUND", "nonExistingCollection"},
		{"UpdateUnknownCollection", "/v3/items/update", `{"collectionId": "nonExistingCollection", "items": [{"_id": "x"}]}`, 404, "COLLECTION_NOT_FOUND", "nonExistingCollection"},
		{"RemoveUnknownCollection", "/v3/items/remove", `{"collectionId": "nope", "itemIds": ["x"]}`, 404, "COLLECTION_NOT_FOUND", "nope"},
		{"TruncateUnknownCollection", "/v3/items/truncate", `{"collectionId": "nope"}`, 404, "COLLECTION_NOT_FOUND", "nope"},
		{"NoCollection", "/v3/items/insert", `{"items": [{}]}`, 400, "BAD_REQUEST", "collectionId is required"},
		{"ItemsNotList", "/v3/items/insert", `{"collectionId": "orders", "items": {"_id": "x"}}`, 400, "BAD_REQUEST", `request member "items"`},
		{"ItemIDsNotText", "/v3/items/remove", `{"collectionId": "orders", "itemIds": [5]}`, 400, "BAD_REQUEST", `request member "itemIds"`},
		{"MalformedJSON", "/v3/items/update", `{"collectionId": "orders", "items": [{]}`, 400, "BAD_REQUEST", "request is not valid JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v3Error(t, s.Post(t, tt.path, tt.body), tt.status, tt.code, tt.msg)
		})
	}
	if n := countOf(t, s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`)); n != 3 {
		t.Fatalf("orders has %d items", n)
	}
}
