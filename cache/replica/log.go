package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sheetsync/sheetsync/cache"
)

// DefaultStream is the JetStream stream every change goes through.
const DefaultStream = "SHEETSYNC"

// subjectPrefix starts the subject of a collection's changes: one subject per collection, so
// JetStream's expected-last-subject-sequence orders the writes of one collection without
// serialising the others. Collection names hold only A-Z a-z 0-9 _ - (ingest.CollectionName),
// which are valid in a subject token.
const subjectPrefix = "sheetsync.changes."

// MaxMessage bounds one message of the log: the stream's limit, and what the embedded server
// accepts. Changes over MaxInline go through the object store and their message only names
// them, so a cluster needs a max_payload just over MaxInline, not this much.
const MaxMessage = 64 << 20

// conflictCatchUp bounds how long a commit that lost a race waits to apply the change that won.
const conflictCatchUp = 2 * time.Second

// ErrUnavailable is cache.ErrUnavailable: the log cannot be reached, so writes fail fast while
// reads keep working from memory.
var ErrUnavailable = cache.ErrUnavailable

// Log commits changes through one JetStream stream and applies them to a store in stream order
// (DESIGN §4): every replica's store applies the same changes in the same order, so all reach
// the same snapshots. Commit returns once this replica's store has applied the change, so the
// writer reads its own write here.
type Log struct {
	store   *cache.Store
	nc      *nats.Conn
	big     bigChanges
	js      jetstream.JetStream
	stream  jetstream.Stream
	name    string
	replica string
	start   uint64 // the sequence the store reflected when the log opened
	log     *slog.Logger
	// stallAfter and onStall: see LogOptions; applyWait bounds how long Commit waits for its
	// own change to be applied here
	stallAfter time.Duration
	onStall    func(error)
	applyWait  time.Duration
	stopWatch  chan struct{} // closed by Close: ends watch

	mu       sync.Mutex
	consume  jetstream.ConsumeContext // the consumer the log follows with, nil once closed
	closed   bool
	applied  uint64            // stream sequence of the last message applied
	subjects map[string]uint64 // collection -> stream sequence of its last applied message
	onHalt   func(error)
	pending  map[string]chan applied
	changed  chan struct{} // closed and replaced whenever applied moves
	// halted is set when a message needs a newer build (a *VersionError): nothing after it is
	// applied, so this replica stops where it is instead of diverging, and resumes there once
	// upgraded (docs/wire-format.md).
	halted error
}

// applied is what applying one message to the store gave.
type applied struct {
	version uint64
	err     error
}

// LogOptions configure a Log.
type LogOptions struct {
	Stream  string // DefaultStream when empty
	Replica string // this replica's name, recorded in the changes it commits
	// From is the stream sequence this replica's store already reflects (its state dir says
	// so); messages after it are applied. Subjects holds, for each collection, the sequence of
	// its last message up to From, for the optimistic concurrency of the next write.
	From     uint64
	Subjects map[string]uint64
	// OnHalt, when set, is called once if the replica stops applying changes (Err), so that it
	// can say it is not ready.
	OnHalt func(error)
	// MaxBytes bounds the stream: the oldest changes go beyond it (0 keeps every change). A
	// replica resuming from a change no longer held cannot catch up from the log alone.
	MaxBytes int64
	// Replicas is how many copies of the stream a NATS cluster keeps (JetStream replication);
	// 0 or 1 keeps one, as a lone server must.
	Replicas int
	// Defer opens the log without applying anything until Follow is called: the store first
	// gets the content the state dir says it reflected at From (DESIGN §4, restart).
	Defer bool
	// StallAfter is how long the log may hold changes this replica has not applied, with none
	// applied meanwhile, before the replica follows it again (DefaultStallAfter when 0).
	StallAfter time.Duration
	// OnStall, when set, is called with the reason when this replica stops applying changes the
	// log holds, and with nil once it applies them again, so that it can say it is not ready
	// meanwhile.
	OnStall func(error)
	// ApplyWait bounds how long Commit waits for this replica to apply the change it
	// committed (DefaultApplyWait when 0).
	ApplyWait time.Duration
	Logger    *slog.Logger
}

// DefaultApplyWait bounds how long a commit waits for its own change to be applied on its
// replica: far longer than applying takes (under a millisecond to a few hundred for a whole
// big file), short enough that a stalled replica answers rather than hangs.
const DefaultApplyWait = 10 * time.Second

// OpenLog creates the stream if needed and starts applying its messages after o.From to store.
func OpenLog(ctx context.Context, nc *nats.Conn, store *cache.Store, o LogOptions) (*Log, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	name := o.Stream
	if name == "" {
		name = DefaultStream
	}
	cfg := jetstream.StreamConfig{
		Name:       name,
		Subjects:   []string{subjectPrefix + ">"},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute, // a retried publish with the same id is stored once
		MaxMsgSize: MaxMessage,
		MaxBytes:   cmp.Or(o.MaxBytes, -1),
		Discard:    jetstream.DiscardOld,
		Replicas:   max(o.Replicas, 1),
	}
	stream, err := ensureStream(ctx, js, cfg)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeReplicasNotSupported {
		// a single server, not a cluster: it keeps one copy
		if o.Logger != nil {
			o.Logger.Info("the NATS server is not clustered; the change log is kept in one copy")
		}
		cfg.Replicas = 1
		stream, err = ensureStream(ctx, js, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: creating stream %s: %v", ErrUnavailable, name, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if last := info.State.LastSeq; last < o.From {
		// the log holds less than this store applied: it was reset (its files deleted, another
		// cluster); go on from its end rather than wait for sequences that were given out before
		if o.Logger != nil {
			o.Logger.Warn("the change log ends before the change this replica last applied; it was reset, going on from its end",
				"stream", name, "applied", o.From, "log_ends", last)
		}
		o.From = last
	}
	l := &Log{store: store, nc: nc, js: js, big: bigChanges{js: js}, stream: stream, name: name, replica: o.Replica, log: o.Logger, start: o.From,
		applied: o.From, subjects: map[string]uint64{}, onHalt: o.OnHalt, pending: map[string]chan applied{}, changed: make(chan struct{}),
		stallAfter: cmp.Or(o.StallAfter, DefaultStallAfter), onStall: o.OnStall, applyWait: cmp.Or(o.ApplyWait, DefaultApplyWait),
		stopWatch: make(chan struct{})}
	if l.log == nil {
		l.log = slog.Default()
	}
	l.big.replicas = l.Copies()
	for k, v := range o.Subjects {
		l.subjects[k] = v
	}
	if o.Defer {
		return l, nil
	}
	if err := l.Follow(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Follow starts applying the stream's messages after the sequence the log started at (Start),
// in order, for a log opened with Defer; OpenLog calls it otherwise. An ordered consumer
// resumes after the last message it delivered when the connection comes back, so a NATS
// restart or a network blip loses and repeats nothing; a watchdog (watch) follows again if
// it ever stops.
func (l *Log) Follow(ctx context.Context) error {
	if err := l.followFrom(ctx, l.start); err != nil {
		return err
	}
	go l.watch(l.stopWatch)
	return nil
}

// ensureStream opens the stream, creating it when it is missing (see ensure).
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return ensure(ctx,
		func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, cfg.Name) },
		func(ctx context.Context) (jetstream.Stream, error) { return js.CreateStream(ctx, cfg) },
		jetstream.ErrStreamNotFound, jetstream.ErrStreamNameAlreadyInUse)
}

// notConnected is the error of a request made while the connection to NATS is not up, nil
// while it is: requests fail fast rather than wait in the reconnect buffer.
func notConnected(nc *nats.Conn) error {
	if st := nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: not connected to NATS (%s)", ErrUnavailable, strings.ToLower(st.String()))
	}
	return nil
}

// Close stops applying messages.
func (l *Log) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.stopWatch)
	cc := l.consume
	l.consume = nil
	l.mu.Unlock()
	if cc != nil {
		cc.Stop()
	}
}

// handle applies one message of the stream to the store, in stream order.
func (l *Log) handle(msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		l.log.Error("change log message without metadata; skipped", "err", err)
		return
	}
	seq := meta.Sequence.Stream
	l.mu.Lock()
	seen := seq <= l.applied || l.halted != nil
	l.mu.Unlock()
	if seen {
		return // a redelivery after a reconnect, or stopped before it: not fetched nor decoded again
	}
	collection := strings.TrimPrefix(msg.Subject(), subjectPrefix)
	var res applied
	data := msg.Data()
	if obj := msg.Headers().Get(headerChangeObject); obj != "" {
		data = l.getChange(obj)
	}
	cs, err := DecodeChange(data)
	var newer *VersionError
	if errors.As(err, &newer) {
		l.mu.Lock()
		first := l.halted == nil
		if first {
			l.halted = fmt.Errorf("change log message %d: %w", seq, err)
			l.log.Error("a change in the log needs a newer sheetsync; this replica stops applying changes until it is upgraded", "seq", seq, "err", err)
		}
		halted := l.halted
		if first {
			close(l.changed) // wake those waiting for changes that will not come
			l.changed = make(chan struct{})
		}
		l.mu.Unlock()
		if first && l.onHalt != nil {
			l.onHalt(halted)
		}
		return
	}
	if err != nil {
		// every replica refuses the same malformed bytes the same way, so they stay alike
		res.err = fmt.Errorf("change log message %d: %w", seq, err)
		l.log.Error("cannot decode a change from the log; skipped", "seq", seq, "err", err)
	}
	l.mu.Lock()
	if seq <= l.applied || l.halted != nil {
		l.mu.Unlock()
		return // already applied (a redelivery after a reconnect), or stopped before it
	}
	if err == nil {
		cs.Origin.File = fileFromHeaders(msg.Headers())
		res.version, res.err = l.apply(cs)
	}
	l.applied = seq
	l.subjects[collection] = seq
	ch := l.pending[msg.Headers().Get(jetstream.MsgIDHeader)]
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if ch != nil {
		ch <- res
	}
}

// Commit publishes cs to the log and returns once this replica's store has applied it, with the
// version it made there or the error applying it gave (the same on every replica). A change
// based on a snapshot (BaseVersion) that another change has overtaken, here or on another
// replica, fails with cache.ErrVersionConflict: JetStream refuses a message whose collection has
// seen another since, so two replicas cannot both win a race.
func (l *Log) Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error) {
	if cs.Origin.Replica == "" {
		cs.Origin.Replica = l.replica
	}
	if err := notConnected(l.nc); err != nil {
		return 0, err // fail fast: a publish would wait in the reconnect buffer for its timeout
	}
	l.mu.Lock()
	if l.halted != nil {
		l.mu.Unlock()
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, l.halted)
	}
	if cs.BaseVersion != 0 {
		snap, err := l.store.Snapshot(cs.Collection)
		if err != nil || snap.Version() != cs.BaseVersion {
			l.mu.Unlock()
			return 0, fmt.Errorf("collection %s: %w", cs.Collection, cache.ErrVersionConflict)
		}
	}
	expected, known := l.subjects[cs.Collection]
	upTo := l.applied
	l.mu.Unlock()
	if !known {
		// a collection with no change since this replica resumed: its last message is at most
		// what was applied, unless the replica is still catching up
		last, err := l.stream.GetLastMsgForSubject(ctx, subjectPrefix+cs.Collection)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		case last.Sequence > upTo:
			return 0, l.conflict(ctx, cs.Collection, last.Sequence)
		default:
			expected = last.Sequence
		}
	}
	l.mu.Lock()
	id := uuid.NewString()
	ch := make(chan applied, 1)
	l.pending[id] = ch
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}()
	cs.BaseVersion = 0
	data, err := EncodeChange(cs)
	if err != nil {
		return 0, err
	}
	msg := &nats.Msg{Subject: subjectPrefix + cs.Collection, Data: data, Header: nats.Header{}}
	fileToHeaders(cs.Origin.File, msg.Header)
	if len(data) > MaxInline {
		// a whole big file: the bytes go to the object store, the message points at them
		if err := l.putChange(ctx, id, data); err != nil {
			return 0, err
		}
		msg.Data = nil
		msg.Header.Set(headerChangeObject, changeObject(id))
	}
	ack, err := l.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id), jetstream.WithExpectLastSequencePerSubject(expected))
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		// another change got in first
		last, err := l.stream.GetLastMsgForSubject(ctx, msg.Subject)
		if err != nil {
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return 0, l.conflict(ctx, cs.Collection, last.Sequence)
	case errors.As(err, &apiErr), errors.Is(err, jetstream.ErrNoStreamResponse):
		// the log refused it, or no server of the stream heard it: nothing was written
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	case err != nil:
		// sent, but no answer came: the log may hold it (findCommitted)
		seq, ferr := l.findCommitted(msg.Subject, expected, id)
		switch {
		case errors.Is(ferr, errNotInLog):
			return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
		case ferr != nil:
			return 0, fmt.Errorf("collection %s: %w: %v; %v", cs.Collection, cache.ErrOutcomeUnknown, err, ferr)
		}
		ack = &jetstream.PubAck{Stream: l.name, Sequence: seq}
	}
	// The change is in the log now, whatever ctx says: the answer is its result here, not
	// "cancelled" or "took too long", which would read as if nothing was written.
	wait := time.NewTimer(l.applyWait)
	defer wait.Stop()
	select {
	case res := <-ch:
		return res.version, res.err
	case <-wait.C:
		return 0, fmt.Errorf("collection %s: change log sequence %d: %w within %s", cs.Collection, ack.Sequence, cache.ErrNotApplied, l.applyWait)
	}
}

// conflict is a commit's answer when another change to the collection got in first, up to
// sequence last: it waits (bounded) until this replica has applied it, so that the writer's
// next attempt validates against it rather than against the same stale snapshot.
func (l *Log) conflict(ctx context.Context, collection string, last uint64) error {
	wait, cancel := context.WithTimeout(ctx, conflictCatchUp)
	defer cancel()
	if err := l.waitApplied(wait, last); err != nil && ctx.Err() == nil {
		return fmt.Errorf("%w: this replica is behind the change log and did not catch up within %s: %v", ErrUnavailable, conflictCatchUp, err)
	}
	return fmt.Errorf("collection %s: %w", collection, cache.ErrVersionConflict)
}

// CatchUp waits until this replica has applied every change of collection the log holds now:
// a consistent read (spec v3 consistentRead) then sees every write any replica acknowledged.
func (l *Log) CatchUp(ctx context.Context, collection string) error {
	if err := notConnected(l.nc); err != nil {
		return err
	}
	last, err := l.stream.GetLastMsgForSubject(ctx, subjectPrefix+collection)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return l.waitApplied(ctx, last.Sequence)
}

// CatchUpAll waits until this replica has applied every change the log holds now.
func (l *Log) CatchUpAll(ctx context.Context) error {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return l.waitApplied(ctx, info.State.LastSeq)
}

// waitApplied waits until the stream sequence seq is applied.
func (l *Log) waitApplied(ctx context.Context, seq uint64) error {
	for {
		l.mu.Lock()
		done, changed, halted := l.applied >= seq, l.changed, l.halted
		l.mu.Unlock()
		if done {
			return nil
		}
		if halted != nil {
			return fmt.Errorf("%w: %v", ErrUnavailable, halted)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Missing reports whether the log no longer holds the changes right after Start: the stream's
// oldest were dropped (its size or age limit) before this replica applied them. The replica
// must then start from snapshots (Restart).
func (l *Log) Missing() bool {
	info := l.stream.CachedInfo()
	return info != nil && info.State.FirstSeq > l.start+1
}

// Restart moves where a log opened with Defer starts applying: after from, the position of the
// snapshots the replica's store and files were just given.
func (l *Log) Restart(from uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.start, l.applied = from, from
}

// Lag returns how many changes the log holds that this replica has not applied yet.
func (l *Log) Lag(ctx context.Context) (uint64, error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if info.State.LastSeq <= l.applied {
		return 0, nil
	}
	return info.State.LastSeq - l.applied, nil
}

// Copies returns how many copies of the stream the NATS cluster keeps.
func (l *Log) Copies() int {
	if info := l.stream.CachedInfo(); info != nil {
		return max(info.Config.Replicas, 1)
	}
	return 1
}

// Start returns the stream sequence this replica's store reflected when the log opened: From,
// or the log's end for a log that was reset.
func (l *Log) Start() uint64 { return l.start }

// Err reports why this replica stopped applying changes (a change that needs a newer build), or
// nil; a replica that stopped is not ready.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.halted
}

// Applied returns the stream sequence of the last change applied, and for each collection the
// sequence of its last change: what a restart resumes from.
func (l *Log) Applied() (uint64, map[string]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	subjects := make(map[string]uint64, len(l.subjects))
	for k, v := range l.subjects {
		subjects[k] = v
	}
	return l.applied, subjects
}

// Snapshot and Collections read the store: the Log stands where a store is expected.
func (l *Log) Snapshot(name string) (*cache.Snapshot, error) { return l.store.Snapshot(name) }
func (l *Log) Collections() []*cache.Snapshot                { return l.store.Collections() }
