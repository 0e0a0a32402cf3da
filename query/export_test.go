package query

import (
	"context"

	"github.com/sheetsync/sheetsync/cache"
)

// FindIndexed is Find through the index path alone: it reports whether an index answered, so
// tests can tell a differential run that never used an index from one that agreed.
func (e *Engine) FindIndexed(ctx context.Context, snap *cache.Snapshot, q Query) (*Page, bool, error) {
	q.Offset = max(q.Offset, 0)
	q.Limit = min(max(q.Limit, 0), MaxLimit)
	p, err := compile(snap, q.Filter, e.Results)
	if err != nil {
		return nil, false, err
	}
	order, err := orderOf(snap, q.Sort)
	if err != nil {
		return nil, false, err
	}
	return e.findIndexed(ctx, snap, p, order, q)
}

// SetIndexPolicy sets when indexes serve (narrowShare, walkShare) and returns the undo.
func SetIndexPolicy(narrow, walk int) (restore func()) {
	n, w := narrowShare, walkShare
	narrowShare, walkShare = narrow, walk
	return func() { narrowShare, walkShare = n, w }
}

// SetBlockSize sets the size of index blocks and returns the undo.
func SetBlockSize(n int) (restore func()) {
	b := blockSize
	blockSize = n
	return func() { blockSize = b }
}
