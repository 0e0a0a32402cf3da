package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"

	"github.com/sheetsync/sheetsync/cache"
)

// wireItem is one item of a write as the caller sent it: field key to decoded JSON value
// (string, json.Number, bool, nil, map[string]any or []any).
type wireItem map[string]any

// decodeWireItem reads one item of a write. Numbers stay json.Number so that a value beyond
// float64 is reported against its field, not as a broken request.
func decodeWireItem(raw json.RawMessage) (wireItem, *apiError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var it wireItem
	if err := dec.Decode(&it); err != nil || it == nil {
		what := "not a JSON object"
		if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' && err != nil {
			what = "not valid JSON: " + err.Error()
		}
		return nil, itemViolation("", nil, "the item is "+what)
	}
	return it, nil
}

// wireAliases are the names Wix's JavaScript SDK gives the system fields (spec v3 §3, §13.6).
// An item may carry them instead of the underscored names; they are read as the system field
// only when the item lacks the underscored key and the collection has no field of that name.
var wireAliases = map[string]string{"id": cache.FieldID, "createdDate": cache.FieldCreatedDate, "updatedDate": cache.FieldUpdatedDate}

// resolve renames aliased system fields, then checks that every key is a field of the
// collection. A system field the collection lacks is dropped: Wix sends _createdDate and
// _owner on every insert, and a spreadsheet that chose not to keep them is no reason to refuse
// the item. Any other unknown key is a VALIDATION_ERROR naming it: a field is a column of the
// file, and adding one is a change of the collection, not of an item (the reference adaptor
// drops unknown keys silently, which loses what the caller sent without saying so).
func (it wireItem) resolve(snap *cache.Snapshot) *apiError {
	schema := snap.Schema()
	for alias, key := range wireAliases {
		if v, ok := it[alias]; ok {
			if _, real := schema.Index(alias); real {
				continue
			}
			if _, has := it[key]; !has {
				it[key] = v
			}
			delete(it, alias)
		}
	}
	var unknown []string
	for key := range it {
		if _, ok := schema.Index(key); ok {
			continue
		}
		if _, system := cache.SystemFieldType(key); system {
			delete(it, key)
			continue
		}
		unknown = append(unknown, key)
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	key := unknown[0]
	return itemViolation(key, it[key], fmt.Sprintf("field %q does not exist in collection %q; a new field is a new column, added to the file or by updating the collection", key, snap.Name()))
}

// fieldValue converts a JSON value to a value of f's type (spec v3 §8.2, legacy §8): text as a
// string, number as a number, boolean as true/false, datetime as {"$date": "<ISO 8601>"} or the
// bare ISO string legacy v1 callers send (legacy §15.12); null empties the cell. Anything else is
// refused, never stored as text.
func fieldValue(f cache.Field, v any) (cache.Value, *apiError) {
	if v == nil {
		return cache.Null(), nil
	}
	bad := func(why string) (cache.Value, *apiError) {
		return cache.Value{}, itemViolation(f.Key, v, fmt.Sprintf("%s is a %s field, %s", f.Key, f.Type, why))
	}
	switch f.Type {
	case cache.TypeText:
		if s, ok := v.(string); ok {
			return cache.Text(s), nil
		}
		if m, ok := v.(map[string]any); ok && f.Ref != "" {
			// a reference may come as the referenced item itself: its _id is what is stored
			if id, ok := m[cache.FieldID].(string); ok {
				return cache.Text(id), nil
			}
		}
	case cache.TypeNumber:
		if n, ok := v.(json.Number); ok {
			x, err := strconv.ParseFloat(string(n), 64)
			if err != nil || math.IsInf(x, 0) {
				// rejectedValue as text: a JSON reader may not take the number back either
				return cache.Value{}, itemViolation(f.Key, string(n), fmt.Sprintf("%s is a %s field, and %s is beyond what it can hold", f.Key, f.Type, n))
			}
			return cache.Number(x), nil
		}
	case cache.TypeBoolean:
		if b, ok := v.(bool); ok {
			return cache.Bool(b), nil
		}
	case cache.TypeDateTime:
		s, isText := v.(string)
		if m, ok := v.(map[string]any); ok && isDateValue(m) {
			if s, isText = m["$date"].(string); !isText {
				return bad(fmt.Sprintf("and $date holds %s, not an ISO 8601 date-time", describeJSON(m["$date"])))
			}
		}
		if isText {
			if ms, ok := cache.ParseTime(s); ok {
				return cache.Time(ms), nil
			}
			return bad(fmt.Sprintf("and %q is not an ISO 8601 date-time", s))
		}
	}
	return bad("got " + describeJSON(v))
}

// describeJSON names a JSON value for a message: its kind, and the value when it is short.
func describeJSON(v any) string {
	switch t := v.(type) {
	case string:
		if len(t) > 40 {
			return "text"
		}
		return fmt.Sprintf("text %q", t)
	case json.Number:
		return "number " + string(t)
	case bool:
		return "boolean " + strconv.FormatBool(t)
	case map[string]any:
		if isDateValue(t) {
			return "a {\"$date\": ...} date"
		}
	}
	return kindOf(v)
}

// itemViolation is a VALIDATION_ERROR about one field of one item, in the shape spec v3 §4.2
// gives it: data.violations[] = {fieldPath, rejectedValue, message}.
func itemViolation(fieldPath string, rejected any, message string) *apiError {
	violation := map[string]any{"fieldPath": fieldPath, "message": message}
	if rejected != nil {
		violation["rejectedValue"] = rejected
	}
	return &apiError{status: http.StatusBadRequest, code: codeValidation, message: message,
		data: map[string]any{"violations": []map[string]any{violation}}}
}
