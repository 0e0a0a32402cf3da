package replica

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sheetsync/sheetsync/cache"
)

// watchdogBound bounds waiting for the watchdog, which checks once a second: generous, for a
// machine loaded by other tests under the race detector.
const watchdogBound = 30 * time.Second

// stallRecorder keeps what a log told OnStall.
type stallRecorder struct {
	mu    sync.Mutex
	calls []error
}

func (r *stallRecorder) onStall(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, err)
}

// said reports whether OnStall was told of a stall and then of the recovery.
func (r *stallRecorder) said() (stalled, recovered bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, err := range r.calls {
		if err != nil {
			stalled = true
		} else if stalled {
			recovered = true
		}
	}
	return stalled, recovered
}

// stopConsumer stops the consumer l follows with, behind its back, as a consumer that stopped
// delivering for any reason would: nothing but the watchdog can make l apply changes again.
func stopConsumer(t *testing.T, l *Log) {
	l.mu.Lock()
	cc := l.consume
	l.mu.Unlock()
	cc.Stop()
	// Stop returns before the subscription is gone: a message published meanwhile could still
	// be delivered
	select {
	case <-cc.Closed():
	case <-time.After(watchdogBound):
		t.Fatal("the consumer did not stop")
	}
}

// TestLogFollowsAgainAfterStall: a replica whose consumer stopped delivering notices that the
// log holds changes it does not apply, says so (not ready), follows the log again from where it
// was, applies every change, and says it recovered.
func TestLogFollowsAgainAfterStall(t *testing.T) {
	e := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	storeA, a := replicaOn(t, e, LogOptions{Replica: "a"})
	var stalls stallRecorder
	storeB, b := replicaOn(t, e, LogOptions{Replica: "b", StallAfter: 300 * time.Millisecond, OnStall: stalls.onStall})
	table := counterTable(t)
	if _, err := a.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b applies the first change", func() bool { return counterOf(storeB) == 0 })

	stopConsumer(t, b)
	for range 5 {
		if err := increment(ctx, storeA, a); err != nil {
			t.Fatal(err)
		}
	}
	waitWithin(t, watchdogBound, "b applies the changes made while its consumer was stopped", func() bool { return counterOf(storeB) == 5 })
	waitWithin(t, watchdogBound, "b says it stalled, then that it recovered", func() bool {
		stalled, recovered := stalls.said()
		return stalled && recovered
	})
	if err := increment(ctx, storeB, b); err != nil {
		t.Fatalf("a write through b after it followed the log again: %v", err)
	}
	waitFor(t, "a applies b's write", func() bool { return counterOf(storeA) == 6 })
}

// TestLogCommitDoesNotWaitForever: a commit on a replica that does not apply the log (its
// consumer stopped, and the watchdog is slower than the commit's bound) answers that the change
// is committed but not applied here, instead of waiting for good; the change is not lost: the
// other replica applies it.
func TestLogCommitDoesNotWaitForever(t *testing.T) {
	e := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	storeA, a := replicaOn(t, e, LogOptions{Replica: "a"})
	_, b := replicaOn(t, e, LogOptions{Replica: "b", StallAfter: time.Hour, ApplyWait: 200 * time.Millisecond})
	table := counterTable(t)
	if _, err := a.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	if err := b.CatchUp(ctx, "counter"); err != nil {
		t.Fatal(err)
	}
	stopConsumer(t, b)
	_, err := b.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(9)}}})
	if !errors.Is(err, cache.ErrNotApplied) || ctx.Err() != nil {
		t.Fatalf("a commit on a replica that does not apply the log: %v, want ErrNotApplied", err)
	}
	waitFor(t, "a applies the change b committed", func() bool { return counterOf(storeA) == 9 })
}

// TestLogStreamMadeAgain: the stream is deleted and made again (an operator's mistake, or a
// NATS server that lost its store) while a replica follows it, so the log now ends before what
// the replica applied. The replica goes on from the log's new end: the changes committed to the
// new stream are applied, not skipped as ones it has seen, and writes through it succeed.
func TestLogStreamMadeAgain(t *testing.T) {
	e := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	storeA, a := replicaOn(t, e, LogOptions{Replica: "a"})
	table := counterTable(t)
	if _, err := a.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := increment(ctx, storeA, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.js.DeleteStream(ctx, DefaultStream); err != nil {
		t.Fatal(err)
	}
	// a new replica makes the stream again and commits to it
	storeC, c := replicaOn(t, e, LogOptions{Replica: "c"})
	waitWithin(t, watchdogBound, "a notices the log ends before what it applied", func() bool {
		applied, _ := a.Applied()
		return applied == 0
	})
	fresh := counterTable(t)
	if _, err := c.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &fresh}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a applies the new stream's first change", func() bool { return counterOf(storeA) == 0 })
	if err := increment(ctx, storeA, a); err != nil {
		t.Fatalf("a write through a on the new stream: %v", err)
	}
	waitFor(t, "c applies a's write", func() bool { return counterOf(storeC) == 1 })
	if _, err := a.stream.Info(ctx); errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal("the stream is gone")
	}
}
