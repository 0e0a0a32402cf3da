package httpapi

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// registerLegacyWriteRoutes registers the data writes (legacy §12.11-12.18). Like the data reads
// they are open to every role: the secret key proves the call comes from Wix, and Wix applies
// the collection's own permissions (who may add, edit or delete content) before it calls; the
// reference adaptor's Admin-only default would break every form a visitor submits.
func (s *Server) registerLegacyWriteRoutes() {
	s.router.POST("/data/insert", legacyRoute(s, nil, s.handleDataInsert))
	s.router.POST("/data/insert/bulk", legacyRoute(s, nil, s.handleDataInsertBulk))
	s.router.POST("/data/update", legacyRoute(s, nil, s.handleDataUpdate))
	s.router.POST("/data/update/bulk", legacyRoute(s, nil, s.handleDataUpdateBulk))
	s.router.POST("/data/remove", legacyRoute(s, nil, s.handleDataRemove))
	s.router.POST("/data/remove/bulk", legacyRoute(s, nil, s.handleDataRemoveBulk))
	s.router.POST("/data/truncate", legacyRoute(s, nil, s.handleDataTruncate))
}

type legacyItemRequest struct {
	legacyCollection
	Item json.RawMessage `json:"item"`
}

type legacyItemsRequest struct {
	legacyCollection
	Items []json.RawMessage `json:"items"`
}

type legacyRemoveRequest struct {
	legacyCollection
	ItemID string `json:"itemId"`
}

type legacyRemoveBulkRequest struct {
	legacyCollection
	ItemIDs []string `json:"itemIds"`
}

// legacyPlan is a plan over the raw items of a legacy request.
type legacyPlan func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome)

// legacyWrite commits a legacy write all or nothing: the legacy answers have no per-item results
// (legacy §12.12: {"items": [...]} of the stored items), so one failing item fails the request,
// naming the item, and nothing is committed. It returns the outcomes and the write.
func (s *Server) legacyWrite(ctx context.Context, collection, op string, bulk bool, plan legacyPlan) ([]itemOutcome, *committedWrite, error) {
	if collection == "" {
		return nil, nil, errBadRequest("collectionName is required")
	}
	var out []itemOutcome
	w, err := s.commitWrite(ctx, collection, op, func(snap *cache.Snapshot) (*cache.ChangeSet, error) {
		var cs *cache.ChangeSet
		cs, out = plan(snap)
		cs = s.checkUnique(snap, cs, out)
		for i, o := range out {
			if o.err != nil {
				return nil, legacyItemError(o.err, i, bulk)
			}
		}
		return cs, nil
	})
	return out, w, err
}

// legacyItemError is an item's error as a legacy request's error: the legacy wording, and in a
// bulk request the item's position.
func legacyItemError(ae *apiError, i int, bulk bool) *apiError {
	e := *ae
	e.message = legacyItemMessage(ae)
	if bulk {
		e.message = "items[" + strconv.Itoa(i) + "]: " + e.message
	}
	return &e
}

// handleDataInsert is POST /data/insert (legacy §12.11): {"item": <stored item>}. _owner, when
// the item has none, is the caller's requestContext.memberId, as Wix itself fills it (legacy §3).
func (s *Server) handleDataInsert(ctx context.Context, req *legacyItemRequest) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli(), owner: legacyMemberID(req.RequestContext)}
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "insert", false, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		if isNullJSON(req.Item) {
			return nil, []itemOutcome{{err: errBadRequest("item is required")}}
		}
		return planInsert(snap, []json.RawMessage{req.Item}, st)
	})
	if err != nil {
		return nil, err
	}
	return legacyItemAnswer(w.after, out), nil
}

// handleDataInsertBulk is POST /data/insert/bulk (legacy §12.12): {"items": [...]} in input order.
func (s *Server) handleDataInsertBulk(ctx context.Context, req *legacyItemsRequest) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli(), owner: legacyMemberID(req.RequestContext)}
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "bulkInsert", true, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		return planInsert(snap, req.Items, st)
	})
	if err != nil {
		return nil, err
	}
	return legacyItemsAnswer(w.after, out), nil
}

// handleDataUpdate is POST /data/update (legacy §12.13). The item replaces the stored one, as
// Wix's own update() does; a missing item is 404 "Item not found", stricter than the reference
// adaptor's silent success (legacy §12.13 recommendation), so a lost edit is never reported saved.
func (s *Server) handleDataUpdate(ctx context.Context, req *legacyItemRequest) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli()}
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "update", false, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		if isNullJSON(req.Item) {
			return nil, []itemOutcome{{err: errBadRequest("item is required")}}
		}
		return planUpdate(snap, []json.RawMessage{req.Item}, st)
	})
	if err != nil {
		return nil, err
	}
	return legacyItemAnswer(w.after, out), nil
}

// handleDataUpdateBulk is POST /data/update/bulk (legacy §12.14): each item writes its own
// fields, not the first item's (a reference adaptor quirk, legacy §14).
func (s *Server) handleDataUpdateBulk(ctx context.Context, req *legacyItemsRequest) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli()}
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "bulkUpdate", true, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		return planUpdate(snap, req.Items, st)
	})
	if err != nil {
		return nil, err
	}
	return legacyItemsAnswer(w.after, out), nil
}

// handleDataRemove is POST /data/remove (legacy §12.15, §15.6): {"item": <the removed item>},
// 404 "Item not found" when there was none.
func (s *Server) handleDataRemove(ctx context.Context, req *legacyRemoveRequest) ([]byte, error) {
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "remove", false, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		if strings.TrimSpace(req.ItemID) == "" {
			return nil, []itemOutcome{{err: errBadRequest("A value must be provided for itemId")}}
		}
		return planRemove(snap, []string{req.ItemID})
	})
	if err != nil {
		return nil, err
	}
	return legacyItemAnswer(w.before, out), nil
}

// handleDataRemoveBulk is POST /data/remove/bulk (legacy §12.16). It answers the removed items
// rather than the reference adaptor's always-empty list, as /data/remove answers its item.
func (s *Server) handleDataRemoveBulk(ctx context.Context, req *legacyRemoveBulkRequest) ([]byte, error) {
	out, w, err := s.legacyWrite(ctx, req.CollectionName, "bulkRemove", true, func(snap *cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		return planRemove(snap, req.ItemIDs)
	})
	if err != nil {
		return nil, err
	}
	return legacyItemsAnswer(w.before, out), nil
}

// handleDataTruncate is POST /data/truncate (legacy §12.18): {} rather than the reference
// adaptor's empty body.
func (s *Server) handleDataTruncate(ctx context.Context, req *legacyCollection) ([]byte, error) {
	_, _, err := s.legacyWrite(ctx, req.CollectionName, "truncate", false, func(*cache.Snapshot) (*cache.ChangeSet, []itemOutcome) {
		return &cache.ChangeSet{Truncate: true}, nil
	})
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// legacyItemAnswer renders {"item": ...} of a single-item write.
func legacyItemAnswer(snap *cache.Snapshot, out []itemOutcome) []byte {
	row, _ := snap.Lookup(out[0].id)
	b := append([]byte(nil), `{"item":`...)
	b = appendItem(b, snap, row, itemFields(snap.Schema(), nil))
	return append(b, '}')
}

// legacyItemsAnswer renders {"items": [...]} of a bulk write, in input order.
func legacyItemsAnswer(snap *cache.Snapshot, out []itemOutcome) []byte {
	fields := itemFields(snap.Schema(), nil)
	b := make([]byte, 0, 64+len(out)*32*snap.Schema().Len())
	b = append(b, `{"items":[`...)
	for i, o := range out {
		if i > 0 {
			b = append(b, ',')
		}
		row, _ := snap.Lookup(o.id)
		b = appendItem(b, snap, row, fields)
	}
	return append(b, "]}"...)
}

// isNullJSON reports whether a member is absent or null.
func isNullJSON(raw json.RawMessage) bool {
	t := trimJSON(raw)
	return len(t) == 0 || string(t) == "null"
}

// legacyMemberID returns requestContext.memberId, "" when it is null or absent (backend code
// calls without a member; legacy §3).
func legacyMemberID(raw json.RawMessage) string {
	var rc struct {
		MemberID any `json:"memberId"`
	}
	if json.Unmarshal(raw, &rc) != nil {
		return ""
	}
	id, _ := rc.MemberID.(string)
	return id
}
