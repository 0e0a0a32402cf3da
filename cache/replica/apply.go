package replica

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/sheetsync/sheetsync/cache"
)

// apply commits a change read from the log to the store. The log orders changes, so the
// version the writer based it on is not checked (store versions differ between replicas).
//
// A change that no longer fits the store as it stands is reconciled rather than refused: a
// replica that restarts replays the log after the last change its files were known to hold,
// and its files may already hold some of those changes (the process died after writing them,
// before recording so). An insert of a row already there then replaces the row, a remove or
// update of a row that is not there is left out. Applying the tail again thus reaches the
// state applying it once did, and every replica reconciles the same change the same way.
func (l *Log) apply(cs cache.ChangeSet) (uint64, error) {
	cs.BaseVersion = 0
	v, err := l.store.Commit(context.Background(), cs)
	if !errors.Is(err, cache.ErrItemNotFound) && !errors.Is(err, cache.ErrDuplicateID) {
		return v, err
	}
	snap, serr := l.store.Snapshot(cs.Collection)
	if serr != nil || cs.Replace != nil {
		return v, err
	}
	l.log.Info("change reconciled with the store: it was applied before (a replay after a restart)",
		"collection", cs.Collection, "err", err)
	return l.store.Commit(context.Background(), reconcile(snap, cs))
}

// reconcile returns cs with its row operations made to fit snap: inserts of rows snap has
// become whole-row updates, removes and updates of rows it lacks are left out.
func reconcile(snap *cache.Snapshot, cs cache.ChangeSet) cache.ChangeSet {
	has := func(id string) bool {
		if cs.Truncate {
			return false
		}
		_, ok := snap.Lookup(id)
		return ok
	}
	schema := snap.Schema()
	if cs.Schema != nil {
		schema = cs.Schema
	}
	out := cs
	out.Remove, out.Update, out.Insert = nil, nil, nil
	removed := map[string]bool{}
	for _, id := range cs.Remove {
		if has(id) && !removed[id] {
			out.Remove = append(out.Remove, id)
			removed[id] = true
		}
	}
	for _, it := range cs.Update {
		if id := it.ID(); has(id) && !removed[id] {
			out.Update = append(out.Update, it)
		}
	}
	for _, it := range cs.Insert {
		id := it.ID()
		if !has(id) || removed[id] {
			out.Insert = append(out.Insert, it)
			continue
		}
		whole := cache.Item{}
		for i := 0; i < schema.Len(); i++ {
			whole[schema.Field(i).Key] = cache.Null()
		}
		for k, v := range it {
			whole[k] = v
		}
		out.Update = append(out.Update, whole)
	}
	return out
}

// The headers that carry a change's file version (cache.FileVersion) beside its encoding, so
// that the wire format stays what docs/wire-format.md pins.
const (
	headerFile    = "Sheetsync-File"
	headerHash    = "Sheetsync-File-Hash"
	headerBase    = "Sheetsync-File-Base"
	headerNow     = "Sheetsync-File-Now"
	headerShipped = "Sheetsync-File-Shipped"
)

func fileToHeaders(fv *cache.FileVersion, h nats.Header) {
	if fv == nil {
		return
	}
	h.Set(headerFile, fv.Name)
	h.Set(headerHash, strconv.FormatUint(fv.Hash, 16))
	h.Set(headerBase, strconv.FormatUint(fv.Base, 16))
	h.Set(headerNow, strconv.FormatInt(fv.Now, 10))
	if fv.Shipped {
		h.Set(headerShipped, "1")
	}
}

// fileFromHeaders reads a file version from a message's headers; nil when it has none or they
// cannot be read (the change then reaches the files row by row).
func fileFromHeaders(h nats.Header) *cache.FileVersion {
	name := h.Get(headerFile)
	if name == "" {
		return nil
	}
	hash, err1 := strconv.ParseUint(h.Get(headerHash), 16, 64)
	base, err2 := strconv.ParseUint(h.Get(headerBase), 16, 64)
	now, err3 := strconv.ParseInt(h.Get(headerNow), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil
	}
	return &cache.FileVersion{Name: name, Hash: hash, Base: base, Now: now, Shipped: h.Get(headerShipped) == "1"}
}
