package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// FileStore keeps versions of the folder's files for the other replicas (replica.Files, a
// JetStream object store): each replica owns a copy of the folder, and a file edited on one
// reaches the others as the very bytes, so that every copy ends byte for byte the same (DESIGN
// §4, folder modes).
type FileStore interface {
	Put(ctx context.Context, name string, hash uint64, r io.Reader) error
	Get(ctx context.Context, name string, hash uint64) (io.ReadCloser, error)
	Delete(ctx context.Context, name string, hash uint64) error
}

// shipLimit is the largest file whose bytes are stored for the other replicas at each edit.
// The edits of a bigger file reach the other copies row by row (write-back), which keeps their
// data the same but not every byte (quoting, the position of inserted rows); a new file is
// stored whatever its size, as the other replicas have no copy to write rows into.
const shipLimit = 64 << 20

// ship stores the file's bytes for the other replicas when it still holds the content hash
// read; it reports whether they were stored.
func (f *Folder) ship(ctx context.Context, name string, hash uint64, isNew bool) bool {
	if f.Files == nil {
		return false
	}
	path := filepath.Join(f.Dir, name)
	fi, err := os.Stat(path)
	if err != nil || (fi.Size() > shipLimit && !isNew) {
		return false
	}
	file, err := os.Open(path)
	if err != nil {
		return false
	}
	defer file.Close()
	// hashed as it is stored: a file changed meanwhile is not stored under this version's name
	r := &hashingReader{r: file, d: xxhash.New()}
	err = f.Files.Put(ctx, name, hash, r)
	if err == nil && r.n > 0 && r.d.Sum64() != hash { // nothing read: stored before
		f.Files.Delete(ctx, name, hash) // not this version's bytes
		err = errSourceChanged
	}
	if errors.Is(err, errSourceChanged) {
		return false // changed again since it was read: that sync ships the next version
	}
	if err != nil {
		f.logger().Warn("cannot store the file for the other replicas; they get its changes row by row", "file", name, "err", err)
		return false
	}
	return true
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.Reader
	d *xxhash.Digest
	n int64
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.d.Write(p[:n])
	h.n += int64(n)
	return n, err
}

// fileOrigin is the origin of a change read from a file: the file and the version it leaves.
func fileOrigin(name string, v cache.FileVersion) cache.Origin {
	return cache.Origin{Kind: cache.OriginFile, Path: name, File: &v}
}

// remote reports whether a committed change came from somewhere other than this replica's own
// files, so that it must be written into them.
func (f *Folder) remote(c cache.Committed) bool {
	o := c.Change.Origin
	return o.Kind != cache.OriginFile || (o.Replica != "" && o.Replica != f.Replica)
}

// adoptFile brings this replica's copy of a file to the version another replica's change left
// (DESIGN §4, folder modes): the file is replaced by those bytes when the copy holds the
// version the change was read from, or removed (to the trash) when the change removed it.
// Otherwise, when the copy differs (a local edit not yet merged, a file too big to ship), the
// rows of its collections are written into it instead. The store already holds the change; the
// folder only records the new content as synced, committing nothing.
func (f *Folder) adoptFile(ctx context.Context, v cache.FileVersion, served map[string]map[string]servedDates) error {
	lock := f.fileLock(v.Name)
	lock.Lock()
	defer lock.Unlock()
	if f.abandoned.Load() {
		return nil
	}
	if f.openElsewhere(v.Name) && v.Hash != 0 {
		return errFileBusy // open in a spreadsheet program: the version waits until it is closed
	}
	path := filepath.Join(f.Dir, v.Name)
	f.mu.Lock()
	st := f.files[v.Name]
	f.mu.Unlock()
	fi, statErr := os.Stat(path)
	var current uint64 // the version this copy holds: 0 when there is none
	switch {
	case statErr != nil && st == nil:
	case statErr != nil:
		current = ^uint64(0) // removed here: the watcher drops it
	case st != nil && st.stat == keyOf(fi):
		current = st.hash
	default:
		// not looked at since a restart, changed here, or not served yet: its bytes tell
		h, err := hashFile(path)
		if err != nil {
			return err
		}
		current = h
	}
	switch {
	case v.Hash == 0:
		// removed there: this copy goes to the trash, local edits and all (never deleted)
		if statErr == nil {
			if err := f.trash(v.Name, false); err != nil {
				return fmt.Errorf("%s was removed on another replica; moving this copy to the trash: %w", v.Name, err)
			}
		}
		f.removedElsewhere(v.Name)
		return nil
	case current == v.Hash && st != nil && st.hash == v.Hash:
		return nil // already this version (another sheet's change of the same edit)
	case current == v.Hash:
		// the bytes are there, not yet recorded (put there before a restart, or a copy of the
		// folder this replica started with)
		return f.adopt(ctx, v, path)
	case st == nil && v.Base == 0 && statErr == nil && v.Shipped:
		// a file this replica has no record of, which the others have had since they first
		// read it: their version wins, this copy goes to the trash (read as edits, a stale copy
		// would undo newer writes on every replica)
		f.logger().Warn("the other replicas serve this file already; this copy goes to the trash and theirs is written", "file", v.Name)
		if err := f.trash(v.Name, false); err != nil {
			return err
		}
	case current != v.Base || !v.Shipped:
		f.serve(st, served)
		f.rewriteRows(v.Name)
		return nil
	}
	staging, err := f.fetch(ctx, v)
	if err != nil {
		f.logger().Warn("cannot fetch the file another replica changed; writing its rows instead", "file", v.Name, "err", err)
		f.serve(st, served)
		f.rewriteRows(v.Name)
		return nil
	}
	defer os.Remove(staging)
	return f.adopt(ctx, v, staging)
}

// fetch copies a file version from the file store into a staging file beside the state dir's
// copies (or in the temporary folder without a state dir) and returns its path.
func (f *Folder) fetch(ctx context.Context, v cache.FileVersion) (string, error) {
	rc, err := f.Files.Get(ctx, v.Name, v.Hash)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	dir := filepath.Join(os.TempDir(), "sheetsync-incoming")
	if f.state != nil {
		dir = filepath.Join(f.state.dir, "incoming")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	staging := filepath.Join(dir, v.Name) // its own name: the format is read from it
	hash, err := writeCacheFile(staging, func(w io.Writer) error { _, err := io.Copy(w, rc); return err })
	if err != nil {
		return "", err
	}
	if hash != v.Hash {
		os.Remove(staging)
		return "", fmt.Errorf("%s: the stored version hashes to %x, not %x", v.Name, hash, v.Hash)
	}
	return staging, nil
}

// adopt puts a file version fetched into staging in the folder (unless staging is the file
// itself, which holds it already) and records it as synced: its
// sheets are read and diffed against their last-synced content as the replica that read it did
// (at the same time, so with the same dates), without committing what the store already holds.
// It is read from staging, so a file removed right after it was put in the folder is still
// tracked, and its removal then seen as an edit here.
func (f *Folder) adopt(ctx context.Context, v cache.FileVersion, staging string) error {
	path := filepath.Join(f.Dir, v.Name)
	sfi, err := os.Stat(staging)
	if err != nil {
		return err
	}
	reader := &Loader{ReadOnly: true, Logger: f.Loader.Logger, Declared: f.Loader.Declared,
		Now: func() time.Time { return time.UnixMilli(v.Now) }}
	ld, err := reader.load(ctx, staging, sfi, false)
	if err == nil && f.declareLike(v.Name, ld) {
		ld, err = reader.load(ctx, staging, sfi, false) // with the field types the store has
	}
	if err != nil {
		return fmt.Errorf("%s as stored by another replica: %w", v.Name, err)
	}
	hash := v.Hash
	if staging != path {
		if hash, err = copyInto(path, staging); err != nil {
			return err
		}
	}
	var stat statKey
	if fi, err := os.Stat(path); err == nil && hash == v.Hash {
		stat = keyOf(fi)
	}
	f.mu.Lock()
	old := f.files[v.Name]
	f.mu.Unlock()
	st := &trackedFile{name: v.Name, stat: stat, hash: v.Hash, problems: ld.problems}
	for _, sh := range ld.sheets {
		sh.Path = path
		if _, taken := f.claim(sh.Collection, v.Name); taken {
			continue
		}
		var prev *trackedSheet
		var like *cache.Snapshot
		if old != nil {
			if prev = findSheet(old.sheets, sh.Collection); prev != nil {
				like = prev.base
			}
		}
		next, err := cache.NewSnapshotLike(sh.Collection, sh.Table, like)
		if err != nil {
			continue
		}
		ss := &trackedSheet{sheet: sh.Sheet, collection: sh.Collection, base: next, dates: map[string]servedDates{}, csv: sh.csv, cols: sh.cols}
		if prev != nil {
			cs, stats := diffTables(prev.base, next, v.Now)
			ss.dates = carryDates(prev.dates, cs, stats.dated)
		}
		st.sheets = append(st.sheets, ss)
	}
	if old != nil {
		for _, sh := range old.sheets {
			if findSheet(st.sheets, sh.collection) == nil {
				f.release(sh.collection)
			}
		}
	}
	f.saveSynced(staging, st, sfi.Size())
	f.mu.Lock()
	f.files[v.Name] = st
	f.setProblems(v.Name, ld.problems)
	delete(f.unserved, v.Name)
	f.mu.Unlock()
	f.stats.adoptions.Add(1)
	f.logger().Info("file brought to another replica's version", "file", v.Name, "sheets", len(st.sheets))
	return nil
}

// declareLike declares here the field types the store has for a file's sheets where reading
// the file gives others: types declared through the API on another replica (a NUMBER field
// whose column is still empty reads as text). It reports whether it declared any.
func (f *Folder) declareLike(name string, ld *loaded) bool {
	declared := false
	for _, sh := range ld.sheets {
		f.wb.mu.Lock()
		snap := f.wb.latest[sh.Collection]
		f.wb.mu.Unlock()
		if snap == nil {
			continue
		}
		types := map[string]cache.Field{}
		for _, want := range snap.Schema().Fields() {
			if got, ok := sh.Table.Schema.Lookup(want.Key); ok && (got.Type != want.Type || got.Ref != want.Ref) {
				types[want.Key] = cache.Field{Key: want.Key, Type: want.Type, Ref: want.Ref}
			}
		}
		if len(types) > 0 && f.decl.set(name, sh.Sheet, types) == nil {
			declared = true
		}
	}
	return declared
}

// serve records dates another replica's file edit gave rows as served here too, before the
// edit's rows are written into this copy one by one, so that they are not written into it
// (as the file the edit was made in does not hold them). The file's lock is held.
func (f *Folder) serve(st *trackedFile, served map[string]map[string]servedDates) {
	if st == nil {
		return
	}
	for _, sh := range st.sheets {
		for id, d := range served[sh.collection] {
			was := sh.dates[id]
			if d.Updated != 0 {
				was.Updated = d.Updated
			}
			if d.Created != 0 {
				was.Created = d.Created
			}
			sh.dates[id] = was
		}
	}
}

// removedElsewhere forgets a file another replica removed: the store already dropped its
// collections.
func (f *Folder) removedElsewhere(name string) {
	if st := f.untrack(name); st != nil {
		for _, sh := range st.sheets {
			f.release(sh.collection)
		}
	}
	f.state.remove(name)
	f.times.forget(name)
}

// rewriteRows marks every row of a file's collections to be written: the change reaches a copy
// that does not hold the version it was read from row by row.
func (f *Folder) rewriteRows(name string) {
	f.mu.Lock()
	st := f.files[name]
	f.mu.Unlock()
	if st == nil {
		return
	}
	for _, sh := range st.sheets {
		f.rewrite(sh.collection)
	}
}

// rewrite marks every row of a collection to be written into its file.
func (f *Folder) rewrite(collection string) {
	w := &f.wb
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	w.rows(collection).truncate = true
	w.kick()
}

// Follow seeds the write-back with the store's current snapshots, for a folder opened with
// TakeOver: what the files lack is found by comparing them with these.
func (f *Folder) Follow(snaps []*cache.Snapshot) {
	w := &f.wb
	w.mu.Lock()
	defer w.mu.Unlock()
	w.init()
	for _, s := range snaps {
		if _, ok := w.latest[s.Name()]; !ok {
			w.latest[s.Name()] = s
		}
	}
}

// Abandon stops the folder at once, for a replica that lost the lease of a shared folder: no
// file is written from this moment (a write under way is not renamed into place), and Close,
// which may take a moment, skips the final write of what is left; the new holder writes it.
func (f *Folder) Abandon() {
	f.abandoned.Store(true)
}
