package cache

import "fmt"

// Apply returns the snapshot that results from applying the row-level parts of cs (Schema,
// Truncate, Remove, Update, Insert) to s, which is left as it is: a snapshot kept outside the
// Store, such as a file's content as last synced, follows changes this way. The result shares
// every untouched chunk with s. Errors are Commit's.
func (s *Snapshot) Apply(cs ChangeSet) (*Snapshot, error) { return s.apply(&cs) }

// apply returns the snapshot that results from applying the row-level parts of cs (Truncate,
// Remove, Update, Insert) to s. It validates everything before changing anything, so a change
// either applies whole or returns an error and s is untouched. The result has version 0; the
// Store stamps it.
func (s *Snapshot) apply(cs *ChangeSet) (*Snapshot, error) {
	base := s
	if cs.Schema != nil {
		var err error
		if base, err = s.reshape(cs.Schema); err != nil {
			return nil, err
		}
	}
	if cs.Truncate {
		base = Empty(s.name, s.schema)
	}
	if err := base.validate(cs); err != nil {
		return nil, err
	}
	n := base.clone()
	if len(cs.Remove) > 0 {
		n.remove(cs.Remove)
	}
	if len(cs.Update) > 0 {
		n.update(cs.Update)
	}
	if len(cs.Insert) > 0 {
		n.insert(cs.Insert)
	}
	if n.idCol >= 0 {
		w := &idWriter{x: n.ids, col: n.cols[n.idCol]}
		for _, id := range cs.Remove {
			w.remove(id)
		}
		for c, it := range cs.Insert {
			w.insert(it.ID(), n.insertedRow(len(cs.Insert), c))
		}
	}
	if dead := n.slots() - n.rows; dead > ChunkSize && dead > n.slots()/4 {
		return n.compact()
	}
	return n, nil
}

// validate checks a change against s without changing anything.
func (s *Snapshot) validate(cs *ChangeSet) error {
	if (len(cs.Remove) > 0 || len(cs.Update) > 0 || len(cs.Insert) > 0) && s.idCol < 0 {
		return &ValidationError{Collection: s.name, Field: FieldID, Reason: "collection has no _id field"}
	}
	removed := make(map[string]bool, len(cs.Remove))
	for _, id := range cs.Remove {
		if _, ok := s.Lookup(id); !ok || removed[id] {
			return fmt.Errorf("collection %s: remove %q: %w", s.name, id, ErrItemNotFound)
		}
		removed[id] = true
	}
	for _, it := range cs.Update {
		id := it.ID()
		if _, ok := s.Lookup(id); !ok || removed[id] {
			return fmt.Errorf("collection %s: update %q: %w", s.name, id, ErrItemNotFound)
		}
		if err := s.checkItem(it); err != nil {
			return err
		}
	}
	inserted := make(map[string]bool, len(cs.Insert))
	for _, it := range cs.Insert {
		id := it.ID()
		if id == "" {
			return &ValidationError{Collection: s.name, Field: FieldID, Reason: "inserted item has no _id"}
		}
		if _, ok := s.Lookup(id); (ok && !removed[id]) || inserted[id] {
			return fmt.Errorf("collection %s: insert %q: %w", s.name, id, ErrDuplicateID)
		}
		inserted[id] = true
		if err := s.checkItem(it); err != nil {
			return err
		}
	}
	return nil
}

func (s *Snapshot) checkItem(it Item) error {
	for key, v := range it {
		f, ok := s.schema.Lookup(key)
		if !ok {
			return &ValidationError{Collection: s.name, Field: key, Reason: "no such field"}
		}
		if !f.Type.Check(v) {
			return &ValidationError{Collection: s.name, Field: key, Reason: fmt.Sprintf("%s value in a %s field", v.Kind(), f.Type)}
		}
	}
	if v, ok := it[FieldID]; !ok || v.IsNull() || v.s == "" {
		return &ValidationError{Collection: s.name, Field: FieldID, Reason: "item has no _id"}
	}
	return nil
}

// reshape returns s with the given fields: columns of fields kept with their type are shared,
// the others are empty. A collection with rows keeps its _id field.
func (s *Snapshot) reshape(schema *Schema) (*Snapshot, error) {
	_, hadID := s.schema.Index(FieldID)
	idCol, hasID := schema.Index(FieldID)
	if hadID != hasID && s.rows > 0 {
		return nil, &ValidationError{Collection: s.name, Field: FieldID, Reason: "a collection with items cannot gain or lose its _id field"}
	}
	n := *s
	n.schema, n.idCol = schema, -1
	if hasID {
		n.idCol = idCol
	}
	n.cols = make([]*Column, schema.Len())
	for i, f := range schema.fields {
		if j, ok := s.schema.Index(f.Key); ok && s.schema.fields[j].Type == f.Type {
			n.cols[i] = s.cols[j]
		} else {
			n.cols[i] = emptyColumn(f.Type, s.lens)
		}
	}
	if hasID && !hadID {
		n.ids = &idIndex{}
	}
	return &n, nil
}

// clone returns a shallow copy whose slices may be replaced element by element without touching
// s.
func (s *Snapshot) clone() *Snapshot {
	n := *s
	n.version = 0
	n.cols = append([]*Column(nil), s.cols...)
	for i, col := range n.cols {
		n.cols[i] = &Column{typ: col.typ, chunks: append([]*Chunk(nil), col.chunks...)}
	}
	n.lens = append([]int(nil), s.lens...)
	n.live = append([][]uint64(nil), s.live...)
	if s.ids != nil {
		n.ids = s.ids.clone()
	}
	return &n
}

func (s *Snapshot) slots() int {
	t := 0
	for _, n := range s.lens {
		t += n
	}
	return t
}

// remove marks the rows of ids dead.
func (s *Snapshot) remove(ids []string) {
	copied := map[int]bool{}
	for _, id := range ids {
		r, _ := s.Lookup(id)
		c, i := r.Chunk(), r.Offset()
		if !copied[c] {
			copied[c] = true
			s.live[c] = s.liveCopy(c)
		}
		s.live[c][i>>6] &^= 1 << (uint(i) & 63)
		s.rows--
	}
}

// liveCopy returns a private copy of chunk c's live bitmap, all ones when it had none.
func (s *Snapshot) liveCopy(c int) []uint64 {
	if lv := s.live[c]; lv != nil {
		return append([]uint64(nil), lv...)
	}
	lv := make([]uint64, words(s.lens[c]))
	for i := 0; i < s.lens[c]; i++ {
		lv[i>>6] |= 1 << (uint(i) & 63)
	}
	return lv
}

// update sets the named fields of existing rows, patching each touched chunk once per column.
func (s *Snapshot) update(items []Item) {
	edits := map[[2]int][]cellEdit{} // (field, chunk) -> edits in order
	for _, it := range items {
		r, _ := s.Lookup(it.ID())
		for key, v := range it {
			if key == FieldID {
				continue // the key of the update, never changed by it
			}
			f, _ := s.schema.Index(key)
			k := [2]int{f, r.Chunk()}
			edits[k] = append(edits[k], cellEdit{r.Offset(), v})
		}
	}
	for k, es := range edits {
		col := s.cols[k[0]]
		ch := col.chunks[k[1]]
		col.chunks[k[1]] = ch.patched(col.typ, ch.n, es)
	}
}

// insert appends rows at the end: it fills the last chunk, then starts new ones.
func (s *Snapshot) insert(items []Item) {
	last := len(s.lens) - 1
	fill := 0
	if last >= 0 {
		fill = min(ChunkSize-s.lens[last], len(items))
	}
	for f, col := range s.cols {
		key := s.schema.Field(f).Key
		if fill > 0 {
			old := col.chunks[last]
			edits := make([]cellEdit, fill)
			for j := range edits {
				edits[j] = cellEdit{old.n + j, items[j][key]}
			}
			col.chunks[last] = old.patched(col.typ, old.n+fill, edits)
		}
		rest := items[fill:]
		vals := make([]Value, 0, min(len(rest), ChunkSize))
		for lo := 0; lo < len(rest); lo += ChunkSize {
			vals = vals[:0]
			for _, it := range rest[lo:min(lo+ChunkSize, len(rest))] {
				vals = append(vals, it[key])
			}
			col.chunks = append(col.chunks, encodeChunk(col.typ, vals))
		}
	}
	if fill > 0 {
		oldLen := s.lens[last]
		s.lens[last] += fill
		if lv := s.live[last]; lv != nil {
			grown := make([]uint64, words(s.lens[last]))
			copy(grown, lv)
			for i := oldLen; i < s.lens[last]; i++ {
				grown[i>>6] |= 1 << (uint(i) & 63)
			}
			s.live[last] = grown
		}
	}
	for len(s.lens) < s.cols[0].NumChunks() {
		s.lens = append(s.lens, s.cols[0].chunks[len(s.lens)].n)
		s.live = append(s.live, nil)
	}
	s.rows += len(items)
}

// insertedRow returns the RowID of the i-th of n rows just appended by insert.
func (s *Snapshot) insertedRow(n, i int) RowID {
	first := s.slots() - n + i
	return MakeRowID(first>>ChunkBits, first&(ChunkSize-1))
}

// compact rebuilds the snapshot without dead slots. RowIDs change, so the index is rebuilt.
func (s *Snapshot) compact() (*Snapshot, error) {
	rows := make([]RowID, 0, s.rows)
	s.Rows(func(r RowID) bool { rows = append(rows, r); return true })
	cols := make([]*Column, len(s.cols))
	for f, col := range s.cols {
		b := NewColumnBuilder(col.typ)
		for _, r := range rows {
			b.Append(col.Value(r))
		}
		cols[f] = b.Build()
	}
	return NewSnapshot(s.name, Table{Schema: s.schema, Columns: cols})
}
