package main

import (
	"time"

	"github.com/sheetsync/sheetsync/httpapi"
	"github.com/sheetsync/sheetsync/ingest"
)

// statusLagTimeout bounds the question to NATS the status page asks (how far behind the log
// this replica is), so that the page answers while NATS is slow or away.
const statusLagTimeout = 500 * time.Millisecond

// status gathers what the status page shows beyond the store (DESIGN §2): the folder's files
// and their problems, the change log, NATS and the lease. It holds no secret: the NATS URL is
// redacted and no key is copied.
func (m *Main) status() httpapi.Status {
	st := httpapi.Status{Replica: m.Config.Replica}
	if f := m.folder(); f != nil {
		st.Files = fileStatus(f.FileStatus())
	}
	st.Log = m.logStatus()
	return st
}

// folder returns the folder this replica watches now: nil while it loads, and with --shared-dir
// while another replica holds the folder.
func (m *Main) folder() *ingest.Folder {
	if f := m.live.Load(); f != nil {
		return f
	}
	if m.serving.Load() && m.shared != nil {
		return m.shared.current()
	}
	return nil
}

func fileStatus(files []ingest.FileStatus) []httpapi.FileStatus {
	out := make([]httpapi.FileStatus, 0, len(files))
	for _, f := range files {
		fs := httpapi.FileStatus{Name: f.Name, Read: f.Read, Written: f.Written}
		for _, sh := range f.Sheets {
			fs.Sheets = append(fs.Sheets, httpapi.SheetStatus{Sheet: sh.Sheet, Collection: sh.Collection})
		}
		for _, p := range f.Problems {
			fs.Problems = append(fs.Problems, httpapi.Problem{Sheet: p.Sheet, Row: p.Row, Column: p.Column, Field: p.Field,
				Message: p.Message, Fatal: p.Fatal, Todo: p.Todo})
		}
		out = append(out, fs)
	}
	return out
}

// logStatus reads the change log and the NATS connection; nil until the log is open. The
// connection is set before the log (journal.connect), so once the log is seen it is too.
func (m *Main) logStatus() *httpapi.LogStatus {
	j := m.journal
	if j == nil {
		return nil
	}
	l := j.log.Load()
	if l == nil {
		return nil
	}
	ls := &httpapi.LogStatus{Embedded: j.server != nil, Connected: j.connected(), Lag: -1, SharedDir: m.Config.SharedDir}
	ls.Applied, _ = l.Applied()
	if err := l.Err(); err != nil {
		ls.Halted = err.Error()
	}
	if !ls.Embedded { // the embedded server is reached in process: it has no URL to show
		ls.NATS = j.conn.ConnectedUrlRedacted()
		if ls.NATS == "" {
			ls.NATS = redactURL(m.Config.NATS)
		}
	}
	if lag, ok := j.lag(statusLagTimeout); ok {
		ls.Lag = int64(lag)
	}
	if m.serving.Load() && m.shared != nil && m.shared.lease != nil {
		ls.Holder = m.shared.lease.Holder()
	}
	return ls
}
