package query

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/sheetsync/sheetsync/cache"
)

// Indexes holds the secondary indexes of every collection: their definitions, their status, and
// for each the sorted rows of the latest snapshots it served. It is safe for concurrent use.
//
// Definitions live here and nowhere else, so the caller persists them (Marshal, Load). Sorted
// rows are derived data: an index is built by Create, and for each later snapshot version on
// first use, incrementally from the version before (derive): after a one-row commit to a million
// rows that costs the next query about 0.1 ms, where sorting again would cost 50 to 200 ms.
type Indexes struct {
	mu    sync.Mutex
	colls map[string][]*entry // by collection, in creation order
}

// NewIndexes returns a registry without indexes.
func NewIndexes() *Indexes { return &Indexes{colls: map[string][]*entry{}} }

// keepBuilt is how many snapshot versions of one index are kept: the current one, and the one
// before for readers still holding it while a commit lands.
const keepBuilt = 2

// entry is one index of one collection.
type entry struct {
	def Index // normalised, without status

	mu       sync.Mutex
	done     sync.Cond // signalled when a build ends
	status   Status
	failure  *Failure
	building bool // one build at a time; other readers scan meanwhile
	recent   [keepBuilt]*built
}

// built is an index over one snapshot: its key resolved there and the live rows in order.
type built struct {
	snap *cache.Snapshot
	key  indexKey
	perm *perm
}

func newEntry(def Index, status Status) *entry {
	e := &entry{def: def, status: status}
	e.done.L = &e.mu
	return e
}

// List returns the indexes of snap's collection: the built-in _id index first when the
// collection has an _id field, then the others in the order they were created.
func (x *Indexes) List(snap *cache.Snapshot) []Index {
	var out []Index
	if _, ok := snap.Schema().Index(cache.FieldID); ok {
		out = append(out, idIndex())
	}
	return append(out, x.Definitions(snap.Name())...)
}

// Create adds an index to snap's collection and builds it over snap, synchronously: it sorts
// the collection once, per million rows about 50 ms for a number or datetime, 100 ms for text,
// 200 ms for case-insensitive text or several fields (BenchmarkIndexBuild, two cores). While it runs,
// List shows the index BUILDING; it returns the index ACTIVE, or FAILED with a Failure when it
// is unique and the data already repeats a key. A caller that wants to answer sooner runs it
// in a goroutine and lists later (spec v3 §6.18). To be sure no write slips past a new unique
// index, create it while no write to the collection is being validated.
//
// Errors (*IndexError, nothing is registered): ErrInvalidIndex for a definition that names no
// field, an unknown or nested field, a field twice or an order other than ASC or DESC;
// ErrIndexExists for a name in use; ErrTooManyIndexes past the limits. A FAILED index gives
// way to a new one of the same name.
func (x *Indexes) Create(snap *cache.Snapshot, def Index) (Index, error) {
	name := snap.Name()
	d, err := normalize(name, def)
	if err != nil {
		return Index{}, err
	}
	if err := checkFields(name, d, snap.Schema()); err != nil {
		return Index{}, err
	}
	e := newEntry(d, StatusBuilding)
	e.building = true
	x.mu.Lock()
	var kept []*entry
	var existing []Index
	for _, o := range x.colls[name] {
		if oi := o.index(); oi.Name != d.Name || oi.Status != StatusFailed {
			kept = append(kept, o)
			existing = append(existing, oi)
		}
	}
	if err := checkLimits(name, d, existing); err != nil {
		x.mu.Unlock()
		return Index{}, err
	}
	x.colls[name] = append(kept, e)
	x.mu.Unlock()

	e.create(snap)
	return e.index(), nil
}

// Remove drops an index. Errors (*IndexError): ErrIndexNotFound, or ErrInvalidIndex for the
// built-in _id index.
func (x *Indexes) Remove(collection, name string) error {
	if name == IDIndexName {
		return &IndexError{Collection: collection, Index: name, Err: ErrInvalidIndex, Detail: "the built-in _id index cannot be removed"}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	list := x.colls[collection]
	i := slices.IndexFunc(list, func(e *entry) bool { return e.def.Name == name })
	if i < 0 {
		return &IndexError{Collection: collection, Index: name, Err: ErrIndexNotFound}
	}
	x.colls[collection] = slices.Delete(slices.Clone(list), i, i+1)
	return nil
}

// Drop forgets every index of a collection, for when the collection is deleted.
func (x *Indexes) Drop(collection string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.colls, collection)
}

// persisted is the stored form of the definitions. Version guards against reading a later,
// different layout.
type persisted struct {
	Version     int                `json:"version"`
	Collections map[string][]Index `json:"collections"`
}

const persistVersion = 1

// Marshal returns every collection's definitions, with their status and failure, as JSON for
// the caller to store.
func (x *Indexes) Marshal() ([]byte, error) {
	p := persisted{Version: persistVersion, Collections: map[string][]Index{}}
	x.mu.Lock()
	colls := make(map[string][]*entry, len(x.colls))
	for name, list := range x.colls {
		colls[name] = list
	}
	x.mu.Unlock()
	for name, list := range colls {
		for _, e := range list {
			p.Collections[name] = append(p.Collections[name], e.index())
		}
	}
	return json.Marshal(p)
}

// Load replaces every definition with those data holds, as Marshal wrote them. Indexes come
// back ACTIVE and are built on first use (FAILED ones stay FAILED), since the data they were
// checked against is the same files. Errors name the first bad definition; nothing changes then.
func (x *Indexes) Load(data []byte) error {
	var p persisted
	if err := json.Unmarshal(data, &p); err != nil {
		return fmt.Errorf("load indexes: %w", err)
	}
	if p.Version != persistVersion {
		return fmt.Errorf("load indexes: version %d, want %d", p.Version, persistVersion)
	}
	colls := make(map[string][]*entry, len(p.Collections))
	for name, defs := range p.Collections {
		list, err := loadEntries(name, defs, nil)
		if err != nil {
			return fmt.Errorf("load indexes: %w", err)
		}
		colls[name] = list
	}
	x.mu.Lock()
	x.colls = colls
	x.mu.Unlock()
	return nil
}

// entries returns the indexes of a collection; nil-safe, so an Engine without Indexes has none.
func (x *Indexes) entries(collection string) []*entry {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.colls[collection]
}

// index returns the definition with its current status.
func (e *entry) index() Index {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.def.clone()
	out.Status, out.Failure = e.status, e.failure
	return out
}

// create is Create's build: it settles the status.
func (e *entry) create(snap *cache.Snapshot) {
	k, _ := resolveKey(&e.def, snap) // Create checked the fields
	p := buildPerm(snap, k)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.building = false
	e.done.Broadcast()
	if e.def.Unique {
		if a, b, dup := firstDuplicate(p, k); dup {
			e.status, e.failure = StatusFailed, duplicateFailure(snap, &e.def, k, a, b)
			return
		}
	}
	e.status = StatusActive
	e.remember(&built{snap: snap, key: k, perm: p})
}

// get returns the index over snap, building it if need be: derived from the newest version
// already built, or from scratch. It returns nil when the index is not ACTIVE, when its
// fields are not all in snap's schema, or, unless wait is set, while another build runs: a
// query then scans rather than queue behind it. With wait set it also waits out a BUILDING index.
func (e *entry) get(snap *cache.Snapshot, wait bool) *built {
	e.mu.Lock()
	for {
		if e.status != StatusActive && (!wait || e.status != StatusBuilding) {
			e.mu.Unlock()
			return nil
		}
		if b := e.find(snap); b != nil {
			e.mu.Unlock()
			return b
		}
		if !e.building {
			break
		}
		if !wait {
			e.mu.Unlock()
			return nil
		}
		e.done.Wait()
	}
	k, ok := resolveKey(&e.def, snap)
	if !ok {
		e.mu.Unlock()
		return nil
	}
	prev := e.recent[0]
	e.building = true
	e.mu.Unlock()

	var p *perm
	derived := false
	if prev != nil {
		p, derived = derive(prev.perm, prev.snap, prev.key, snap, k)
	}
	if !derived {
		p = buildPerm(snap, k)
	}
	b := &built{snap: snap, key: k, perm: p}
	e.mu.Lock()
	e.building = false
	e.done.Broadcast()
	e.remember(b)
	e.mu.Unlock()
	return b
}

// find returns the index built over exactly this snapshot. Snapshots are compared by identity:
// versions of snapshots made outside a Store are all 0.
func (e *entry) find(snap *cache.Snapshot) *built {
	for _, b := range e.recent {
		if b != nil && b.snap == snap {
			return b
		}
	}
	return nil
}

// remember keeps b among the recent builds, newest version first.
func (e *entry) remember(b *built) {
	if e.recent[0] == nil || b.snap.Version() >= e.recent[0].snap.Version() {
		copy(e.recent[1:], e.recent[:keepBuilt-1])
		e.recent[0] = b
		return
	}
	e.recent[keepBuilt-1] = b
}

// duplicateFailure describes the two rows that keep a unique index from being built. The code
// is the protocol's for an item that already exists (spec v3 §4.2).
func duplicateFailure(snap *cache.Snapshot, def *Index, k indexKey, a, b cache.RowID) *Failure {
	vals := keyValues(k, b)
	ids := []string{rowID(snap, a), rowID(snap, b)}
	return &Failure{
		ErrorCode: "ITEM_ALREADY_EXISTS",
		ErrorMessage: fmt.Sprintf("cannot build unique index %q: items %q and %q both have %s",
			def.Name, ids[0], ids[1], describeKey(def.paths(), vals)),
		Data: map[string]any{"indexName": def.Name, "fields": def.paths(), "values": valueStrings(vals), "itemIds": ids},
	}
}

func keyValues(k indexKey, r cache.RowID) []cache.Value {
	vals := make([]cache.Value, len(k))
	for j := range k {
		vals[j] = k[j].col.Value(r)
	}
	return vals
}

// rowID names a row by its _id, or by its place when the collection has none.
func rowID(snap *cache.Snapshot, r cache.RowID) string {
	if i, ok := snap.Schema().Index(cache.FieldID); ok {
		return snap.Value(r, i).Str()
	}
	return fmt.Sprintf("row %d", int(r.Chunk())*cache.ChunkSize+r.Offset()+1)
}

func valueStrings(vals []cache.Value) []string {
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.String()
	}
	return out
}

// describeKey renders a key for messages: `sku "A-1"` or `(sku, size) ("A-1", 42)`.
func describeKey(paths []string, vals []cache.Value) string {
	if len(paths) == 1 {
		return fmt.Sprintf("%s %s", paths[0], quoteValue(vals[0]))
	}
	s, v := "(", "("
	for i := range paths {
		if i > 0 {
			s += ", "
			v += ", "
		}
		s += paths[i]
		v += quoteValue(vals[i])
	}
	return s + ") " + v + ")"
}

func quoteValue(v cache.Value) string {
	if v.Kind() == cache.KindText {
		return fmt.Sprintf("%q", v.Str())
	}
	return v.String()
}
