package cache

// OriginKind tells which producer made a change (DESIGN §4: files and the API are two producers
// of one change type).
type OriginKind uint8

// The producers of changes.
const (
	OriginFile OriginKind = iota + 1 // a file was loaded or edited
	OriginAPI                        // a Wix request
)

// String names the origin for logs.
func (k OriginKind) String() string {
	switch k {
	case OriginFile:
		return "file"
	case OriginAPI:
		return "api"
	}
	return "unknown"
}

// Origin says where a change came from: which producer on which replica, and for file changes
// which file.
type Origin struct {
	Kind    OriginKind
	Replica string
	Path    string
	// File, for a change read from a file of the folder, is the version of the file it leaves,
	// so that other replicas can bring their copy of the file to the same bytes. It travels
	// beside the change (as message headers), not in its wire encoding.
	File *FileVersion
}

// FileVersion names one version of a file of the folder: the file a change was read from, the
// content hashes before and after it, and when it was read (the time its rows' _updatedDate
// took), so that a replica holding the same previous version reaches the same state.
type FileVersion struct {
	Name string // the file's name in the folder
	Hash uint64 // its content hash after the change; 0 when the change removed the file
	Base uint64 // its content hash before; 0 for a new file
	Now  int64  // when the change was read, in ms since the epoch
	// Shipped says the file's bytes were stored for other replicas to fetch; a file too big
	// to ship has its changes written into the other replicas' copies row by row instead.
	Shipped bool
}

// Item is one row as field key to value. In an insert it is the whole row; in an update only the
// fields it names are set (a null value empties the cell). Both carry the row's _id.
type Item map[string]Value

// ID returns the item's _id, or "" when it has none.
func (it Item) ID() string { return it[FieldID].s }

// ChangeSet is one mutation of one collection, applied atomically: readers see the snapshot
// before it or after it, never a mix. The parts apply in this order: Drop or Replace, then
// Schema, Truncate, Remove, Update and Insert.
type ChangeSet struct {
	Collection string
	Origin     Origin
	// BaseVersion, when non-zero, must be the collection's current version, or the change fails
	// with ErrVersionConflict (optimistic concurrency).
	BaseVersion uint64
	// Replace, when set, replaces the whole collection, creating it if needed: a file was loaded
	// or re-read in full.
	Replace *Table
	// Schema, when set, changes the collection's fields to these (columns added to or removed
	// from a file): a field kept with its type keeps its cells; a new field, or one whose type
	// changed, starts empty and the change's updates fill it; a field left out goes.
	Schema *Schema
	// Drop removes the collection.
	Drop     bool
	Truncate bool
	Remove   []string
	Update   []Item
	Insert   []Item
}
