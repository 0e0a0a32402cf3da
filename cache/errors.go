package cache

import (
	"errors"
	"fmt"
)

// Sentinel errors of the domain. Adapters map them to protocol error codes with errors.Is.
var (
	ErrCollectionNotFound = errors.New("collection not found")
	ErrCollectionExists   = errors.New("collection already exists")
	ErrItemNotFound       = errors.New("item not found")
	ErrDuplicateID        = errors.New("duplicate _id")
	ErrVersionConflict    = errors.New("version conflict")
	ErrReadOnly           = errors.New("read-only")
	// ErrUnavailable is a change that cannot be committed because the change log (NATS
	// JetStream) cannot be reached; reads keep working from memory.
	ErrUnavailable = errors.New("the change log is unavailable")
	// ErrNotApplied is a change committed to the change log that this replica has not applied
	// yet: it is not lost (every replica applies it), but this one cannot serve it yet.
	ErrNotApplied = errors.New("committed to the change log but not yet applied on this replica")
	// ErrOutcomeUnknown is a change sent to the change log that got no answer, whose presence in
	// the log could not be checked either (NATS did not come back in time): it may be there.
	ErrOutcomeUnknown = errors.New("the change log did not confirm the write")
)

// ErrReadOnlyServer is ErrReadOnly for a server started with --read-only: every collection
// refuses writes by choice, not because of a problem to fix.
var ErrReadOnlyServer = fmt.Errorf("%w: sheetsync runs with --read-only", ErrReadOnly)

// ValidationError says which field of which collection a change or schema got wrong, and why.
type ValidationError struct {
	Collection string
	Field      string
	Reason     string
}

func (e *ValidationError) Error() string {
	switch {
	case e.Collection != "" && e.Field != "":
		return fmt.Sprintf("collection %s: field %s: %s", e.Collection, e.Field, e.Reason)
	case e.Field != "":
		return fmt.Sprintf("field %s: %s", e.Field, e.Reason)
	case e.Collection != "":
		return fmt.Sprintf("collection %s: %s", e.Collection, e.Reason)
	}
	return e.Reason
}

// SchemaChangeError is a change of a collection's structure that cannot be made, with the reason
// for each field it concerns (v3 COLLECTION_CHANGE_NOT_SUPPORTED). Nothing was changed.
type SchemaChangeError struct {
	Collection string
	Reason     string       // for the change as a whole, when it is not one field's
	Fields     []FieldError // by field
}

// FieldError is why one field cannot be changed.
type FieldError struct {
	Key     string
	Message string
}

func (e *SchemaChangeError) Error() string {
	msg := "collection " + e.Collection + ": "
	if e.Reason != "" {
		msg += e.Reason
	}
	for i, f := range e.Fields {
		if i > 0 || e.Reason != "" {
			msg += "; "
		}
		msg += "field " + f.Key + ": " + f.Message
	}
	return msg
}
