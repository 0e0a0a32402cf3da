//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/ingest"
)

// The fault tests: the folder's disk fills up, or turns read-only, while API writes wait to be
// written into their files (README "Writes from Wix"). The change log is the truth: a write is
// acknowledged once the log and the store hold it, and its write-back into the file follows. When
// that fails, the failure must be plain (a log line naming the file and the cause, once; the
// status page with what to do; the metrics), the file must keep its bytes with no temporary file
// left beside it, new writes must be refused with the reason, and the write-back must be retried,
// without a new write, until it succeeds once there is room again or the folder is writable;
// then the files hold every acknowledged write and agree with the store.
//
// Each test runs on a real 2 MiB tmpfs when this process may mount one (root, CAP_SYS_ADMIN),
// and on a plain folder whose writes fail by injection (ingest.FailWritesIn) as a full disk fails
// them, which CI without that privilege still runs: the same assertions either way.

// faultDiskSize is the size of the tmpfs: the samples (73 kB) and a few writes of them fit.
const faultDiskSize = "2m"

// faultDisk is the folder a fault test serves, on a disk the test can fill and make read-only.
type faultDisk struct {
	t   *testing.T
	dir string
	// tmpfs is set when dir is a real tmpfs; else a full disk is injected
	tmpfs bool
	stop  func() // ends the injected full disk
}

// onFaultDisks runs test on a real tmpfs, or says why it cannot, then on a folder with an
// injected full disk.
func onFaultDisks(t *testing.T, test func(t *testing.T, d *faultDisk)) {
	t.Run("tmpfs", func(t *testing.T) {
		d := &faultDisk{t: t, dir: t.TempDir(), tmpfs: true}
		if err := syscall.Mount("tmpfs", d.dir, "tmpfs", 0, "size="+faultDiskSize+",mode=0755"); err != nil {
			t.Skipf("cannot mount a tmpfs on %s (%v): the injected run below covers the same ground", d.dir, err)
		}
		// registered before the server's Close, so it runs after it
		t.Cleanup(func() {
			if err := syscall.Unmount(d.dir, 0); err != nil {
				t.Errorf("unmount %s: %v", d.dir, err)
				syscall.Unmount(d.dir, syscall.MNT_DETACH)
			}
		})
		t.Logf("the folder is a real %s tmpfs at %s", faultDiskSize, d.dir)
		test(t, d)
	})
	t.Run("injected", func(t *testing.T) {
		d := &faultDisk{t: t, dir: t.TempDir()}
		t.Logf("the folder is %s; a full disk is injected with ingest.FailWritesIn(ENOSPC)", d.dir)
		test(t, d)
	})
}

// copySamples puts the sample CSV and workbook in the folder, and returns their bytes by name.
func (d *faultDisk) copySamples() map[string][]byte {
	d.t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{"products.csv", "stores.xlsx"} {
		b, err := os.ReadFile(filepath.Join("../../samples", name))
		if err != nil {
			d.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d.dir, name), b, 0o644); err != nil {
			d.t.Fatal(err)
		}
		files[name] = b
	}
	return files
}

// filler is the file that fills the tmpfs; hidden, so the folder ignores it.
func (d *faultDisk) filler() string { return filepath.Join(d.dir, ".filler") }

// fill leaves no room on the disk for the next write of a file.
func (d *faultDisk) fill() {
	d.t.Helper()
	if !d.tmpfs {
		d.stop = ingest.FailWritesIn(d.dir, syscall.ENOSPC)
		return
	}
	f, err := os.Create(d.filler())
	if err != nil {
		d.t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	for range 2 * (2 << 20) / len(buf) { // twice the disk: it is full long before
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		d.t.Fatalf("filling %s: %v, want ENOSPC", d.dir, err)
	}
}

// free makes room on the disk again.
func (d *faultDisk) free() {
	d.t.Helper()
	if !d.tmpfs {
		d.stop()
		return
	}
	if err := os.Remove(d.filler()); err != nil {
		d.t.Fatal(err)
	}
}

// canMakeReadOnly says why the folder cannot be made read-only, or "" when it can: a tmpfs is
// remounted read-only; a plain folder gets mode 0555, which does not stop root.
func (d *faultDisk) canMakeReadOnly() string {
	if d.tmpfs {
		return ""
	}
	if err := os.Chmod(d.dir, 0o555); err != nil {
		return err.Error()
	}
	defer os.Chmod(d.dir, 0o755)
	probe, err := os.CreateTemp(d.dir, ".probe")
	if err != nil {
		return ""
	}
	probe.Close()
	os.Remove(probe.Name())
	return "this process writes into a folder of mode 0555 (root, or CAP_DAC_OVERRIDE) and cannot mount a tmpfs to remount read-only"
}

// readOnly makes the folder read-only, and returns what a write into it fails with.
func (d *faultDisk) readOnly() string {
	d.t.Helper()
	if d.tmpfs {
		if err := syscall.Mount("tmpfs", d.dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			d.t.Fatalf("remount %s read-only: %v", d.dir, err)
		}
		return "read-only file system"
	}
	if err := os.Chmod(d.dir, 0o555); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { os.Chmod(d.dir, 0o755) }) // t.TempDir removes it after
	return "permission denied"
}

// writable makes the folder writable again.
func (d *faultDisk) writable() {
	d.t.Helper()
	if d.tmpfs {
		if err := syscall.Mount("tmpfs", d.dir, "tmpfs", syscall.MS_REMOUNT, ""); err != nil {
			d.t.Fatalf("remount %s read-write: %v", d.dir, err)
		}
		return
	}
	if err := os.Chmod(d.dir, 0o755); err != nil {
		d.t.Fatal(err)
	}
}

// serveFaultDisk runs sheetsync on the folder with its state dir elsewhere: the default,
// <dir>/.sheetsync, holds the embedded NATS store, which does not start on a disk with less room
// than the change log may take (journalBytes); the fault under test is the folder's.
func serveFaultDisk(t *testing.T, d *faultDisk, state string) *Main {
	t.Helper()
	return MustRunMain(t, d.dir, func(c *Config) { c.StateDir = state })
}

// faultFiles are the files the fault tests write, and the collection each checks.
var faultFiles = []struct{ file, collection, sheet string }{
	{"products.csv", "products", ""},
	{"stores.xlsx", "stores-Staff", "Staff"},
}

// insertItem inserts an item named after its id through v3 and returns the answer.
func insertItem(t *testing.T, m *Main, collection, id string) (int, map[string]any) {
	t.Helper()
	return post(t, m.Server.URL()+"/v3/items/insert",
		fmt.Sprintf(`{"collectionId":%q,"items":[{"_id":%q,"name":%q}]}`, collection, id, "Item "+id))
}

// mustInsert inserts an item into every fault file's collection, each acknowledged and served at
// once, and returns the ids by collection.
func mustInsert(t *testing.T, m *Main, id string, acked map[string][]string) {
	t.Helper()
	for _, f := range faultFiles {
		if code, out := insertItem(t, m, f.collection, id); code != http.StatusOK {
			t.Fatalf("insert %s into %s: %d %v", id, f.collection, code, out)
		}
		acked[f.collection] = append(acked[f.collection], id)
		if !served(t, m, f.collection, id) {
			t.Fatalf("%s acknowledged in %s but not served", id, f.collection)
		}
	}
}

func served(t *testing.T, m *Main, collection, id string) bool {
	t.Helper()
	snap, err := m.Store.Snapshot(collection)
	if err != nil {
		t.Fatal(err)
	}
	_, ok := snap.Lookup(id)
	return ok
}

// serverLog is what the server logged so far.
func serverLog(m *Main) string { return m.Stderr.(*lockedBuffer).String() }

// failureLines returns the log lines reporting a failed write-back of file with cause.
func failureLines(log, file, cause string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if strings.Contains(line, `msg="cannot write API changes into the file`) && strings.Contains(line, "file="+file+" ") &&
			strings.Contains(line, cause) {
			out = append(out, line)
		}
	}
	return out
}

// checkFailed waits until the write-back of every fault file failed with cause, then again at
// the next try, and checks that the failure shows and did no harm: one log line per file naming
// it, the cause and what to do; the problem on the status page with what to do; the failures in
// the metrics; each file its bytes of before, no temporary file in the folder; and a new write
// refused with the cause, nothing stored.
func checkFailed(t *testing.T, m *Main, d *faultDisk, before map[string][]byte, cause, todo string) {
	t.Helper()
	failing := func() (bool, string) {
		problems := m.Folder.Problems()
		for _, f := range faultFiles {
			found := false
			for _, p := range problems {
				found = found || filepath.Base(p.Path) == f.file && strings.Contains(p.Message, cause)
			}
			if !found {
				return false, fmt.Sprintf("no problem says %s cannot be written (%s): %v", f.file, cause, problems)
			}
		}
		return true, ""
	}
	eventually(t, 10*time.Second, failing)
	start := time.Now()
	failures := m.Folder.Stats().WriteBackFailures
	eventually(t, 10*time.Second, func() (bool, string) {
		return m.Folder.Stats().WriteBackFailures >= failures+uint64(len(faultFiles)), "the failed write-backs were not tried again"
	})
	t.Logf("the failed write-backs were tried again %v after the failure showed", time.Since(start).Round(time.Millisecond))
	if ok, msg := failing(); !ok {
		t.Fatal(msg)
	}
	if m.Folder.Idle() {
		t.Error("the folder says every change is in its file while write-backs fail")
	}
	log := serverLog(m)
	for _, f := range faultFiles {
		lines := failureLines(log, f.file, cause)
		if len(lines) != 1 {
			t.Errorf("the log reports the failure of %s (%s) %d times, want once:\n%s", f.file, cause, len(lines), strings.Join(lines, ""))
		} else if !strings.Contains(lines[0], todo) {
			t.Errorf("the log line does not say what to do (%q): %s", todo, lines[0])
		}
	}
	page := getPage(t, m.Server.URL()+"/", "text/html")
	for _, want := range []string{"products.csv", "stores.xlsx", cause, todo} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page does not show %q", want)
		}
	}
	const todoCell = `<td data-label="What to do" class="muted">`
	said := 0
	for _, cell := range strings.Split(page, todoCell)[1:] {
		cell, _, _ = strings.Cut(cell, "</td>")
		if strings.Contains(strings.ToLower(cell), todo) { // a sentence there: "Free space ..."
			said++
		}
	}
	if said < len(faultFiles) {
		t.Errorf("the status page's Problems say what to do (%q) for %d files, want %d", todo, said, len(faultFiles))
	}
	if strings.Contains(page, "not read") {
		t.Error("the status page says a file is not read; it is read, it cannot be written")
	}
	metrics := getPage(t, m.Server.URL()+"/metrics", "")
	if n := metric(t, metrics, "sheetsync_write_back_failures_total"); n < float64(2*len(faultFiles)) {
		t.Errorf("sheetsync_write_back_failures_total is %v after two failed tries of %d files", n, len(faultFiles))
	}
	if n := metric(t, metrics, "sheetsync_file_problems"); n < float64(len(faultFiles)) {
		t.Errorf("sheetsync_file_problems is %v with %d files that cannot be written", n, len(faultFiles))
	}
	checkIntact(t, d, before)
	for _, f := range faultFiles {
		snap, _ := m.Store.Snapshot(f.collection)
		code, out := insertItem(t, m, f.collection, "refused-"+strconv.Itoa(snap.Len()))
		msg := fmt.Sprint(out["errorMessage"])
		if code != http.StatusBadRequest || out["errorCode"] != "UNSUPPORTED_OPERATION" {
			t.Errorf("insert into %s while its file cannot be written: %d %v", f.collection, code, out)
		}
		for _, want := range []string{f.file, cause, todo} {
			if !strings.Contains(msg, want) {
				t.Errorf("the refusal of a write to %s does not say %q: %s", f.collection, want, msg)
			}
		}
		if after, _ := m.Store.Snapshot(f.collection); after.Len() != snap.Len() {
			t.Errorf("a refused write changed %s: %d rows, %d before", f.collection, after.Len(), snap.Len())
		}
	}
}

// checkIntact checks that every file holds the bytes it had and no temporary file is left.
func checkIntact(t *testing.T, d *faultDisk, before map[string][]byte) {
	t.Helper()
	for name, want := range before {
		if got, err := os.ReadFile(filepath.Join(d.dir, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s changed while it could not be written (%v): %d bytes, %d before", name, err, len(got), len(want))
		}
	}
	checkNoTemp(t, d)
}

// checkNoTemp checks that no temporary file is left in the folder. One seen may belong to a
// retry under way, which removes it as it fails: a file left stays.
func checkNoTemp(t *testing.T, d *faultDisk) {
	t.Helper()
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			seen = append(seen, e.Name())
		}
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		for _, name := range seen {
			if _, err := os.Lstat(filepath.Join(d.dir, name)); err == nil {
				return false, "a temporary file is left in the folder: " + name
			}
		}
		return true, ""
	})
}

// checkConsistent waits, without a write, until every change is in its file, then checks that
// each fault file holds exactly what its collection serves, every acknowledged write included.
func checkConsistent(t *testing.T, m *Main, d *faultDisk, acked map[string][]string) {
	t.Helper()
	start := time.Now()
	eventually(t, 15*time.Second, func() (bool, string) {
		if !m.Folder.Idle() {
			return false, "changes still wait to be written"
		}
		if p := m.Folder.Problems(); len(p) > 0 {
			return false, fmt.Sprint("problems remain: ", p)
		}
		return true, ""
	})
	t.Logf("the files hold every change %v later", time.Since(start).Round(time.Millisecond))
	checkNoTemp(t, d)
	for _, f := range faultFiles {
		snap, err := m.Store.Snapshot(f.collection)
		if err != nil {
			t.Fatal(err)
		}
		file := readSheet(t, filepath.Join(d.dir, f.file), f.collection)
		for _, id := range acked[f.collection] {
			if _, ok := file.Lookup(id); !ok {
				t.Errorf("%s lacks %s, acknowledged", f.file, id)
			}
		}
		if diff := snapshotDifference(snap, file); diff != "" {
			t.Errorf("%s and what %s serves differ: %s", f.file, f.collection, diff)
		}
	}
}

// readSheet reads a collection from its file as serve does.
func readSheet(t *testing.T, path, collection string) *cache.Snapshot {
	t.Helper()
	sheets, problems, err := (&ingest.Loader{ReadOnly: true}).LoadFile(context.Background(), path)
	if err != nil || len(problems) > 0 {
		t.Fatalf("%s does not read cleanly: %v %v", path, err, problems)
	}
	for _, sh := range sheets {
		if sh.Collection == collection {
			snap, err := cache.NewSnapshot(collection, sh.Table)
			if err != nil {
				t.Fatal(err)
			}
			return snap
		}
	}
	t.Fatalf("%s has no collection %s", path, collection)
	return nil
}

// snapshotDifference returns the first difference between the store's rows and the file's, ""
// when every row and value is the same.
func snapshotDifference(store, file *cache.Snapshot) string {
	if store.Len() != file.Len() {
		return fmt.Sprintf("%d rows served, %d in the file", store.Len(), file.Len())
	}
	diff := ""
	store.Rows(func(r cache.RowID) bool {
		id := store.ID(r)
		fr, ok := file.Lookup(id)
		if !ok {
			diff = "the file lacks " + id
			return false
		}
		for i, field := range store.Schema().Fields() {
			want := store.Value(r, i)
			j, ok := file.Schema().Index(field.Key)
			if !ok {
				if !want.IsNull() {
					diff = fmt.Sprintf("the file has no %s column, %s has %v", field.Key, id, want)
					return false
				}
				continue
			}
			if got := file.Value(fr, j); !got.Equal(want) {
				diff = fmt.Sprintf("%s of %s is %v in the file, %v served", field.Key, id, got, want)
				return false
			}
		}
		return true
	})
	return diff
}

// getPage GETs url, asking for accept when set, and returns the body.
func getPage(t *testing.T, url, accept string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}

// metric returns the value of an unlabelled metric in Prometheus' text format.
func metric(t *testing.T, text, name string) float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestFaultDiskFull: writes acknowledged while the folder's disk is full are served, their
// write-back fails plainly and harmlessly and is retried, new writes are refused with the
// reason, and once space is freed the files get every acknowledged write without a new one.
func TestFaultDiskFull(t *testing.T) {
	onFaultDisks(t, func(t *testing.T, d *faultDisk) {
		before := d.copySamples()
		m := serveFaultDisk(t, d, t.TempDir())
		d.fill()
		acked := map[string][]string{}
		mustInsert(t, m, "full-1", acked)
		checkFailed(t, m, d, before, "no space left on device", "free space")
		d.free()
		checkConsistent(t, m, d, acked)
		mustInsert(t, m, "after-1", acked)
		checkConsistent(t, m, d, acked)
	})
}

// TestFaultDiskFullRestart: a server stopped while its disk is full loses no acknowledged write:
// started again on the full disk it serves them and reports the failure again; started once
// space is freed it writes them into the files.
func TestFaultDiskFullRestart(t *testing.T) {
	onFaultDisks(t, func(t *testing.T, d *faultDisk) {
		before := d.copySamples()
		state := t.TempDir()
		m := serveFaultDisk(t, d, state)
		d.fill()
		acked := map[string][]string{}
		mustInsert(t, m, "full-1", acked)
		checkFailed(t, m, d, before, "no space left on device", "free space")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		checkIntact(t, d, before)

		m = serveFaultDisk(t, d, state)
		for _, f := range faultFiles {
			if !served(t, m, f.collection, "full-1") {
				t.Errorf("after a restart on the full disk, %s does not serve full-1", f.collection)
			}
		}
		checkFailed(t, m, d, before, "no space left on device", "free space")
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}

		d.free()
		m = serveFaultDisk(t, d, state)
		checkConsistent(t, m, d, acked)
	})
}

// TestFaultReadOnlyFolder: a write to a folder that is read-only is refused, naming why; a write
// acknowledged before the folder turned read-only (held by a full disk meanwhile) fails to be
// written plainly and harmlessly, and is written once the folder is writable again.
func TestFaultReadOnlyFolder(t *testing.T) {
	onFaultDisks(t, func(t *testing.T, d *faultDisk) {
		if why := d.canMakeReadOnly(); why != "" {
			t.Skip("cannot make the folder read-only: " + why)
		}
		before := d.copySamples()
		m := serveFaultDisk(t, d, t.TempDir())
		cause := d.readOnly()
		for _, f := range faultFiles {
			code, out := insertItem(t, m, f.collection, "ro-0")
			if msg := fmt.Sprint(out["errorMessage"]); code != http.StatusBadRequest || !strings.Contains(msg, cause) {
				t.Errorf("insert into %s in a read-only folder: %d %v", f.collection, code, out)
			}
			if served(t, m, f.collection, "ro-0") {
				t.Errorf("a write refused in a read-only folder is served in %s", f.collection)
			}
		}
		d.writable()

		// a write-back held until the folder is read-only: by an injected full disk, on the
		// tmpfs too, so that it cannot slip in between
		hold := ingest.FailWritesIn(d.dir, syscall.ENOSPC)
		acked := map[string][]string{}
		mustInsert(t, m, "ro-1", acked)
		checkFailed(t, m, d, before, "no space left on device", "free space")
		d.readOnly()
		hold()
		checkFailed(t, m, d, before, cause, map[bool]string{true: "read-write", false: "permission"}[d.tmpfs])
		d.writable()
		checkConsistent(t, m, d, acked)
		mustInsert(t, m, "ro-2", acked)
		checkConsistent(t, m, d, acked)
	})
}
