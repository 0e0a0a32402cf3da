package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// commitLookup bounds how long a commit whose publish got no answer waits for NATS to come back
// and tell whether the change is in the log.
const commitLookup = 5 * time.Second

// errNotInLog is findCommitted's answer when the log does not hold the change.
var errNotInLog = errors.New("the change is not in the log")

// findCommitted finds out whether a change published without an answer (the connection broke,
// a NATS server died, the request timed out) is in the log after all: JetStream may have
// stored it and lost only the acknowledgement. It waits (bounded) until NATS is reachable, then
// looks for the change's message id among the collection's messages after the one the publish
// expected to follow, and returns its sequence; errNotInLog when none carries it. Saying
// "nothing was written" of a stored change would make the caller write it twice.
func (l *Log) findCommitted(subject string, after uint64, id string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitLookup)
	defer cancel()
	for l.nc.Status() != nats.CONNECTED {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("NATS did not come back within %s to tell", commitLookup)
		case <-time.After(50 * time.Millisecond):
		}
	}
	seq := after + 1
	for range 10000 {
		msg, err := l.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			return 0, errNotInLog
		case err != nil:
			return 0, err
		case msg.Header.Get(jetstream.MsgIDHeader) == id:
			return msg.Sequence, nil
		}
		seq = msg.Sequence + 1
	}
	return 0, fmt.Errorf("more than 10000 changes to the collection since")
}
