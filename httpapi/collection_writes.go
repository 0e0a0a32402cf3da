package httpapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/sheetsync/sheetsync/cache"
)

// Collection changes (spec v3 §6.13-6.15, legacy §12.5-12.7) are changes of files: a new CSV, a
// column added or removed, a file moved to the trash. Files makes them; the store has the new
// structure when it returns, so the answer and the next request see it.

// v3TypesIn maps the v3 field types a collection can be created with to the type its column
// holds. The text-like types become text, as the reference adaptor stores them (spec v3 §7.3:
// "a round-trip therefore changes e.g. URL into TEXT"); DATE becomes DATETIME. Types a
// spreadsheet column cannot hold (objects, arrays, references) are refused.
var v3TypesIn = map[string]cache.FieldType{
	"TEXT": cache.TypeText, "URL": cache.TypeText, "RICH_TEXT": cache.TypeText, "LANGUAGE": cache.TypeText,
	"IMAGE": cache.TypeText, "VIDEO": cache.TypeText, "DOCUMENT": cache.TypeText, "AUDIO": cache.TypeText,
	"TIME": cache.TypeText, "NUMBER": cache.TypeNumber, "BOOLEAN": cache.TypeBoolean,
	"DATETIME": cache.TypeDateTime, "DATE": cache.TypeDateTime,
}

// legacyTypesIn is the same for the legacy field types (legacy §7.3).
var legacyTypesIn = map[string]cache.FieldType{
	"text": cache.TypeText, "url": cache.TypeText, "image": cache.TypeText, "number": cache.TypeNumber,
	"boolean": cache.TypeBoolean, "datetime": cache.TypeDateTime,
}

type v3FieldIn struct {
	Key                    string              `json:"key"`
	Type                   string              `json:"type"`
	SingleReferenceOptions *v3ReferenceOptions `json:"singleReferenceOptions"`
}

type v3CollectionIn struct {
	ID     string      `json:"id"`
	Fields []v3FieldIn `json:"fields"`
}

type v3CollectionRequest struct {
	Collection v3CollectionIn `json:"collection"`
}

func (r *v3CollectionRequest) collection() string { return r.Collection.ID }

// fields returns the request's fields as the store types them, or the spec's validation error
// naming the first field whose type a spreadsheet column cannot hold.
func (c *v3CollectionIn) fields() ([]cache.Field, error) {
	out := make([]cache.Field, 0, len(c.Fields))
	for _, f := range c.Fields {
		t, ok := v3TypesIn[strings.ToUpper(f.Type)]
		if _, system := cache.SystemFieldType(f.Key); system {
			continue // the system fields are always there, with their own types
		}
		switch strings.ToUpper(f.Type) {
		case "REFERENCE":
			if f.SingleReferenceOptions == nil || f.SingleReferenceOptions.ReferencedCollectionID == "" {
				return nil, validation(f.Key, fmt.Sprintf("field %s: a REFERENCE field needs singleReferenceOptions.referencedCollectionId", f.Key))
			}
			out = append(out, cache.Field{Key: f.Key, Type: cache.TypeText, Ref: f.SingleReferenceOptions.ReferencedCollectionID})
			continue
		case "MULTI_REFERENCE":
			return nil, validation(f.Key, fmt.Sprintf("field %s: multi-reference fields are not supported: a spreadsheet cell holds one id; use a REFERENCE field", f.Key))
		}
		if !ok {
			return nil, validation(f.Key, fmt.Sprintf("field %s: type %s cannot be kept in a spreadsheet column; sheetsync supports %s",
				f.Key, f.Type, strings.Join(slices.Sorted(maps.Keys(v3TypesIn)), ", ")))
		}
		out = append(out, cache.Field{Key: f.Key, Type: t})
	}
	return out, nil
}

// files returns Files, or the protocol's "not supported" error when there is no folder behind
// the store.
func (s *Server) files(collection, op string) (Files, error) {
	if s.cfg.Files == nil {
		return nil, errUnsupported(collection, op, "no folder is behind this server")
	}
	return s.cfg.Files, nil
}

// handleCollectionsCreate is POST /v3/collections/create (spec v3 §6.13): a new CSV file. The
// request's capabilities and pagingMode are ignored; the answer describes what was created.
func (s *Server) handleCollectionsCreate(ctx context.Context, req *v3CollectionRequest, _ *v3Metadata) ([]byte, error) {
	id := req.Collection.ID
	if id == "" {
		return nil, errBadRequest("collection.id is required")
	}
	fields, err := req.Collection.fields()
	if err != nil {
		return nil, err
	}
	files, err := s.files(id, "create collection")
	if err != nil {
		return nil, err
	}
	if err := files.CreateCollection(ctx, id, fields); err != nil {
		return nil, err
	}
	return s.describeCollection(id)
}

// handleCollectionsUpdate is POST /v3/collections/update (spec v3 §6.14): the request is the
// structure wanted; fields added, removed and retyped are columns added, removed and retyped.
func (s *Server) handleCollectionsUpdate(ctx context.Context, req *v3CollectionRequest, _ *v3Metadata) ([]byte, error) {
	id := req.Collection.ID
	if _, err := s.snapshot(id); err != nil {
		return nil, err
	}
	fields, err := req.Collection.fields()
	if err != nil {
		return nil, err
	}
	files, err := s.files(id, "update collection")
	if err != nil {
		return nil, err
	}
	if err := files.UpdateCollection(ctx, id, fields); err != nil {
		return nil, err
	}
	return s.describeCollection(id)
}

// handleCollectionsDelete is POST /v3/collections/delete (spec v3 §6.15): the file goes to the
// trash in the state dir. The answer is the official {}.
func (s *Server) handleCollectionsDelete(ctx context.Context, req *v3CollectionID, _ *v3Metadata) ([]byte, error) {
	if _, err := s.snapshot(req.CollectionID); err != nil {
		return nil, err
	}
	files, err := s.files(req.CollectionID, "delete collection")
	if err != nil {
		return nil, err
	}
	if err := files.DeleteCollection(ctx, req.CollectionID); err != nil {
		return nil, err
	}
	if x := s.indexes(); x != nil {
		x.Drop(req.CollectionID)
		if err := s.saveIndexes(); err != nil {
			return nil, err
		}
	}
	return []byte("{}"), nil
}

func (s *Server) describeCollection(id string) ([]byte, error) {
	snap, err := s.snapshot(id)
	if err != nil {
		return nil, err
	}
	return marshal(map[string]any{"collection": describeV3(snap, s.canWrite(snap))})
}

// userFieldsOf returns a collection's fields other than the system fields.
func userFieldsOf(snap *cache.Snapshot) []cache.Field {
	var out []cache.Field
	schema := snap.Schema()
	for i := 0; i < schema.Len(); i++ {
		if f := schema.Field(i); !isSystem(f.Key) {
			out = append(out, f)
		}
	}
	return out
}

func isSystem(key string) bool {
	_, ok := cache.SystemFieldType(key)
	return ok
}

type legacyColumnAddRequest struct {
	legacyCollection
	Column struct {
		Name string `json:"name"`
		Type string `json:"type"`
	} `json:"column"`
}

type legacyColumnRemoveRequest struct {
	legacyCollection
	ColumnName string `json:"columnName"`
}

// rolesOwner may change the structure of collections (legacy §5).
var rolesOwner = []string{"OWNER"}

// registerLegacyCollectionRoutes registers the legacy structure changes (legacy §12.5-12.7).
func (s *Server) registerLegacyCollectionRoutes() {
	s.router.POST("/schemas/create", legacyRoute(s, rolesOwner, s.handleSchemasCreate))
	s.router.POST("/schemas/column/add", legacyRoute(s, rolesOwner, s.handleColumnAdd))
	s.router.POST("/schemas/column/remove", legacyRoute(s, rolesOwner, s.handleColumnRemove))
}

// handleSchemasCreate is POST /schemas/create: a collection of the four system fields.
func (s *Server) handleSchemasCreate(ctx context.Context, req *legacyCollection) ([]byte, error) {
	if req.CollectionName == "" {
		return nil, errBadRequest("collectionName is required")
	}
	files, err := s.files(req.CollectionName, "createCollection")
	if err != nil {
		return nil, legacyUnsupported(err)
	}
	if err := files.CreateCollection(ctx, req.CollectionName, nil); err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// handleColumnAdd is POST /schemas/column/add: a new column at the right of the file.
func (s *Server) handleColumnAdd(ctx context.Context, req *legacyColumnAddRequest) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	name := req.Column.Name
	switch {
	case name == "":
		return nil, errBadRequest("column.name is required")
	case isSystem(name):
		return nil, legacyBad("Cannot modify system field " + name)
	}
	if _, exists := snap.Schema().Index(name); exists {
		return nil, legacyBad("Collection already has a field with the same name: " + name)
	}
	t, ok := legacyTypesIn[strings.ToLower(req.Column.Type)]
	if !ok {
		return nil, validation(name, fmt.Sprintf("column %s: type %q cannot be kept in a spreadsheet column; use one of %s",
			name, req.Column.Type, strings.Join(slices.Sorted(maps.Keys(legacyTypesIn)), ", ")))
	}
	files, err := s.files(req.CollectionName, "addColumn")
	if err != nil {
		return nil, legacyUnsupported(err)
	}
	fields := append(userFieldsOf(snap), cache.Field{Key: name, Type: t})
	if err := files.UpdateCollection(ctx, req.CollectionName, fields); err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// handleColumnRemove is POST /schemas/column/remove: the column leaves the file, which is kept
// in the trash as it was.
func (s *Server) handleColumnRemove(ctx context.Context, req *legacyColumnRemoveRequest) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionName)
	if err != nil {
		return nil, err
	}
	name := req.ColumnName
	if isSystem(name) {
		return nil, legacyBad("Cannot modify system field " + name)
	}
	if _, exists := snap.Schema().Index(name); !exists {
		return nil, &apiError{status: http.StatusNotFound, code: codeFieldDoesntExist,
			message: "Collection does not contain a field with this name: " + name,
			data:    map[string]any{"collectionId": req.CollectionName, "propertyName": name}}
	}
	files, err := s.files(req.CollectionName, "removeColumn")
	if err != nil {
		return nil, legacyUnsupported(err)
	}
	var fields []cache.Field
	for _, f := range userFieldsOf(snap) {
		if f.Key != name {
			fields = append(fields, f)
		}
	}
	if err := files.UpdateCollection(ctx, req.CollectionName, fields); err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// legacyBad is a legacy 400 with the reference adaptor's message.
func legacyBad(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeValidation, message: msg}
}

// legacyUnsupported answers 405, as the legacy protocol answers an operation the database cannot
// do (legacy §6).
func legacyUnsupported(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		e := *ae
		e.status = http.StatusMethodNotAllowed
		return &e
	}
	return err
}
