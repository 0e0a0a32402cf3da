package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzReadPaths are the read endpoints of both protocols: FuzzReadRequest picks one by index.
var fuzzReadPaths = []string{
	"/v3/items/query", "/v3/items/count", "/v3/items/aggregate", "/v3/items/query-distinct-values",
	"/v3/items/query-referenced", "/v3/collections/get", "/v3/capabilities/get", "/v3/indexes/list",
	"/data/find", "/data/count", "/data/aggregate", "/data/get", "/schemas/find",
}

// FuzzReadRequest sends arbitrary bodies to the read endpoints of both protocols, seeded with
// the golden requests: sort, paging, cursors, projection, aggregation pipelines (v3 operations
// and both legacy processingStep layouts) and filters all get mutated together. Whatever
// arrives, the answer is 200 with a JSON body or a 4xx in the protocol's error shape, never a
// 5xx (DESIGN §7). FuzzFilter covers the filter alone inside a fixed request.
func FuzzReadRequest(f *testing.F) {
	index := map[string]uint8{}
	for i, p := range fuzzReadPaths {
		index[p] = uint8(i)
	}
	for _, tc := range append(append([]goldenCase{}, v3GoldenCases...), legacyGoldenCases...) {
		if i, ok := index[tc.path]; ok {
			f.Add(i, tc.body)
		}
	}
	cursor := `{"collectionId": "products", "query": {"filter": {"price": {"$gt": 10}}, "sort": [{"fieldName": "name", "order": "ASC"}],
		"fields": ["name", "price"], "cursorPaging": {"limit": 2}}, "returnTotalCount": true}`
	f.Add(index["/v3/items/query"], cursor)
	f.Add(index["/v3/items/query"], `{"collectionId": "products", "query": {"cursorPaging": {"limit": 2,
		"cursor": "eyJjIjoicHJvZHVjdHMiLCJmIjp7InByaWNlIjp7IiRndCI6MTB9fSwicyI6W3siZmllbGROYW1lIjoibmFtZSIsIm9yZGVyIjoiQVNDIn1dLCJwIjpbIm5hbWUiLCJwcmljZSJdLCJvIjoyLCJsIjoyfQ"}}}`)
	f.Add(index["/data/find"], `{"collectionName": "products", "sort": [{"fieldName": "price", "direction": "DESC"}, {"direction": "asc"}], "skip": "1", "limit": "2.0"}`)
	f.Add(index["/data/aggregate"], `{"collectionName": "products", "processingStep": {"_id": "$category", "m": {"$min": "$price"}}, "postProcessingStep": {"m": {"$gt": 1}}}`)

	s := MustOpenServer(f, openConfig(), nil)
	h := s.API.Handler()
	f.Fuzz(func(t *testing.T, i uint8, body string) {
		path := fuzzReadPaths[int(i)%len(fuzzReadPaths)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		status, out := rec.Code, rec.Body.Bytes()
		if status >= 500 || (status != http.StatusOK && status < 400) {
			t.Fatalf("POST %s %s: status %d\n%s", path, body, status, out)
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Fatalf("POST %s %s: status %d, body is not a JSON object: %v\n%s", path, body, status, err, out)
		}
		if status == http.StatusOK {
			return
		}
		if strings.HasPrefix(path, "/v3/") {
			if code, _ := m["errorCode"].(string); code == "" || m["errorMessage"] == "" {
				t.Fatalf("POST %s %s: v3 error without errorCode and errorMessage: %s", path, body, out)
			}
		} else if msg, _ := m["message"].(string); msg == "" {
			t.Fatalf("POST %s %s: legacy error without a message: %s", path, body, out)
		}
	})
}
