package httpapi_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestRequestID: the log line of a request carries its id: a v3 request's metadata.requestId,
// else Wix's x-wix-request-id header, else a new one; the answer names it in X-Request-Id.
func TestRequestID(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	rejected := func() slog.Record {
		t.Helper()
		recs := s.Logs.Records(slog.LevelInfo)
		for i := len(recs) - 1; i >= 0; i-- {
			if recs[i].Message == "request rejected" {
				return recs[i]
			}
		}
		t.Fatal("no request rejected line")
		return slog.Record{}
	}
	check := func(r *Response, want string) {
		t.Helper()
		if got := attr(rejected(), "request_id"); got != want || r.Header.Get("X-Request-Id") != want {
			t.Errorf("log request_id %q, X-Request-Id %q, want %q", got, r.Header.Get("X-Request-Id"), want)
		}
	}

	body := `{"data":{"request":{"collectionId":"nope"},"metadata":{"requestId":"wix-req-123","instanceId":"i1"}}}`
	check(s.Post(t, "/v3/items/count", body), "wix-req-123")

	req, err := http.NewRequest(http.MethodPost, s.URL+"/data/count", strings.NewReader(`{"collectionName":"nope","requestContext":{"role":"OWNER"}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Wix-Request-Id", "hdr-456")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check(&Response{Status: resp.StatusCode, Header: resp.Header}, "hdr-456")

	r := s.Post(t, "/v3/items/count", `{"collectionId":"nope"}`)
	if id := r.Header.Get("X-Request-Id"); len(id) != 36 {
		t.Errorf("a request without an id got X-Request-Id %q, want a new UUID", id)
	} else {
		check(r, id)
	}
}
