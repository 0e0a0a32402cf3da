package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/sheetsync/sheetsync/cache"
)

// Status is what the status page (GET /) shows beyond what the server knows itself: cmd fills
// it from the folder, the change log and NATS (Config.Status). Nothing in it is a secret: no
// key, no password, no token.
type Status struct {
	Replica string       // this replica's name
	Files   []FileStatus // the files served or with problems, by name
	Log     *LogStatus   // nil while the change log is not open yet
}

// FileStatus is one file of the folder.
type FileStatus struct {
	Name    string        // the file's name in the folder
	Sheets  []SheetStatus // the collections it serves; none when it is not served
	Read    time.Time     // when sheetsync last read it; zero when not since it started
	Written time.Time     // when sheetsync last wrote changes into it; zero when not since it started
	// Problems are what is wrong in the file; a fatal one keeps the file, or the sheet, at its
	// last good version (or unserved, when it never had one).
	Problems []Problem
}

// SheetStatus is one collection a file serves.
type SheetStatus struct {
	Sheet      string // "" for a CSV file
	Collection string
}

// Problem is something wrong in a file that a person should fix. Row and Column are 1-based
// and 0 when they do not apply.
type Problem struct {
	Sheet   string
	Row     int
	Column  int
	Field   string
	Message string
	Fatal   bool
	Todo    string // what to do when it is not fixing the file (a full disk, say); "" otherwise
}

// LogStatus is the change log and the NATS connection of this replica.
type LogStatus struct {
	Applied   uint64 // the log's sequence this replica applied up to
	Lag       int64  // changes in the log not applied yet; -1 when NATS cannot be asked
	Halted    string // why this replica stopped applying changes; "" when it did not
	NATS      string // the server's URL, with any password or token redacted
	Embedded  bool   // the NATS server runs in this process (no --nats)
	Connected bool
	SharedDir bool   // --shared-dir: only the lease holder watches and writes the folder
	Holder    string // with SharedDir, the replica holding the lease; "" when none does
}

//go:embed status.html
var statusFS embed.FS

var statusTemplate = template.Must(template.New("status.html").ParseFS(statusFS, "status.html"))

// wantsHTML reports whether the client asked for a web page: browsers name text/html in Accept,
// curl and scripts send */* or nothing and keep getting the plain-text summary.
func wantsHTML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || (mt != "text/html" && mt != "application/xhtml+xml") {
			continue
		}
		if q, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// handleStatusPage renders the status page as HTML.
func (s *Server) handleStatusPage(c *gin.Context) {
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, s.statusPage(c)); err != nil {
		s.log.Error("cannot render the status page", "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error\n"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}

// statusPage is what the template shows, every value ready to print.
type statusPage struct {
	Version, Uptime, Replica, Now, Base string
	Ready                               bool
	NotReady                            string
	Protocols                           []protocolView
	Wrong                               []string
	Collections                         []collectionView
	Problems                            []problemView
	Log                                 *LogStatus
	Lag                                 string
	HasStatus                           bool
	NotHolder                           bool // --shared-dir, and another replica reads the files
}

type protocolView struct {
	Name, Routes, URL, Auth string
	OK                      bool
}

type collectionView struct {
	Name, File, Sheet string
	Rows              int
	Fields            []fieldView
	ReadOnly          string // why it cannot be written now; "" when it can
	Read, Written     timeView
}

type fieldView struct {
	Key, Type string
	System    bool
}

type timeView struct{ At, Ago string }

type problemView struct {
	File, Sheet, Row, Column, Message, Todo string
	Fatal                                   bool
}

func (s *Server) statusPage(c *gin.Context) statusPage {
	now := time.Now()
	p := statusPage{Version: s.cfg.Version, Uptime: formatDuration(now.Sub(s.started)), Now: now.Format(time.RFC3339), Ready: true}
	if reason := s.ready.Load(); reason != nil {
		p.Ready, p.NotReady = false, *reason
		p.Wrong = append(p.Wrong, "Not ready: "+*reason+".")
	}
	base := s.baseURL(c)
	p.Base = base
	for _, pr := range []struct {
		name, routes, path, flag string
		auth                     Auth
	}{
		{"v3 service plugin", "POST /v3/...", "/v3", "--jwt-public-key", s.cfg.V3},
		{"legacy SPI", "POST /provision, /schemas/..., /data/...", "", "--secret-key", s.cfg.Legacy},
	} {
		v := protocolView{Name: pr.name, Routes: pr.routes, URL: base + pr.path, Auth: authSummary(pr.auth, pr.flag), OK: pr.auth.Mode == AuthKey}
		p.Protocols = append(p.Protocols, v)
		if pr.auth.Mode == AuthOff {
			p.Wrong = append(p.Wrong, fmt.Sprintf("The %s is off: no key on a public address (set %s).", pr.name, pr.flag))
		}
	}
	var st Status
	if s.cfg.Status != nil {
		st = s.cfg.Status()
		p.HasStatus = true
	}
	p.Replica = st.Replica
	bySheet := map[string]*FileStatus{}
	sheetOf := map[string]string{}
	for i := range st.Files {
		f := &st.Files[i]
		for _, sh := range f.Sheets {
			bySheet[sh.Collection], sheetOf[sh.Collection] = f, sh.Sheet
		}
	}
	readOnly := 0
	for _, snap := range s.store.Collections() {
		cv := collectionView{Name: snap.Name(), Rows: snap.Len()}
		for _, f := range snap.Schema().Fields() {
			_, system := cache.SystemFieldType(f.Key)
			cv.Fields = append(cv.Fields, fieldView{Key: f.Key, Type: f.Type.String(), System: system})
		}
		if err := s.writable(snap, ""); err != nil {
			cv.ReadOnly = readOnlyReason(err)
			if !errors.Is(err, cache.ErrReadOnlyServer) {
				readOnly++
			}
		}
		if f := bySheet[snap.Name()]; f != nil {
			cv.File, cv.Sheet = f.Name, sheetOf[snap.Name()]
			cv.Read, cv.Written = when(f.Read, now), when(f.Written, now)
		}
		p.Collections = append(p.Collections, cv)
	}
	if readOnly > 0 {
		p.Wrong = append(p.Wrong, plural(readOnly, "collection cannot", "collections cannot")+" be written from Wix now: see why below.")
	}
	files, fatal := 0, 0
	for _, f := range st.Files {
		if len(f.Problems) > 0 {
			files++
		}
		for _, pr := range f.Problems {
			p.Problems = append(p.Problems, problemView{File: f.Name, Sheet: pr.Sheet, Row: positive(pr.Row), Column: column(pr.Column, pr.Field),
				Message: pr.Message, Todo: todo(pr, len(f.Sheets) > 0), Fatal: pr.Fatal})
			if pr.Fatal {
				fatal++
			}
		}
	}
	if files > 0 {
		w := plural(len(p.Problems), "problem", "problems") + " in " + plural(files, "file", "files")
		if fatal > 0 {
			w += fmt.Sprintf(" (%d keeping a file or sheet from being read)", fatal)
		}
		p.Wrong = append(p.Wrong, w+": see Problems below.")
	}
	if l := st.Log; l != nil {
		p.Log = l
		p.NotHolder = l.SharedDir && l.Holder != st.Replica
		switch {
		case l.Lag < 0:
			p.Lag = "unknown"
		case l.Lag == 0:
			p.Lag = "none: up to date"
		default:
			p.Lag = plural(int(l.Lag), "change", "changes") + " behind"
		}
		if !l.Connected {
			p.Wrong = append(p.Wrong, "Not connected to NATS: writes are refused until it is back; reads go on.")
		}
		if l.Halted != "" {
			p.Wrong = append(p.Wrong, "The change log stopped on this replica: "+l.Halted+".")
		}
	}
	return p
}

// readOnlyReason is why a collection cannot be written, without the "read-only: " every reason
// starts with.
func readOnlyReason(err error) string {
	var nw *notWritableError
	if errors.As(err, &nw) {
		err = nw.reason
	}
	return strings.TrimPrefix(err.Error(), cache.ErrReadOnly.Error()+": ")
}

// todo says what to do about a problem.
func todo(p Problem, served bool) string {
	switch {
	case p.Todo != "":
		return p.Todo
	case !p.Fatal:
		return "Fix it in the file when you can; the rest of the file is served."
	case !served:
		return "Fix the file and save it: it is not served until it can be read."
	case p.Sheet != "":
		return "Fix the sheet and save the file: until then the sheet is served as it was last read correctly, and cannot be written from Wix."
	}
	return "Fix the file and save it: until then it is served as it was last read correctly, and cannot be written from Wix."
}

func when(t, now time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	return timeView{At: t.Format(time.RFC3339), Ago: formatDuration(now.Sub(t)) + " ago"}
}

// formatDuration rounds a duration for people: 42s, 5m10s, 3h5m, 2d4h.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 24*time.Hour:
		d = d.Round(time.Minute)
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	}
	d = d.Round(time.Hour)
	return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func positive(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// column names a 1-based column by its spreadsheet letters (1 is A, 27 is AA), with its field.
func column(n int, field string) string {
	var b []byte
	for n > 0 {
		n--
		b = append([]byte{byte('A' + n%26)}, b...)
		n /= 26
	}
	switch {
	case len(b) > 0 && field != "":
		return string(b) + " (" + field + ")"
	case field != "":
		return field
	}
	return string(b)
}
