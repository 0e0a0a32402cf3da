package query

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// Definitions returns the indexes of one collection as Marshal stores them (with status and
// failure), in creation order; nil when it has none.
func (x *Indexes) Definitions(collection string) []Index {
	var out []Index
	for _, e := range x.entries(collection) {
		out = append(out, e.index())
	}
	return out
}

// Replace sets the indexes of one collection to defs, as Definitions gave them on another
// replica: every replica then answers with, and enforces, the same indexes. An index whose
// definition is unchanged keeps what it built; a new one comes back ACTIVE and is built on first
// use, as Load does (the replicas hold the same data), and a FAILED one stays FAILED. An empty
// defs drops the collection's indexes. Errors name the first bad definition; nothing changes then.
func (x *Indexes) Replace(collection string, defs []Index) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	list, err := loadEntries(collection, defs, x.colls[collection])
	if err != nil {
		return fmt.Errorf("index definitions of %s: %w", collection, err)
	}
	if len(list) == 0 {
		delete(x.colls, collection)
	} else {
		x.colls[collection] = list
	}
	return nil
}

// Collections returns the collections that have indexes, sorted.
func (x *Indexes) Collections() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Sorted(maps.Keys(x.colls))
}

// loadEntries checks stored definitions (Load, Replace) and returns their entries, ACTIVE to be
// built on first use, or FAILED as recorded; an entry of old with the same definition and
// outcome is kept instead, with what it built.
func loadEntries(collection string, defs []Index, old []*entry) ([]*entry, error) {
	var list []*entry
	var existing []Index
	for _, def := range defs {
		d, err := normalize(collection, def)
		if err == nil {
			err = checkLimits(collection, d, existing)
		}
		if err != nil {
			return nil, err
		}
		existing = append(existing, d)
		failed := def.Status == StatusFailed
		i := slices.IndexFunc(old, func(o *entry) bool { return reflect.DeepEqual(o.def, d) && o.failed() == failed })
		if i >= 0 {
			list = append(list, old[i])
			continue
		}
		e := newEntry(d, StatusActive)
		if failed {
			e.status, e.failure = StatusFailed, def.Failure
		}
		list = append(list, e)
	}
	return list, nil
}

// failed reports whether the index failed (a unique one over repeated keys).
func (e *entry) failed() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status == StatusFailed
}
