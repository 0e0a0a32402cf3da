package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/sheetsync/sheetsync/cache"
)

// The incremental path. A person edits a few cells of a big CSV; re-reading a million rows to
// find them takes a second. Instead, the new bytes are compared with the file as last synced:
// everything before the first differing byte and after the last is the same, so only the records
// in between are parsed and diffed. The old bytes are not read whole: hashes of their 64 KiB
// blocks, counted from the start and from the end, find the first and last differing blocks,
// and only those and the changed records are read from the last-synced copy in the state dir. It needs what the last full read
// learnt of the file (csvLayout) and gives up — the full path then runs — on anything it cannot
// decide alone: an edit reaching the header, a cell that no longer fits its column's type, a new
// row without _id (which must be written back), an _id repeated, a record cut off.

// csvLayout is what the incremental path remembers of a CSV file as last synced.
type csvLayout struct {
	dialect   csvDialect
	offsets   chunked[int64] // where every record starts: header and blank lines too
	size      int64          // the file's length
	blocks    blockHashes    // of the file's content, known once its copy is in the state dir
	firstData int            // the record after the header
	fieldAt   []int          // file column -> schema field; -1 for a column that is not served
	schema    *cache.Schema
	counts    []typeCounts      // by schema field: what its type was inferred from
	declared  []cache.FieldType // by schema field: its declared type, 0 for none
}

// errNotIncremental says the incremental path cannot decide a change; the full path runs.
var errNotIncremental = errors.New("not decidable incrementally")

// maxRegion bounds the changed region the incremental path parses. It builds an item per row,
// several times the cost per row of the full path's column builders, so edits far apart (the
// first and the last row of a big file) are faster read in full.
const maxRegion = 1 << 20

// layout returns what the incremental path needs of a freshly read CSV table, or nil when the
// table is unusual in a way it does not handle: problems in the file, rows left out, a file that
// is not UTF-8 (its offsets would not be the file's).
func (t *tableBuilder) layout(d csvDialect, size int64, schema *cache.Schema) *csvLayout {
	if d.charset != csvUTF8 || len(t.problems) > 0 || len(t.dropped) > 0 || len(t.missing) > 0 || !t.header {
		return nil
	}
	l := &csvLayout{dialect: d, offsets: t.offsets, size: size,
		firstData: t.headerR + 1, schema: schema, fieldAt: make([]int, len(t.cols)), counts: make([]typeCounts, schema.Len()), declared: make([]cache.FieldType, schema.Len())}
	for pos, c := range t.cols {
		l.fieldAt[pos] = -1
		if c == nil {
			continue
		}
		i, ok := schema.Index(c.key)
		if !ok || c.pos >= t.width {
			return nil // a system column the file lacks
		}
		l.fieldAt[pos] = i
		l.counts[i], l.declared[i] = c.counts, c.declared
	}
	return l
}

// csvEdit is the change found incrementally: the file's change (for the last-synced base) and
// the layout of the new content.
type csvEdit struct {
	file   cache.ChangeSet // the file's content as it changed, to apply to the base
	stats  diffStats
	layout *csvLayout
}

// diffCSV finds the change from old (the file as last synced, read into base with layout l) to
// new (size bytes with the given block hashes), reading only the blocks and records that differ.
// now dates the rows it finds changed.
func diffCSV(old, new io.ReaderAt, size int64, blocks blockHashes, l *csvLayout, base *cache.Snapshot, now int64) (*csvEdit, error) {
	p, err := l.commonPrefix(old, new, size, blocks)
	if err != nil {
		return nil, err
	}
	s, err := l.commonSuffix(old, new, size, blocks, p)
	if err != nil {
		return nil, err
	}
	k := l.recordAt(int64(p))
	if k < l.firstData {
		return nil, errNotIncremental // the header changed
	}
	// The region runs from record k to the first record the common suffix holds whole, and
	// always includes record k: an insertion right at a record's start (p on its first byte)
	// leaves the old region empty and the new one a fragment of a record otherwise.
	j := max(l.recordFrom(l.size-int64(s)), k+1)
	oldStart, oldEnd := l.offsets.at(k), l.end(j)
	newEnd := oldEnd + size - l.size
	if newEnd < oldStart || max(newEnd, oldEnd)-oldStart > maxRegion {
		return nil, errNotIncremental
	}
	newRegion, err := readBlock(new, oldStart, int(newEnd-oldStart))
	if err != nil {
		return nil, err
	}
	if newEnd < size && !endsRecord(newRegion) {
		return nil, errNotIncremental // a record now runs on into the unchanged part
	}
	oldRegion, err := readBlock(old, oldStart, int(oldEnd-oldStart))
	if err != nil {
		return nil, err
	}
	oldRows, _, oldCounts, err := l.parse(oldRegion)
	if err != nil {
		return nil, err
	}
	newRows, starts, newCounts, err := l.parse(newRegion)
	if err != nil {
		return nil, err
	}
	counts := make([]typeCounts, len(l.counts))
	for i, k := range l.counts {
		counts[i] = typeCounts{
			values:  k.values - oldCounts[i].values + newCounts[i].values,
			nonBool: k.nonBool - oldCounts[i].nonBool + newCounts[i].nonBool,
			nonNum:  k.nonNum - oldCounts[i].nonNum + newCounts[i].nonNum,
			nonTime: k.nonTime - oldCounts[i].nonTime + newCounts[i].nonTime,
		}
		f := l.schema.Field(i)
		if _, system := cache.SystemFieldType(f.Key); !system && counts[i].typed(l.declared[i]) != f.Type {
			return nil, errNotIncremental // a full read would give this column another type
		}
	}
	edit := &csvEdit{stats: diffStats{dated: map[string]servedDates{}}}
	if edit.file, err = diffRows(base, oldRows, newRows, &edit.stats); err != nil {
		return nil, err
	}
	edit.layout = l.spliced(k, j, oldStart, starts, size)
	edit.layout.blocks, edit.layout.counts = blocks, counts
	return edit, nil
}

// served returns the change to commit to the store: the file's change, with rows that changed
// dated now where the file gives no date (recorded in stats.dated).
func (e *csvEdit) served(now int64) cache.ChangeSet {
	cs := e.file
	cs.Update = datedItems(cs.Update, now, e.stats.dated, false)
	cs.Insert = datedItems(cs.Insert, now, e.stats.dated, true)
	return cs
}

func datedItems(items []cache.Item, now int64, dated map[string]servedDates, insert bool) []cache.Item {
	out := make([]cache.Item, len(items))
	for i, it := range items {
		c := make(cache.Item, len(it)+2)
		for k, v := range it {
			if insert && v.IsNull() {
				continue // as the full path does: a new row holds only the cells it fills
			}
			c[k] = v
		}
		var d servedDates
		if _, ok := c[cache.FieldUpdatedDate]; !ok {
			c[cache.FieldUpdatedDate], d.Updated = cache.Time(now), now
		}
		if _, ok := c[cache.FieldCreatedDate]; !ok && insert {
			c[cache.FieldCreatedDate], d.Created = cache.Time(now), now
		}
		if d != (servedDates{}) {
			dated[it.ID()] = d
		}
		out[i] = c
	}
	return out
}

// diffRows compares the rows a region held (old) with the rows it holds now (new), by _id. Rows
// of old are looked up in base for their values; an id of new that base holds outside the region
// is a repeated id, which only the full path can report.
func diffRows(base *cache.Snapshot, old, new []cache.Item, st *diffStats) (cache.ChangeSet, error) {
	var cs cache.ChangeSet
	inOld := make(map[string]bool, len(old))
	for _, it := range old {
		inOld[it.ID()] = true
	}
	inNew := make(map[string]bool, len(new))
	schema := base.Schema()
	for _, it := range new {
		id := it.ID()
		inNew[id] = true
		r, ok := base.Lookup(id)
		if !ok {
			cs.Insert = append(cs.Insert, it)
			continue
		}
		if !inOld[id] {
			return cache.ChangeSet{}, errNotIncremental // the id of a row outside the region: repeated
		}
		var up cache.Item
		for i := 0; i < schema.Len(); i++ {
			key := schema.Field(i).Key
			if v := it[key]; !v.Equal(base.Value(r, i)) {
				if up == nil {
					up = cache.Item{cache.FieldID: it[cache.FieldID]}
				}
				up[key] = v
			}
		}
		if up != nil {
			cs.Update = append(cs.Update, up)
		}
	}
	for _, it := range old {
		if !inNew[it.ID()] {
			cs.Remove = append(cs.Remove, it.ID())
		}
	}
	st.inserted, st.updated, st.removed = len(cs.Insert), len(cs.Update), len(cs.Remove)
	return cs, nil
}

// parse reads the records of a region into items of the schema, strictly: every cell must fit
// its column's type as the full read inferred it, every row must carry an _id, and no id may
// repeat. It returns the rows, where each record starts in the region, and the region's cells
// counted by field as type inference counts them.
func (l *csvLayout) parse(region []byte) ([]cache.Item, []int64, []typeCounts, error) {
	r := newCSVRegionReader(region, l.dialect)
	var rows []cache.Item
	var starts []int64
	counts := make([]typeCounts, l.schema.Len())
	seen := map[string]bool{}
	for {
		cells, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, errNotIncremental
		}
		starts = append(starts, r.offset())
		if isBlank(cells) {
			continue
		}
		it, ok := l.item(cells, counts)
		if !ok || seen[it.ID()] {
			return nil, nil, nil, errNotIncremental
		}
		seen[it.ID()] = true
		rows = append(rows, it)
	}
	return rows, starts, counts, nil
}

// item turns a record's cells into an item of the schema, or reports that they do not fit; it
// counts the non-empty cells into counts.
func (l *csvLayout) item(cells []cell, counts []typeCounts) (cache.Item, bool) {
	it := make(cache.Item, l.schema.Len())
	for pos := range cells {
		c := &cells[pos]
		if pos >= len(l.fieldAt) || l.fieldAt[pos] < 0 {
			if c.kind != cellEmpty {
				return nil, false // data in a column that is not served: a new column
			}
			continue
		}
		fi := l.fieldAt[pos]
		f := l.schema.Field(fi)
		v, ok := typedCell(f.Type, c)
		if !ok {
			return nil, false
		}
		if c.kind != cellEmpty {
			counts[fi].values++
			counts[fi].add(readCell(c), 1)
		}
		it[f.Key] = v
	}
	for i := 0; i < l.schema.Len(); i++ {
		if _, ok := it[l.schema.Field(i).Key]; !ok {
			it[l.schema.Field(i).Key] = cache.Null()
		}
	}
	if id := it[cache.FieldID]; id.IsNull() || id.Str() == "" {
		return nil, false // a new row without _id: ids are written back by the full path
	}
	return it, true
}

// typedCell reads a CSV cell as a value of type t, as type inference would have read it.
func typedCell(t cache.FieldType, c *cell) (cache.Value, bool) {
	if c.kind == cellEmpty {
		return cache.Null(), true
	}
	text := c.text
	if t == cache.TypeText {
		return cache.Text(string(text)), true
	}
	if c.kind == cellLiteral {
		return cache.Value{}, false
	}
	switch t {
	case cache.TypeNumber:
		if f, ok := parseNumber(text); ok {
			return cache.Number(f), true
		}
	case cache.TypeBoolean:
		if b, ok := parseBool(text); ok {
			return cache.Bool(b), true
		}
	case cache.TypeDateTime:
		if ms, ok := cache.ParseTime(unsafe.String(unsafe.SliceData(text), len(text))); ok {
			return cache.Time(ms), true
		}
	}
	return cache.Value{}, false
}

// recordAt returns the last record that starts at or before off.
func (l *csvLayout) recordAt(off int64) int {
	n := l.offsets.n
	i := sort.Search(n, func(i int) bool { return l.offsets.at(i) > off })
	return i - 1
}

// recordFrom returns the first record that starts at or after off (the number of records when
// none does).
func (l *csvLayout) recordFrom(off int64) int {
	return sort.Search(l.offsets.n, func(i int) bool { return l.offsets.at(i) >= off })
}

// end returns where record j starts, or the file's end for j past the last.
func (l *csvLayout) end(j int) int64 {
	if j >= l.offsets.n {
		return l.size
	}
	return l.offsets.at(j)
}

// spliced returns the layout of the new content: records before k as they were, the region's
// records (starting at regionStart plus starts) in place of records k to j, and the records
// after shifted by the change in length.
func (l *csvLayout) spliced(k, j int, regionStart int64, starts []int64, size int64) *csvLayout {
	out := *l
	out.size = size
	out.offsets = chunked[int64]{}
	delta := size - l.size
	for i := 0; i < k; i++ {
		out.offsets.add(l.offsets.at(i))
	}
	for _, s := range starts {
		out.offsets.add(regionStart + s)
	}
	for i := j; i < l.offsets.n; i++ {
		out.offsets.add(l.offsets.at(i) + delta)
	}
	return &out
}

// blockSize is the span of content one block hash covers.
const blockSize = 64 << 10

// blockHashes are the hashes of a content's blocks of blockSize bytes, counted from its start
// (fwd) and from its end (bwd), so that both an edit's start and its end are found by comparing
// hashes, whatever it did to the length.
type blockHashes struct {
	fwd, bwd []uint64
}

func hashBlocks(b []byte) blockHashes {
	w := newBlockWriter(int64(len(b)))
	w.Write(b)
	return w.sum()
}

// blockWriter computes the block hashes of content written to it in one pass, given its size
// up front: the blocks counted from the end start with a partial block of size mod blockSize.
type blockWriter struct {
	size, pos int64
	fwd, bwd  *xxhash.Digest
	h         blockHashes
}

func newBlockWriter(size int64) *blockWriter {
	n := (size + blockSize - 1) / blockSize
	return &blockWriter{size: size, fwd: xxhash.New(), bwd: xxhash.New(),
		h: blockHashes{fwd: make([]uint64, 0, n), bwd: make([]uint64, n)}}
}

func (w *blockWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		// the next boundary of either kind
		toFwd := blockSize - w.pos%blockSize
		toBwd := (w.size - w.pos) % blockSize
		if toBwd == 0 {
			toBwd = blockSize
		}
		k := min(int64(len(p)), toFwd, toBwd)
		w.fwd.Write(p[:k])
		w.bwd.Write(p[:k])
		w.pos += k
		p = p[k:]
		if k == toFwd || w.pos == w.size {
			w.h.fwd = append(w.h.fwd, w.fwd.Sum64())
			w.fwd.Reset()
		}
		if k == toBwd {
			w.h.bwd[(w.size-w.pos)/blockSize] = w.bwd.Sum64()
			w.bwd.Reset()
		}
	}
	return n, nil
}

// sum returns the hashes, once size bytes were written.
func (w *blockWriter) sum() blockHashes { return w.h }

// commonPrefix returns the length of the longest common prefix of the old content (as l
// describes it) and new: whole blocks by their hashes, then the first block that differs byte by
// byte, read from old.
func (l *csvLayout) commonPrefix(old, new io.ReaderAt, size int64, nb blockHashes) (int, error) {
	i := 0
	for i < len(l.blocks.fwd) && i < len(nb.fwd) && l.blocks.fwd[i] == nb.fwd[i] &&
		int64(i+1)*blockSize <= l.size && int64(i+1)*blockSize <= size {
		i++
	}
	at := int64(i * blockSize)
	a, err := readBlock(old, at, int(min(blockSize, l.size-at)))
	if err != nil {
		return 0, err
	}
	b, err := readBlock(new, at, int(min(blockSize, size-at)))
	if err != nil {
		return 0, err
	}
	return i*blockSize + commonPrefix(a, b), nil
}

// commonSuffix returns the length of the longest common suffix, at most the part of both that
// the common prefix p leaves.
func (l *csvLayout) commonSuffix(old, new io.ReaderAt, size int64, nb blockHashes, p int) (int, error) {
	limit := int(min(l.size, size)) - p
	i := 0
	for i < len(l.blocks.bwd) && i < len(nb.bwd) && l.blocks.bwd[i] == nb.bwd[i] && (i+1)*blockSize <= limit {
		i++
	}
	n := min(blockSize, limit-i*blockSize)
	a, err := readBlock(old, l.size-int64(i*blockSize+n), n)
	if err != nil {
		return 0, err
	}
	b, err := readBlock(new, size-int64(i*blockSize+n), n)
	if err != nil {
		return 0, err
	}
	return i*blockSize + commonSuffix(a, b), nil
}

// readBlock reads n bytes at at; fewer bytes than that mean the file is not what it should be.
func readBlock(r io.ReaderAt, at int64, n int) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	if got, err := r.ReadAt(buf, at); got != n && err != nil {
		return nil, errNotIncremental
	}
	return buf, nil
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && string(a[i:i+8]) == string(b[i:i+8]) {
		i += 8
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// commonSuffix returns the length of the longest common suffix of a and b.
func commonSuffix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for i+8 <= n && string(a[len(a)-i-8:len(a)-i]) == string(b[len(b)-i-8:len(b)-i]) {
		i += 8
	}
	for i < n && a[len(a)-1-i] == b[len(b)-1-i] {
		i++
	}
	return i
}

func endsRecord(b []byte) bool {
	return len(b) == 0 || bytes.HasSuffix(b, []byte{'\n'}) || bytes.HasSuffix(b, []byte{'\r'})
}

// syncIncremental brings a CSV file in step by reading only the records that differ from its
// last-synced copy. done false means the full path must run. The file is read once as a stream,
// for its hashes, and then only where it changed: a million-row file costs no big buffer.
func (f *Folder) syncIncremental(ctx context.Context, name string, st *trackedFile, fi os.FileInfo) (syncResult, bool) {
	path := filepath.Join(f.Dir, name)
	sh := st.sheets[0]
	start := time.Now()
	if len(sh.csv.blocks.fwd) == 0 && sh.csv.size > 0 {
		// the copy in the state dir was made by an earlier run (sheetsync restarted): hash its
		// blocks once, now; reading the copy costs far less than parsing the file in full
		blocks, err := f.copyBlocks(name, st.hash, sh.csv.size)
		if err != nil {
			return 0, false
		}
		sh.csv.blocks = blocks
	}
	file, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer file.Close()
	hash, blocks, err := streamHashes(file, fi.Size())
	if err != nil {
		return 0, false
	}
	if after, err := file.Stat(); err != nil || !sameStat(fi, after) {
		return syncRetry, true // it grew while being read
	}
	if hash == st.hash {
		f.sameContent(name, st, fi)
		return syncDone, true
	}
	old, err := f.state.open(name, st.hash)
	if err != nil {
		return 0, false
	}
	defer old.Close()
	read := time.Since(start)
	start = time.Now()
	now := f.now()
	edit, err := diffCSV(old, file, fi.Size(), blocks, sh.csv, sh.base, now)
	if err != nil {
		return 0, false
	}
	served := edit.served(now)
	base, err := sh.base.Apply(edit.file)
	if err != nil {
		return 0, false
	}
	diffed := time.Since(start)
	start = time.Now()
	version := cache.FileVersion{Name: name, Hash: hash, Base: st.hash, Now: now}
	version.Shipped = f.ship(ctx, name, hash, false)
	if !edit.stats.empty() || version.Shipped {
		served.Collection, served.Origin = sh.collection, fileOrigin(name, version)
		if _, err := f.Committer.Commit(ctx, served); err != nil {
			f.logger().Error("cannot apply file change", "file", name, "collection", sh.collection, "err", err)
			return 0, false
		}
		f.stats.fileChanges.Add(1)
		f.logger().Info("file changed", "collection", sh.collection, "file", name, "sheet", "",
			"inserted", edit.stats.inserted, "updated", edit.stats.updated, "removed", edit.stats.removed, "columns_changed", false,
			"read", read.Round(time.Millisecond), "parse", diffed.Round(time.Millisecond), "diff", time.Duration(0),
			"apply", time.Since(start).Round(time.Millisecond), "incremental", true)
	}
	next := &trackedFile{name: name, stat: keyOf(fi), hash: hash, sheets: []*trackedSheet{{
		sheet: sh.sheet, collection: sh.collection, base: base, csv: edit.layout, cols: sh.cols,
		dates: carryDates(sh.dates, served, edit.stats.dated),
	}}}
	if f.state.save(path, next) == nil {
		next.sheets[0].csv = nil // no copy of this content: the next edit is read in full
	}
	f.mu.Lock()
	f.files[name] = next
	delete(f.problems, name)
	delete(f.unserved, name)
	f.mu.Unlock()
	f.times.markRead(name)
	return syncDone, true
}

// copyBlocks computes the block hashes of a file's copy in the state dir, checking that the copy
// is the content of the given hash.
func (f *Folder) copyBlocks(name string, hash uint64, size int64) (blockHashes, error) {
	file, err := f.state.open(name, hash)
	if err != nil {
		return blockHashes{}, err
	}
	defer file.Close()
	got, blocks, err := streamHashes(file, size)
	if err != nil {
		return blockHashes{}, err
	}
	if got != hash {
		return blockHashes{}, errSourceChanged
	}
	return blocks, nil
}

var streamBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// streamHashes reads r, of the given size, once and returns its content hash and block hashes.
func streamHashes(r io.Reader, size int64) (uint64, blockHashes, error) {
	buf := streamBuffers.Get().(*[]byte)
	defer streamBuffers.Put(buf)
	whole, blocks := xxhash.New(), newBlockWriter(size)
	n, err := io.CopyBuffer(io.MultiWriter(whole, blocks), io.LimitReader(r, size), *buf)
	if err != nil || n != size {
		return 0, blockHashes{}, errNotIncremental
	}
	return whole.Sum64(), blocks.sum(), nil
}
