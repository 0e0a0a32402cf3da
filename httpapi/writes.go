package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// Files is the folder behind the store: which collections' files can take a write now, and the
// changes of collections as a whole, which are changes of files (ingest.Folder).
type Files interface {
	// Writable returns nil when the collection can be written, else an error saying why
	// (it wraps cache.ErrReadOnly), e.g. "--read-only is set" or "products.xlsx is open in Excel".
	// For "" it says whether the folder takes new collections.
	Writable(collection string) error
	// CreateCollection creates a collection with these fields, served when it returns.
	// Errors: cache.ErrCollectionExists, cache.ErrReadOnly, *cache.ValidationError.
	CreateCollection(ctx context.Context, id string, fields []cache.Field) error
	// UpdateCollection changes a collection's fields to these (system fields aside), all or
	// nothing. Errors: cache.ErrCollectionNotFound, cache.ErrReadOnly, *cache.ValidationError,
	// *cache.SchemaChangeError.
	UpdateCollection(ctx context.Context, id string, fields []cache.Field) error
	// DeleteCollection deletes a collection; its data is kept in a trash, never deleted outright.
	// Errors: cache.ErrCollectionNotFound, cache.ErrReadOnly, *cache.SchemaChangeError.
	DeleteCollection(ctx context.Context, id string) error
}

// maxWriteAttempts bounds how often one write is validated and committed again after another
// change to its collection won the race (cache.ErrVersionConflict). Writes through this server
// queue per collection (writeLock), so a conflict means a file edit or another replica got in
// between. Two replicas writing one collection flat out win about half of their races each: with
// ten attempts, 8 writes in 11,886 (sheetsync-load, 8 clients over two replicas) lost ten in a
// row, as 0.5^10 predicts; 25 makes that about one in 30 million, and the waits between
// attempts (capped at 50 ms) keep the worst case under a second.
const maxWriteAttempts = 25

// planFunc decides a write against the snapshot it is validated on: the change to commit, or nil
// when nothing is left to commit (every item failed). It runs again after a version conflict, on
// the newer snapshot, so it must derive everything from snap and keep no state across calls
// other than what it overwrites.
type planFunc func(snap *cache.Snapshot) (*cache.ChangeSet, error)

// committedWrite is a write as it happened: the snapshot it was validated against and the
// collection as it stood right after the commit. Answers render removed items from before and
// written items from after, so the caller reads exactly what was stored.
type committedWrite struct {
	before, after *cache.Snapshot
}

// commitWrite runs one API write on a collection (STYLE.md §3, "API write"): it takes the current
// snapshot, checks the collection can be written, lets plan decide the change, and commits it as
// ONE ChangeSet based on that snapshot's version. When another change got in first it starts
// over on the newer snapshot, so item-level decisions (already exists, not found) always hold
// for the version the change applies to.
func (s *Server) commitWrite(ctx context.Context, collection, op string, plan planFunc) (*committedWrite, error) {
	if _, err := s.snapshot(collection); err != nil {
		return nil, err // an unknown collection is told so before anything else (spec v3 §12.24)
	}
	unlock, err := s.writeLock(ctx, collection)
	if err != nil {
		return nil, err
	}
	defer unlock()
	backoff := time.Millisecond
	for attempt := 1; ; attempt++ {
		snap, err := s.snapshot(collection)
		if err != nil {
			return nil, err
		}
		if err := s.writable(snap, op); err != nil {
			return nil, err
		}
		cs, err := plan(snap)
		if err != nil {
			return nil, err
		}
		if cs == nil {
			return &committedWrite{before: snap, after: snap}, nil
		}
		cs.Collection, cs.BaseVersion = collection, snap.Version()
		cs.Origin = cache.Origin{Kind: cache.OriginAPI}
		v, err := s.store.Commit(ctx, *cs)
		switch {
		case err == nil:
			after, err := s.committedSnapshot(snap, cs, v)
			if err != nil {
				return nil, err
			}
			return &committedWrite{before: snap, after: after}, nil
		case errors.Is(err, cache.ErrVersionConflict):
			if attempt == maxWriteAttempts {
				return nil, errBusy(collection, op, attempt)
			}
		case errors.Is(err, cache.ErrReadOnly):
			return nil, &notWritableError{collection: collection, op: op, reason: err}
		default:
			return nil, err
		}
		// The first retry is immediate; later ones wait a little, so a replica that lags the log
		// can catch up instead of burning every attempt on the same stale version.
		// The wait is jittered so that two replicas that collided do not collide again in step.
		if attempt > 1 {
			t := time.NewTimer(backoff/2 + rand.N(backoff/2+1))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			backoff = min(2*backoff, 50*time.Millisecond)
		}
	}
}

// errBusy gives up a write that lost the race too often. Neither protocol has a code for it; it
// is UNKNOWN_ERROR with 503, the status that tells a client to try again later, and the message
// says nothing was written.
func errBusy(collection, op string, attempts int) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
		message: fmt.Sprintf("collection %q changed %d times while this %s was being validated; nothing was written, try again", collection, attempts, op),
		data:    map[string]any{"description": "too many concurrent changes", "collectionId": collection}}
}

// committedSnapshot returns the collection as version v left it: the store's current snapshot
// when nothing has been committed since, else before with cs applied, which is the same thing
// because cs was based on before's version.
func (s *Server) committedSnapshot(before *cache.Snapshot, cs *cache.ChangeSet, v uint64) (*cache.Snapshot, error) {
	if cur, err := s.store.Snapshot(cs.Collection); err == nil && cur.Version() == v {
		return cur, nil
	}
	after, err := before.Apply(*cs)
	if err != nil {
		return nil, fmt.Errorf("render committed change of %s: %w", cs.Collection, err)
	}
	return after, nil
}

// writable says why a collection cannot be written now, or nil. A collection without an _id
// column is read-only whatever its file allows: Wix needs _id to address items (legacy §7.4,
// the Connections API's "if these fields are absent, access is read-only").
func (s *Server) writable(snap *cache.Snapshot, op string) error {
	if _, ok := snap.Schema().Index(cache.FieldID); !ok {
		return &notWritableError{collection: snap.Name(), op: op, reason: errors.New("it has no _id column")}
	}
	if s.cfg.Files == nil {
		return nil
	}
	if err := s.cfg.Files.Writable(snap.Name()); err != nil {
		return &notWritableError{collection: snap.Name(), op: op, reason: err}
	}
	return nil
}

// canWrite reports whether a collection takes writes now, for the capabilities and
// allowedOperations it advertises.
func (s *Server) canWrite(snap *cache.Snapshot) bool { return s.writable(snap, "") == nil }

// notWritableError refuses a whole write because the collection cannot be written now: the
// server is read-only, the file is locked by another program, or it has no _id column. Nothing
// is committed. errors.go renders it per protocol.
type notWritableError struct {
	collection, op string
	reason         error
}

func (e *notWritableError) Error() string {
	return fmt.Sprintf("cannot %s in collection %q: %v", e.op, e.collection, e.reason)
}

func (e *notWritableError) Unwrap() error { return e.reason }

// writeLock queues this server's writes to one collection. Without it, concurrent API writes
// would mostly fail each other's optimistic check and retry; with it only a file edit or another
// replica can make a write start over. The wait ends with ctx.
func (s *Server) writeLock(ctx context.Context, collection string) (func(), error) {
	v, _ := s.writeLocks.LoadOrStore(collection, make(chan struct{}, 1))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
