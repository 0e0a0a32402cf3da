package replica

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errCodeReplicasNotSupported is JetStream's answer to more than one copy on a lone server
// (JSStreamReplicasNotSupportedErr; nats.go names no constant for it).
const errCodeReplicasNotSupported jetstream.ErrorCode = 10074

// ensure opens a JetStream stream or bucket with open, creating it with create when open says
// notFound. One that exists is used as it is: replicas starting together would otherwise all
// update it at once, which a NATS cluster answers with timeouts (nats-server#3677). Creating is
// retried for a while for the same reason (exists: another replica made it meanwhile), and
// because a cluster that just started may have no JetStream leader yet. More copies than a lone
// server keeps is answered at once, for the caller to ask for one.
func ensure[T any](ctx context.Context, open, create func(context.Context) (T, error), notFound, exists error) (T, error) {
	var zero T
	var err error
	for attempt := range 8 {
		var v T
		if v, err = open(ctx); err == nil {
			return v, nil
		}
		if errors.Is(err, notFound) {
			if v, err = create(ctx); err == nil {
				return v, nil
			}
			if errors.Is(err, exists) {
				continue
			}
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeReplicasNotSupported {
				return zero, err
			}
		}
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(time.Duration(100<<attempt) * time.Millisecond): // up to 12.8 s
		}
	}
	return zero, err
}
