package query

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// Limits on a collection's indexes, the numbers capabilities advertise as indexOptions (spec v3
// §6.16). The _id index every collection has does not count.
const (
	MaxRegularIndexes = 10
	MaxUniqueIndexes  = 10
	MaxIndexes        = 20
)

// IDIndexName names the index every collection with an _id field has: the store's own hash
// index on _id, listed first and never created or removed (spec v3 §13, indexes test 31).
const IDIndexName = "_id_"

// Order is the direction of one field of an index.
type Order string

// The two directions; an empty Order means Asc (spec v3 §6.17).
const (
	Asc  Order = "ASC"
	Desc Order = "DESC"
)

// Status is where an index stands (spec v3 §6.17).
type Status string

// The statuses an index reports. BUILDING lasts while Create sorts the collection; a unique
// index over data that already repeats a key ends FAILED, with a Failure saying which.
const (
	StatusBuilding Status = "BUILDING"
	StatusActive   Status = "ACTIVE"
	StatusFailed   Status = "FAILED"
)

// IndexField is one key of an index: a top-level field and its direction.
type IndexField struct {
	Path  string `json:"path"`
	Order Order  `json:"order,omitempty"`
}

// Failure says why an index is FAILED, in the shape of the protocol's error object (errorCode,
// errorMessage, data; spec v3 §4.1), so the HTTP layer can send it as it is.
type Failure struct {
	ErrorCode    string         `json:"errorCode"`
	ErrorMessage string         `json:"errorMessage"`
	Data         map[string]any `json:"data,omitempty"`
}

// Index is a secondary index of a collection: its definition (Name, Fields, Unique,
// CaseInsensitive) and, in what Indexes returns, its Status and Failure. Definitions are
// JSON-friendly so that callers can persist them (see Indexes.Marshal).
type Index struct {
	Name   string       `json:"name"`
	Fields []IndexField `json:"fields"`
	// Unique makes writes that would repeat a key fail (Indexes.CheckUnique). Rows with an empty
	// cell in any of the fields are exempt, as NULL is in SQL unique indexes: spreadsheets are
	// full of empty cells.
	Unique bool `json:"unique"`
	// CaseInsensitive compares text case-folded, so a unique index treats "ABC" and "abc" as
	// one key. Query filters stay case-sensitive (spec v3 §13.15); such an index still narrows
	// an $eq or $in on its text field, but cannot serve a text range or a sort on it.
	CaseInsensitive bool     `json:"caseInsensitive"`
	Status          Status   `json:"status,omitempty"`
	Failure         *Failure `json:"failure,omitempty"`
}

// Errors of index definitions and unique keys. They come wrapped in *IndexError or *UniqueError.
var (
	ErrInvalidIndex   = errors.New("invalid index")
	ErrIndexExists    = errors.New("index already exists")
	ErrIndexNotFound  = errors.New("index not found")
	ErrTooManyIndexes = errors.New("too many indexes")
	ErrDuplicateKey   = errors.New("duplicate key")
)

// IndexError is an index definition or request that cannot be honoured: which collection,
// index and field, and why.
type IndexError struct {
	Collection string
	Index      string
	Field      string
	Err        error // one of the sentinels above
	Detail     string
}

func (e *IndexError) Error() string {
	var b strings.Builder
	if e.Collection != "" {
		fmt.Fprintf(&b, "collection %s: ", e.Collection)
	}
	if e.Index != "" {
		fmt.Fprintf(&b, "index %q: ", e.Index)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *IndexError) Unwrap() error { return e.Err }

// maxIndexNameLen bounds index names; a name is echoed in every list and error.
const maxIndexNameLen = 128

// normalize checks def's own shape (not yet against a schema) and returns the definition as it
// is kept: orders spelled out, status and failure dropped.
func normalize(collection string, def Index) (Index, error) {
	bad := func(field, detail string) error {
		return &IndexError{Collection: collection, Index: def.Name, Field: field, Err: ErrInvalidIndex, Detail: detail}
	}
	switch {
	case def.Name == "":
		return Index{}, bad("", "the index has no name")
	case len(def.Name) > maxIndexNameLen:
		return Index{}, bad("", fmt.Sprintf("the name is longer than %d bytes", maxIndexNameLen))
	case def.Name == IDIndexName:
		return Index{}, &IndexError{Collection: collection, Index: def.Name, Err: ErrIndexExists, Detail: "it is the built-in _id index"}
	case len(def.Fields) == 0:
		return Index{}, bad("", "the index has no fields")
	}
	out := Index{Name: def.Name, Unique: def.Unique, CaseInsensitive: def.CaseInsensitive}
	seen := map[string]bool{}
	for _, f := range def.Fields {
		if f.Path == "" {
			return Index{}, bad("", "a field has an empty path")
		}
		if seen[f.Path] {
			return Index{}, bad(f.Path, "the field is listed twice")
		}
		seen[f.Path] = true
		switch o := Order(strings.ToUpper(string(f.Order))); o {
		case "", Asc:
			out.Fields = append(out.Fields, IndexField{Path: f.Path, Order: Asc})
		case Desc:
			out.Fields = append(out.Fields, IndexField{Path: f.Path, Order: Desc})
		default:
			return Index{}, bad(f.Path, fmt.Sprintf("order %q is neither ASC nor DESC", f.Order))
		}
	}
	return out, nil
}

// checkFields checks that every field of def is a top-level field of schema. A path with a dot
// names a nested field (options.price), which columns cannot hold, unless the schema has a
// column with exactly that key.
func checkFields(collection string, def Index, schema *cache.Schema) error {
	for _, f := range def.Fields {
		if _, ok := schema.Index(f.Path); ok {
			continue
		}
		e := &IndexError{Collection: collection, Index: def.Name, Field: f.Path, Err: ErrInvalidIndex, Detail: "no such field"}
		if strings.Contains(f.Path, ".") {
			e.Detail = "nested paths are not supported, only top-level fields"
		}
		return e
	}
	return nil
}

// checkLimits checks that a collection holding existing can take def as well.
func checkLimits(collection string, def Index, existing []Index) error {
	unique := 0
	for _, x := range existing {
		if x.Name == def.Name {
			return &IndexError{Collection: collection, Index: def.Name, Err: ErrIndexExists}
		}
		if x.Unique {
			unique++
		}
	}
	tooMany := func(detail string) error {
		return &IndexError{Collection: collection, Index: def.Name, Err: ErrTooManyIndexes, Detail: detail}
	}
	switch {
	case len(existing) >= MaxIndexes:
		return tooMany(fmt.Sprintf("a collection has at most %d", MaxIndexes))
	case def.Unique && unique >= MaxUniqueIndexes:
		return tooMany(fmt.Sprintf("a collection has at most %d unique indexes", MaxUniqueIndexes))
	case !def.Unique && len(existing)-unique >= MaxRegularIndexes:
		return tooMany(fmt.Sprintf("a collection has at most %d regular indexes", MaxRegularIndexes))
	}
	return nil
}

// idIndex is the entry List shows for the store's own _id index.
func idIndex() Index {
	return Index{Name: IDIndexName, Fields: []IndexField{{Path: cache.FieldID, Order: Asc}}, Unique: true, Status: StatusActive}
}

func (d *Index) paths() []string {
	out := make([]string, len(d.Fields))
	for i, f := range d.Fields {
		out[i] = f.Path
	}
	return out
}

func (d *Index) clone() Index {
	c := *d
	c.Fields = append([]IndexField(nil), d.Fields...)
	return c
}
