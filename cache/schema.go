package cache

import "fmt"

// FieldType is the type of a field (a column). Every cell of a column holds a value of its
// field's type or is empty.
type FieldType uint8

// The field types a spreadsheet column can have (DESIGN §3).
const (
	TypeText FieldType = iota + 1
	TypeNumber
	TypeBoolean
	TypeDateTime
)

// String names the type in lower case, as logs and the legacy protocol spell it.
func (t FieldType) String() string {
	switch t {
	case TypeText:
		return "text"
	case TypeNumber:
		return "number"
	case TypeBoolean:
		return "boolean"
	case TypeDateTime:
		return "datetime"
	}
	return fmt.Sprintf("FieldType(%d)", uint8(t))
}

// Kind returns the kind of value a field of this type holds.
func (t FieldType) Kind() Kind {
	switch t {
	case TypeText:
		return KindText
	case TypeNumber:
		return KindNumber
	case TypeBoolean:
		return KindBool
	case TypeDateTime:
		return KindTime
	}
	return KindNull
}

// The system fields Wix needs on every read-write collection. They live in the files as
// visible columns at the right (DESIGN §3).
const (
	FieldID          = "_id"
	FieldCreatedDate = "_createdDate"
	FieldUpdatedDate = "_updatedDate"
	FieldOwner       = "_owner"
)

// SystemFields lists the system fields in the order they are added to a file.
var SystemFields = []Field{
	{Key: FieldID, Type: TypeText},
	{Key: FieldCreatedDate, Type: TypeDateTime},
	{Key: FieldUpdatedDate, Type: TypeDateTime},
	{Key: FieldOwner, Type: TypeText},
}

// SystemFieldType returns the fixed type of a system field, and false for any other key.
func SystemFieldType(key string) (FieldType, bool) {
	for _, f := range SystemFields {
		if f.Key == key {
			return f.Type, true
		}
	}
	return 0, false
}

// Field describes one column of a collection.
type Field struct {
	Key  string
	Type FieldType
	// ReadOnly marks a field whose values come from the file and cannot be written through the
	// API, such as a spreadsheet column of formulas.
	ReadOnly bool
	// Ref, for a reference field, names the collection whose items its values are the _id of.
	// Such a field is text (a column of ids); Ref is what it was declared as through the API.
	Ref string
}

// Schema is the ordered list of a collection's fields. It is immutable.
type Schema struct {
	fields []Field
	index  map[string]int
}

// NewSchema checks and returns a schema: keys must be non-empty and unique, and system fields
// must have their fixed types.
func NewSchema(fields []Field) (*Schema, error) {
	s := &Schema{fields: append([]Field(nil), fields...), index: make(map[string]int, len(fields))}
	for i, f := range s.fields {
		if f.Key == "" {
			return nil, &ValidationError{Field: f.Key, Reason: "field key is empty"}
		}
		if f.Type < TypeText || f.Type > TypeDateTime {
			return nil, &ValidationError{Field: f.Key, Reason: "unknown field type"}
		}
		if _, dup := s.index[f.Key]; dup {
			return nil, &ValidationError{Field: f.Key, Reason: "duplicate field key"}
		}
		if t, ok := SystemFieldType(f.Key); ok && t != f.Type {
			return nil, &ValidationError{Field: f.Key, Reason: fmt.Sprintf("system field must be %s", t)}
		}
		if f.Ref != "" && f.Type != TypeText {
			return nil, &ValidationError{Field: f.Key, Reason: "a reference field holds _id values, so it is text"}
		}
		s.index[f.Key] = i
	}
	return s, nil
}

// MustSchema is NewSchema for fixed schemas in tests and examples; it panics on error.
func MustSchema(fields ...Field) *Schema {
	s, err := NewSchema(fields)
	if err != nil {
		panic(err)
	}
	return s
}

// Len returns the number of fields.
func (s *Schema) Len() int { return len(s.fields) }

// Field returns the i-th field.
func (s *Schema) Field(i int) Field { return s.fields[i] }

// Fields returns a copy of the fields in order.
func (s *Schema) Fields() []Field { return append([]Field(nil), s.fields...) }

// Index returns the position of the field with the given key.
func (s *Schema) Index(key string) (int, bool) {
	i, ok := s.index[key]
	return i, ok
}

// Lookup returns the field with the given key.
func (s *Schema) Lookup(key string) (Field, bool) {
	i, ok := s.index[key]
	if !ok {
		return Field{}, false
	}
	return s.fields[i], true
}

// HasReadOnlyFields reports whether any field is read-only.
func (s *Schema) HasReadOnlyFields() bool {
	for _, f := range s.fields {
		if f.ReadOnly {
			return true
		}
	}
	return false
}

// Check reports whether v may be stored in a field of type t: null always, otherwise a value
// of the type's kind.
func (t FieldType) Check(v Value) bool { return v.k == KindNull || v.k == t.Kind() }
