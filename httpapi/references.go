package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// References (spec v3 §6.9-6.11). A reference field is a column of ids of another collection's
// items (cache.Field.Ref): a cell holds one id, so a field is a single reference. Multi-references
// cannot be created (collection_writes.go), so every reference operation here works on one cell.

const (
	codeReferenceNotFound      = "REFERENCE_NOT_FOUND"
	codeReferenceAlreadyExists = "REFERENCE_ALREADY_EXISTS"
	maxReferenceIDs            = 1000 // per list in query-referenced (spec v3 §6.9)
)

type v3QueryReferencedRequest struct {
	CollectionID           string   `json:"collectionId"`
	ReferringItemIDs       []string `json:"referringItemIds"`
	ReferencedItemIDs      []string `json:"referencedItemIds"`
	ReferringFieldKey      string   `json:"referringFieldKey"`
	Order                  string   `json:"order"`
	FieldsToReturn         []string `json:"fieldsToReturn"`
	IncludeReferencedItems *bool    `json:"includeReferencedItems"`
	ReturnTotalCount       bool     `json:"returnTotalCount"`
	Paging                 struct {
		Limit  int `json:"limit"`
		Offset int `json:"offset"`
	} `json:"paging"`
}

func (r *v3QueryReferencedRequest) collection() string { return r.CollectionID }

type v3Reference struct {
	ReferringItemID  string `json:"referringItemId"`
	ReferencedItemID string `json:"referencedItemId"`
}

type v3ReferencesRequest struct {
	CollectionID      string        `json:"collectionId"`
	ReferringFieldKey string        `json:"referringFieldKey"`
	References        []v3Reference `json:"references"`
}

func (r *v3ReferencesRequest) collection() string { return r.CollectionID }

// referenceField returns the position and definition of a collection's reference field.
func referenceField(snap *cache.Snapshot, key string) (int, cache.Field, error) {
	i, ok := snap.Schema().Index(key)
	if !ok {
		return 0, cache.Field{}, &query.Error{Field: key, Op: "referringFieldKey", Err: query.ErrUnknownField}
	}
	f := snap.Schema().Field(i)
	if f.Ref == "" {
		return 0, cache.Field{}, validation("referringFieldKey", fmt.Sprintf("field %q of collection %q is not a reference field", key, snap.Name()))
	}
	return i, f, nil
}

// handleItemsQueryReferenced is POST /v3/items/query-referenced (spec v3 §6.9): the references
// held by the referring items (all items when none are named), in the referring items' order
// (reversed for DESC), with the referenced items one level deep unless includeReferencedItems
// is false. A referenced item that does not exist is returned without referencedItem.
func (s *Server) handleItemsQueryReferenced(_ context.Context, req *v3QueryReferencedRequest, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	col, f, err := referenceField(snap, req.ReferringFieldKey)
	if err != nil {
		return nil, err
	}
	if len(req.ReferringItemIDs) > maxReferenceIDs || len(req.ReferencedItemIDs) > maxReferenceIDs {
		return nil, validation("referringItemIds", fmt.Sprintf("at most %d referring and %d referenced item ids", maxReferenceIDs, maxReferenceIDs))
	}
	limit, offset := req.Paging.Limit, max(req.Paging.Offset, 0)
	if limit <= 0 {
		limit = defaultLimit
	}
	if limit > query.MaxLimit {
		return nil, validation("paging.limit", fmt.Sprintf("paging.limit is at most %d", query.MaxLimit))
	}
	referring := setOf(req.ReferringItemIDs)
	referenced := setOf(req.ReferencedItemIDs)
	var found []v3Reference
	snap.Rows(func(r cache.RowID) bool {
		v := snap.Value(r, col)
		if v.IsNull() || v.Str() == "" {
			return true
		}
		ref := v3Reference{ReferringItemID: snap.ID(r), ReferencedItemID: v.Str()}
		if (referring == nil || referring[ref.ReferringItemID]) && (referenced == nil || referenced[ref.ReferencedItemID]) {
			found = append(found, ref)
		}
		return true
	})
	if req.Order == "DESC" {
		slices.Reverse(found)
	}
	total := len(found)
	page := found[min(offset, total):min(offset+limit, total)]
	include := req.IncludeReferencedItems == nil || *req.IncludeReferencedItems
	target, _ := s.store.Snapshot(f.Ref)
	var fields []int
	if include && target != nil {
		for _, key := range req.FieldsToReturn {
			if _, ok := target.Schema().Index(key); !ok {
				return nil, &query.Error{Field: key, Op: "fieldsToReturn", Err: query.ErrUnknownField}
			}
		}
		fields = itemFields(target.Schema(), req.FieldsToReturn)
	}
	b := append([]byte(nil), `{"items":[`...)
	for i, ref := range page {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"referringItemId":`...)
		b = appendString(b, ref.ReferringItemID)
		b = append(b, `,"referencedItemId":`...)
		b = appendString(b, ref.ReferencedItemID)
		if include && target != nil {
			if row, ok := target.Lookup(ref.ReferencedItemID); ok {
				b = append(b, `,"referencedItem":`...)
				b = appendItem(b, target, row, fields)
			}
		}
		b = append(b, '}')
	}
	b = append(b, `],"pagingMetadata":{"count":`...)
	b = strconv.AppendInt(b, int64(len(page)), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(offset), 10)
	if req.ReturnTotalCount {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, int64(total), 10)
	}
	return append(b, "}}"...), nil
}

func setOf(ids []string) map[string]bool {
	if len(ids) == 0 {
		return nil
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// handleInsertReferences is POST /v3/items/insert-references (spec v3 §6.10): each reference
// sets its referring item's cell to the referenced id, replacing the one it held (a cell holds
// one). Results in input order; a reference already there is REFERENCE_ALREADY_EXISTS, a
// referring or referenced item that does not exist ITEM_NOT_FOUND.
func (s *Server) handleInsertReferences(ctx context.Context, req *v3ReferencesRequest, _ *v3Metadata) ([]byte, error) {
	return s.changeReferences(ctx, req, "insert references", true)
}

// handleRemoveReferences is POST /v3/items/remove-references (spec v3 §6.11): each reference
// empties its referring item's cell; one that is not there is REFERENCE_NOT_FOUND.
func (s *Server) handleRemoveReferences(ctx context.Context, req *v3ReferencesRequest, _ *v3Metadata) ([]byte, error) {
	return s.changeReferences(ctx, req, "remove references", false)
}

func (s *Server) changeReferences(ctx context.Context, req *v3ReferencesRequest, op string, insert bool) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	if _, _, err := referenceField(snap, req.ReferringFieldKey); err != nil {
		return nil, err
	}
	now := time.Now().UnixMilli()
	var errs []*apiError
	_, err = s.commitWrite(ctx, req.CollectionID, op, func(snap *cache.Snapshot) (*cache.ChangeSet, error) {
		col, f, err := referenceField(snap, req.ReferringFieldKey)
		if err != nil {
			return nil, err
		}
		target, _ := s.store.Snapshot(f.Ref)
		errs = make([]*apiError, len(req.References))
		cells := map[string]cache.Value{} // the cells as this request leaves them
		var order []string
		for i, ref := range req.References {
			row, ok := snap.Lookup(ref.ReferringItemID)
			if !ok {
				errs[i] = errRefItemNotFound(snap.Name(), ref.ReferringItemID)
				continue
			}
			cur, seen := cells[ref.ReferringItemID]
			if !seen {
				cur = snap.Value(row, col)
			}
			holds := !cur.IsNull() && cur.Str() == ref.ReferencedItemID
			switch {
			case insert && holds:
				errs[i] = errReference(codeReferenceAlreadyExists, http.StatusConflict, ref, "already exists")
				continue
			case insert && target != nil:
				if _, ok := target.Lookup(ref.ReferencedItemID); !ok {
					errs[i] = errRefItemNotFound(f.Ref, ref.ReferencedItemID)
					continue
				}
			case !insert && !holds:
				errs[i] = errReference(codeReferenceNotFound, http.StatusNotFound, ref, "does not exist")
				continue
			}
			if !seen {
				order = append(order, ref.ReferringItemID)
			}
			cells[ref.ReferringItemID] = cache.Null()
			if insert {
				cells[ref.ReferringItemID] = cache.Text(ref.ReferencedItemID)
			}
		}
		if len(order) == 0 {
			return nil, nil
		}
		cs := &cache.ChangeSet{}
		for _, id := range order {
			cs.Update = append(cs.Update, cache.Item{cache.FieldID: cache.Text(id), req.ReferringFieldKey: cells[id],
				cache.FieldUpdatedDate: cache.Time(now)})
		}
		return cs, nil
	})
	if err != nil {
		return nil, err
	}
	b := append([]byte(nil), `{"results":[`...)
	for i, ref := range req.References {
		if i > 0 {
			b = append(b, ',')
		}
		if errs[i] != nil {
			b = append(b, `{"error":`...)
			b = appendItemError(b, errs[i])
		} else {
			b = append(b, `{"reference":{"referringItemId":`...)
			b = appendString(b, ref.ReferringItemID)
			b = append(b, `,"referencedItemId":`...)
			b = appendString(b, ref.ReferencedItemID)
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "]}"...), nil
}

func errReference(code string, status int, ref v3Reference, what string) *apiError {
	return &apiError{status: status, code: code,
		message: fmt.Sprintf("reference from %q to %q %s", ref.ReferringItemID, ref.ReferencedItemID, what),
		data:    map[string]any{"referringItemId": ref.ReferringItemID, "referencedItemId": ref.ReferencedItemID}}
}

func errRefItemNotFound(collection, id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeItemNotFound,
		message: fmt.Sprintf("Item doesn't exists: no item with _id %q in collection %q", id, collection),
		data:    map[string]any{"itemId": id}}
}
