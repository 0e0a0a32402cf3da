package replica

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sheetsync/sheetsync/cache"
)

// startServer runs an embedded NATS server with JetStream on a random loopback port for the
// test, storing in a temporary folder.
func startServer(t *testing.T) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: true, Host: "127.0.0.1", Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// replicaOn opens a store and its log on the server, as one replica.
func replicaOn(t *testing.T, e *Embedded, o LogOptions) (*cache.Store, *Log) {
	t.Helper()
	nc, err := e.Connect(nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	store := cache.NewStore()
	l, err := OpenLog(context.Background(), nc, store, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return store, l
}

// counterTable is a collection of one row, id "c", whose n is 0.
func counterTable(t *testing.T) cache.Table {
	t.Helper()
	schema, err := cache.NewSchema([]cache.Field{{Key: cache.FieldID, Type: cache.TypeText}, {Key: "n", Type: cache.TypeNumber}})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cache.FromRows("counter", schema, [][]cache.Value{{cache.Text("c"), cache.Number(0)}})
	if err != nil {
		t.Fatal(err)
	}
	cols := make([]*cache.Column, schema.Len())
	for i := range cols {
		cols[i] = snap.Column(i)
	}
	return cache.Table{Schema: schema, Columns: cols}
}

// waitFor polls cond every 2 ms for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitWithin(t, 5*time.Second, what, cond)
}

// waitWithin polls cond every 2 ms for up to within.
func waitWithin(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func counterOf(s *cache.Store) float64 {
	snap, err := s.Snapshot("counter")
	if err != nil {
		return -1
	}
	r, ok := snap.Lookup("c")
	if !ok {
		return -1
	}
	i, _ := snap.Schema().Index("n")
	return snap.Value(r, i).Num()
}

// increment adds one to the counter through l the way an API write does: read the snapshot,
// commit based on its version, and on a conflict read again and retry.
func increment(ctx context.Context, store *cache.Store, l *Log) error {
	for attempt := 0; attempt < 1000; attempt++ {
		snap, err := store.Snapshot("counter")
		if err != nil {
			return err
		}
		r, _ := snap.Lookup("c")
		i, _ := snap.Schema().Index("n")
		n := snap.Value(r, i).Num()
		_, err = l.Commit(ctx, cache.ChangeSet{Collection: "counter", BaseVersion: snap.Version(), Origin: cache.Origin{Kind: cache.OriginAPI},
			Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(n + 1)}}})
		if !errors.Is(err, cache.ErrVersionConflict) {
			return err
		}
		if err := l.CatchUp(ctx, "counter"); err != nil {
			return err
		}
	}
	return fmt.Errorf("gave up after 1000 conflicts")
}

// TestLogReadYourWrites: a commit returns once the replica's own store holds it, with the
// version it made there.
func TestLogReadYourWrites(t *testing.T) {
	e := startServer(t)
	store, l := replicaOn(t, e, LogOptions{Replica: "a"})
	ctx := context.Background()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	v, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(5)}}})
	if err != nil {
		t.Fatal(err)
	}
	snap, _ := store.Snapshot("counter")
	if snap.Version() != v || counterOf(store) != 5 {
		t.Errorf("after the commit: version %d (commit said %d), n %v", snap.Version(), v, counterOf(store))
	}
	// an error applying the change is the commit's error, as on every replica
	_, err = l.Commit(ctx, cache.ChangeSet{Collection: "missing", Insert: []cache.Item{{cache.FieldID: cache.Text("c")}}})
	if !errors.Is(err, cache.ErrCollectionNotFound) {
		t.Errorf("inserting into a missing collection: %v", err)
	}
	// a change applied before (a replay after a restart) is reconciled, not refused: an insert
	// of a row there replaces it, a remove of a row not there is left out
	_, err = l.Commit(ctx, cache.ChangeSet{Collection: "counter", Remove: []string{"gone"},
		Insert: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(7)}}})
	if err != nil || counterOf(store) != 7 {
		t.Errorf("replaying an insert and a remove: %v, n %v", err, counterOf(store))
	}
}

// TestLogConvergeNoLostUpdate: three replicas increment one counter concurrently, each
// validating against its own store; JetStream's per-subject sequence check makes exactly one of
// two racing writes win, so no increment is lost and every store ends the same.
func TestLogConvergeNoLostUpdate(t *testing.T) {
	e := startServer(t)
	var stores []*cache.Store
	var logs []*Log
	for _, name := range []string{"a", "b", "c"} {
		s, l := replicaOn(t, e, LogOptions{Replica: name})
		stores, logs = append(stores, s), append(logs, l)
	}
	ctx := context.Background()
	table := counterTable(t)
	if _, err := logs[0].Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores {
		waitFor(t, "every replica has the counter", func() bool { return counterOf(s) == 0 })
	}
	const each = 30
	var wg sync.WaitGroup
	errs := make(chan error, len(logs)*2)
	for i := range logs {
		for range 2 { // two writers per replica
			wg.Go(func() {
				for range each {
					if err := increment(ctx, stores[i], logs[i]); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	want := float64(len(logs) * 2 * each)
	for i, s := range stores {
		waitFor(t, fmt.Sprintf("replica %d reaches %v", i, want), func() bool { return counterOf(s) == want })
	}
	a, _ := logs[0].Applied()
	for i, l := range logs[1:] {
		waitFor(t, "same applied sequence", func() bool { b, _ := l.Applied(); return b == a })
		if b, _ := l.Applied(); b != a {
			t.Errorf("replica %d applied %d, replica 0 %d", i+1, b, a)
		}
	}
}

// TestLogResume: a replica that stops and starts again from the sequence it had applied gets
// only the changes after it, and a new replica replaying from the start reaches the same state.
func TestLogResume(t *testing.T) {
	e := startServer(t)
	_, l := replicaOn(t, e, LogOptions{Replica: "a"})
	ctx := context.Background()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 5; n++ {
		if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(float64(n))}}}); err != nil {
			t.Fatal(err)
		}
	}
	from, _ := l.Applied()
	l.Close()
	fresh, _ := replicaOn(t, e, LogOptions{Replica: "new"})
	waitFor(t, "a new replica replays to 5", func() bool { return counterOf(fresh) == 5 })

	// the stopped replica's store held n=5 at sequence from; it resumes after it
	resumed, l2 := replicaOn(t, e, LogOptions{Replica: "a", From: from}) // the per-collection sequences are looked up when needed
	if _, err := resumed.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err) // the store as its files would give it, before the log's tail
	}
	if err := increment(ctx, resumed, l2); err != nil {
		t.Fatal(err)
	}
	if got := counterOf(resumed); got != 1 {
		t.Errorf("after resuming and one increment n is %v, want 1 (nothing replayed twice)", got)
	}
	waitFor(t, "the new replica sees the increment", func() bool { return counterOf(fresh) == 1 })
}

// TestLogServerRestart: with the NATS server down, a write fails fast with ErrUnavailable and
// reads keep working; once it is back the log resumes and writes go through.
func TestLogServerRestart(t *testing.T) {
	dir := t.TempDir()
	start := func(port int) *Embedded {
		e, err := StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: true, Host: "127.0.0.1", Port: port})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start(-1)
	url := e.URL()
	var port int
	fmt.Sscanf(url[len("nats://127.0.0.1:"):], "%d", &port)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	store := cache.NewStore()
	l, err := OpenLog(context.Background(), nc, store, LogOptions{Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	table := counterTable(t)
	if _, err := l.Commit(context.Background(), cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	e.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err = l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(1)}}})
	cancel()
	if err == nil {
		t.Fatal("a write went through with the server down")
	}
	if counterOf(store) != 0 {
		t.Errorf("reads with the server down: n %v", counterOf(store))
	}
	e = start(port)
	defer e.Shutdown()
	waitFor(t, "a write goes through after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(2)}}})
		return err == nil
	})
	if counterOf(store) != 2 {
		t.Errorf("after the restart n is %v, want 2", counterOf(store))
	}
}

// TestLogHaltsOnNewerVersion: a message in a wire version this build cannot read stops the
// replica before it, instead of skipping it and diverging; later messages are not applied, and
// writes fail with ErrUnavailable.
func TestLogHaltsOnNewerVersion(t *testing.T) {
	e := startServer(t)
	halts := make(chan error, 2)
	store, l := replicaOn(t, e, LogOptions{Replica: "old", OnHalt: func(err error) { halts <- err }})
	ctx := context.Background()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	// a message from a newer replica: the magic, then version 2
	nc, err := e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(subjectPrefix+"counter", []byte("SSCS\x02")); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	waitFor(t, "the replica halts", func() bool { return l.Err() != nil })
	select {
	case err := <-halts:
		var ve *VersionError
		if !errors.As(err, &ve) {
			t.Errorf("OnHalt got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("OnHalt was not called")
	}
	before, _ := l.Applied()
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(1)}}}); !errors.Is(err, ErrUnavailable) {
		t.Errorf("a write on a halted replica: %v", err)
	}
	if err := l.CatchUpAll(ctx); !errors.Is(err, ErrUnavailable) {
		t.Errorf("catching up past the newer change: %v", err)
	}
	if after, _ := l.Applied(); after != before || counterOf(store) != 0 {
		t.Errorf("applied moved from %d to %d, n %v", before, after, counterOf(store))
	}
}

// TestLogMaxBytes: a bounded stream drops its oldest changes beyond MaxBytes, and writes go on.
func TestLogMaxBytes(t *testing.T) {
	e := startServer(t)
	store, l := replicaOn(t, e, LogOptions{Replica: "a", MaxBytes: 8 << 10})
	ctx := context.Background()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 200; n++ {
		if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(float64(n))}}}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Bytes > 8<<10 || info.State.FirstSeq == 1 || counterOf(store) != 200 {
		t.Errorf("stream holds %d bytes from sequence %d; n is %v", info.State.Bytes, info.State.FirstSeq, counterOf(store))
	}
}

// TestLogReset: a replica that applied more than the log now holds (its files were deleted)
// goes on from the log's end instead of waiting for sequences already given out.
func TestLogReset(t *testing.T) {
	e := startServer(t)
	store, l := replicaOn(t, e, LogOptions{Replica: "a", From: 100})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	if counterOf(store) != 0 {
		t.Errorf("after a commit on a reset log: n %v", counterOf(store))
	}
}

// TestLogBigChange: a change bigger than a message may be (a big file loaded whole) goes
// through the object store, and every replica applies it in its place in the log.
func TestLogBigChange(t *testing.T) {
	e := startServer(t)
	storeA, a := replicaOn(t, e, LogOptions{Replica: "a"})
	storeB, _ := replicaOn(t, e, LogOptions{Replica: "b"})
	schema, err := cache.NewSchema([]cache.Field{{Key: cache.FieldID, Type: cache.TypeText}, {Key: "s", Type: cache.TypeText}})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 200_000
	var values [][]cache.Value
	for i := range rows {
		values = append(values, []cache.Value{cache.Text(fmt.Sprintf("id-%07d", i)), cache.Text(fmt.Sprintf("%060d", i))})
	}
	snap, err := cache.FromRows("big", schema, values)
	if err != nil {
		t.Fatal(err)
	}
	table := cache.Table{Schema: schema, Columns: []*cache.Column{snap.Column(0), snap.Column(1)}}
	if b, _ := EncodeChange(cache.ChangeSet{Collection: "big", Replace: &table}); len(b) <= MaxInline {
		t.Fatalf("the change encodes to %d bytes, not more than a message holds inline (%d): the test proves nothing", len(b), MaxInline)
	}
	ctx := context.Background()
	if _, err := a.Commit(ctx, cache.ChangeSet{Collection: "big", Replace: &table}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Commit(ctx, cache.ChangeSet{Collection: "big", Remove: []string{"id-0000007"}}); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*cache.Store{"a": storeA, "b": storeB} {
		waitFor(t, "replica "+name+" applies the big change and the one after", func() bool {
			snap, err := s.Snapshot("big")
			return err == nil && snap.Len() == rows-1
		})
	}
}
