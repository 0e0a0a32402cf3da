package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/ingest"
)

// journal is the store the API writes through. A write is committed through the change log, a
// NATS JetStream stream on an embedded server in the state dir, before it is answered, so an
// acknowledged write survives the process dying before the write reaches its file: at the next
// start the files are read, and the changes after the last one known to be in them are applied
// again and written (DESIGN §4; several replicas sharing the log come next).
type journal struct {
	store *cache.Store
	log   atomic.Pointer[replica.Log]

	server *replica.Embedded
	conn   *nats.Conn
	path   string // <state>/log.json: the last sequence the files are known to hold

	mu      sync.Mutex
	written uint64
}

// journalBytes bounds the embedded change log on disk. One process needs only the changes after
// the last one its files hold, seconds old, so the oldest are dropped once it holds this much
// (a few million writes).
const journalBytes = 1 << 30

// journalState is what log.json holds.
type journalState struct {
	Written uint64 `json:"written"`
}

func newJournal(store *cache.Store, stateDir string) *journal {
	return &journal{store: store, path: filepath.Join(stateDir, "log.json")}
}

func (j *journal) Snapshot(name string) (*cache.Snapshot, error) { return j.store.Snapshot(name) }
func (j *journal) Collections() []*cache.Snapshot                { return j.store.Collections() }

// Commit commits through the log once it is open; before, writes are refused as unavailable.
func (j *journal) Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error) {
	l := j.log.Load()
	if l == nil {
		return 0, fmt.Errorf("%w: sheetsync is still starting", cache.ErrUnavailable)
	}
	return l.Commit(ctx, cs)
}

// open starts the embedded server and the log, and applies the changes after the last one the
// files are known to hold; they reach the files through the folder's write-back, which must
// already call saveWritten.
func (j *journal) open(ctx context.Context, stateDir, replicaName string, log *slog.Logger, onHalt func(error)) error {
	b, err := os.ReadFile(j.path)
	var st journalState
	fromEnd := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// nothing recorded: a new state dir, or log.json was deleted. Applying the whole log again
		// could put old values over newer edits in the files, so go on from its end.
		fromEnd = true
	case err != nil:
		return fmt.Errorf("reading %s: %w", j.path, err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("reading %s: %w (delete it to go on from the end of the change log; writes not yet in the files are then lost)", j.path, err)
		}
	}
	if j.server, err = replica.StartEmbedded(replica.EmbeddedOptions{StoreDir: filepath.Join(stateDir, "nats")}); err != nil {
		return err
	}
	if j.conn, err = j.server.Connect(nats.Name("sheetsync " + replicaName)); err != nil {
		return fmt.Errorf("connecting to the embedded NATS server: %w", err)
	}
	l, err := replica.OpenLog(ctx, j.conn, j.store, replica.LogOptions{Replica: replicaName, From: st.Written, FromEnd: fromEnd,
		MaxBytes: journalBytes, OnHalt: onHalt, Logger: log})
	if err != nil {
		return err
	}
	// record where the log starts for this store (after a reset too) before any write can be
	// acknowledged: from here on a restart replays what the files may lack
	from := l.Start()
	b, _ = json.Marshal(journalState{Written: from})
	if err := ingest.WriteFileAtomic(j.path, b); err != nil {
		l.Close()
		return fmt.Errorf("writing %s: %w", j.path, err)
	}
	j.mu.Lock()
	j.written = from
	j.mu.Unlock()
	start := time.Now()
	if err := l.CatchUpAll(ctx); err != nil {
		l.Close()
		return err
	}
	if seq, _ := l.Applied(); seq > from {
		log.Info("changes not yet in the files applied again from the change log", "from", from+1, "to", seq,
			"took", time.Since(start).Round(time.Millisecond))
	}
	j.log.Store(l)
	return nil
}

// err reports why the log stopped applying changes, or nil.
func (j *journal) err() error {
	if l := j.log.Load(); l != nil {
		return l.Err()
	}
	return nil
}

// saveWritten returns the callback that records, after a write-back, the last change the files
// hold: how far the log was applied, read before finding the folder idle, so that every change
// up to there had been handed to the write-back and is written.
func (j *journal) saveWritten(folder *ingest.Folder) func() {
	return func() {
		l := j.log.Load()
		if l == nil {
			return
		}
		seq, _ := l.Applied()
		if !folder.Idle() {
			return
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		if seq <= j.written {
			return
		}
		b, _ := json.Marshal(journalState{Written: seq})
		if err := ingest.WriteFileAtomic(j.path, b); err == nil {
			j.written = seq
		}
	}
}

// close stops the log and the server; folder must be closed first (its last writes done), so
// that the last change written is recorded.
func (j *journal) close(folder *ingest.Folder) {
	if folder != nil {
		j.saveWritten(folder)()
	}
	if l := j.log.Load(); l != nil {
		l.Close()
	}
	if j.conn != nil {
		j.conn.Close()
	}
	if j.server != nil {
		j.server.Shutdown()
	}
}
