package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// writeDelay is how long write-back waits after an API write before writing its file, so that
// writes arriving together cost one file write. Writes that arrive while a file is being
// written wait for that write to end and go together in the next.
const writeDelay = 10 * time.Millisecond

// retryDelay is how long a file that could not be written waits before the next try.
const retryDelay = time.Second

// errFileBusy is a file that is being written by someone else or changed while sheetsync wrote
// it: the write-back is tried again shortly, after the file's edits are merged.
var errFileBusy = errors.New("the file is being changed")

// errAbandoned stops a write under way when another replica took the shared folder over.
var errAbandoned = errors.New("another replica holds the shared folder now")

// writeBack is what API writes left to write into the files (DESIGN §4: the store is updated
// first, so the very next query reads the write; the file follows within milliseconds).
type writeBack struct {
	mu     sync.Mutex
	latest map[string]*cache.Snapshot // by collection: the snapshot its last commit made
	dirty  map[string]*dirtyRows      // by collection: rows API writes changed, not yet written
	failed map[string]error           // by file name: why its last write-back failed
	// queue holds, in log order, other replicas' file versions this replica's copies follow
	// and the dirty rows of changes committed before each; dirty holds those after the last
	queue []pending
	wake  chan struct{}
	// flushing is set while dirty rows taken from dirty are being written
	flushing bool
}

// pending is a step of the write-back: a file version to follow, or rows to write as they
// were at that point of the log (at: by collection; the latest snapshots when nil), so that a
// replica replaying the log writes the very bytes the others wrote at each step.
type pending struct {
	adopt *cache.FileVersion
	// served are, for an adopt, the dates the edit gave rows of its collection that its file
	// does not hold: served, not written, should its rows be written here one by one
	served map[string]map[string]servedDates
	dirty  map[string]*dirtyRows
	at     map[string]*cache.Snapshot
}

// dirtyRows are the rows of one collection that API writes changed: by _id, and all of them
// after a truncate.
type dirtyRows struct {
	ids      map[string]struct{}
	truncate bool
}

func (d *dirtyRows) merge(o *dirtyRows) {
	for id := range o.ids {
		d.ids[id] = struct{}{}
	}
	d.truncate = d.truncate || o.truncate
}

func (w *writeBack) init() {
	if w.latest == nil {
		w.latest, w.dirty, w.failed = map[string]*cache.Snapshot{}, map[string]*dirtyRows{}, map[string]error{}
		w.wake = make(chan struct{}, 1)
	}
}

// OnCommit takes note of a commit to the store; register it with cache.Store.Listen before
// Open. A change not read from this replica's own files (an API write, on any replica, or
// another replica's file edit) marks its rows to be written into the collection's file; another
// replica's file edit brings the whole file to its version when it can (see adoptFile). It only
// records and returns, as Listen requires.
func (f *Folder) OnCommit(c cache.Committed) {
	w := &f.wb
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	name := c.Change.Collection
	v := c.Change.Origin.File
	adopt := f.remote(c) && v != nil && c.Change.Origin.Kind == cache.OriginFile
	if adopt && len(w.dirty) > 0 {
		// another replica's file edit: this copy of the file follows it as a whole, after the
		// rows of the changes before it are written as they were before it (so that the file
		// holds the version the edit was read from, as on that replica)
		at := make(map[string]*cache.Snapshot, len(w.dirty))
		for coll := range w.dirty {
			at[coll] = w.latest[coll]
		}
		w.queue = append(w.queue, pending{dirty: w.dirty, at: at})
		w.dirty = map[string]*dirtyRows{}
	}
	if c.Snapshot == nil {
		delete(w.latest, name)
		delete(w.dirty, name)
		for _, p := range w.queue {
			delete(p.dirty, name)
		}
	} else {
		w.latest[name] = c.Snapshot
	}
	if !f.remote(c) {
		return // read from this replica's own files: they hold it
	}
	if adopt {
		w.queue = append(w.queue, pending{adopt: v, served: map[string]map[string]servedDates{name: servedBy(c.Change, v.Now)}})
		w.kick()
		return
	}
	if c.Snapshot == nil {
		return
	}
	d := w.rows(name)
	d.truncate = d.truncate || c.Change.Truncate || c.Change.Replace != nil
	for _, id := range c.Change.Remove {
		d.ids[id] = struct{}{}
	}
	for _, items := range [][]cache.Item{c.Change.Update, c.Change.Insert} {
		for _, it := range items {
			d.ids[it.ID()] = struct{}{}
		}
	}
	w.kick()
}

// rows returns the rows of a collection waiting to be written, made when none are; w.mu is held.
func (w *writeBack) rows(collection string) *dirtyRows {
	d := w.dirty[collection]
	if d == nil {
		d = &dirtyRows{ids: map[string]struct{}{}}
		w.dirty[collection] = d
	}
	return d
}

// kick wakes the write loop, unless it is already due to run.
func (w *writeBack) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// servedBy returns the dates a change read from a file gave its rows without the file holding
// them: those equal to the time it was read (see diffTables).
func servedBy(cs cache.ChangeSet, now int64) map[string]servedDates {
	out := map[string]servedDates{}
	at := cache.Time(now)
	for _, items := range [][]cache.Item{cs.Update, cs.Insert} {
		for _, it := range items {
			var d servedDates
			if v, ok := it[cache.FieldUpdatedDate]; ok && v.Equal(at) {
				d.Updated = now
			}
			if v, ok := it[cache.FieldCreatedDate]; ok && v.Equal(at) {
				d.Created = now
			}
			if d != (servedDates{}) {
				out[it.ID()] = d
			}
		}
	}
	return out
}

// writeLoop writes API writes into the files until ctx ends, then writes what is left.
func (f *Folder) writeLoop(ctx context.Context) {
	w := &f.wb
	w.mu.Lock()
	w.init()
	wake := w.wake
	w.mu.Unlock()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			if f.abandoned.Load() {
				return // the replica holding the folder now writes what is left
			}
			final, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			f.flush(final)
			cancel()
			return
		case <-wake:
		case <-retry.C:
		}
		select {
		case <-time.After(writeDelay):
		case <-ctx.Done():
		}
		if again := f.flush(ctx); again > 0 {
			retry.Reset(again)
		}
	}
}

// flush writes every collection's dirty rows into its file. It returns when to try again for
// files that could not be written now, 0 if all were.
func (f *Folder) flush(ctx context.Context) time.Duration {
	w := &f.wb
	w.mu.Lock()
	w.flushing = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.flushing = false
		w.mu.Unlock()
		if f.OnWritten != nil && f.Idle() {
			f.OnWritten()
		}
	}()
	if f.abandoned.Load() {
		return 0
	}
	var again time.Duration
	tookLast := false // rows that fail wait in w.dirty for the next flush
	for {
		w.mu.Lock()
		var next pending
		switch {
		case len(w.queue) > 0:
			next, w.queue = w.queue[0], w.queue[1:]
		case len(w.dirty) > 0 && !tookLast:
			next.dirty, w.dirty, tookLast = w.dirty, map[string]*dirtyRows{}, true
		}
		w.mu.Unlock()
		switch {
		case next.adopt != nil:
			if err := f.adoptFile(ctx, *next.adopt, next.served); err != nil {
				wait := f.Debounce
				if !errors.Is(err, errFileBusy) {
					f.logger().Error("cannot bring the file to another replica's version; retrying", "file", next.adopt.Name, "err", err)
					wait = retryDelay
				}
				w.mu.Lock()
				w.queue = append([]pending{next}, w.queue...)
				w.mu.Unlock()
				return wait
			}
		case next.dirty != nil:
			again = cmp0(again, f.writeDirty(ctx, next.dirty, next.at))
		default:
			return again
		}
	}
}

// writeDirty writes dirty rows into their files. It returns when to try again for files that
// could not be written now, 0 if all were; their rows wait with the next ones.
func (f *Folder) writeDirty(ctx context.Context, dirty map[string]*dirtyRows, at map[string]*cache.Snapshot) time.Duration {
	w := &f.wb
	var again time.Duration
	byFile := map[string]map[string]*dirtyRows{}
	f.mu.Lock()
	for coll, d := range dirty {
		if file, ok := f.owners[coll]; ok {
			if byFile[file] == nil {
				byFile[file] = map[string]*dirtyRows{}
			}
			byFile[file][coll] = d
		}
	}
	f.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(byFile)) {
		err := f.writeFile(ctx, name, byFile[name], at)
		if err == nil {
			continue
		}
		if !errors.Is(err, errFileBusy) && !errors.Is(err, errAbandoned) {
			f.stats.writeBackFailures.Add(1)
		}
		w.mu.Lock()
		for coll, d := range byFile[name] {
			if cur := w.dirty[coll]; cur != nil {
				d.merge(cur)
			}
			w.dirty[coll] = d
		}
		busy := errors.Is(err, errFileBusy) || errors.Is(err, errAbandoned)
		repeated := false
		if busy {
			again = cmp0(again, f.Debounce)
		} else {
			prev := w.failed[name]
			repeated = prev != nil && prev.Error() == err.Error()
			w.failed[name] = err
			again = cmp0(again, retryDelay)
		}
		w.mu.Unlock()
		if !busy && !repeated { // a failure is logged once, not at every retry
			f.logger().Error("cannot write API changes into the file; retrying every second", "file", name, "err", err,
				"todo", cmp.Or(f.whatToDo(err), "fix the cause"))
		}
	}
	return again
}

// Idle reports whether every API change committed so far is in its file: none waits to be
// written, is being written, or failed. A caller that reads how far its change log was applied
// and then finds the folder idle knows the files hold everything up to there.
func (f *Folder) Idle() bool {
	w := &f.wb
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirty) == 0 && len(w.queue) == 0 && !w.flushing && len(w.failed) == 0
}

// cmp0 returns the sooner of two retry delays, where 0 means none.
func cmp0(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// writeFile writes the dirty rows of a file's collections into it. Edits a person made to the
// file since it was last synced are merged into the store first (DESIGN §4, three-way merge),
// so what is written is the merged result and no cell a person just changed is overwritten with
// an older value. The file is replaced atomically, unless it changed while being written.
func (f *Folder) writeFile(ctx context.Context, name string, dirty map[string]*dirtyRows, at map[string]*cache.Snapshot) error {
	lock := f.fileLock(name)
	lock.Lock()
	defer lock.Unlock()
	path := filepath.Join(f.Dir, name)
	f.mu.Lock()
	st := f.files[name]
	f.mu.Unlock()
	if st == nil {
		return nil // the file went, and its collections with it
	}
	if f.openElsewhere(name) {
		// open in Excel or LibreOffice: a change that reached this replica from another (this
		// one refuses API writes meanwhile) waits, and what the person saves is merged first
		return errFileBusy
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil // gone: the watcher drops its collections
	}
	if keyOf(fi) != st.stat {
		if time.Since(fi.ModTime()) < f.Debounce || f.sync(ctx, name, false) == syncRetry {
			return errFileBusy
		}
		f.mu.Lock()
		st, fi = f.files[name], nil
		problems := f.problems[name]
		f.mu.Unlock()
		if st == nil {
			return nil
		}
		if fatal(problems) {
			return fmt.Errorf("%s cannot be read: %s", name, problems[0].Message)
		}
	}
	start := time.Now()
	writes := map[*trackedSheet]*sheetWrite{}
	f.wb.mu.Lock()
	for _, sh := range st.sheets {
		d := dirty[sh.collection]
		cur := at[sh.collection]
		if cur == nil {
			cur = f.wb.latest[sh.collection]
		}
		if d == nil || cur == nil {
			continue
		}
		if sh.cols == nil {
			f.wb.mu.Unlock()
			return fmt.Errorf("%s: where the columns of %s are is not known", name, sh.collection)
		}
		if sw := planWrite(sh, cur, d); !sw.empty() {
			writes[sh] = sw
		}
	}
	f.wb.mu.Unlock()
	if len(writes) == 0 {
		return nil
	}
	guard := func() error {
		if f.abandoned.Load() {
			return errAbandoned
		}
		if f.openElsewhere(name) {
			return errFileBusy // opened while being written: its program may have read the old bytes
		}
		now, err := os.Stat(path)
		if err != nil || keyOf(now) != st.stat {
			return errFileBusy
		}
		return nil
	}
	var hash uint64
	if format, _ := FormatOf(path); format == FormatCSV {
		for _, sw := range writes {
			hash, err = rewriteCSV(path, sw, guard)
		}
	} else {
		bySheet := map[string]*sheetWrite{}
		for sh, sw := range writes {
			bySheet[sh.sheet] = sw
		}
		hash, err = rewriteXLSX(path, bySheet, guard)
	}
	if err != nil {
		return err
	}
	after, err := os.Stat(path)
	if err != nil {
		return err
	}
	next := &trackedFile{name: name, stat: keyOf(after), hash: hash, problems: st.problems}
	for _, sh := range st.sheets {
		sw := writes[sh]
		if sw == nil {
			next.sheets = append(next.sheets, sh)
			continue
		}
		base, err := sh.base.Apply(sw.change)
		if err != nil {
			return fmt.Errorf("%s: the written rows do not apply to its last-synced content: %w", name, err)
		}
		// a served date stays served until the file holds a date of its own for the row
		dates := carryDates(sh.dates, sw.change, nil)
		next.sheets = append(next.sheets, &trackedSheet{sheet: sh.sheet, collection: sh.collection, base: base,
			dates: dates, cols: sw.cols})
		f.logger().Info("API changes written into the file", "file", name, "collection", sh.collection, "sheet", sh.sheet,
			"inserted", len(sw.change.Insert), "updated", len(sw.change.Update), "removed", len(sw.change.Remove),
			"took", time.Since(start).Round(time.Millisecond))
	}
	f.state.save(path, next)
	f.mu.Lock()
	f.files[name] = next
	f.mu.Unlock()
	f.stats.writeBacks.Add(1)
	f.times.markWritten(name)
	f.wb.mu.Lock()
	if f.wb.failed[name] != nil {
		f.logger().Info("the file can be written again", "file", name)
		delete(f.wb.failed, name)
	}
	f.wb.mu.Unlock()
	return nil
}

// fileLock returns the lock that keeps a file's sync and write-back apart.
func (f *Folder) fileLock(name string) *sync.Mutex {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locks == nil {
		f.locks = map[string]*sync.Mutex{}
	}
	l := f.locks[name]
	if l == nil {
		l = &sync.Mutex{}
		f.locks[name] = l
	}
	return l
}
