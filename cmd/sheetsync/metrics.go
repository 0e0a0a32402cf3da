package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sheetsync/sheetsync/ingest"
)

// newMetrics returns the registry GET /metrics serves (DESIGN §2): the Go runtime and the
// process, the folder's file events and write-backs, and the change log's state; httpapi adds
// requests, latency, collections and the result cache.
func (m *Main) newMetrics() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	folder := func() ingest.Stats {
		if f := m.folder(); f != nil {
			return f.Stats()
		}
		return ingest.Stats{}
	}
	counter := func(name, help string, v func(ingest.Stats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v(folder())) })
	}
	reg.MustRegister(
		counter("sheetsync_file_changes_total", "Changes read from the folder's files and committed: a file loaded, edited, or a sheet removed.",
			func(s ingest.Stats) uint64 { return s.FileChanges }),
		counter("sheetsync_file_parse_failures_total", "Reads of a file that failed; the file stays served at its last good version.",
			func(s ingest.Stats) uint64 { return s.ParseFailures }),
		counter("sheetsync_write_backs_total", "File writes of changes not read from the files (API writes, other replicas' changes).",
			func(s ingest.Stats) uint64 { return s.WriteBacks }),
		counter("sheetsync_write_back_failures_total", "File writes that failed; they are retried.",
			func(s ingest.Stats) uint64 { return s.WriteBackFailures }),
		counter("sheetsync_file_versions_adopted_total", "Files brought to the version another replica read.",
			func(s ingest.Stats) uint64 { return s.Adoptions }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sheetsync_file_problems", Help: "Problems the folder's files have now (see the status page)."},
			func() float64 {
				if f := m.folder(); f != nil {
					return float64(len(f.Problems()))
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sheetsync_log_applied_sequence", Help: "The change log's sequence this replica has applied up to."},
			func() float64 {
				if l := m.journal.log.Load(); l != nil {
					seq, _ := l.Applied()
					return float64(seq)
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sheetsync_log_lag", Help: "Changes in the log this replica has not applied yet (-1 when NATS cannot be asked)."},
			func() float64 {
				if lag, ok := m.journal.lag(time.Second); ok {
					return float64(lag)
				}
				return -1
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "sheetsync_nats_connected", Help: "1 while the connection to NATS is up."},
			func() float64 {
				if m.journal.connected() {
					return 1
				}
				return 0
			}),
	)
	return reg
}
