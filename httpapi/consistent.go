package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// catchUpStore is a Store shared by replicas through a change log: it can wait until it has
// applied every change of a collection that any replica acknowledged.
type catchUpStore interface {
	CatchUp(ctx context.Context, collection string) error
}

// consistentReadWait bounds how long a consistent read waits for this replica to catch up.
const consistentReadWait = 5 * time.Second

// consistentRequest is a v3 read that may ask for consistentRead.
type consistentRequest interface {
	consistentRead() bool
}

func (r *v3QueryRequest) consistentRead() bool     { return r.ConsistentRead }
func (r *v3CountRequest) consistentRead() bool     { return r.ConsistentRead }
func (r *v3AggregateRequest) consistentRead() bool { return r.ConsistentRead }
func (r *v3DistinctRequest) consistentRead() bool  { return r.ConsistentRead }

// consistentReadKey is looked for in a request before it is decoded: only a request that names
// it can ask for a consistent read, and the others keep the result cache's fast path.
var consistentReadKey = []byte(`"consistentRead"`)

// catchUp makes a consistent read (spec v3: the read must see every write acknowledged before
// it, on any replica) wait until this replica has applied the collection's last change in the
// log. v3Serve calls it before anything else answers, the result cache included, and before
// the read takes a query slot. A replica that cannot catch up in time, or reach the log,
// answers unavailable rather than possibly stale data.
func (s *Server) catchUp(ctx context.Context, name string) error {
	cs, ok := s.store.(catchUpStore)
	if !ok || name == "" {
		return nil
	}
	wait, cancel := context.WithTimeout(ctx, consistentReadWait)
	defer cancel()
	if err := cs.CatchUp(wait, name); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("it did not catch up with the change log within %s", consistentReadWait)
		}
		return &apiError{status: http.StatusServiceUnavailable, code: codeUnknown,
			message: "this replica cannot promise a consistent read now: " + err.Error() + "; try again, or read without consistentRead",
			data:    map[string]any{"description": "unavailable"}}
	}
	return nil
}
