package httpapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// registerV3WriteRoutes registers the item writes (spec v3 §6.5-6.8).
func (s *Server) registerV3WriteRoutes() {
	g := s.router.Group("/v3/items")
	g.POST("/insert", v3Route(s, s.handleItemsInsert))
	g.POST("/update", v3Route(s, s.handleItemsUpdate))
	g.POST("/remove", v3Route(s, s.handleItemsRemove))
	g.POST("/truncate", v3Route(s, s.handleItemsTruncate))
}

type v3ItemsRequest struct {
	CollectionID string            `json:"collectionId"`
	Items        []json.RawMessage `json:"items"`
}

func (r *v3ItemsRequest) collection() string { return r.CollectionID }

type v3RemoveRequest struct {
	CollectionID string   `json:"collectionId"`
	ItemIDs      []string `json:"itemIds"`
}

func (r *v3RemoveRequest) collection() string { return r.CollectionID }

// handleItemsInsert is POST /v3/items/insert (spec v3 §6.5): every valid item in one commit,
// one result per item in input order, HTTP 200 even when some fail (spec v3 §4.3).
func (s *Server) handleItemsInsert(ctx context.Context, req *v3ItemsRequest, meta *v3Metadata) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli(), owner: v3Owner(meta)}
	var out []itemOutcome
	w, err := s.commitWrite(ctx, req.CollectionID, "insert", func(snap *cache.Snapshot) (*cache.ChangeSet, error) {
		var cs *cache.ChangeSet
		cs, out = planInsert(snap, req.Items, st)
		return s.checkUnique(snap, cs, out), nil
	})
	if err != nil {
		return nil, err
	}
	return v3Results(w.after, out), nil
}

// handleItemsUpdate is POST /v3/items/update (spec v3 §6.6): each item replaces the stored one.
func (s *Server) handleItemsUpdate(ctx context.Context, req *v3ItemsRequest, _ *v3Metadata) ([]byte, error) {
	st := writeStamp{now: time.Now().UnixMilli()}
	var out []itemOutcome
	w, err := s.commitWrite(ctx, req.CollectionID, "update", func(snap *cache.Snapshot) (*cache.ChangeSet, error) {
		var cs *cache.ChangeSet
		cs, out = planUpdate(snap, req.Items, st)
		return s.checkUnique(snap, cs, out), nil
	})
	if err != nil {
		return nil, err
	}
	return v3Results(w.after, out), nil
}

// handleItemsRemove is POST /v3/items/remove (spec v3 §6.7): each removed item's full content,
// as it was just before the removal.
func (s *Server) handleItemsRemove(ctx context.Context, req *v3RemoveRequest, _ *v3Metadata) ([]byte, error) {
	var out []itemOutcome
	w, err := s.commitWrite(ctx, req.CollectionID, "remove", func(snap *cache.Snapshot) (*cache.ChangeSet, error) {
		var cs *cache.ChangeSet
		cs, out = planRemove(snap, req.ItemIDs)
		return cs, nil
	})
	if err != nil {
		return nil, err
	}
	return v3Results(w.before, out), nil
}

// handleItemsTruncate is POST /v3/items/truncate (spec v3 §6.8): the collection is emptied;
// the answer is {}.
func (s *Server) handleItemsTruncate(ctx context.Context, req *v3CollectionID, _ *v3Metadata) ([]byte, error) {
	_, err := s.commitWrite(ctx, req.CollectionID, "truncate", func(*cache.Snapshot) (*cache.ChangeSet, error) {
		return &cache.ChangeSet{Truncate: true}, nil
	})
	if err != nil {
		return nil, err
	}
	return []byte("{}"), nil
}

// v3Results renders {"results": [...]}: for each outcome the item as snap holds it, or the error
// that left it out (spec v3 §4.3).
func v3Results(snap *cache.Snapshot, out []itemOutcome) []byte {
	fields := itemFields(snap.Schema(), nil)
	b := make([]byte, 0, 64+len(out)*32*snap.Schema().Len())
	b = append(b, `{"results":[`...)
	for i, o := range out {
		if i > 0 {
			b = append(b, ',')
		}
		if o.err != nil {
			b = append(b, `{"error":`...)
			b = appendItemError(b, o.err)
			b = append(b, '}')
			continue
		}
		row, _ := snap.Lookup(o.id) // the write just put it there, or removed it from here
		b = append(b, `{"item":`...)
		b = appendItem(b, snap, row, fields)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// appendItemError appends the error object of one item: {errorCode, errorMessage, data} (spec
// v3 §4.1, as the SDK's DataItemModificationResult carries it).
func appendItemError(b []byte, ae *apiError) []byte {
	data := ae.data
	if data == nil {
		data = map[string]any{}
	}
	d, err := json.Marshal(data)
	if err != nil {
		d = []byte("{}")
	}
	b = append(b, `{"errorCode":`...)
	b = appendString(b, ae.code)
	b = append(b, `,"errorMessage":`...)
	b = appendString(b, ae.message)
	b = append(b, `,"data":`...)
	b = append(b, d...)
	return append(b, '}')
}

// v3Owner is the _owner of an item inserted without one: the ID of the person the request is
// made for, from the envelope's identity (spec v3 §2.1) — a member, a Wix user or an anonymous
// visitor. v3 has no requestContext.memberId; an app or unknown identity owns nothing.
func v3Owner(meta *v3Metadata) string {
	if meta == nil {
		return ""
	}
	id := meta.Identity
	switch id.IdentityType {
	case "MEMBER":
		return id.MemberID
	case "WIX_USER":
		return id.WixUserID
	case "ANONYMOUS_VISITOR":
		return id.AnonymousVisitorID
	}
	return ""
}
