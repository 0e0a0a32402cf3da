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
	old := x.colls[collection]
	list, err := loadEntries(collection, defs, func(d Index, failed bool) *entry {
		for _, o := range old {
			if reflect.DeepEqual(o.def, d) && (o.index().Status == StatusFailed) == failed {
				return o
			}
		}
		return nil
	})
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
// built on first use, or FAILED as recorded; reuse, when set, may give an entry already there
// for a definition instead.
func loadEntries(collection string, defs []Index, reuse func(d Index, failed bool) *entry) ([]*entry, error) {
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
		var e *entry
		if reuse != nil {
			e = reuse(d, failed)
		}
		if e == nil {
			e = newEntry(d, StatusActive)
			if failed {
				e.status, e.failure = StatusFailed, def.Failure
			}
		}
		list = append(list, e)
	}
	return list, nil
}
