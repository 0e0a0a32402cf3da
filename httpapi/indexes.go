package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// Indexes (spec v3 §6.17-6.19) are query.Indexes: sorted views of a collection that make
// filters and sorts on their fields fast, and unique ones refuse writes that would repeat a
// key. Their definitions are kept by Config.SaveIndexes so they outlive a restart; the sorted
// rows are rebuilt from the data.

type v3IndexRequest struct {
	CollectionID string      `json:"collectionId"`
	Index        query.Index `json:"index"`
}

func (r *v3IndexRequest) collection() string { return r.CollectionID }

type v3IndexRemoveRequest struct {
	CollectionID string `json:"collectionId"`
	IndexName    string `json:"indexName"`
}

func (r *v3IndexRemoveRequest) collection() string { return r.CollectionID }

// indexes returns the server's index registry, or nil when it keeps none.
func (s *Server) indexes() *query.Indexes { return s.query.Indexes }

// handleIndexesList is POST /v3/indexes/list (spec v3 §6.17): the built-in unique _id index,
// then the collection's own, with their status.
func (s *Server) handleIndexesList(_ context.Context, req *v3CollectionID, _ *v3Metadata) ([]byte, error) {
	snap, err := s.snapshot(req.CollectionID)
	if err != nil {
		return nil, err
	}
	x := s.indexes()
	if x == nil {
		x = query.NewIndexes() // no secondary indexes: the built-in _id index alone
	}
	list := x.List(snap)
	if list == nil {
		list = []query.Index{}
	}
	return marshal(map[string]any{"indexes": list})
}

// handleIndexesCreate is POST /v3/indexes/create (spec v3 §6.18). The index is built before
// the answer (a million rows take 50-230 ms), so it comes back ACTIVE. A definition that cannot
// be built (a field the collection lacks, a name taken, over the limits, repeated keys under a
// unique index) comes back FAILED with HTTP 200, as the reference adaptor's tests pin (spec v3
// §12, 33).
func (s *Server) handleIndexesCreate(ctx context.Context, req *v3IndexRequest, _ *v3Metadata) ([]byte, error) {
	if _, err := s.snapshot(req.CollectionID); err != nil {
		return nil, err // an unknown collection is told so before anything else
	}
	x := s.indexes()
	if x == nil {
		return nil, errUnsupported(req.CollectionID, "create index", "this server keeps no indexes")
	}
	// under the collection's write lock: a write between a unique index's check of the data
	// and its registration could otherwise slip a repeated key past both
	unlock, err := s.writeLock(ctx, req.CollectionID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	snap, err := s.snapshot(req.CollectionID) // as it is now that no write can come between
	if err != nil {
		return nil, err
	}
	idx, err := x.Create(snap, req.Index)
	var ie *query.IndexError
	switch {
	case errors.As(err, &ie):
		idx = req.Index
		idx.Status = query.StatusFailed
		idx.Failure = &query.Failure{ErrorCode: codeValidation, ErrorMessage: ie.Error(),
			Data: map[string]any{"collectionId": req.CollectionID, "indexName": req.Index.Name}}
	case err != nil:
		return nil, err
	default:
		if err := s.saveIndexes(); err != nil {
			return nil, err
		}
	}
	return marshal(map[string]any{"index": idx})
}

// handleIndexesRemove is POST /v3/indexes/remove (spec v3 §6.19).
func (s *Server) handleIndexesRemove(_ context.Context, req *v3IndexRemoveRequest, _ *v3Metadata) ([]byte, error) {
	if _, err := s.snapshot(req.CollectionID); err != nil {
		return nil, err
	}
	x := s.indexes()
	if x == nil {
		return nil, errUnsupported(req.CollectionID, "remove index", "this server keeps no indexes")
	}
	if err := x.Remove(req.CollectionID, req.IndexName); err != nil {
		return nil, validation("indexName", err.Error())
	}
	if err := s.saveIndexes(); err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// saveIndexes hands the index definitions to Config.SaveIndexes.
func (s *Server) saveIndexes() error {
	if s.cfg.SaveIndexes == nil || s.indexes() == nil {
		return nil
	}
	b, err := s.indexes().Marshal()
	if err == nil {
		err = s.cfg.SaveIndexes(b)
	}
	if err != nil {
		return fmt.Errorf("keeping the index definitions: %w", err)
	}
	return nil
}

// checkUnique leaves out of cs each item that would repeat the key of a unique index, giving
// its outcome the duplicate-key error, so that the other items still commit (spec v3 §4.3). It
// returns the change left, nil when no item is.
func (s *Server) checkUnique(snap *cache.Snapshot, cs *cache.ChangeSet, out []itemOutcome) *cache.ChangeSet {
	x := s.indexes()
	for cs != nil && x != nil {
		var ue *query.UniqueError
		if err := x.CheckUnique(snap, *cs); !errors.As(err, &ue) {
			return cs
		}
		for i := range out {
			if out[i].err == nil && out[i].id == ue.ItemID {
				out[i].err = &apiError{status: 409, legacyStatus: legacyDuplicateStatus, code: codeItemAlreadyExists,
					message: "Item already exists: " + ue.Error(),
					data:    map[string]any{"itemId": ue.ItemID, "indexName": ue.Index, "existingItemId": ue.ExistingID}}
			}
		}
		cs = without(cs, ue.ItemID)
	}
	return cs
}

// without returns cs without the insert or update of item id; nil when nothing is left.
func without(cs *cache.ChangeSet, id string) *cache.ChangeSet {
	out := *cs
	keep := func(items []cache.Item) []cache.Item {
		var kept []cache.Item
		for _, it := range items {
			if it.ID() != id {
				kept = append(kept, it)
			}
		}
		return kept
	}
	out.Insert, out.Update = keep(cs.Insert), keep(cs.Update)
	if len(out.Insert)+len(out.Update)+len(out.Remove) == 0 && !out.Truncate {
		return nil
	}
	return &out
}
