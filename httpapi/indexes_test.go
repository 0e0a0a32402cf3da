package httpapi_test

import (
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/query"
)

// TestV3Indexes: an index is created ACTIVE, listed after the _id index, kept through
// SaveIndexes, and removed; a definition that cannot be built comes back FAILED with 200.
func TestV3Indexes(t *testing.T) {
	cfg := openConfig()
	var saved []byte
	cfg.SaveIndexes = func(b []byte) error { saved = b; return nil }
	ts := MustOpenServer(t, cfg, nil)
	r := ts.Post(t, "/v3/indexes/create", `{"collectionId":"products","index":{"name":"by_price","fields":[{"path":"price","order":"DESC"}]}}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"ACTIVE"`) {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	list := string(ts.Post(t, "/v3/indexes/list", `{"collectionId":"products"}`).Body)
	if i, j := strings.Index(list, `"_id_"`), strings.Index(list, `"by_price"`); i < 0 || j < i {
		t.Errorf("list: %s", list)
	}
	x := query.NewIndexes()
	if err := x.Load(saved); err != nil || !strings.Contains(string(saved), "by_price") {
		t.Errorf("saved definitions %s do not load: %v", saved, err)
	}
	for _, body := range []string{
		`{"collectionId":"products","index":{"name":"by_price","fields":[{"path":"name"}]}}`,
		`{"collectionId":"products","index":{"name":"by_colour","fields":[{"path":"colour"}]}}`,
	} {
		r := ts.Post(t, "/v3/indexes/create", body)
		if r.Status != 200 || !strings.Contains(string(r.Body), `"status":"FAILED"`) || !strings.Contains(string(r.Body), `"failure":{"errorCode"`) {
			t.Errorf("create %s: %d %s", body, r.Status, r.Body)
		}
	}
	if r := ts.Post(t, "/v3/indexes/remove", `{"collectionId":"products","indexName":"by_price"}`); r.Status != 200 || string(r.Body) != "{}" {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	if list := string(ts.Post(t, "/v3/indexes/list", `{"collectionId":"products"}`).Body); strings.Contains(list, "by_price") {
		t.Errorf("list after remove: %s", list)
	}
	v3Error(t, ts.Post(t, "/v3/indexes/remove", `{"collectionId":"products","indexName":"by_price"}`), 400, "VALIDATION_ERROR", "by_price")
	caps := string(ts.Post(t, "/v3/capabilities/get", `{}`).Body)
	if !strings.Contains(caps, `"supportsIndexes":true`) {
		t.Errorf("capabilities: %s", caps)
	}
}

// TestV3UniqueIndex: a unique index refuses, item by item, a write that would repeat its key,
// and lets the other items of the request through; legacy refuses the whole request.
func TestV3UniqueIndex(t *testing.T) {
	ts := MustOpenServer(t, openConfig(), nil)
	if r := ts.Post(t, "/v3/indexes/create", `{"collectionId":"products","index":{"name":"u_name","fields":[{"path":"name"}],"unique":true}}`); !strings.Contains(string(r.Body), `"ACTIVE"`) {
		t.Fatalf("create unique: %d %s", r.Status, r.Body)
	}
	r := ts.Post(t, "/v3/items/insert", `{"collectionId":"products","items":[{"_id":"n1","name":"Brand new"},{"_id":"n2","name":"Brand new"},{"_id":"n3","name":"Another"}]}`)
	body := string(r.Body)
	if r.Status != 200 || strings.Count(body, `"item":`) != 2 || !strings.Contains(body, `"errorCode":"ITEM_ALREADY_EXISTS"`) || !strings.Contains(body, `"itemId":"n2"`) {
		t.Fatalf("insert with a repeated unique key: %d %s", r.Status, body)
	}
	if n := ts.Post(t, "/v3/items/count", `{"collectionId":"products","filter":{"name":"Brand new"}}`).JSON(t)["totalCount"]; n != 1.0 {
		t.Errorf("%v items named Brand new, want 1", n)
	}
	legacyError(t, ts.Post(t, "/data/insert", `{"collectionName":"products","item":{"_id":"n4","name":"Another"},"requestContext":{"role":"OWNER"}}`), 400, "u_name")
	// an update keeping its own key passes
	if r := ts.Post(t, "/v3/items/update", `{"collectionId":"products","items":[{"_id":"n3","name":"Another","price":5}]}`); strings.Contains(string(r.Body), `"error"`) {
		t.Errorf("update keeping its key: %s", r.Body)
	}
}
