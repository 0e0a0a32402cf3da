package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// The live folder's tests run a Folder on real fsnotify in t.TempDir(), over a real cache.Store,
// and look at what the store serves. They wait with eventually, never with a bare sleep; the few
// short sleeps left prove that something does not happen, and each says why it is long enough.

// bound bounds every wait for the folder to catch up. A broken file is reported only after
// settleWindow (2 s), so the bound must be well above that.
const bound = 5 * time.Second

// eventually polls cond every few milliseconds until it holds, and fails the test with cond's
// last message when it does not hold within the bound.
func eventually(t testing.TB, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// keepChecking runs check in a goroutine, about every 100µs, until the returned stop is called;
// stop returns the first failure check reported ("" when none). It watches for what must never
// be seen, such as a collection missing between two steps of a save.
func keepChecking(check func() string) (stop func() string) {
	done := make(chan struct{})
	var first string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if msg := check(); msg != "" && first == "" {
				first = msg
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Microsecond):
			}
		}
	}()
	return func() string {
		close(done)
		wg.Wait()
		return first
	}
}

// testClock is the Loader's clock in folder tests: fixed until the test sets it, so the dates a
// change serves can be checked exactly. It is read from the watcher's workers.
type testClock struct{ ms atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ms.Store(testStamp.UnixMilli())
	return c
}

func (c *testClock) Now() time.Time { return time.UnixMilli(c.ms.Load()).UTC() }

// set moves the clock to the ISO time s and returns it in milliseconds.
func (c *testClock) set(s string) int64 {
	ms := mustTime(s)
	c.ms.Store(ms)
	return ms
}

// newIDs numbers the ids folder tests give rows, across every Folder of the process, so that no
// two rows ever get one id.
var newIDs atomic.Int64

func newTestID() string { return "new-" + strconv.FormatInt(newIDs.Add(1), 10) }

func mustTime(s string) int64 {
	ms, ok := cache.ParseTime(s)
	if !ok {
		panic("bad time " + s)
	}
	return ms
}

// folderTest is a Folder open on a temporary folder, serving into its own store.
type folderTest struct {
	t      *testing.T
	dir    string
	state  string
	store  *cache.Store
	clock  *testClock
	f      *Folder
	report *Report
	logs   *logRecorder
}

// logRecorder keeps what a Folder logs, one line a record, to print when a test fails and to
// tell which path a sync took.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %q", rec.Time.Format("15:04:05.000"), rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, b.String())
	r.mu.Unlock()
	return nil
}

// count returns how many records have message msg and hold every one of attrs ("key=value").
func (r *logRecorder) count(msg string, attrs ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		ok := strings.Contains(l, fmt.Sprintf(" %q", msg))
		for _, a := range attrs {
			ok = ok && strings.Contains(l, " "+a)
		}
		if ok {
			n++
		}
	}
	return n
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// newFolderTest writes files into a new folder, dated an hour back, and opens a Folder on it.
func newFolderTest(t *testing.T, files map[string]string, opts ...func(*Folder)) *folderTest {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		writeFile(t, dir, name, data)
	}
	return openFolderTest(t, dir, t.TempDir(), newTestClock(), opts...)
}

// openFolderTest opens a Folder on dir with a new store: Debounce 20ms, no rescan, two
// workers, a Loader on clock with ids new-1, new-2, ..., and its log recorded (and printed if
// the test fails). opts change the Folder before it opens; Close runs at cleanup.
func openFolderTest(t *testing.T, dir, state string, clock *testClock, opts ...func(*Folder)) *folderTest {
	t.Helper()
	store := cache.NewStore()
	logs := &logRecorder{}
	f := &Folder{
		Dir:       dir,
		StateDir:  state,
		Loader:    &Loader{Logger: discardLogger(), Now: clock.Now, NewID: newTestID},
		Committer: store,
		Debounce:  20 * time.Millisecond,
		Logger:    slog.New(logs),
	}
	for _, opt := range opts {
		opt(f)
	}
	report, err := f.Open(context.Background())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("the folder's log:\n%s", logs)
		}
	})
	return &folderTest{t: t, dir: dir, state: state, store: store, clock: clock, f: f, report: report, logs: logs}
}

func withDebounce(d time.Duration) func(*Folder) { return func(f *Folder) { f.Debounce = d } }
func withRescan(d time.Duration) func(*Folder)   { return func(f *Folder) { f.Rescan = d } }

func (h *folderTest) path(name string) string { return filepath.Join(h.dir, name) }

// snap returns the collection as served, or nil when it is not.
func (h *folderTest) snap(coll string) *cache.Snapshot {
	s, err := h.store.Snapshot(coll)
	if err != nil {
		return nil
	}
	return s
}

// rowOf returns a served row by _id as field key to value, or nil when it is not there.
func rowOf(s *cache.Snapshot, id string) map[string]cache.Value {
	if s == nil {
		return nil
	}
	r, ok := s.Lookup(id)
	if !ok {
		return nil
	}
	m := map[string]cache.Value{}
	for i, v := range s.Row(r) {
		m[s.Schema().Field(i).Key] = v
	}
	return m
}

// findRow returns the first row whose field key holds v, or nil.
func findRow(s *cache.Snapshot, key string, v cache.Value) map[string]cache.Value {
	i, ok := s.Schema().Index(key)
	if !ok {
		return nil
	}
	var out map[string]cache.Value
	s.Rows(func(r cache.RowID) bool {
		if s.Value(r, i).Equal(v) {
			out = map[string]cache.Value{}
			for j, w := range s.Row(r) {
				out[s.Schema().Field(j).Key] = w
			}
			return false
		}
		return true
	})
	return out
}

// collectionsOf returns the names of the collections a report lists.
func collectionsOf(r *Report) []string {
	var names []string
	for _, c := range r.Collections {
		names = append(names, c.Collection)
	}
	return names
}

// row returns a row as the store serves it now, or nil.
func (h *folderTest) row(coll, id string) map[string]cache.Value { return rowOf(h.snap(coll), id) }

// collections returns the names of the collections served.
func (h *folderTest) collections() []string {
	var names []string
	for _, s := range h.store.Collections() {
		names = append(names, s.Name())
	}
	return names
}

// waitValue waits until the collection serves want in field key of row id.
func (h *folderTest) waitValue(coll, id, key string, want cache.Value) {
	h.t.Helper()
	eventually(h.t, bound, func() (bool, string) {
		r := h.row(coll, id)
		if r == nil {
			return false, fmt.Sprintf("%s has no row %s; collections %q, problems %v", coll, id, h.collections(), h.f.Problems())
		}
		got := r[key]
		return got.Equal(want) && got.Kind() == want.Kind(), fmt.Sprintf("%s %s.%s = %s, want %s; problems %v", coll, id, key, dumpValue(got), dumpValue(want), h.f.Problems())
	})
}

// waitFor waits until the collection is served and cond holds of it.
func (h *folderTest) waitFor(coll string, cond func(s *cache.Snapshot) (bool, string)) *cache.Snapshot {
	h.t.Helper()
	var last *cache.Snapshot
	eventually(h.t, bound, func() (bool, string) {
		last = h.snap(coll)
		if last == nil {
			return false, fmt.Sprintf("%s is not served; collections %q, problems %v", coll, h.collections(), h.f.Problems())
		}
		return cond(last)
	})
	return last
}

// waitGone waits until the collection is no longer served.
func (h *folderTest) waitGone(coll string) {
	h.t.Helper()
	eventually(h.t, bound, func() (bool, string) {
		return h.snap(coll) == nil, coll + " is still served"
	})
}

// waitProblem waits until Problems holds exactly one problem, in file, and returns it.
func (h *folderTest) waitProblem(file string) Problem {
	h.t.Helper()
	var p Problem
	eventually(h.t, bound, func() (bool, string) {
		ps := h.f.Problems()
		if len(ps) != 1 || ps[0].Path != h.path(file) {
			return false, fmt.Sprintf("problems %v, want one in %s", ps, file)
		}
		p = ps[0]
		return true, ""
	})
	return p
}

// waitNoProblems waits until Problems is empty.
func (h *folderTest) waitNoProblems() {
	h.t.Helper()
	eventually(h.t, bound, func() (bool, string) {
		ps := h.f.Problems()
		return len(ps) == 0, fmt.Sprintf("problems %v", ps)
	})
}

// checkDates checks a served row's system dates, in milliseconds (0 for none).
func (h *folderTest) checkDates(coll, id string, created, updated int64) {
	h.t.Helper()
	r := h.row(coll, id)
	if r == nil {
		h.t.Errorf("%s has no row %s", coll, id)
		return
	}
	for _, d := range []struct {
		key  string
		want int64
	}{{cache.FieldCreatedDate, created}, {cache.FieldUpdatedDate, updated}} {
		want := cache.Null()
		if d.want != 0 {
			want = cache.Time(d.want)
		}
		if got := r[d.key]; !got.Equal(want) || got.Kind() != want.Kind() {
			h.t.Errorf("%s %s.%s = %s, want %s", coll, id, d.key, dumpValue(got), dumpValue(want))
		}
	}
}

// writeRenamed saves data over path the way most editors do: into a temporary file in the same
// folder, renamed over the original.
func writeRenamed(tb testing.TB, path, tmpName string, data []byte) {
	tb.Helper()
	tmp := filepath.Join(filepath.Dir(path), tmpName)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// save writes data over path atomically, through a hidden temporary file.
func save(tb testing.TB, path, data string) {
	tb.Helper()
	writeRenamed(tb, path, "."+filepath.Base(path)+".swp", []byte(data))
}

func mustWrite(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// replace returns s with old replaced by new once; old must be there.
func replace(tb testing.TB, s, old, new string) string {
	tb.Helper()
	if !strings.Contains(s, old) {
		tb.Fatalf("%q is not in %q", old, s)
	}
	return strings.Replace(s, old, new, 1)
}

// The products fixture: a CSV whose rows have ids and dates, so nothing is written back. It
// lacks the _owner column, so its edits are always read in full (see productsOwned).
const (
	productsHeader = "_id,name,price,_createdDate,_updatedDate\n"
	productsV1     = productsHeader +
		"p1,Apple,1.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z\n" +
		"p2,Pear,2,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z\n" +
		"p3,Plum,3,2024-01-01T00:00:00.000Z,2024-01-03T00:00:00.000Z\n"
)

var (
	jan1 = mustTime("2024-01-01T00:00:00Z")
	jan2 = mustTime("2024-01-02T00:00:00Z")
	jan3 = mustTime("2024-01-03T00:00:00Z")
)

// inventoryBook returns a workbook of two sheets, Stock (s1, s2 with item and qty) and Staff
// (e1, e2 with name), every row with an id, after edit changes it.
func inventoryBook(tb testing.TB, edit func(f *excelize.File)) []byte {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	mustXLSX(tb, f.SetSheetName("Sheet1", "Stock"))
	_, err := f.NewSheet("Staff")
	mustXLSX(tb, err)
	setSheetRows(tb, f, "Stock", [][]any{{"_id", "item", "qty"}, {"s1", "bolt", 10}, {"s2", "nut", 20}})
	setSheetRows(tb, f, "Staff", [][]any{{"_id", "name"}, {"e1", "Ann"}, {"e2", "Bob"}})
	if edit != nil {
		edit(f)
	}
	buf, err := f.WriteToBuffer()
	mustXLSX(tb, err)
	return buf.Bytes()
}

func setSheetRows(tb testing.TB, f *excelize.File, sheet string, rows [][]any) {
	tb.Helper()
	for i, r := range rows {
		mustXLSX(tb, f.SetSheetRow(sheet, "A"+strconv.Itoa(i+1), &r))
	}
}

// editBook opens the workbook at path with excelize, edits it and saves it: in place, as
// excelize's Save does, or into a temporary file renamed over the original.
func editBook(tb testing.TB, path string, inPlace bool, edit func(f *excelize.File)) {
	tb.Helper()
	f, err := excelize.OpenFile(path)
	mustXLSX(tb, err)
	defer f.Close()
	edit(f)
	if inPlace {
		mustXLSX(tb, f.Save())
		return
	}
	buf, err := f.WriteToBuffer()
	mustXLSX(tb, err)
	writeRenamed(tb, path, "~inventory.tmp", buf.Bytes())
}

// TestFolderInitialLoad: Open serves every spreadsheet of the folder, a CSV and both sheets of a
// workbook, and its report lists them; lock, backup and other files are not read.
func TestFolderInitialLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", productsV1)
	writeFile(t, dir, "inventory.xlsx", string(inventoryBook(t, nil)))
	writeFile(t, dir, "~$inventory.xlsx", "\x00garbage lock")
	writeFile(t, dir, ".~lock.products.csv#", "user,host,2024")
	writeFile(t, dir, "notes.txt", "not a spreadsheet")
	writeFile(t, dir, "Price List.CSV", "sku,price\n00123,4.5\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "sub/inner.csv", productsV1)
	h := openFolderTest(t, dir, t.TempDir(), newTestClock())

	want := []Loaded{
		{Collection: "Price_List", Path: h.path("Price List.CSV"), Rows: 1, Fields: 6}, // its rows got ids
		{Collection: "inventory", Path: h.path("inventory.xlsx"), Sheet: "Stock", Rows: 2, Fields: 6},
		{Collection: "inventory-Staff", Path: h.path("inventory.xlsx"), Sheet: "Staff", Rows: 2, Fields: 5},
		{Collection: "products", Path: h.path("products.csv"), Rows: 3, Fields: 6},
	}
	if !slices.Equal(h.report.Collections, want) {
		t.Errorf("report collections:\n%+v\nwant\n%+v", h.report.Collections, want)
	}
	if len(h.report.Problems) != 0 {
		t.Errorf("report problems: %v", h.report.Problems)
	}
	if got := h.collections(); !slices.Equal(got, []string{"Price_List", "inventory", "inventory-Staff", "products"}) {
		t.Errorf("served %q", got)
	}
	for _, c := range []struct {
		coll, id, key string
		want          cache.Value
	}{
		{"products", "p2", "price", cache.Number(2)},
		{"products", "p3", cache.FieldUpdatedDate, cache.Time(jan3)},
		{"inventory", "s2", "qty", cache.Number(20)},
		{"inventory-Staff", "e1", "name", cache.Text("Ann")},
	} {
		if got := h.row(c.coll, c.id)[c.key]; !got.Equal(c.want) {
			t.Errorf("%s %s.%s = %s, want %s", c.coll, c.id, c.key, dumpValue(got), dumpValue(c.want))
		}
	}
	if got := findRow(h.snap("Price_List"), "sku", cache.Text("00123")); got == nil || !got["price"].Equal(cache.Number(4.5)) {
		t.Errorf("Price_List:\n%s", dumpSnapshot(h.snap("Price_List")))
	}
	if ps := h.f.Problems(); len(ps) != 0 {
		t.Errorf("Problems: %v", ps)
	}
}

// TestFolderSavePatterns: every way editors, sync clients and the shell save a file shows the
// new content, for a CSV and a workbook, and the collection is served all along: a save never
// makes it disappear, even for a moment.
func TestFolderSavePatterns(t *testing.T) {
	formats := []struct {
		file, coll, id, key string
		v1, v2              []byte
		want                cache.Value
	}{
		{"products.csv", "products", "p2", "price", []byte(productsV1),
			[]byte(replace(t, productsV1, "p2,Pear,2,", "p2,Pear,2.5,")), cache.Number(2.5)},
		{"inventory.xlsx", "inventory", "s2", "qty", inventoryBook(t, nil),
			inventoryBook(t, func(f *excelize.File) { mustXLSX(t, f.SetCellInt("Stock", "C3", 25)) }), cache.Number(25)},
	}
	saves := []struct {
		name string
		save func(t *testing.T, path string, data []byte)
	}{
		// a text editor or a program writing the file over itself
		{"InPlace", func(t *testing.T, path string, data []byte) { mustWrite(t, path, data) }},
		// most editors: a temporary file renamed over the original
		{"TempThenRename", func(t *testing.T, path string, data []byte) {
			writeRenamed(t, path, filepath.Base(path)+".tmp", data)
		}},
		{"HiddenTempThenRename", func(t *testing.T, path string, data []byte) {
			writeRenamed(t, path, "."+filepath.Base(path)+".swp", data)
		}},
		// Excel: a lock file; the new content in a temporary file without extension; the original
		// renamed away, the temporary file renamed in, the original and the lock removed
		{"ExcelStyle", func(t *testing.T, path string, data []byte) {
			dir, base := filepath.Split(path)
			lock := filepath.Join(dir, "~$"+base)
			mustWrite(t, lock, []byte("\x00owner"))
			tmp, old := filepath.Join(dir, "A1B2C3D4"), filepath.Join(dir, "~RF1a2b3c.TMP")
			mustWrite(t, tmp, data)
			for _, err := range []error{os.Rename(path, old), os.Rename(tmp, path), os.Remove(old), os.Remove(lock)} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}},
		// some editors and sync clients: remove, then write anew
		{"DeleteThenCreate", func(t *testing.T, path string, data []byte) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, path, data)
		}},
		// vim and emacs with backups: the original renamed to x~, a new file written
		{"BackupThenWrite", func(t *testing.T, path string, data []byte) {
			if err := os.Rename(path, path+"~"); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, path, data)
		}},
	}
	for _, format := range formats {
		for _, sv := range saves {
			t.Run(filepath.Ext(format.file)[1:]+"/"+sv.name, func(t *testing.T) {
				t.Parallel()
				h := newFolderTest(t, map[string]string{format.file: string(format.v1)})
				stop := keepChecking(func() string {
					if _, err := h.store.Snapshot(format.coll); err != nil {
						return err.Error()
					}
					return ""
				})
				sv.save(t, h.path(format.file), format.v2)
				h.waitValue(format.coll, format.id, format.key, format.want)
				if msg := stop(); msg != "" {
					t.Errorf("the collection disappeared during the save: %s", msg)
				}
				if ps := h.f.Problems(); len(ps) != 0 {
					t.Errorf("Problems: %v", ps)
				}
				if got, want := h.collections(), collectionsOf(h.report); !slices.Equal(got, want) {
					t.Errorf("served %q, want %q", got, want)
				}
			})
		}
	}
	// cp: a new file appears and is served
	for _, format := range formats {
		t.Run(filepath.Ext(format.file)[1:]+"/Create", func(t *testing.T) {
			t.Parallel()
			h := newFolderTest(t, nil)
			mustWrite(t, h.path(format.file), format.v1)
			h.waitFor(format.coll, func(s *cache.Snapshot) (bool, string) {
				return s.Len() == 2 || s.Len() == 3, fmt.Sprintf("%d rows", s.Len())
			})
			if ps := h.f.Problems(); len(ps) != 0 {
				t.Errorf("Problems: %v", ps)
			}
		})
	}
}

// TestFolderIgnoresOtherFiles: backup, lock, temporary and hidden files and subfolders that
// appear in the folder are never read: no collection, no problem.
func TestFolderIgnoresOtherFiles(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1})
	for name, data := range map[string]string{
		"products.csv~":        productsV1, // vim, emacs backups
		"products.bak":         productsV1,
		"products.csv.bak":     productsV1,
		"products.csv.tmp":     productsV1,
		"~$inventory.xlsx":     "\x00\x01 Excel owner file",
		".~lock.products.csv#": "user,host,user,10.05.2024 10:00,file:///home/user/.config/libreoffice/4;",
		"#products.csv#":       "emacs auto-save",
		".products.csv.swp":    "\x00vim swap",
		".hidden.csv":          productsV1,
	} {
		mustWrite(t, h.path(name), []byte(data))
	}
	if err := os.Symlink("user@host.1234:1700000000", h.path(".#products.csv")); err != nil { // emacs lock
		t.Fatal(err)
	}
	if err := os.Mkdir(h.path("sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h.path("sub/inner.csv"), []byte(productsV1))
	// the watcher drops the events of ignored files as it receives them, in order: once a file
	// written after them is served, every one of their events has been seen and dropped
	mustWrite(t, h.path("zz.csv"), []byte(productsV1))
	h.waitFor("zz", func(s *cache.Snapshot) (bool, string) { return s.Len() == 3, fmt.Sprintf("%d rows", s.Len()) })
	if got := h.collections(); !slices.Equal(got, []string{"products", "zz"}) {
		t.Errorf("served %q, want products and zz", got)
	}
	if ps := h.f.Problems(); len(ps) != 0 {
		t.Errorf("Problems: %v", ps)
	}
	if p := h.row("products", "p2")["price"]; !p.Equal(cache.Number(2)) {
		t.Errorf("products p2.price = %s; a backup was read as products.csv", dumpValue(p))
	}
}

// productsOwned is productsV1 with an _owner column: every system column is in the file, so its
// edits can be read incrementally (incremental.go).
var productsOwned = strings.ReplaceAll(strings.Replace(productsV1, "_updatedDate\n", "_updatedDate,_owner\n", 1), ".000Z\n", ".000Z,u1\n")

// dropLine returns s without its line that starts with prefix.
func dropLine(tb testing.TB, s, prefix string) string {
	tb.Helper()
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return strings.Join(slices.Delete(lines, i, i+1), "")
		}
	}
	tb.Fatalf("no line starts with %q in %q", prefix, s)
	return ""
}

// TestFolderEdits: each kind of edit of a CSV file shows row by row, with the system dates a
// Wix client expects: only the rows that changed get a new _updatedDate, and _createdDate never
// moves. Each runs on a file that lacks the _owner column, which is always read in full, and on
// one with every system column, whose edits of rows are read incrementally.
func TestFolderEdits(t *testing.T) {
	for _, fx := range []struct {
		name string
		data string
		// incremental: edits that keep the header and the column types are read incrementally
		incremental bool
	}{{"Full", productsV1, false}, {"Incremental", productsOwned, true}} {
		t.Run(fx.name, func(t *testing.T) {
			testFolderEdits(t, fx.data, fx.incremental)
		})
	}
}

func testFolderEdits(t *testing.T, v1 string, incremental bool) {
	const t1 = "2025-06-01T10:00:00Z"
	start := func(t *testing.T) (*folderTest, int64) {
		t.Parallel()
		h := newFolderTest(t, map[string]string{"products.csv": v1})
		return h, h.clock.set(t1)
	}
	// checkPath checks that the edits were read incrementally when they could be (a sync logs
	// just after its commit)
	checkPath := func(h *folderTest, edits int) {
		h.t.Helper()
		if !incremental {
			return
		}
		eventually(h.t, bound, func() (bool, string) {
			got := h.logs.count("file changed", "incremental=true")
			return got == edits, fmt.Sprintf("%d edits were read incrementally, want %d", got, edits)
		})
	}

	t.Run("CellChanged", func(t *testing.T) {
		h, now := start(t)
		before := h.snap("products")
		save(t, h.path("products.csv"), replace(t, v1, "p2,Pear,2,", "p2,Pear,2.5,"))
		h.waitValue("products", "p2", "price", cache.Number(2.5))
		h.checkDates("products", "p2", jan1, now)
		h.checkDates("products", "p1", jan1, jan2)
		h.checkDates("products", "p3", jan1, jan3)
		for _, id := range []string{"p1", "p3"} {
			if got, want := h.row("products", id), rowOf(before, id); !sameRow(got, want) {
				t.Errorf("%s = %v, was %v", id, got, want)
			}
		}
		checkPath(h, 1)
	})

	t.Run("RowAddedWithID", func(t *testing.T) {
		if incremental {

		}
		h, now := start(t)
		save(t, h.path("products.csv"), v1+"p4,Fig,4\n")
		h.waitValue("products", "p4", "name", cache.Text("Fig"))
		h.checkDates("products", "p4", now, now) // the file gives no dates: both are now
		if got := h.row("products", "p4")["price"]; !got.Equal(cache.Number(4)) {
			t.Errorf("p4.price = %s", dumpValue(got))
		}
		for id, updated := range map[string]int64{"p1": jan2, "p2": jan2, "p3": jan3} {
			h.checkDates("products", id, jan1, updated)
		}
		if n := h.snap("products").Len(); n != 4 {
			t.Errorf("%d rows, want 4", n)
		}
		checkPath(h, 1)
	})

	t.Run("RowAddedWithoutID", func(t *testing.T) {
		h, now := start(t)
		path := h.path("products.csv")
		save(t, path, v1+",Kiwi,4,,\n")
		var id string
		h.waitFor("products", func(s *cache.Snapshot) (bool, string) {
			id = findRow(s, "name", cache.Text("Kiwi"))[cache.FieldID].Str()
			return id != "", fmt.Sprintf("no Kiwi row:\n%s", dumpSnapshot(s))
		})
		h.checkDates("products", id, now, now)
		// the id, dated now, was written into the file once; the header names every system column
		stamp := string(cache.AppendTime(nil, now))
		wantFile := strings.Replace(v1, "_updatedDate\n", "_updatedDate,_owner\n", 1) + id + ",Kiwi,4," + stamp + "," + stamp + "\n"
		eventually(t, bound, func() (bool, string) {
			got := string(mustReadFile(t, path))
			return got == wantFile, fmt.Sprintf("file:\n%s\nwant\n%s", got, wantFile)
		})
		// sheetsync's own write comes back as an event, which must not be read as an edit: its
		// events arrive within createSettle plus a debounce; ten debounces is far beyond that.
		v := h.snap("products").Version()
		time.Sleep(10 * h.f.Debounce)
		if got := h.snap("products").Version(); got != v {
			t.Errorf("the collection moved from version %d to %d after the write-back:\n%s", v, got, dumpSnapshot(h.snap("products")))
		}
		if got := string(mustReadFile(t, path)); got != wantFile {
			t.Errorf("the file was written again:\n%s", got)
		}
		if n := h.snap("products").Len(); n != 4 {
			t.Errorf("%d rows, want 4", n)
		}
	})

	t.Run("RowRemoved", func(t *testing.T) {
		h, _ := start(t)
		save(t, h.path("products.csv"), dropLine(t, v1, "p2,"))
		h.waitFor("products", func(s *cache.Snapshot) (bool, string) {
			return rowOf(s, "p2") == nil, "p2 is still served"
		})
		if n := h.snap("products").Len(); n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
		h.checkDates("products", "p1", jan1, jan2)
		h.checkDates("products", "p3", jan1, jan3)
		checkPath(h, 1)
	})

	t.Run("ColumnAdded", func(t *testing.T) {
		h, now := start(t)
		edited := strings.NewReplacer("name,price", "name,color,price", "Apple,", "Apple,red,", "Pear,", "Pear,,", "Plum,", "Plum,blue,").Replace(v1)
		save(t, h.path("products.csv"), edited)
		s := h.waitFor("products", func(s *cache.Snapshot) (bool, string) {
			f, ok := s.Schema().Lookup("color")
			return ok && f.Type == cache.TypeText, fmt.Sprintf("fields %v", s.Schema().Fields())
		})
		for id, want := range map[string]cache.Value{"p1": cache.Text("red"), "p2": cache.Null(), "p3": cache.Text("blue")} {
			if got := rowOf(s, id)["color"]; !got.Equal(want) || got.Kind() != want.Kind() {
				t.Errorf("%s.color = %s, want %s", id, dumpValue(got), dumpValue(want))
			}
		}
		if got := rowOf(s, "p2")["price"]; !got.Equal(cache.Number(2)) {
			t.Errorf("p2.price = %s, want 2", dumpValue(got))
		}
		h.checkDates("products", "p1", jan1, now) // it gained a value
		h.checkDates("products", "p2", jan1, jan2)
	})

	t.Run("ColumnRemoved", func(t *testing.T) {
		h, _ := start(t)
		edited := strings.NewReplacer("name,price,", "name,", ",1.5,", ",", ",2,", ",", ",3,", ",").Replace(v1)
		save(t, h.path("products.csv"), edited)
		s := h.waitFor("products", func(s *cache.Snapshot) (bool, string) {
			_, ok := s.Schema().Lookup("price")
			return !ok, fmt.Sprintf("fields %v", s.Schema().Fields())
		})
		if s.Len() != 3 {
			t.Errorf("%d rows, want 3", s.Len())
		}
		for id, name := range map[string]string{"p1": "Apple", "p2": "Pear", "p3": "Plum"} {
			r := rowOf(s, id)
			if _, ok := r["price"]; ok || r["name"].Str() != name {
				t.Errorf("%s = %v", id, r)
			}
		}
	})

	t.Run("ColumnRetyped", func(t *testing.T) {
		h, now := start(t)
		save(t, h.path("products.csv"), replace(t, v1, "p2,Pear,2,", "p2,Pear,two,"))
		s := h.waitFor("products", func(s *cache.Snapshot) (bool, string) {
			f, _ := s.Schema().Lookup("price")
			return f.Type == cache.TypeText, fmt.Sprintf("price is %s", f.Type)
		})
		for id, want := range map[string]string{"p1": "1.5", "p2": "two", "p3": "3"} {
			if got := rowOf(s, id)["price"]; !got.Equal(cache.Text(want)) {
				t.Errorf("%s.price = %s, want %q", id, dumpValue(got), want)
			}
		}
		h.checkDates("products", "p2", jan1, now)
	})

	t.Run("UpdatedDateEdited", func(t *testing.T) {
		h, now := start(t)
		path := h.path("products.csv")
		// p2 changes: sheetsync serves now as its _updatedDate, which the file does not hold
		v2 := replace(t, v1, "p2,Pear,2,", "p2,Pear,2.5,")
		save(t, path, v2)
		h.waitValue("products", "p2", "price", cache.Number(2.5))
		h.checkDates("products", "p2", jan1, now)
		// a person types dates: into p2's _updatedDate cell, into p1's with another edit, and
		// into p3's alone; their values win over now and over the date sheetsync kept
		h.clock.set("2025-07-01T00:00:00Z")
		v3 := strings.NewReplacer(
			"p1,Apple,1.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z", "p1,Apples,1.5,2024-01-01T00:00:00.000Z,2030-01-01T00:00:00.000Z",
			"p2,Pear,2.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z", "p2,Pear,2.5,2024-01-01T00:00:00.000Z,2029-01-01T00:00:00.000Z",
			"2024-01-03T00:00:00.000Z", "2028-01-01T00:00:00.000Z",
		).Replace(v2)
		save(t, path, v3)
		h.waitValue("products", "p1", "name", cache.Text("Apples"))
		h.checkDates("products", "p1", jan1, mustTime("2030-01-01T00:00:00Z"))
		h.checkDates("products", "p2", jan1, mustTime("2029-01-01T00:00:00Z"))
		h.checkDates("products", "p3", jan1, mustTime("2028-01-01T00:00:00Z"))
		checkPath(h, 2)
	})
}

// sameRow compares two rows as served.
func sameRow(a, b map[string]cache.Value) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.Equal(w) || v.Kind() != w.Kind() {
			return false
		}
	}
	return true
}

// TestFolderXLSX: a workbook edited and saved with excelize, in place or through a rename, and
// its sheets added, removed and renamed.
func TestFolderXLSX(t *testing.T) {
	start := func(t *testing.T) *folderTest {
		t.Parallel()
		return newFolderTest(t, map[string]string{"inventory.xlsx": string(inventoryBook(t, nil))})
	}
	for _, inPlace := range []bool{false, true} {
		name := map[bool]string{false: "EditRenamed", true: "EditInPlace"}[inPlace]
		t.Run(name, func(t *testing.T) {
			h := start(t)
			h.clock.set("2025-06-01T00:00:00Z")
			editBook(t, h.path("inventory.xlsx"), inPlace, func(f *excelize.File) {
				mustXLSX(t, f.SetCellInt("Stock", "C3", 25))
				mustXLSX(t, f.SetCellStr("Staff", "B2", "Anna"))
			})
			h.waitValue("inventory", "s2", "qty", cache.Number(25))
			h.waitValue("inventory-Staff", "e1", "name", cache.Text("Anna"))
			h.checkDates("inventory", "s2", 0, mustTime("2025-06-01T00:00:00Z"))
			h.checkDates("inventory", "s1", 0, 0)
			h.checkDates("inventory-Staff", "e2", 0, 0)
			if ps := h.f.Problems(); len(ps) != 0 {
				t.Errorf("Problems: %v", ps)
			}
		})
	}

	t.Run("SheetAdded", func(t *testing.T) {
		h := start(t)
		editBook(t, h.path("inventory.xlsx"), false, func(f *excelize.File) {
			_, err := f.NewSheet("Sites & Depots")
			mustXLSX(t, err)
			setSheetRows(t, f, "Sites & Depots", [][]any{{"_id", "city"}, {"d1", "Oslo"}})
		})
		h.waitValue("inventory-Sites___Depots", "d1", "city", cache.Text("Oslo"))
		if got := h.collections(); !slices.Equal(got, []string{"inventory", "inventory-Sites___Depots", "inventory-Staff"}) {
			t.Errorf("served %q", got)
		}
	})

	t.Run("SheetRemoved", func(t *testing.T) {
		h := start(t)
		editBook(t, h.path("inventory.xlsx"), false, func(f *excelize.File) { mustXLSX(t, f.DeleteSheet("Staff")) })
		h.waitGone("inventory-Staff")
		if got := h.collections(); !slices.Equal(got, []string{"inventory"}) {
			t.Errorf("served %q", got)
		}
		if n := h.snap("inventory").Len(); n != 2 {
			t.Errorf("inventory has %d rows, want 2", n)
		}
	})

	t.Run("SheetRenamed", func(t *testing.T) {
		h := start(t)
		editBook(t, h.path("inventory.xlsx"), false, func(f *excelize.File) { mustXLSX(t, f.SetSheetName("Staff", "Crew")) })
		h.waitValue("inventory-Crew", "e2", "name", cache.Text("Bob"))
		h.waitGone("inventory-Staff")
		if n := h.snap("inventory-Crew").Len(); n != 2 {
			t.Errorf("inventory-Crew has %d rows, want 2", n)
		}
	})

	t.Run("FirstSheetRenamed", func(t *testing.T) {
		// the first sheet is named after the file: renaming it changes no collection
		h := start(t)
		before := h.snap("inventory")
		editBook(t, h.path("inventory.xlsx"), false, func(f *excelize.File) {
			mustXLSX(t, f.SetSheetName("Stock", "Goods"))
			mustXLSX(t, f.SetCellInt("Goods", "C2", 11))
		})
		h.waitValue("inventory", "s1", "qty", cache.Number(11))
		if got := h.collections(); !slices.Equal(got, []string{"inventory", "inventory-Staff"}) {
			t.Errorf("served %q", got)
		}
		if got, want := h.row("inventory", "s2"), rowOf(before, "s2"); !sameRow(got, want) {
			t.Errorf("s2 = %v, was %v", got, want)
		}
	})
}

// TestFolderFileLifecycle: files renamed, deleted, and two files that map to one collection.
func TestFolderFileLifecycle(t *testing.T) {
	t.Run("Rename", func(t *testing.T) {
		t.Parallel()
		h := newFolderTest(t, map[string]string{"a.csv": productsV1})
		before := h.snap("a")
		if err := os.Rename(h.path("a.csv"), h.path("b.csv")); err != nil {
			t.Fatal(err)
		}
		h.waitGone("a")
		after := h.waitFor("b", func(s *cache.Snapshot) (bool, string) { return s.Len() == 3, fmt.Sprintf("%d rows", s.Len()) })
		for _, id := range []string{"p1", "p2", "p3"} {
			if got, want := rowOf(after, id), rowOf(before, id); !sameRow(got, want) {
				t.Errorf("b %s = %v, a had %v", id, got, want)
			}
		}
		if ps := h.f.Problems(); len(ps) != 0 {
			t.Errorf("Problems: %v", ps)
		}
	})

	t.Run("RenameToSameCollection", func(t *testing.T) {
		// "price list.csv" and "price_list.csv" are both the collection price_list: the new
		// name appears before the old one is gone, and must be served once it is

		t.Parallel()
		h := newFolderTest(t, map[string]string{"price list.csv": productsV1})
		if err := os.Rename(h.path("price list.csv"), h.path("price_list.csv")); err != nil {
			t.Fatal(err)
		}
		want := []Loaded{{Collection: "price_list", Path: h.path("price_list.csv"), Rows: 3, Fields: 6}}
		eventually(t, bound, func() (bool, string) {
			r := h.f.report()
			return slices.Equal(r.Collections, want) && len(r.Problems) == 0 && h.snap("price_list") != nil,
				fmt.Sprintf("serving %+v, problems %v, price_list served: %v", r.Collections, r.Problems, h.snap("price_list") != nil)
		})
	})

	t.Run("Delete", func(t *testing.T) {
		t.Parallel()
		h := newFolderTest(t, map[string]string{"a.csv": productsV1, "b.csv": productsV1})
		if err := os.Remove(h.path("a.csv")); err != nil {
			t.Fatal(err)
		}
		h.waitGone("a")
		if got := h.collections(); !slices.Equal(got, []string{"b"}) {
			t.Errorf("served %q", got)
		}
		// the state is forgotten just after the collection is dropped
		eventually(t, bound, func() (bool, string) {
			_, err := os.Stat(filepath.Join(h.state, "synced", "a.csv"))
			return err != nil, "the state dir still holds a copy of a.csv"
		})
		if ps := h.f.Problems(); len(ps) != 0 {
			t.Errorf("Problems: %v", ps)
		}
	})

	t.Run("NameClash", func(t *testing.T) {

		t.Parallel()
		h := newFolderTest(t, map[string]string{"a.b.csv": productsV1})
		other := strings.ReplaceAll(productsV1, "p", "q") // ids q1..q3
		mustWrite(t, h.path("a_b.csv"), []byte(other))
		p := h.waitProblem("a_b.csv")
		if !p.Fatal || !strings.Contains(p.Message, `"a_b" is already served from a.b.csv`) {
			t.Errorf("problem %+v", p)
		}
		if s := h.snap("a_b"); rowOf(s, "p1") == nil || rowOf(s, "q1") != nil {
			t.Errorf("a_b does not serve a.b.csv:\n%s", dumpSnapshot(s))
		}
		if err := os.Remove(h.path("a.b.csv")); err != nil {
			t.Fatal(err)
		}
		h.waitFor("a_b", func(s *cache.Snapshot) (bool, string) {
			return rowOf(s, "q1") != nil && rowOf(s, "p1") == nil, "a_b does not serve a_b.csv:\n" + dumpSnapshot(s)
		})
		h.waitNoProblems()
	})
}

// TestFolderNameClashSheets: a workbook whose first sheet's collection is taken by a CSV is
// served in part (its other sheets) and reported; once the CSV goes, the whole workbook is served.
func TestFolderNameClashSheets(t *testing.T) {

	h := newFolderTest(t, map[string]string{"inventory.csv": productsV1, "inventory.xlsx": string(inventoryBook(t, nil))})
	if rowOf(h.snap("inventory"), "p1") == nil || h.snap("inventory-Staff") == nil {
		t.Fatalf("served %q; inventory should be the CSV", h.collections())
	}
	if ps := h.report.Problems; len(ps) != 1 || ps[0].Path != h.path("inventory.xlsx") || ps[0].Sheet != "Stock" {
		t.Errorf("problems %v, want one for inventory.xlsx sheet Stock", ps)
	}
	if err := os.Remove(h.path("inventory.csv")); err != nil {
		t.Fatal(err)
	}
	h.waitValue("inventory", "s1", "item", cache.Text("bolt"))
	h.waitNoProblems()
}

// TestFolderBadFiles: a file that cannot be read keeps its collections at their last good
// version and is reported with file, row and column; once fixed it is served again and the
// problem goes. A new file that cannot be read is reported and never served.
func TestFolderBadFiles(t *testing.T) {
	t.Parallel() // waits out settleWindow: overlap it with the other slow tests
	// A CSV without _owner is read in full; one with every system column incrementally. The
	// first is broken just now, and reported once settleWindow has passed; the second is dated
	// an hour back, as a file broken while nobody watched, and is reported at once (which keeps
	// the tests from waiting out settleWindow once per case).
	for _, fx := range []struct {
		name, data string
		old        bool
	}{{"Full", productsV1, false}, {"Incremental", productsOwned, true}} {
		t.Run("CSVUnterminatedQuote/"+fx.name, func(t *testing.T) {
			t.Parallel()
			h := newFolderTest(t, map[string]string{"products.csv": fx.data})
			before := h.snap("products")
			stop := keepChecking(func() string {
				if s := h.snap("products"); s != before {
					return "the collection changed:\n" + dumpSnapshot(s)
				}
				return ""
			})
			path := h.path("products.csv")
			mustWrite(t, path, []byte(replace(t, fx.data, "p2,Pear,", `p2,"Pear,`)))
			if fx.old {
				backdate(t, path)
			}
			p := h.waitProblem("products.csv")
			if msg := stop(); msg != "" {
				t.Errorf("while the file was broken: %s", msg)
			}
			if want := (Problem{Path: path, Row: 3, Column: 2, Message: errUnterminatedQuote.Error(), Fatal: true}); p != want {
				t.Errorf("problem %+v, want %+v", p, want)
			}
			save(t, path, replace(t, fx.data, "p2,Pear,2,", "p2,Pear,9,"))
			h.waitValue("products", "p2", "price", cache.Number(9))
			h.waitNoProblems()
			if n := h.snap("products").Len(); n != 3 {
				t.Errorf("%d rows, want 3", n)
			}
		})

		t.Run("RestoredToLastGood/"+fx.name, func(t *testing.T) {

			// undo, or a backup copied back: the file is fixed by putting back exactly what was served
			t.Parallel()
			h := newFolderTest(t, map[string]string{"products.csv": fx.data})
			path := h.path("products.csv")
			mustWrite(t, path, []byte(replace(t, fx.data, "p2,Pear,", `p2,"Pear,`)))
			backdate(t, path)
			h.waitProblem("products.csv")
			save(t, path, fx.data)
			h.waitNoProblems()
			if n := h.snap("products").Len(); n != 3 {
				t.Errorf("%d rows, want 3", n)
			}
		})
	}

	t.Run("XLSXTruncated", func(t *testing.T) {
		t.Parallel()
		book := inventoryBook(t, nil)
		h := newFolderTest(t, map[string]string{"inventory.xlsx": string(book)})
		stock, staff := h.snap("inventory"), h.snap("inventory-Staff")
		stop := keepChecking(func() string {
			if h.snap("inventory") != stock || h.snap("inventory-Staff") != staff {
				return "a collection changed"
			}
			return ""
		})
		path := h.path("inventory.xlsx")
		mustWrite(t, path, book[:len(book)/2])
		p := h.waitProblem("inventory.xlsx")
		if msg := stop(); msg != "" {
			t.Errorf("while the file was broken: %s", msg)
		}
		if !p.Fatal || p.Message == "" {
			t.Errorf("problem %+v", p)
		}
		mustWrite(t, path, inventoryBook(t, func(f *excelize.File) { mustXLSX(t, f.SetCellInt("Stock", "C3", 25)) }))
		h.waitValue("inventory", "s2", "qty", cache.Number(25))
		h.waitNoProblems()
		if n := h.snap("inventory-Staff").Len(); n != 2 {
			t.Errorf("inventory-Staff has %d rows, want 2", n)
		}
	})

	t.Run("NewGarbageXLSX", func(t *testing.T) {
		t.Parallel()
		h := newFolderTest(t, nil)
		stop := keepChecking(func() string {
			if h.snap("junk") != nil {
				return "junk is served"
			}
			return ""
		})
		mustWrite(t, h.path("junk.xlsx"), bytes.Repeat([]byte("not a zip\n"), 100))
		backdate(t, h.path("junk.xlsx")) // copied in with its old date: reported at once
		p := h.waitProblem("junk.xlsx")
		if msg := stop(); msg != "" {
			t.Error(msg)
		}
		if !p.Fatal {
			t.Errorf("problem %+v is not fatal", p)
		}
		// fixed: served
		mustWrite(t, h.path("junk.xlsx"), inventoryBook(t, nil))
		h.waitValue("junk", "s1", "item", cache.Text("bolt"))
		h.waitNoProblems()
	})
}

// TestFolderHalfWritten: a file still being written is never published, nor reported.
func TestFolderHalfWritten(t *testing.T) {
	// appendRows writes a CSV of rows rows into f, a few rows every millisecond or so, and
	// returns the count; the writer never pauses longer than the debounce of the test.
	appendRows := func(t *testing.T, f *os.File, d time.Duration) int {
		if _, err := f.WriteString("_id,name\n"); err != nil {
			t.Error(err)
		}
		n := 0
		for end := time.Now().Add(d); time.Now().Before(end); {
			for range 5 {
				fmt.Fprintf(f, "r%d,row %d\n", n, n)
				n++
			}
			time.Sleep(time.Millisecond)
		}
		return n
	}
	// run starts the writer and polls, until the new file is served whole, that nothing is
	// reported and which versions of the collection are served; each but the one from before
	// must have the new file's every row.
	run := func(t *testing.T, h *folderTest, write func() int) {
		before := h.snap("big")
		seen := map[*cache.Snapshot]bool{} // the checker's until stop returns
		stop := keepChecking(func() string {
			if ps := h.f.Problems(); len(ps) != 0 {
				return fmt.Sprintf("problems %v", ps)
			}
			if s := h.snap("big"); s != nil && s != before {
				seen[s] = true
			}
			return ""
		})
		total := write()
		h.waitFor("big", func(s *cache.Snapshot) (bool, string) {
			return s.Len() == total, fmt.Sprintf("%d rows, want %d", s.Len(), total)
		})
		if msg := stop(); msg != "" {
			t.Error(msg)
		}
		for s := range seen {
			if s.Len() != total {
				t.Errorf("served with %d rows before the file was complete (%d rows)", s.Len(), total)
			}
		}
	}

	t.Run("CSVRewritten", func(t *testing.T) {
		// a program writes a served file anew, in place, for a while; a debounce far above the
		// writer's longest pause, even on a loaded machine
		t.Parallel()
		h := newFolderTest(t, map[string]string{"big.csv": "_id,name\nold1,x\nold2,y\n"}, withDebounce(200*time.Millisecond))
		run(t, h, func() int {
			f, err := os.OpenFile(h.path("big.csv"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			return appendRows(t, f, 300*time.Millisecond)
		})
	})

	t.Run("CSVCreatedThenWritten", func(t *testing.T) {

		// cp from a slow source, a download: the file is created, and its first bytes come a
		// little later, well within the debounce
		t.Parallel()
		h := newFolderTest(t, nil, withDebounce(200*time.Millisecond))
		run(t, h, func() int {
			f, err := os.Create(h.path("big.csv"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			time.Sleep(50 * time.Millisecond) // the writer's first bytes come late
			return appendRows(t, f, 300*time.Millisecond)
		})
	})

	t.Run("XLSXTwoHalves", func(t *testing.T) {
		// the first half of a workbook is not a zip yet: it is neither served nor reported, even
		// when the writer stops longer than the debounce before writing the rest
		t.Parallel()
		h := newFolderTest(t, nil)
		book := inventoryBook(t, func(f *excelize.File) {
			for i := range 200 {
				mustXLSX(t, f.SetSheetRow("Stock", "A"+strconv.Itoa(i+4), &[]any{"x" + strconv.Itoa(i), "item", i}))
			}
		})
		path := filepath.Join(h.dir, "big.xlsx")
		run(t, h, func() int {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(book[:len(book)/2]); err != nil {
				t.Fatal(err)
			}
			// the writer stalls for five debounces, so the half file is read at least once
			time.Sleep(5 * h.f.Debounce)
			if _, err := f.Write(book[len(book)/2:]); err != nil {
				t.Fatal(err)
			}
			return 202
		})
	})
}

// TestFolderSameStat: a save that keeps the file's size and modification time is still seen
// when it replaces the file, as on file systems with coarse times (FAT keeps two seconds, some
// network shares a second) or a sync client that sets the time it was given.
func TestFolderSameStat(t *testing.T) {

	h := newFolderTest(t, map[string]string{"products.csv": productsV1})
	path := h.path("products.csv")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := h.path(".products.csv.swp")
	mustWrite(t, tmp, []byte(replace(t, productsV1, "p2,Pear,2,", "p2,Pear,7,"))) // same size
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	h.waitValue("products", "p2", "price", cache.Number(7))
}

// TestFolderBurst: a hundred files written as fast as the test can, half of them without ids
// (which are written back), are all served with every row.
func TestFolderBurst(t *testing.T) {
	h := newFolderTest(t, nil)
	const files = 100
	rows := func(i int) int { return i%5 + 1 }
	start := time.Now()
	for i := range files {
		var b strings.Builder
		if i%2 == 0 {
			b.WriteString("_id,n\n")
			for r := range rows(i) {
				fmt.Fprintf(&b, "f%d-%d,%d\n", i, r, r)
			}
		} else {
			b.WriteString("n\n")
			for r := range rows(i) {
				fmt.Fprintf(&b, "%d\n", r)
			}
		}
		mustWrite(t, h.path(fmt.Sprintf("burst-%03d.csv", i)), []byte(b.String()))
	}
	eventually(t, 2*bound, func() (bool, string) {
		var wrong []string
		for i := range files {
			coll := fmt.Sprintf("burst-%03d", i)
			if s := h.snap(coll); s == nil {
				wrong = append(wrong, coll+" missing")
			} else if s.Len() != rows(i) {
				wrong = append(wrong, fmt.Sprintf("%s has %d rows, want %d", coll, s.Len(), rows(i)))
			}
		}
		return len(wrong) == 0, fmt.Sprintf("%d of %d wrong: %q", len(wrong), files, wrong)
	})
	t.Logf("%d files served in %v", files, time.Since(start).Round(time.Millisecond))
	h.waitNoProblems()
	// the files without ids got them, once
	for i := 1; i < files; i += 2 {
		data := string(mustReadFile(t, h.path(fmt.Sprintf("burst-%03d.csv", i))))
		if !strings.HasPrefix(data, "n,_id,_createdDate,_updatedDate,_owner\n") || strings.Count(data, "new-") != rows(i) {
			t.Errorf("burst-%03d.csv:\n%s", i, data)
		}
	}
}

// TestFolderRescan: what the watcher misses (simulated by pausing it, which drops every event)
// the periodic rescan catches.
func TestFolderRescan(t *testing.T) {
	files := map[string]string{"products.csv": productsV1, "gone.csv": productsV1}
	edited := replace(t, productsV1, "p2,Pear,2,", "p2,Pear,2.5,")

	t.Run("EditWhilePaused", func(t *testing.T) {
		t.Parallel()
		h := newFolderTest(t, files, withRescan(50*time.Millisecond))
		h.f.watch.paused.Store(true)
		mustWrite(t, h.path("products.csv"), []byte(edited))
		// the watcher stays paused: the edit can only come through the rescan
		h.waitValue("products", "p2", "price", cache.Number(2.5))
		h.f.watch.paused.Store(false)
	})

	t.Run("DeleteAndCreateWhilePaused", func(t *testing.T) {
		t.Parallel()
		h := newFolderTest(t, files, withRescan(50*time.Millisecond))
		h.f.watch.paused.Store(true)
		if err := os.Remove(h.path("gone.csv")); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, h.path("new.csv"), []byte(productsV1))
		h.waitGone("gone")
		h.waitFor("new", func(s *cache.Snapshot) (bool, string) { return s.Len() == 3, fmt.Sprintf("%d rows", s.Len()) })
		h.f.watch.paused.Store(false)
	})

	t.Run("NoRescan", func(t *testing.T) {
		// the control: without a rescan, an edit made while paused is missed, which shows that
		// pausing drops the events; a later event for the file catches up
		t.Parallel()
		h := newFolderTest(t, files)
		h.f.watch.paused.Store(true)
		mustWrite(t, h.path("products.csv"), []byte(edited))
		// an event would be read after a debounce; ten debounces is far beyond that
		time.Sleep(10 * h.f.Debounce)
		if got := h.row("products", "p2")["price"]; !got.Equal(cache.Number(2)) {
			t.Fatalf("p2.price = %s while the watcher was paused", dumpValue(got))
		}
		h.f.watch.paused.Store(false)
		now := time.Now()
		if err := os.Chtimes(h.path("products.csv"), now, now); err != nil {
			t.Fatal(err)
		}
		h.waitValue("products", "p2", "price", cache.Number(2.5))
	})
}

// TestFolderRestart: a Folder opened again on the same folder and state dir serves the system
// dates it served before it stopped, and dates now only the rows edited while it was stopped.
func TestFolderRestart(t *testing.T) {
	t.Parallel() // waits out settleWindow: overlap it with the other slow tests
	const (
		unchanged = iota
		edited
		broken
	)
	for _, tc := range []struct {
		name string
		kind int
	}{{"Unchanged", unchanged}, {"EditedWhileStopped", edited}, {"BrokenWhileStopped", broken}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, state := t.TempDir(), t.TempDir()
			path := writeFile(t, dir, "products.csv", productsV1)
			clock := newTestClock()
			h := openFolderTest(t, dir, state, clock)
			t1 := clock.set("2025-06-01T00:00:00Z")
			v2 := replace(t, productsV1, "p2,Pear,2,", "p2,Pear,2.5,")
			save(t, path, v2)
			h.waitValue("products", "p2", "price", cache.Number(2.5))
			h.checkDates("products", "p2", jan1, t1) // t1 is not in the file
			if err := h.f.Close(); err != nil {
				t.Fatal(err)
			}

			switch tc.kind {
			case edited: // p3 edited, a row added without id
				save(t, path, replace(t, v2, "p3,Plum,3,", "p3,Plum,3.5,")+",Kiwi,4,,\n")
			case broken:
				mustWrite(t, path, []byte(replace(t, v2, "p3,Plum,", `p3,"Plum,`)))
				backdate(t, path) // broken while nobody watched: reported at once
			}
			t2 := clock.set("2025-07-01T00:00:00Z")
			h2 := openFolderTest(t, dir, state, clock)
			if ps := h2.report.Problems; len(ps) != 0 && tc.kind != broken {
				t.Errorf("problems: %v", ps)
			}
			h2.checkDates("products", "p1", jan1, jan2)
			h2.checkDates("products", "p2", jan1, t1)
			if got := h2.row("products", "p2")["price"]; !got.Equal(cache.Number(2.5)) {
				t.Errorf("p2.price = %s, want 2.5", dumpValue(got))
			}
			switch tc.kind {
			case unchanged:
				h2.checkDates("products", "p3", jan1, jan3)
				if n := h2.snap("products").Len(); n != 3 {
					t.Errorf("%d rows, want 3", n)
				}
			case broken:
				// the last good version, from the state dir, is served until the file is fixed
				before := h2.snap("products")
				if before.Len() != 3 {
					t.Errorf("%d rows, want 3", before.Len())
				}
				p := h2.waitProblem("products.csv")
				if ps := h2.report.Problems; len(ps) != 1 || ps[0] != p {
					t.Errorf("Open reported %v, want %v", ps, p)
				}
				if p.Row != 4 || p.Column != 2 {
					t.Errorf("problem %+v, want row 4 column 2", p)
				}
				if h2.snap("products") != before {
					t.Errorf("the collection changed while the file was broken")
				}
				save(t, path, replace(t, v2, "p3,Plum,3,", "p3,Plum,3.5,"))
				h2.waitValue("products", "p3", "price", cache.Number(3.5))
				h2.checkDates("products", "p3", jan1, t2)
				h2.checkDates("products", "p2", jan1, t1)
				h2.waitNoProblems()
			case edited:
				if got := h2.row("products", "p3")["price"]; !got.Equal(cache.Number(3.5)) {
					t.Errorf("p3.price = %s, want 3.5", dumpValue(got))
				}
				h2.checkDates("products", "p3", jan1, t2)
				s := h2.snap("products")
				if s.Len() != 4 {
					t.Fatalf("%d rows, want 4:\n%s", s.Len(), dumpSnapshot(s))
				}
				kiwi := findRow(s, "name", cache.Text("Kiwi"))
				if kiwi == nil {
					t.Fatalf("no Kiwi row:\n%s", dumpSnapshot(s))
				}
				h2.checkDates("products", kiwi[cache.FieldID].Str(), t2, t2)
			}
		})
	}
}

// TestFolderEditSequence: a long series of edits to one file, of every kind a person makes to
// rows, each checked against a full read of the file as it then is. Every system column is in
// the file, so most of them are read incrementally, each from the layout the one before left.
func TestFolderEditSequence(t *testing.T) {
	const rows = 3000 // five 64 KiB blocks
	lines := []string{"_id,name,qty,note,_createdDate,_updatedDate,_owner\n"}
	line := func(id string, qty int, note string) string {
		return fmt.Sprintf("%s,item %s,%d,%s,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,u\n", id, id, qty, note)
	}
	for i := range rows {
		lines = append(lines, line(fmt.Sprintf("r%04d", i), i, ""))
	}
	h := newFolderTest(t, map[string]string{"seq.csv": strings.Join(lines, "")})
	at := func(id string) int { // the line of a row
		for i, l := range lines {
			if strings.HasPrefix(l, id+",") {
				return i
			}
		}
		t.Fatalf("no row %s", id)
		return 0
	}
	edits := []struct {
		name string
		edit func()
	}{
		{"cell", func() { lines[at("r0010")] = line("r0010", -10, "") }},
		{"two distant cells", func() {
			lines[at("r1500")] = line("r1500", -1500, "")
			lines[at("r2990")] = line("r2990", -2990, "")
		}},
		{"insert in the middle", func() { lines = slices.Insert(lines, at("r1000"), line("n1", 1, "new")) }},
		{"remove", func() { lines = slices.Delete(lines, at("r2000"), at("r2000")+1) }},
		{"move a row down", func() {
			l := lines[at("r0005")]
			lines = slices.Delete(lines, at("r0005"), at("r0005")+1)
			lines = slices.Insert(lines, at("r2500"), l)
		}},
		{"quoted cell with a line break", func() { lines[at("r0700")] = line("r0700", 700, "\"a, b\nc\"") }},
		{"the same cell again", func() { lines[at("r0700")] = line("r0700", 700, "plain") }},
		{"append", func() { lines = append(lines, line("n2", 2, "last")) }},
		{"first row", func() { lines[1] = line("r0000", -1, "") }},
		{"last row", func() { lines[len(lines)-1] = line("n2", 22, "last") }},
		{"id retyped", func() { lines[at("r0100")] = strings.Replace(lines[at("r0100")], "r0100,", "x0100,", 1) }},
		{"first row removed", func() { lines = slices.Delete(lines, 1, 2) }},
		{"two rows swapped", func() {
			i := at("r1200")
			lines[i], lines[i+1] = lines[i+1], lines[i]
		}},
		{"blank line", func() { lines = slices.Insert(lines, at("r1300"), "\n") }},
		{"row after the blank line", func() { lines[at("r1300")] = line("r1300", -1300, "") }},
		{"length grows across blocks", func() { lines[at("r0300")] = line("r0300", 300, strings.Repeat("x", 70000)) }},
		{"and shrinks", func() { lines[at("r0300")] = line("r0300", 300, "") }},
	}
	path := h.path("seq.csv")
	reader := &Loader{ReadOnly: true, Logger: discardLogger()}
	var stamps []int64
	for i, e := range edits {
		stamps = append(stamps, h.clock.set(fmt.Sprintf("2025-01-%02dT00:00:00Z", i+1)))
		e.edit()
		save(t, path, strings.Join(lines, ""))
		sheets, _ := mustLoad(t, reader, path)
		want, err := cache.NewSnapshot("seq", sheets[0].Table)
		if err != nil {
			t.Fatal(err)
		}
		h.waitFor("seq", func(s *cache.Snapshot) (bool, string) {
			if msg := sameContent(s, want, stamps); msg != "" {
				return false, fmt.Sprintf("after %q: %s", e.name, msg)
			}
			return true, ""
		})
	}
	eventually(t, bound, func() (bool, string) { // a sync logs just after its commit
		n := h.logs.count("file changed", "incremental=true")
		return n >= len(edits)/2, fmt.Sprintf("only %d of %d edits were read incrementally", n, len(edits))
	})
	t.Logf("%d of %d edits read incrementally", h.logs.count("file changed", "incremental=true"), len(edits))
	h.waitNoProblems()
}

// sameContent compares a served snapshot with a full read of the file: the same fields, rows
// and values, but _updatedDate, which may be one of stamps where the row changed.
func sameContent(got, want *cache.Snapshot, stamps []int64) string {
	if got.Len() != want.Len() {
		return fmt.Sprintf("%d rows, want %d", got.Len(), want.Len())
	}
	if !sameFields(got.Schema(), want.Schema()) {
		return fmt.Sprintf("fields %v, want %v", got.Schema().Fields(), want.Schema().Fields())
	}
	idx, _ := want.Schema().Index(cache.FieldID)
	msg := ""
	want.Rows(func(r cache.RowID) bool {
		id := want.Value(r, idx).Str()
		g := rowOf(got, id)
		if g == nil {
			msg = "no row " + id
			return false
		}
		for i, v := range want.Row(r) {
			key := want.Schema().Field(i).Key
			if key == cache.FieldUpdatedDate && (g[key].Equal(v) || slices.Contains(stamps, g[key].Millis())) {
				continue
			}
			if !g[key].Equal(v) || g[key].Kind() != v.Kind() {
				msg = fmt.Sprintf("%s.%s = %s, want %s", id, key, dumpValue(g[key]), dumpValue(v))
				return false
			}
		}
		return true
	})
	return msg
}

// TestFolderBigFileReload: while a big file is read again after an edit, readers keep being
// served the whole collection: every snapshot has every row, and the two edited cells are both
// old or both new, never one of each. A file that lacks system columns is read in full; one that
// has them all is read incrementally.
func TestFolderBigFileReload(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads a 200,000-row file")
	}
	for _, tc := range []struct {
		name, header, tail string
		incremental        bool
	}{
		{"Full", "_id,name,qty\n", "", false},
		{"Incremental", "_id,name,qty,_createdDate,_updatedDate,_owner\n", ",,,", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const rows = 200_000
			var b bytes.Buffer
			b.WriteString(tc.header)
			for i := range rows {
				fmt.Fprintf(&b, "r%d,item %d,%d%s\n", i, i, i, tc.tail)
			}
			v1 := b.String()
			h := newFolderTest(t, map[string]string{"big.csv": v1})
			if n := h.snap("big").Len(); n != rows {
				t.Fatalf("%d rows, want %d", n, rows)
			}
			// the full read edits the first and the last row; the incremental one two rows in the
			// middle, as a person would (two rows far apart make it parse the whole file between)
			a, z := 0, rows-1
			if tc.incremental {
				a, z = rows/2, rows/2+10
			}
			first, last := fmt.Sprintf("r%d", a), fmt.Sprintf("r%d", z)
			v2 := v1
			for _, i := range []int{a, z} {
				v2 = replace(t, v2, fmt.Sprintf("\nr%d,item %d,%d%s\n", i, i, i, tc.tail), fmt.Sprintf("\nr%d,item %d,-1%s\n", i, i, tc.tail))
			}

			start := time.Now()
			save(t, h.path("big.csv"), v2)
			seen := 0
			eventually(t, 4*bound, func() (bool, string) {
				s := h.snap("big")
				seen++
				if s.Len() != rows {
					t.Fatalf("a snapshot with %d rows, want %d", s.Len(), rows)
				}
				x, y := rowOf(s, first)["qty"], rowOf(s, last)["qty"]
				if !(x.Equal(cache.Number(-1)) && y.Equal(cache.Number(-1))) && !(x.Equal(cache.Number(float64(a))) && y.Equal(cache.Number(float64(z)))) {
					t.Fatalf("a mix of old and new: %s.qty = %s, %s.qty = %s", first, dumpValue(x), last, dumpValue(y))
				}
				return x.Equal(cache.Number(-1)), first + ".qty = " + dumpValue(x)
			})
			t.Logf("a %d-row file reloaded in %v; %d snapshots checked meanwhile", rows, time.Since(start).Round(time.Millisecond), seen)
			if tc.incremental {
				eventually(t, bound, func() (bool, string) { // a sync logs just after its commit
					return h.logs.count("file changed", "incremental=true") == 1, "the edit was not read incrementally"
				})
			}
		})
	}
}
