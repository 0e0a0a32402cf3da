package ingest

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// Defaults of the live folder (DESIGN §2).
const (
	DefaultDebounce = 100 * time.Millisecond
	DefaultRescan   = 30 * time.Second
)

// Folder keeps a folder of spreadsheets and the store in step (DESIGN §4): it loads every file,
// then watches the folder and turns each change to a file into one ChangeSet — the rows that
// changed since the file was last synced — committed atomically, so readers see the old rows or
// the new ones, never a mix.
//
// For every file it keeps the content as last synced (one snapshot per sheet, the base of the
// diff) and the content hash, so that a file saved unchanged, or rewritten by sheetsync itself,
// costs a hash and no decode. A file that cannot be read keeps its collections at their last good
// version; its problem is kept for Problems until the file is fixed.
type Folder struct {
	Dir       string
	StateDir  string // last-synced copies and served dates; "" keeps nothing across restarts
	Loader    *Loader
	Committer Committer
	// Baseline, when set, takes the commits that only restore what the state dir says the
	// files held when sheetsync stopped, which the change log already holds (the store itself,
	// when Committer is the log); Committer takes them otherwise.
	Baseline Committer
	// Replica is this replica's name: changes whose origin names it were read from these
	// files, the others are written into them.
	Replica string
	// Files, when set, stores each version of a file read here for the other replicas, and
	// gives the versions they read (nil for a lone replica).
	Files FileStore
	// TakeOver opens a folder whose content and every change since the store already holds:
	// the replica that takes a shared folder over from another (--shared-dir). Restore then
	// commits nothing, and every row the files lack is written into them.
	TakeOver bool
	Debounce time.Duration // quiet time after a file's last event before it is read
	Rescan   time.Duration // period of the full rescan that catches missed events; 0 for none
	Workers  int           // files read at once; 2 when 0
	Logger   *slog.Logger
	// OnWritten, when set, is called after API changes were written into their files and none
	// is left to write (see Idle), from the goroutine that writes them.
	OnWritten func()

	mu       sync.Mutex
	files    map[string]*trackedFile // by file name, the files being served
	owners   map[string]string       // collection name -> file name
	problems map[string][]Problem    // by file name
	blocked  map[string]bool         // files not served because their collection name is taken
	unserved map[string]statKey      // files that failed or are blocked, as last looked at
	locks    map[string]*sync.Mutex  // by file name: keeps a file's sync and write-back apart

	wb   writeBack
	decl *declaredTypes

	state    *stateDir
	restored map[string]bool // files whose state-dir copy Restore served
	// abandoned is set when another replica took the shared folder over: nothing is written
	abandoned atomic.Bool
	stats     stats
	times     fileTimes // when each file was last read and written, for FileStatus (status.go)
	cancel    context.CancelFunc
	done      chan struct{}
	watch     *watcher
}

// trackedFile is a file as last synced.
type trackedFile struct {
	name   string
	stat   statKey
	hash   uint64
	sheets []*trackedSheet
	// problems are those the last read found that did not stop the file being served (a
	// repeated _id, say): they come back when a broken file is restored to these bytes.
	problems []Problem
}

// trackedSheet is one sheet of a file as last synced.
type trackedSheet struct {
	sheet      string
	collection string
	base       *cache.Snapshot // the sheet's content as the file holds it
	// dates holds, by _id, the system dates sheetsync serves that the file does not hold: a row
	// changed in the file gets _updatedDate now, which is not written back into a file a person
	// may have open. They are kept in the state dir across restarts.
	dates map[string]servedDates
	csv   *csvLayout    // for a CSV file, what incremental reads need; nil when they cannot be used
	cols  *sheetColumns // where each field is in the file, for write-back
}

// servedDates are a row's served system dates that differ from its cells; 0 means "as in the file".
type servedDates struct {
	Created int64 `json:"c,omitempty"`
	Updated int64 `json:"u,omitempty"`
}

func (f *Folder) logger() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

func (f *Folder) now() int64 {
	if f.Loader.Now != nil {
		return f.Loader.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// Open loads every spreadsheet in the folder, then watches it until Close. It returns what the
// initial load served and found; it fails only when the folder cannot be read or watched.
func (f *Folder) Open(ctx context.Context) (*Report, error) {
	if f.restored == nil {
		if err := f.Restore(ctx); err != nil {
			return nil, err
		}
	}
	f.removeLeftoverTemps()
	// what the change log brought since the files were last synced (other replicas' file
	// versions, API writes) is written first: a file is then read as edits only where it
	// differs from that, as a person changed it
	f.flush(ctx)
	w, err := newWatcher(f)
	if err != nil {
		return nil, err
	}
	f.watch = w // events are buffered from here on, so none is lost during the load
	names, err := spreadsheetNames(f.Dir)
	if err != nil {
		w.close()
		return nil, err
	}
	for name := range f.restored {
		names = append(names, name) // also those removed while sheetsync was stopped: dropped now
	}
	slices.Sort(names)
	names = slices.Compact(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			w.close()
			return nil, err
		}
		f.initial(ctx, name)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { w.run(runCtx) })
	wg.Go(func() { f.writeLoop(runCtx) })
	go func() {
		wg.Wait()
		close(f.done)
	}()
	return f.report(), nil
}

// Restore serves what the state dir says the files held when sheetsync last stopped: each
// file's last-synced copy, with the dates served then, committed to Baseline. It is the first
// half of Open, for a replica that must apply the change log's tail over that content before
// reading what changed in the files meanwhile (DESIGN §4, restart); Open calls it otherwise.
func (f *Folder) Restore(ctx context.Context) error {
	if f.Debounce <= 0 {
		f.Debounce = DefaultDebounce
	}
	f.files, f.owners, f.problems, f.blocked = map[string]*trackedFile{}, map[string]string{}, map[string][]Problem{}, map[string]bool{}
	f.unserved, f.restored = map[string]statKey{}, map[string]bool{}
	f.state = openStateDir(f.StateDir, f.logger())
	f.decl = openDeclaredTypes(f.StateDir, f.logger())
	f.Loader.Declared = f.decl.lookup
	f.wb.mu.Lock()
	f.wb.init()
	f.wb.mu.Unlock()
	for _, name := range f.state.names() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if meta, copyPath := f.state.load(name); meta != nil && copyPath != "" {
			f.restore(ctx, name, copyPath, meta)
			f.restored[name] = true
		}
	}
	return nil
}

// baseline is where restores of the state dir's content are committed.
func (f *Folder) baseline() Committer { return cmp.Or[Committer](f.Baseline, f.Committer) }

// Close stops watching, waits for a sync in progress to end and writes the API changes not yet
// written into their files.
func (f *Folder) Close() error {
	if f.cancel == nil {
		return nil
	}
	f.cancel()
	<-f.done
	f.cancel = nil
	return f.watch.close()
}

// Problems returns what is wrong in the folder's files now, by file, row and column.
func (f *Folder) Problems() []Problem {
	var out []Problem
	f.wb.mu.Lock()
	for name, err := range f.wb.failed {
		// not Fatal: the file is read and served, it is only its writes that wait
		out = append(out, Problem{Path: filepath.Join(f.Dir, name),
			Message: "changes made in Wix cannot be written into this file (" + err.Error() + "); they are kept and retried every second, and new ones are refused until then",
			Todo:    capitalize(cmp.Or(f.whatToDo(err), "fix the cause")) + "; the changes waiting are written at the next try, with no need to make them again in Wix."})
	}
	f.wb.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ps := range f.problems {
		out = append(out, ps...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Sheet != b.Sheet {
			return a.Sheet < b.Sheet
		}
		return a.Row < b.Row
	})
	return out
}

// report lists what is served and the problems, as LoadDir does.
func (f *Folder) report() *Report {
	f.mu.Lock()
	r := &Report{}
	for _, st := range f.files {
		for _, sh := range st.sheets {
			r.Collections = append(r.Collections, Loaded{Collection: sh.collection, Path: filepath.Join(f.Dir, st.name),
				Sheet: sh.sheet, Rows: sh.base.Len(), Fields: sh.base.Schema().Len()})
		}
	}
	f.mu.Unlock()
	sort.Slice(r.Collections, func(i, j int) bool { return r.Collections[i].Collection < r.Collections[j].Collection })
	r.Problems = f.Problems()
	return r
}

func spreadsheetNames(dir string) ([]string, error) {
	paths, err := Spreadsheets(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	return names, nil
}

// syncResult tells the watcher what became of a sync.
type syncResult int

const (
	syncDone  syncResult = iota
	syncRetry            // the file is still being written: look again after a quiet period
)

// settleWindow is how recently a file must have been modified for a read error to count as a
// file still being written (retried) rather than a broken file (reported).
const settleWindow = 2 * time.Second

// syncFile is sync with the file's lock held, so that no write-back of the file runs meanwhile.
func (f *Folder) syncFile(ctx context.Context, name string, fresh bool) syncResult {
	lock := f.fileLock(name)
	lock.Lock()
	defer lock.Unlock()
	return f.sync(ctx, name, fresh)
}

// sync brings the store in step with one file: gone, unchanged, or changed. fresh says the file
// just appeared by a rename (an atomic save), which needs no quiet period.
func (f *Folder) sync(ctx context.Context, name string, fresh bool) syncResult {
	if f.abandoned.Load() {
		return syncDone // another replica holds the shared folder: it reads the edits
	}
	path := filepath.Join(f.Dir, name)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		f.forget(ctx, name)
		return syncDone
	}
	if err != nil {
		f.fail(name, &ParseError{Path: path, Err: err})
		return syncDone
	}
	f.mu.Lock()
	st := f.files[name]
	// A file that lost a name clash is looked at again when the clash may have ended, though
	// its bytes are as they were.
	retrying := f.blocked[name]
	f.mu.Unlock()
	if st != nil && !retrying && !fresh && st.stat == keyOf(fi) {
		return syncDone // a file that just replaced another may share its size and time
	}
	if fresh && fi.Size() == 0 && time.Since(fi.ModTime()) < settleWindow {
		return syncRetry // created, not yet written (a slow cp, a download): wait for its bytes
	}
	if !fresh && time.Since(fi.ModTime()) < f.Debounce {
		return syncRetry // written moments ago: let the writer finish
	}
	if st != nil && !retrying && len(st.problems) == 0 && len(st.sheets) == 1 && st.sheets[0].csv != nil && f.state.holds(name, st.hash) {
		if res, done := f.syncIncremental(ctx, name, st, fi); done {
			return res
		}
	}
	start := time.Now()
	hash, err := hashFile(path)
	took := phases{read: time.Since(start)}
	if err != nil {
		f.fail(name, &ParseError{Path: path, Err: err})
		return syncDone
	}
	if st != nil && !retrying && hash == st.hash {
		f.sameContent(name, st, fi)
		return syncDone
	}
	start = time.Now()
	ld, err := f.Loader.load(ctx, path, fi, true)
	took.parse = time.Since(start)
	switch {
	case errors.Is(err, errChangedWhileRead):
		return syncRetry
	case err != nil && ctx.Err() != nil:
		return syncDone
	case err != nil:
		if time.Since(fi.ModTime()) < settleWindow {
			return syncRetry // a half-written workbook is not a zip yet: wait before calling it broken
		}
		f.fail(name, err)
		return syncDone
	}
	if !ld.wrote {
		if after, err := os.Stat(path); err != nil || !sameStat(fi, after) {
			return syncRetry // it grew while being read: never publish a half-written file
		}
	} else {
		hash = ld.hash // ids were written back: the file now holds what was just decoded
		if after, err := os.Stat(path); err == nil {
			fi = after
		}
	}
	f.apply(ctx, name, fi, hash, ld, took)
	return syncDone
}

// fatal reports whether a file's problems kept it from being read.
func fatal(problems []Problem) bool {
	return slices.ContainsFunc(problems, func(p Problem) bool { return p.Fatal })
}

// phases times a sync: reading the file to hash it, parsing it, diffing it against its
// last-synced content and committing the change, for the log.
type phases struct {
	read, parse time.Duration
}

// sameContent records that a file holds the bytes last synced: a save without changes, a touch,
// sheetsync's own write, or a broken file restored to its last good bytes, whose problem goes.
func (f *Folder) sameContent(name string, st *trackedFile, fi os.FileInfo) {
	f.times.markRead(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	st.stat = keyOf(fi)
	f.setProblems(name, st.problems)
	delete(f.unserved, name)
}

// setProblems replaces a file's problems, saying so when a file that could not be read can be
// again; f.mu is held.
func (f *Folder) setProblems(name string, problems []Problem) {
	if fatal(f.problems[name]) && !fatal(problems) {
		f.logger().Info("file problem resolved; it is served as it is now", "file", name)
	}
	if len(problems) == 0 {
		delete(f.problems, name)
		return
	}
	f.problems[name] = problems
}

// unchanged reports whether a file looks as it did when last synced, or when it last failed or
// was blocked, so the rescan can skip it.
func (f *Folder) unchanged(name string, fi os.FileInfo) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.unserved[name]; ok {
		return k == keyOf(fi)
	}
	st := f.files[name]
	return st != nil && st.stat == keyOf(fi)
}

// initial reads a file when the folder opens: when Restore served its last-synced copy, what
// changed in it since is applied as a diff (rows edited while sheetsync was stopped get a new
// _updatedDate, the others keep theirs); a file new to the state dir is loaded whole.
func (f *Folder) initial(ctx context.Context, name string) {
	if f.syncFile(ctx, name, true) == syncRetry && f.watch != nil {
		f.watch.schedule(name, f.Debounce, false)
	}
}

// restore serves a file's last-synced copy from the state dir, with the dates served then, as
// the base its current content is diffed against.
func (f *Folder) restore(ctx context.Context, name, copyPath string, meta *syncedMeta) {
	fi, err := os.Stat(copyPath)
	if err != nil {
		return
	}
	reader := &Loader{ReadOnly: true, Logger: f.Loader.Logger, Now: f.Loader.Now, Declared: f.Loader.Declared}
	ld, err := reader.load(ctx, copyPath, fi, false)
	if err != nil {
		f.logger().Warn("cannot read the last-synced copy; the file is loaded as it is", "file", name, "err", err)
		return
	}
	hash, _ := strconv.ParseUint(meta.Hash, 16, 64)
	st := &trackedFile{name: name, hash: hash}
	for _, sh := range ld.sheets {
		sh.Path = filepath.Join(f.Dir, name)
		if _, taken := f.claim(sh.Collection, name); taken {
			continue
		}
		base, err := cache.NewSnapshot(sh.Collection, sh.Table)
		if err != nil {
			continue
		}
		table := sh.Table
		if f.TakeOver {
			f.rewrite(sh.Collection)
		} else if _, err := f.baseline().Commit(ctx, cache.ChangeSet{Collection: sh.Collection, Origin: cache.Origin{Kind: cache.OriginFile, Path: name}, Replace: &table}); err != nil {
			continue
		}
		// the copy holds the bytes last synced, so its layout is the file's when unchanged
		st.sheets = append(st.sheets, &trackedSheet{sheet: sh.Sheet, collection: sh.Collection, base: base, dates: map[string]servedDates{}, csv: sh.csv, cols: sh.cols})
	}
	f.mu.Lock()
	f.files[name] = st
	f.mu.Unlock()
	f.serveDates(ctx, st, meta)
}

// serveDates commits the dates the state dir recorded as served for the rows still there.
func (f *Folder) serveDates(ctx context.Context, st *trackedFile, meta *syncedMeta) {
	for _, sh := range st.sheets {
		var saved map[string]servedDates
		for _, m := range meta.Sheets {
			if m.Collection == sh.collection {
				saved = m.Dates
			}
		}
		var items []cache.Item
		for id, d := range saved {
			if _, ok := sh.base.Lookup(id); !ok {
				continue
			}
			it := cache.Item{cache.FieldID: cache.Text(id)}
			if d.Created != 0 {
				it[cache.FieldCreatedDate] = cache.Time(d.Created)
			}
			if d.Updated != 0 {
				it[cache.FieldUpdatedDate] = cache.Time(d.Updated)
			}
			items = append(items, it)
			sh.dates[id] = d
		}
		if len(items) == 0 || f.TakeOver {
			continue
		}
		cs := cache.ChangeSet{Collection: sh.collection, Origin: cache.Origin{Kind: cache.OriginFile, Path: st.name}, Update: items}
		if _, err := f.baseline().Commit(ctx, cs); err != nil {
			f.logger().Warn("cannot serve the dates kept in the state dir", "collection", sh.collection, "err", err)
		}
	}
}

// apply commits what a read of a file found: each sheet diffed against its last-synced content
// (a new sheet added whole, a sheet gone dropped), then records the new content as synced.
func (f *Folder) apply(ctx context.Context, name string, fi os.FileInfo, hash uint64, ld *loaded, took phases) {
	log := f.logger()
	f.mu.Lock()
	old := f.files[name]
	f.mu.Unlock()
	var oldSheets []*trackedSheet
	if old != nil {
		oldSheets = old.sheets
	}
	now := f.now()
	version := cache.FileVersion{Name: name, Hash: hash, Now: now}
	if old != nil {
		version.Base = old.hash
	}
	version.Shipped = f.ship(ctx, name, hash, old == nil)
	origin := fileOrigin(name, version)
	committed := false
	problems := ld.problems
	st := &trackedFile{name: name, stat: keyOf(fi), hash: hash}
	kept := map[string]bool{}
	blocked := false
	for _, sh := range ld.sheets {
		if other, taken := f.claim(sh.Collection, name); taken {
			blocked = true
			problems = append(problems, NameTaken(sh.Path, sh.Sheet, sh.Collection, other))
			continue
		}
		prev := findSheet(oldSheets, sh.Collection)
		var like *cache.Snapshot
		if prev != nil {
			like = prev.base
		}
		next, err := cache.NewSnapshotLike(sh.Collection, sh.Table, like)
		if err != nil {
			problems = append(problems, Problem{Path: sh.Path, Sheet: sh.Sheet, Fatal: true, Message: err.Error()})
			continue
		}
		ss, changed, err := f.commitSheet(ctx, sh, prev, next, origin, took)
		committed = committed || changed
		if errors.Is(err, cache.ErrUnavailable) {
			// the change log cannot be reached (NATS down): nothing is recorded, so the file
			// is read again, as changed, until it can
			log.Warn("cannot commit the file's change now; reading it again in a second", "file", name, "err", err)
			if f.watch != nil {
				f.watch.schedule(name, retryDelay, false)
			}
			return
		}
		if err != nil {
			log.Error("cannot apply file change", "file", name, "collection", sh.Collection, "err", err)
			problems = append(problems, Problem{Path: sh.Path, Sheet: sh.Sheet, Fatal: true, Message: "the change could not be applied: " + err.Error()})
			if prev != nil {
				st.sheets = append(st.sheets, prev)
				kept[prev.collection] = true
			}
			continue
		}
		st.sheets = append(st.sheets, ss)
		kept[ss.collection] = true
	}
	for _, sh := range oldSheets {
		if !kept[sh.collection] {
			f.drop(ctx, sh.collection, origin, name+" no longer has that sheet")
			committed = true
		}
	}
	if !committed && version.Shipped && len(st.sheets) > 0 {
		// the bytes changed but no row did (a re-save, a style): the other replicas still
		// take the new bytes, so that every copy of the folder stays the same
		cs := cache.ChangeSet{Collection: st.sheets[0].collection, Origin: origin}
		if _, err := f.Committer.Commit(ctx, cs); err != nil {
			log.Warn("cannot pass the file's new bytes to the other replicas", "file", name, "err", err)
		}
	}
	for _, p := range problems {
		log.Warn("problem in file", "problem", p.String())
	}
	f.saveSynced(filepath.Join(f.Dir, name), st, st.stat.size)
	st.problems = problems
	f.mu.Lock()
	f.files[name] = st
	f.setProblems(name, problems)
	if blocked {
		f.blocked[name] = true
		f.unserved[name] = keyOf(fi)
	} else {
		delete(f.blocked, name)
		delete(f.unserved, name)
	}
	f.mu.Unlock()
	f.times.markRead(name)
}

// saveSynced records a file's content, read from path (size bytes), as synced in the state dir,
// and gives its CSV sheet the block hashes of the copy, for the next edit's incremental read.
func (f *Folder) saveSynced(path string, st *trackedFile, size int64) {
	blocks := f.state.save(path, st)
	if blocks == nil {
		return
	}
	for _, sh := range st.sheets {
		if sh.csv != nil && sh.csv.size == size {
			sh.csv.blocks = *blocks
		}
	}
}

// commitSheet commits one sheet: the whole table when the collection is new, else the diff
// against its last-synced content.
func (f *Folder) commitSheet(ctx context.Context, sh Sheet, prev *trackedSheet, next *cache.Snapshot, origin cache.Origin, took phases) (*trackedSheet, bool, error) {
	log := f.logger()
	ss := &trackedSheet{sheet: sh.Sheet, collection: sh.Collection, base: next, dates: map[string]servedDates{}, csv: sh.csv, cols: sh.cols}
	if prev == nil {
		table := sh.Table
		if _, err := f.Committer.Commit(ctx, cache.ChangeSet{Collection: sh.Collection, Origin: origin, Replace: &table}); err != nil {
			return nil, false, err
		}
		f.stats.fileChanges.Add(1)
		log.Info("collection loaded", "collection", sh.Collection, "file", filepath.Base(sh.Path), "sheet", sh.Sheet,
			"rows", sh.Rows, "fields", table.Schema.Len(), "took", (took.read + took.parse).Round(time.Millisecond))
		return ss, true, nil
	}
	start := time.Now()
	cs, stats := diffTables(prev.base, next, origin.File.Now)
	diffed := time.Since(start)
	ss.dates = carryDates(prev.dates, cs, stats.dated)
	if stats.empty() {
		return ss, false, nil
	}
	cs.Collection, cs.Origin = sh.Collection, origin
	start = time.Now()
	if _, err := f.Committer.Commit(ctx, cs); err != nil {
		return nil, false, err
	}
	f.stats.fileChanges.Add(1)
	log.Info("file changed", "collection", sh.Collection, "file", filepath.Base(sh.Path), "sheet", sh.Sheet,
		"inserted", stats.inserted, "updated", stats.updated, "removed", stats.removed, "columns_changed", stats.schema,
		"read", took.read.Round(time.Millisecond), "parse", took.parse.Round(time.Millisecond),
		"diff", diffed.Round(time.Millisecond), "apply", time.Since(start).Round(time.Millisecond))
	return ss, true, nil
}

// carryDates updates the served dates of a sheet after a change: dates the change set itself
// (dated) are kept; a date the file now gives, typed by a person, replaces a kept one; removed
// rows are forgotten.
func carryDates(prev map[string]servedDates, cs cache.ChangeSet, dated map[string]servedDates) map[string]servedDates {
	out := make(map[string]servedDates, len(prev)+len(dated))
	for id, d := range prev {
		out[id] = d
	}
	for _, id := range cs.Remove {
		delete(out, id)
	}
	for _, items := range [][]cache.Item{cs.Update, cs.Insert} {
		for _, it := range items {
			d, auto := out[it.ID()], dated[it.ID()]
			if _, ok := it[cache.FieldCreatedDate]; ok {
				d.Created = auto.Created
			}
			if _, ok := it[cache.FieldUpdatedDate]; ok {
				d.Updated = auto.Updated
			}
			if d == (servedDates{}) {
				delete(out, it.ID())
			} else {
				out[it.ID()] = d
			}
		}
	}
	return out
}

func findSheet(sheets []*trackedSheet, collection string) *trackedSheet {
	for _, s := range sheets {
		if s.collection == collection {
			return s
		}
	}
	return nil
}

// claim makes file the owner of a collection name unless another file has it; it returns that
// file when the name is taken, and marks the file blocked in the same step, so that a drop of
// the name racing with this claim sees the file waiting and schedules it again. Only the caller
// clears the mark, once every sheet has claimed its name: whether any sheet lost must not
// depend on the order of the sheets.
func (f *Folder) claim(collection, file string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if other, ok := f.owners[collection]; ok && other != file {
		f.blocked[file] = true
		return other, true
	}
	f.owners[collection] = file
	return "", false
}

// forget handles a file that is gone: its collections are dropped. A file that was blocked by a
// name clash gets another chance.
func (f *Folder) forget(ctx context.Context, name string) {
	st := f.untrack(name)
	if st == nil {
		return
	}
	removed := fileOrigin(name, cache.FileVersion{Name: name, Base: st.hash, Now: f.now()})
	for _, sh := range st.sheets {
		f.drop(ctx, sh.collection, removed, name+" was removed")
	}
	f.state.remove(name)
	f.times.forget(name)
}

// untrack stops tracking a file (its sheets, problems, and whether it waits for a name) and
// returns what was tracked, nil when nothing was.
func (f *Folder) untrack(name string) *trackedFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.files[name]
	delete(f.files, name)
	delete(f.problems, name)
	delete(f.blocked, name)
	delete(f.unserved, name)
	return st
}

// drop removes a collection and lets a file waiting for its name try again.
func (f *Folder) drop(ctx context.Context, collection string, origin cache.Origin, why string) {
	if _, err := f.Committer.Commit(ctx, cache.ChangeSet{Collection: collection, Origin: origin, Drop: true}); err != nil && !errors.Is(err, cache.ErrCollectionNotFound) {
		f.logger().Error("cannot drop collection", "collection", collection, "err", err)
		return
	}
	f.logger().Info("collection removed", "collection", collection, "why", why)
	f.release(collection)
}

// release gives up a collection name a file served, and gives the files that wait for a name
// (a clash) another try.
func (f *Folder) release(collection string) {
	f.mu.Lock()
	delete(f.owners, collection)
	var waiting []string
	for file := range f.blocked {
		waiting = append(waiting, file)
	}
	f.mu.Unlock()
	slices.Sort(waiting)
	for _, file := range waiting {
		if f.watch != nil {
			f.watch.schedule(file, 0, false)
		}
	}
}

// fail records that a file cannot be read; its collections stay at their last good version.
func (f *Folder) fail(name string, err error) {
	f.stats.parseFailures.Add(1)
	f.times.markRead(name)
	p := FileProblem(filepath.Join(f.Dir, name), err)
	f.mu.Lock()
	served := f.files[name] != nil
	f.problems[name] = []Problem{p}
	if fi, err := os.Stat(filepath.Join(f.Dir, name)); err == nil {
		f.unserved[name] = keyOf(fi)
	}
	f.mu.Unlock()
	if served {
		f.logger().Error("cannot read file; its collections stay as they were", "problem", p.String())
	} else {
		f.logger().Error("cannot read file; it is not served", "problem", p.String())
	}
}
