package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStallAfter is how long the log may hold changes this replica has not applied, with none
// applied meanwhile, before the replica counts as stalled and follows the log again.
const DefaultStallAfter = 5 * time.Second

// checkEvery is how often the watchdog compares the log's end with what was applied: one
// stream info request per replica per second.
const checkEvery = time.Second

// consumeOptions are those of every consumer the log follows with. Heartbeats every second: a
// consumer whose server died (a NATS node lost) is noticed and recreated on another within
// seconds, not the default 10 or more.
func (l *Log) consumeOptions() []jetstream.PullConsumeOpt {
	return []jetstream.PullConsumeOpt{
		jetstream.PullExpiry(5 * time.Second), jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// nats.go recreates the consumer itself after these; they are worth a line at debug
			// level for whoever reads why a replica fell behind
			l.log.Debug("change log consumer", "err", err)
		}),
	}
}

// followFrom starts applying the stream's messages after sequence from, replacing the consumer
// the log followed with until now. Messages the old consumer still delivers are harmless:
// handle applies each sequence once.
func (l *Log) followFrom(ctx context.Context, from uint64) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 0 {
		cfg = jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1}
	}
	cons, err := l.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.mu.Lock()
	old := l.consume
	l.consume = nil
	closed := l.closed
	l.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	if closed {
		return nil
	}
	cc, err := cons.Consume(l.handle, l.consumeOptions()...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.mu.Lock()
	l.consume = cc
	if l.closed { // closed meanwhile
		l.consume = nil
		defer cc.Stop()
	}
	l.mu.Unlock()
	return nil
}

// watch keeps this replica following the log for as long as it is open. nats.go's ordered
// consumer recreates itself after a reconnect or a missed heartbeat, and nearly always that is
// enough; but a replica that stopped applying for any reason would serve old data for good and
// hang every write through it, so the watchdog checks, every second, that the log's end is
// reached or that the replica is moving towards it:
//   - the log holds changes beyond what was applied, and nothing was applied for StallAfter: the
//     replica says it is stalled (OnStall) and follows the log again from what it applied;
//   - the log ends before what was applied (its server lost its store, or the stream was
//     deleted and made again): the replica goes on from the log's end, as OpenLog does, rather
//     than skip every new change as one it has seen.
func (l *Log) watch(done <-chan struct{}) {
	ticker := time.NewTicker(checkEvery)
	defer ticker.Stop()
	var lastApplied uint64
	progress := time.Now()
	stalled := false
	// moving records that the replica applied what it should: it is not, or no longer, stalled
	moving := func(applied uint64) {
		lastApplied, progress = applied, time.Now()
		if stalled {
			stalled = false
			l.log.Info("this replica applies the change log again", "applied", applied)
			if l.onStall != nil {
				l.onStall(nil)
			}
		}
	}
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
		}
		l.mu.Lock()
		applied, halted := l.applied, l.halted
		l.mu.Unlock()
		if halted != nil || l.nc.Status() != nats.CONNECTED {
			progress = time.Now() // a replica cut off from NATS is not stalled, it is disconnected
			continue
		}
		if applied != lastApplied {
			moving(applied) // applying: no need to ask the log where it ends
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), checkEvery)
		info, err := l.stream.Info(ctx)
		cancel()
		if err != nil {
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				l.log.Error("the change log's stream is gone; writes fail until it is made again (restart the replicas)", "stream", l.name)
			}
			continue
		}
		last := info.State.LastSeq
		switch {
		case last < applied:
			l.log.Error("the change log now ends before the change this replica last applied: it lost changes (its NATS server lost its store, or the stream was made again); going on from its end",
				"stream", l.name, "applied", applied, "log_ends", last)
			l.rewind(last)
			l.refollow(last)
			lastApplied, progress = last, time.Now()
			continue
		case last == applied:
			moving(applied)
			continue
		case time.Since(progress) < l.stallAfter:
			continue
		}
		err = fmt.Errorf("this replica applied no change for %s while the change log holds %d it has not (applied up to %d of %d); following it again",
			time.Since(progress).Round(time.Second), last-applied, applied, last)
		l.log.Warn(err.Error())
		if !stalled && l.onStall != nil {
			l.onStall(err)
		}
		stalled = true
		l.refollow(applied)
		progress = time.Now()
	}
}

// refollow follows the log again after from, logging why it could not (the next check tries
// again).
func (l *Log) refollow(from uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.followFrom(ctx, from); err != nil {
		l.log.Warn("cannot follow the change log again yet", "from", from+1, "err", err)
	}
}

// rewind sets what this replica applied back to seq, the log's end, after the log lost the
// changes beyond it: new changes get those sequences again, and must be applied, not skipped.
// Collections whose last change was lost are asked of the log at their next write.
func (l *Log) rewind(seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.applied = seq
	for c, s := range l.subjects {
		if s > seq {
			delete(l.subjects, c)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
}
