package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// catchUpStore is a Store shared by replicas through a change log: it can wait until it has
// applied every change of a collection that any replica acknowledged.
type catchUpStore interface {
	CatchUp(ctx context.Context, collection string) error
}

// consistentReadWait bounds how long a consistent read waits for this replica to catch up.
const consistentReadWait = 5 * time.Second

// readSnapshot returns the snapshot a v3 read answers from. With consistentRead (spec v3: the
// read must see every write acknowledged before it, on any replica) it first waits until this
// replica has applied the collection's last change in the log; a replica that cannot catch up
// in time, or reach the log, answers unavailable rather than possibly stale data.
func (s *Server) readSnapshot(ctx context.Context, name string, consistent bool) (*cache.Snapshot, error) {
	if cs, ok := s.store.(catchUpStore); ok && consistent && name != "" {
		wait, cancel := context.WithTimeout(ctx, consistentReadWait)
		defer cancel()
		if err := cs.CatchUp(wait, name); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("it did not catch up with the change log within %s", consistentReadWait)
			}
			return nil, &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
				message: "this replica cannot promise a consistent read now: " + err.Error() + "; try again, or read without consistentRead",
				data:    map[string]any{"description": "unavailable"}}
		}
	}
	return s.snapshot(name)
}
