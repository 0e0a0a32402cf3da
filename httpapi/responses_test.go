package httpapi_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
	"github.com/sheetsync/sheetsync/query"
)

// TestMemoisedAnswersFollowTheCollection repeats a request byte for byte around a change of its
// collection: the memoised answer is served while the collection is unchanged, and never after.
func TestMemoisedAnswersFollowTheCollection(t *testing.T) {
	store := MustLoadStore(t, fixtureDir)
	results, err := cache.NewResults(32 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer results.Close()
	cfg := openConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	api, err := httpapi.NewServer(cfg, store, &query.Engine{Results: results})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.Handler())
	defer ts.Close()
	post := func(path, body string) string {
		resp, err := http.Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	requests := []struct{ path, body string }{
		{"/v3/items/query", `{"collectionId":"products","query":{"filter":{"_id":"p-1"}}}`},
		{"/v3/items/count", `{"collectionId":"products","filter":{"name":"Renamed"}}`},
		{"/data/find", `{"collectionName":"products","filter":{"_id":{"$eq":"p-1"}}}`},
		{"/data/get", `{"collectionName":"products","itemId":"p-1"}`},
	}
	before := make([]string, len(requests))
	for i, r := range requests {
		before[i] = post(r.path, r.body)
	}
	results.Wait() // the answers are now memoised
	for i, r := range requests {
		if got := post(r.path, r.body); got != before[i] {
			t.Errorf("%s: a repeated request got another answer:\n%s\n%s", r.path, got, before[i])
		}
	}
	if _, err := store.Commit(context.Background(), cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("p-1"), "name": cache.Text("Renamed")}}}); err != nil {
		t.Fatal(err)
	}
	for i, r := range requests {
		got := post(r.path, r.body)
		if got == before[i] {
			t.Errorf("%s: after the change, the old answer was served:\n%s", r.path, got)
		}
		if !strings.Contains(got, "Renamed") && !strings.Contains(got, `"totalCount":1`) {
			t.Errorf("%s: the answer does not show the change:\n%s", r.path, got)
		}
	}
}
