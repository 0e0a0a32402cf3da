package query

import (
	"fmt"

	"github.com/sheetsync/sheetsync/cache"
)

// UniqueError is a write that would give a unique index two rows with one key.
type UniqueError struct {
	Collection string
	Index      string
	Fields     []string
	Values     []cache.Value // the key, one value per field, as the offending item has it
	ItemID     string        // the item of the change that would repeat the key
	ExistingID string        // the row, or earlier item of the same change, holding the key
}

func (e *UniqueError) Error() string {
	return fmt.Sprintf("collection %s: unique index %q: item %q would repeat %s of item %q",
		e.Collection, e.Index, e.ItemID, describeKey(e.Fields, e.Values), e.ExistingID)
}

func (e *UniqueError) Unwrap() error { return ErrDuplicateKey }

// CheckUnique returns a *UniqueError (wrapping ErrDuplicateKey) for the first item of cs that
// committing cs on snap would make repeat the key of a unique index of the collection: an
// insert whose key another row or an earlier item of cs already has, or an update (its named
// fields over the row's others) moving a row onto such a key. Keys of removed rows and the old
// keys of updated rows are free to take, so an update keeping its own key passes. A key with an
// empty cell is never a duplicate. Updates count before inserts, in cs's order, as the store
// applies them.
//
// Call it on the snapshot cs is based on and commit with BaseVersion set to snap.Version(): a
// change that lands in between then fails the commit with cache.ErrVersionConflict instead of
// slipping a duplicate in. A Replace (a file read in full) is not checked: the files are the
// source of truth. Items with values of the wrong kind are left to the store to reject.
func (x *Indexes) CheckUnique(snap *cache.Snapshot, cs cache.ChangeSet) error {
	if cs.Drop || cs.Replace != nil {
		return nil
	}
	base := snap
	for _, e := range x.entries(snap.Name()) {
		if !e.def.Unique {
			continue
		}
		if cs.Schema != nil && base == snap {
			var err error
			if base, err = snap.Apply(cache.ChangeSet{Collection: snap.Name(), Schema: cs.Schema}); err != nil {
				return nil // the store will refuse the change, and say why
			}
		}
		b := e.get(base, true)
		if b == nil {
			continue // not ACTIVE, or a field is missing: nothing to enforce
		}
		if err := checkIndex(base, b, &e.def, &cs); err != nil {
			return err
		}
	}
	return nil
}

// checkIndex is CheckUnique for one index built over base.
func checkIndex(base *cache.Snapshot, b *built, def *Index, cs *cache.ChangeSet) error {
	k := b.key
	freed := map[cache.RowID]bool{}
	if !cs.Truncate {
		for _, id := range cs.Remove {
			if r, ok := base.Lookup(id); ok {
				freed[r] = true
			}
		}
		for _, it := range cs.Update {
			if r, ok := base.Lookup(it.ID()); ok {
				freed[r] = true
			}
		}
	}
	taken := map[string]string{} // key -> the item of cs that holds it
	check := func(it cache.Item, vals []cache.Value) error {
		if vals == nil {
			return nil
		}
		dup := func(existing string) error {
			return &UniqueError{Collection: base.Name(), Index: def.Name, Fields: def.paths(), Values: vals, ItemID: it.ID(), ExistingID: existing}
		}
		ks := keyString(k, vals)
		if id, ok := taken[ks]; ok {
			return dup(id)
		}
		taken[ks] = it.ID()
		if cs.Truncate {
			return nil
		}
		p := b.perm
		lo := p.search(0, p.len(), func(r cache.RowID) bool { return k.compareProbe(r, vals) >= 0 })
		var holder cache.RowID
		found := false
		p.each(lo, p.len(), false, func(r cache.RowID) bool {
			if k.compareProbe(r, vals) != 0 {
				return false
			}
			holder, found = r, !freed[r]
			return !found
		})
		if found {
			return dup(rowID(base, holder))
		}
		return nil
	}
	for _, it := range cs.Update {
		r, ok := base.Lookup(it.ID())
		if cs.Truncate || !ok {
			continue // the store will answer ErrItemNotFound
		}
		if err := check(it, itemKey(base, k, def, it, r, true)); err != nil {
			return err
		}
	}
	for _, it := range cs.Insert {
		if err := check(it, itemKey(base, k, def, it, 0, false)); err != nil {
			return err
		}
	}
	return nil
}

// itemKey returns the key an item gives its row: its own values, over row r's for the fields an
// update leaves out. It returns nil for a key with an empty cell (exempt from uniqueness) or a
// value of the wrong kind (the store rejects the item).
func itemKey(base *cache.Snapshot, k indexKey, def *Index, it cache.Item, r cache.RowID, update bool) []cache.Value {
	vals := make([]cache.Value, len(k))
	for j, f := range def.Fields {
		v, ok := it[f.Path]
		if !ok && update {
			v = k[j].col.Value(r)
		}
		if v.IsNull() || v.Kind() != k[j].col.Type().Kind() {
			return nil
		}
		vals[j] = v
	}
	return vals
}

// keyString encodes a key so that two keys equal in the index's order encode alike.
func keyString(k indexKey, vals []cache.Value) string { return string(k.appendValues(nil, vals)) }
