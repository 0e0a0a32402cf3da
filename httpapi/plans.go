package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/sheetsync/sheetsync/cache"
)

// The plans below decide a write item by item against one snapshot, the same way for both
// protocols: which items go into the change, and why the others do not. They run again on a
// newer snapshot when the commit loses a race (writes.go), so they depend on nothing else.

// itemOutcome is what became of one item of a write: the _id of the row it wrote or removed, or
// why it was left out of the change. Bulk answers carry one per input item, in input order
// (spec v3 §4.3).
type itemOutcome struct {
	id  string
	err *apiError
}

// writeStamp is what a write takes from its request rather than from its items: the instant it
// stamps system dates with (one for the whole request), and who to name as the _owner of an
// inserted item that names none.
type writeStamp struct {
	now   int64 // milliseconds since the Unix epoch
	owner string
}

// planInsert decides an insert (spec v3 §6.5, legacy §12.11). An item without _id gets a new
// UUID; _createdDate and _updatedDate are stamped only when the item does not carry them (the
// reference adaptor's tests send both and expect them back unchanged); _owner comes from the
// item, else from the caller. An _id that exists, or repeats one earlier in the request, is
// ITEM_ALREADY_EXISTS and changes nothing.
func planInsert(snap *cache.Snapshot, items []json.RawMessage, st writeStamp) (*cache.ChangeSet, []itemOutcome) {
	out := make([]itemOutcome, len(items))
	cs := &cache.ChangeSet{}
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		item, err := insertItem(snap, raw, st)
		if err == nil {
			id := item.ID()
			if _, exists := snap.Lookup(id); exists || seen[id] {
				err = errItemExists(snap.Name(), id)
			} else {
				seen[id] = true
				cs.Insert = append(cs.Insert, item)
			}
			out[i].id = id
		}
		out[i].err = err
	}
	if len(cs.Insert) == 0 {
		return nil, out
	}
	return cs, out
}

// insertItem builds the row an insert stores. A null or absent field is an empty cell.
func insertItem(snap *cache.Snapshot, raw json.RawMessage, st writeStamp) (cache.Item, *apiError) {
	in, err := decodeWireItem(raw)
	if err != nil {
		return nil, err
	}
	if err := in.resolve(snap); err != nil {
		return nil, err
	}
	schema := snap.Schema()
	item := make(cache.Item, schema.Len())
	for i := range schema.Len() {
		f := schema.Field(i)
		v, sent := in[f.Key]
		sent = sent && v != nil
		if f.ReadOnly {
			if sent {
				return nil, errReadOnlyField(f, v)
			}
			continue
		}
		switch {
		case sent:
		case f.Key == cache.FieldID:
			item[f.Key] = cache.Text(uuid.NewString())
			continue
		case f.Key == cache.FieldCreatedDate || f.Key == cache.FieldUpdatedDate:
			item[f.Key] = cache.Time(st.now)
			continue
		case f.Key == cache.FieldOwner && st.owner != "":
			item[f.Key] = cache.Text(st.owner)
			continue
		default:
			continue
		}
		val, err := fieldValue(f, v)
		if err != nil {
			return nil, err
		}
		if f.Key == cache.FieldID && val.Str() == "" {
			val = cache.Text(uuid.NewString()) // an empty _id cannot address an item
		}
		item[f.Key] = val
	}
	return item, nil
}

// planUpdate decides an update (spec v3 §6.6, legacy §12.13). Every item must carry the _id of
// an existing item (else ITEM_NOT_FOUND, or a VALIDATION_ERROR without _id). The item REPLACES
// the stored one: a field it leaves out becomes empty, except the system fields, which keep
// their stored value unless sent (spec v3 §13.8: _createdDate and _owner), and _updatedDate,
// which is the request's if sent, else now. An item that names the same _id as a later one in
// the request is overridden by it, as two updates in a row would be.
func planUpdate(snap *cache.Snapshot, items []json.RawMessage, st writeStamp) (*cache.ChangeSet, []itemOutcome) {
	out := make([]itemOutcome, len(items))
	cs := &cache.ChangeSet{}
	at := make(map[string]int, len(items)) // _id -> its item in cs.Update
	for i, raw := range items {
		item, err := updateItem(snap, raw, st)
		out[i].err = err
		if err != nil {
			continue
		}
		id := item.ID()
		out[i].id = id
		if j, ok := at[id]; ok {
			cs.Update[j] = item
			continue
		}
		at[id] = len(cs.Update)
		cs.Update = append(cs.Update, item)
	}
	if len(cs.Update) == 0 {
		return nil, out
	}
	return cs, out
}

// updateItem builds the cells an update sets; the cells it leaves out keep their value. A
// read-only (formula) field is never set: sending it back unchanged, or as null, is how a
// replacing client such as Wix's CMS echoes a field it cannot edit, and is accepted; any other
// value is a VALIDATION_ERROR.
func updateItem(snap *cache.Snapshot, raw json.RawMessage, st writeStamp) (cache.Item, *apiError) {
	in, err := decodeWireItem(raw)
	if err != nil {
		return nil, err
	}
	if err := in.resolve(snap); err != nil {
		return nil, err
	}
	id, ok := in[cache.FieldID].(string)
	if !ok || id == "" {
		return nil, itemViolation(cache.FieldID, in[cache.FieldID], "every item of an update needs its _id as text")
	}
	row, found := snap.Lookup(id)
	if !found {
		return nil, errItemMissing(snap.Name(), id)
	}
	schema := snap.Schema()
	item := make(cache.Item, schema.Len())
	item[cache.FieldID] = cache.Text(id)
	for i := range schema.Len() {
		f := schema.Field(i)
		v, sent := in[f.Key]
		sent = sent && v != nil
		switch {
		case f.Key == cache.FieldID:
			continue
		case f.ReadOnly:
			if sent {
				if val, err := fieldValue(f, v); err != nil || !val.Equal(snap.Value(row, i)) {
					return nil, errReadOnlyField(f, v)
				}
			}
			continue
		case sent:
		case f.Key == cache.FieldCreatedDate || f.Key == cache.FieldOwner:
			continue // kept as stored
		case f.Key == cache.FieldUpdatedDate:
			item[f.Key] = cache.Time(st.now)
			continue
		default:
			item[f.Key] = cache.Null()
			continue
		}
		val, err := fieldValue(f, v)
		if err != nil {
			return nil, err
		}
		item[f.Key] = val
	}
	return item, nil
}

// planRemove decides a remove (spec v3 §6.7, legacy §12.15): an _id that names no item is
// ITEM_NOT_FOUND. An _id given twice is removed once and reported removed both times.
func planRemove(snap *cache.Snapshot, ids []string) (*cache.ChangeSet, []itemOutcome) {
	out := make([]itemOutcome, len(ids))
	cs := &cache.ChangeSet{}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		out[i].id = id
		if _, ok := snap.Lookup(id); !ok {
			out[i].err = errItemMissing(snap.Name(), id)
			continue
		}
		if !seen[id] {
			seen[id] = true
			cs.Remove = append(cs.Remove, id)
		}
	}
	if len(cs.Remove) == 0 {
		return nil, out
	}
	return cs, out
}

// errItemExists is ITEM_ALREADY_EXISTS (spec v3 §4.2, data {itemId}). Its message starts with
// the reference adaptor's "Item already exists", which its tests look for (spec v3 §12.13).
// The legacy protocol answers 400 with the same text (legacy §6, §15.5).
func errItemExists(collection, id string) *apiError {
	return &apiError{status: http.StatusConflict, legacyStatus: legacyDuplicateStatus, code: codeItemAlreadyExists,
		message: fmt.Sprintf("Item already exists: an item with _id %q is already in collection %q", id, collection),
		data:    map[string]any{"itemId": id}}
}

// legacyDuplicateStatus is the legacy status of an insert whose _id exists: 400 as the reference
// adaptor answers, since Wix shows only the message (legacy §15.5).
const legacyDuplicateStatus = http.StatusBadRequest

// itemMissingPrefix starts the message of ITEM_NOT_FOUND as the reference adaptor words it; its
// tests look for this text (spec v3 §12.17). legacyItemError rewords it as /data/get does.
const itemMissingPrefix = "Item doesn't exists: "

// errItemMissing is ITEM_NOT_FOUND (spec v3 §4.2, data {itemId}).
func errItemMissing(collection, id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeItemNotFound,
		message: fmt.Sprintf("%sno item with _id %q in collection %q", itemMissingPrefix, id, collection),
		data:    map[string]any{"itemId": id}}
}

// legacyItemMessage rewords an item error for the legacy protocol, whose missing item is "Item
// not found" (legacy §6).
func legacyItemMessage(ae *apiError) string {
	if rest, ok := strings.CutPrefix(ae.message, itemMissingPrefix); ok {
		return "Item not found: " + rest
	}
	return ae.message
}

// errReadOnlyField refuses a value for a field the API cannot write (DESIGN §3: a column of
// formulas is served with the values the file computed).
func errReadOnlyField(f cache.Field, v any) *apiError {
	return itemViolation(f.Key, v, fmt.Sprintf("%s is read-only: its values are computed by formulas in the file", f.Key))
}
