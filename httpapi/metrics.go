package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the HTTP front's Prometheus metrics (GET /metrics): requests by route and status
// code, their latency, and what the store serves.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  http.Handler // serves the registry in Prometheus' text format
}

// initMetrics registers the server's metrics with reg (a registry of its own when nil), which
// /metrics then serves with whatever else the caller registered there.
func (s *Server) initMetrics(reg *prometheus.Registry) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s.metrics.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sheetsync_http_requests_total",
		Help: "HTTP requests answered, by route (the endpoint's path pattern, \"unmatched\" for others) and status code.",
	}, []string{"route", "code"})
	s.metrics.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sheetsync_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by route.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"route"})
	reg.MustRegister(s.metrics.requests, s.metrics.latency, storeCollector{s})
	results := s.results()
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sheetsync_result_cache_hits_total",
			Help: "Queries answered from the result cache."}, func() float64 { return float64(results.Hits()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "sheetsync_result_cache_misses_total",
			Help: "Queries not found in the result cache (computed)."}, func() float64 { return float64(results.Misses()) }),
	)
}

// observe is the middleware that counts and times every request.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched" // not the raw path: a scanner's random paths would make series without end
	}
	s.metrics.requests.WithLabelValues(route, strconv.Itoa(c.Writer.Status())).Inc()
	s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
}

// handleMetrics is GET /metrics, in Prometheus' text format.
func (s *Server) handleMetrics(c *gin.Context) {
	s.metrics.handler.ServeHTTP(c.Writer, c.Request)
}

// storeCollector reports, at each scrape, what every collection holds.
type storeCollector struct{ s *Server }

var (
	rowsDesc    = prometheus.NewDesc("sheetsync_collection_rows", "Rows (items) a collection holds.", []string{"collection"}, nil)
	fieldsDesc  = prometheus.NewDesc("sheetsync_collection_fields", "Fields a collection has, system fields included.", []string{"collection"}, nil)
	versionDesc = prometheus.NewDesc("sheetsync_collection_version", "The store version of a collection's current snapshot; it moves at every change.", []string{"collection"}, nil)
)

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rowsDesc
	ch <- fieldsDesc
	ch <- versionDesc
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, snap := range c.s.store.Collections() {
		ch <- prometheus.MustNewConstMetric(rowsDesc, prometheus.GaugeValue, float64(snap.Len()), snap.Name())
		ch <- prometheus.MustNewConstMetric(fieldsDesc, prometheus.GaugeValue, float64(snap.Schema().Len()), snap.Name())
		ch <- prometheus.MustNewConstMetric(versionDesc, prometheus.GaugeValue, float64(snap.Version()), snap.Name())
	}
}
