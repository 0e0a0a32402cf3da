package httpapi

import (
	"context"
	"maps"
	"slices"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// Field types and operators as each protocol names them. Collections advertise exactly the
// operators query implements for the type, so Wix offers only filters that work (spec v3 §9.3,
// legacy §7.3).
var (
	v3FieldTypes = map[cache.FieldType]string{
		cache.TypeText: "TEXT", cache.TypeNumber: "NUMBER", cache.TypeBoolean: "BOOLEAN", cache.TypeDateTime: "DATETIME",
	}
	v3Operators = map[cache.FieldType][]string{
		cache.TypeText:     {"EQ", "NE", "LT", "LTE", "GT", "GTE", "HAS_SOME", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EXISTS", "URLIZED"},
		cache.TypeNumber:   {"EQ", "NE", "LT", "LTE", "GT", "GTE", "HAS_SOME", "EXISTS"},
		cache.TypeBoolean:  {"EQ", "NE", "HAS_SOME", "EXISTS"},
		cache.TypeDateTime: {"EQ", "NE", "LT", "LTE", "GT", "GTE", "HAS_SOME", "EXISTS"},
	}
	legacyOperators = map[cache.FieldType][]string{
		cache.TypeText:     {"eq", "ne", "gt", "gte", "lt", "lte", "hasSome", "contains", "startsWith", "endsWith", "matches", "urlized"},
		cache.TypeNumber:   {"eq", "ne", "gt", "gte", "lt", "lte", "hasSome"},
		cache.TypeBoolean:  {"eq", "ne"},
		cache.TypeDateTime: {"eq", "ne", "gt", "gte", "lt", "lte", "hasSome"},
	}
	// v3ReadOperations are the data operations of a collection that cannot be written now;
	// v3WriteOperations those of one that can (spec v3 §7.1: advertise only what is implemented,
	// so references are never listed).
	v3ReadOperations  = []string{"QUERY", "COUNT", "AGGREGATE", "DISTINCT"}
	v3WriteOperations = []string{"QUERY", "COUNT", "AGGREGATE", "DISTINCT", "INSERT", "UPDATE", "REMOVE", "TRUNCATE"}
)

type v3FieldCapabilities struct {
	Sortable       bool     `json:"sortable"`
	QueryOperators []string `json:"queryOperators"`
}

type v3Field struct {
	Key                    string              `json:"key"`
	Type                   string              `json:"type"`
	Capabilities           v3FieldCapabilities `json:"capabilities"`
	SingleReferenceOptions *v3ReferenceOptions `json:"singleReferenceOptions,omitempty"`
}

// v3ReferenceOptions are a reference field's options (spec v3 §7.2), flattened onto the field.
type v3ReferenceOptions struct {
	ReferencedCollectionID string `json:"referencedCollectionId"`
}

// v3ReferenceOperators are the operators of a reference field: it holds ids.
var v3ReferenceOperators = []string{"EQ", "NE", "HAS_SOME", "EXISTS"}

type v3Collection struct {
	ID           string    `json:"id"`
	Fields       []v3Field `json:"fields"`
	Capabilities struct {
		DataOperations []string `json:"dataOperations"`
	} `json:"capabilities"`
	PagingMode string `json:"pagingMode"`
}

// describeV3 describes a collection for /v3/collections/get (spec v3 §7). It sends only the keys
// the reference adaptor sends (no displayName or permissions; spec v3 §12). dataOperations lists
// the writes only when the collection can be written now (writes.go). The v3 field model has no
// per-field writability (spec v3 §7.2: capabilities are sortable and queryOperators only), so a
// formula field is described like any other and refused when written.
func describeV3(snap *cache.Snapshot, writable bool) v3Collection {
	c := v3Collection{ID: snap.Name(), PagingMode: "OFFSET"}
	ops := v3ReadOperations
	if writable {
		ops = v3WriteOperations
	}
	schema := snap.Schema()
	refs := false
	for i := 0; i < schema.Len(); i++ {
		f := schema.Field(i)
		field := v3Field{Key: f.Key, Type: v3FieldTypes[f.Type],
			Capabilities: v3FieldCapabilities{Sortable: true, QueryOperators: v3Operators[f.Type]}}
		if f.Ref != "" {
			refs = true
			field.Type, field.Capabilities.QueryOperators = "REFERENCE", v3ReferenceOperators
			field.SingleReferenceOptions = &v3ReferenceOptions{ReferencedCollectionID: f.Ref}
		}
		c.Fields = append(c.Fields, field)
	}
	if refs {
		ops = append(slices.Clone(ops), "QUERY_REFERENCED")
		if writable {
			ops = append(ops, "INSERT_REFERENCES", "REMOVE_REFERENCES")
		}
	}
	c.Capabilities.DataOperations = ops
	return c
}

type v3CollectionsRequest struct {
	CollectionIDs []string `json:"collectionIds"`
}

func (r *v3CollectionsRequest) collection() string {
	if len(r.CollectionIDs) > 0 {
		return r.CollectionIDs[0]
	}
	return ""
}

// handleCollectionsGet is POST /v3/collections/get (spec v3 §6.12): all collections for an empty
// list; 404 naming the first unknown id otherwise, as the reference adaptor answers.
func (s *Server) handleCollectionsGet(_ context.Context, req *v3CollectionsRequest, _ *v3Metadata) ([]byte, error) {
	out := struct {
		Collections []v3Collection `json:"collections"`
	}{Collections: []v3Collection{}}
	if len(req.CollectionIDs) == 0 {
		for _, snap := range s.store.Collections() {
			out.Collections = append(out.Collections, describeV3(snap, s.canWrite(snap)))
		}
		return marshal(out)
	}
	for _, id := range req.CollectionIDs {
		snap, err := s.store.Snapshot(id)
		if err != nil {
			req.CollectionIDs[0] = id // so the error names this one
			return nil, err
		}
		out.Collections = append(out.Collections, describeV3(snap, s.canWrite(snap)))
	}
	return marshal(out)
}

// indexOptions says what indexes the server keeps (spec v3 §6.16).
func (s *Server) indexOptions() map[string]any {
	if s.indexes() == nil {
		return map[string]any{"supportsIndexes": false, "maxNumberOfRegularIndexesPerCollection": 0,
			"maxNumberOfUniqueIndexesPerCollection": 0, "maxNumberOfIndexesPerCollection": 0}
	}
	return map[string]any{"supportsIndexes": true, "maxNumberOfRegularIndexesPerCollection": query.MaxRegularIndexes,
		"maxNumberOfUniqueIndexesPerCollection": query.MaxUniqueIndexes, "maxNumberOfIndexesPerCollection": query.MaxIndexes}
}

// handleCapabilitiesGet is POST /v3/capabilities/get (spec v3 §6.16): what this server can do
// with collections as a whole. Collections can be created and changed when a writable folder is
// behind the store; the field types are those a spreadsheet column can hold (text-like types are
// kept as text, DATE as DATETIME; collection_writes.go).
func (s *Server) handleCapabilitiesGet(context.Context, *struct{}, *v3Metadata) ([]byte, error) {
	modifiable := s.cfg.Files != nil && s.cfg.Files.Writable("") == nil
	return marshal(map[string]any{
		"supportsCollectionModifications": modifiable,
		"supportedFieldTypes":             slices.Sorted(maps.Keys(v3TypesIn)),
		"indexOptions":                    s.indexOptions(),
	})
}

type legacyField struct {
	DisplayName    string   `json:"displayName"`
	Type           string   `json:"type"`
	QueryOperators []string `json:"queryOperators"`
}

type legacySchema struct {
	ID                string                 `json:"id"`
	DisplayName       string                 `json:"displayName"`
	AllowedOperations []string               `json:"allowedOperations,omitempty"`
	MaxPageSize       int                    `json:"maxPageSize"`
	TTL               int                    `json:"ttl"`
	Fields            map[string]legacyField `json:"fields,omitempty"`
}

// Legacy schema settings (legacy §7.1). Wix caches a schema for ttl seconds; a short ttl lets a
// column added to a file reach the CMS within a minute.
const (
	legacyMaxPageSize = 50
	legacyTTL         = 60
)

// allowedOperations of a collection that cannot be written now, and of one that can (legacy
// §7.4: Wix treats a collection whose list lacks insert, update and remove as read-only; the bulk
// names let its CMS edit several rows at once). Truncate and aggregate are served but have no
// allowedOperations name.
var (
	legacyReadOperations  = []string{"get", "find", "count"}
	legacyWriteOperations = []string{"get", "find", "count", "insert", "update", "remove", "bulkInsert", "bulkUpdate", "bulkRemove"}
)

// describeLegacy describes a collection for /schemas/find and /schemas/list (legacy §7). The
// legacy field spec has no writability either (legacy §7.2), so formula fields are described like
// any other and refused when written.
func describeLegacy(snap *cache.Snapshot, headerOnly, writable bool) legacySchema {
	s := legacySchema{ID: snap.Name(), DisplayName: snap.Name(), MaxPageSize: legacyMaxPageSize, TTL: legacyTTL}
	if headerOnly {
		return s
	}
	s.AllowedOperations = legacyReadOperations
	if writable {
		s.AllowedOperations = legacyWriteOperations
	}
	s.Fields = map[string]legacyField{}
	schema := snap.Schema()
	for i := 0; i < schema.Len(); i++ {
		f := schema.Field(i)
		s.Fields[f.Key] = legacyField{DisplayName: f.Key, Type: f.Type.String(), QueryOperators: legacyOperators[f.Type]}
	}
	return s
}
