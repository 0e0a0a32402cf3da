package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestServeMetrics: GET /metrics is Prometheus' text format, which its own parser reads, with
// the requests served, the collections, the folder's file events and write-backs, the change log
// and the result cache.
func TestServeMetrics(t *testing.T) {
	m := MustRunMain(t, copySamples(t), nil)
	query := `{"collectionId":"products","query":{"filter":{"category":"lighting"}}}`
	for range 2 { // the second is answered from the result cache
		if code, _ := post(t, m.Server.URL()+"/v3/items/query", query); code != 200 {
			t.Fatalf("query: %d", code)
		}
		m.Results.Wait() // the cache stores in the background
	}
	if code, _ := post(t, m.Server.URL()+"/v3/items/insert", `{"collectionId":"products","items":[{"_id":"m-1","name":"Metered"}]}`); code != 200 {
		t.Fatalf("insert: %d", code)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		return m.Folder.Stats().WriteBacks > 0, "the insert was never written into the file"
	})

	resp, err := http.Get(m.Server.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text format: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := families[name]
		if !ok {
			t.Fatalf("/metrics has no %s", name)
		}
	next:
		for _, metric := range f.Metric {
			for _, l := range metric.Label {
				if want, ok := labels[l.GetName()]; ok && want != l.GetValue() {
					continue next
				}
			}
			switch {
			case metric.Counter != nil:
				return metric.Counter.GetValue()
			case metric.Gauge != nil:
				return metric.Gauge.GetValue()
			case metric.Histogram != nil:
				return float64(metric.Histogram.GetSampleCount())
			}
		}
		t.Fatalf("/metrics has no %s with %v", name, labels)
		return 0
	}
	checks := []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"sheetsync_http_requests_total", map[string]string{"route": "/v3/items/query", "code": "200"}, 2},
		{"sheetsync_http_request_duration_seconds", map[string]string{"route": "/v3/items/insert"}, 1},
		{"sheetsync_collection_rows", map[string]string{"collection": "products"}, 301},
		{"sheetsync_collection_rows", map[string]string{"collection": "stores-Staff"}, 30},
		{"sheetsync_file_changes_total", nil, 3},
		{"sheetsync_write_backs_total", nil, 1},
		{"sheetsync_result_cache_hits_total", nil, 1},
		{"sheetsync_nats_connected", nil, 1},
		{"go_goroutines", nil, 1},
	}
	for _, c := range checks {
		if got := value(c.name, c.labels); got < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.min)
		}
	}
	if got := value("sheetsync_log_lag", nil); got != 0 {
		t.Errorf("sheetsync_log_lag = %v on a lone replica, want 0", got)
	}
}
