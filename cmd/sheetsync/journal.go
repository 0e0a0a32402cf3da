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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/ingest"
)

// journal is the change log every change goes through (DESIGN §4): API writes and file edits
// are committed to one NATS JetStream stream and applied to the store in its order, on this
// replica and every other. Without --nats the stream lives on an embedded server in the state
// dir: one process is a cluster of one, and an acknowledged write survives the process dying
// before it reaches its file. <state>/log.json records the last change the files hold, so a
// restart applies only the changes after it.
type journal struct {
	store *cache.Store
	log   atomic.Pointer[replica.Log]
	files *replica.Files // versions of files for the other replicas; nil when alone
	// indexDefs shares the index definitions with the other replicas; nil when alone
	indexDefs *replica.IndexDefs

	server *replica.Embedded
	conn   *nats.Conn
	path   string // <state>/log.json: the last sequence the files are known to hold

	// shared is --shared-dir: the state dir is every replica's, and only the holder of the
	// folder writes log.json
	shared bool
	// onChange, when set, is told when what notReady says may have changed: the connection to
	// NATS went or came back, the log stopped, or the replica stalled or moves again
	onChange func()
	// stalled holds why the replica does not apply the changes the log holds, while it does not
	stalled atomic.Pointer[error]

	mu      sync.Mutex
	written uint64
}

// journalBytes bounds the change log on disk: the oldest changes are dropped once it holds
// this much (a few million writes). A replica that was away for longer starts again from its
// files.
const journalBytes = 1 << 30

// journalBytes is how much of its disk the change log may take: journalBytes, or on the embedded
// server half of what JetStream may store there when that is less, so that sheetsync starts on
// a small disk (a stream reserving more than the disk has is refused) and leaves room for the
// file versions and snapshots.
func (j *journal) journalBytes(log *slog.Logger) int64 {
	if j.server == nil {
		return journalBytes
	}
	room := j.server.MaxStore() / 2
	if room <= 0 || room >= journalBytes {
		return journalBytes
	}
	log.Warn("little free disk space for the change log: it keeps at most this much, dropping its oldest changes beyond it; a replica away for longer starts again from its files",
		"state_dir_free_for_nats", j.server.MaxStore(), "log_max_bytes", room)
	return room
}

// clusterReplicas is how many copies of the stream and the files a NATS cluster keeps.
const clusterReplicas = 3

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

// CatchUp waits until this replica applied every change of the collection the log holds (a
// consistent read).
func (j *journal) CatchUp(ctx context.Context, collection string) error {
	l := j.log.Load()
	if l == nil {
		return fmt.Errorf("%w: sheetsync is still starting", cache.ErrUnavailable)
	}
	return l.CatchUp(ctx, collection)
}

// folderCommitter commits the changes read from the files. They are diffs against the files'
// last-synced content, based on no store version, so when another replica's change to the
// same collection got into the log first the change is simply committed after it, once this
// replica has applied it: the log reconciles what no longer fits.
type folderCommitter struct{ j *journal }

func (c folderCommitter) Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error) {
	for range 100 {
		v, err := c.j.Commit(ctx, cs)
		if !errors.Is(err, cache.ErrVersionConflict) {
			return v, err
		}
		if err := c.j.CatchUp(ctx, cs.Collection); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("collection %s: other replicas kept changing it: %w", cs.Collection, cache.ErrVersionConflict)
}

// connect reaches NATS (an existing cluster, or an embedded server in the state dir) and opens
// the log at the last change the files hold, without applying anything yet: the folder first
// restores that content (Follow applies what came after).
func (j *journal) connect(ctx context.Context, c Config, log *slog.Logger) error {
	b, err := os.ReadFile(j.path)
	var st journalState
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// a new state dir: the whole log is applied, so a replica joining others gets every
		// collection, and its own folder's files are then read as edits of them
	case err != nil:
		return fmt.Errorf("reading %s: %w", j.path, err)
	default:
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("reading %s: %w (delete it to apply the whole change log again; the folder's files are then read as edits)", j.path, err)
		}
	}
	replicas := 1
	if c.NATS == "" {
		if j.server, err = replica.StartEmbedded(replica.EmbeddedOptions{StoreDir: filepath.Join(c.StateDir, "nats")}); err != nil {
			return err
		}
		if j.conn, err = j.server.Connect(nats.Name("sheetsync " + c.Replica)); err != nil {
			return fmt.Errorf("connecting to the embedded NATS server: %w", err)
		}
	} else {
		if j.conn, err = j.dialNATS(c, log); err != nil {
			return err
		}
		replicas = clusterReplicas
	}
	o := replica.LogOptions{Replica: c.Replica, From: st.Written, MaxBytes: j.journalBytes(log), Replicas: replicas,
		OnHalt: func(error) { j.changed() }, OnStall: j.setStalled, Logger: log, Defer: true}
	if max := j.conn.MaxPayload(); c.NATS != "" && max < replica.MaxInline+1<<20 {
		log.Warn("the NATS servers take messages of at most this size; a change bigger than it (a big file edit, a large bulk insert) cannot be committed: set max_payload: 64MB in their configuration",
			"max_payload", max, "wanted", replica.MaxInline+1<<20)
	}
	l, err := replica.OpenLog(ctx, j.conn, j.store, o)
	if err != nil {
		return err
	}
	if c.NATS != "" {
		js, err := jetstream.New(j.conn)
		if err == nil {
			j.files, err = replica.OpenFiles(ctx, js, l.Copies())
		}
		if err == nil {
			j.indexDefs, err = replica.OpenIndexDefs(ctx, js, l.Copies())
		}
		if err != nil {
			return err
		}
	}
	if l.Missing() && !j.shared {
		if err := j.bootstrap(ctx, l, c, log); err != nil {
			l.Close()
			return err
		}
	}
	// record where the log starts for this store (after a reset too) before any write can be
	// acknowledged: from here on a restart replays what the files may lack
	from := l.Start()
	if !j.shared {
		b, _ = json.Marshal(journalState{Written: from})
		if err := ingest.WriteFileAtomic(j.path, b); err != nil {
			l.Close()
			return fmt.Errorf("writing %s: %w", j.path, err)
		}
	}
	j.mu.Lock()
	j.written = from
	j.mu.Unlock()
	j.log.Store(l)
	return nil
}

// dialNATS connects to an existing NATS cluster: credentials and TLS come from the URL
// (user:password@, token@, tls://) and the --nats-creds and --nats-ca files. The connection
// reconnects for ever; while it is down, writes fail fast and reads go on from memory.
func (j *journal) dialNATS(c Config, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("sheetsync " + c.Replica),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("disconnected from NATS; writes fail until it is back, reads go on", "err", err)
			j.changed()
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
			j.changed()
		}),
	}
	if c.NATSCreds != "" {
		opts = append(opts, nats.UserCredentials(c.NATSCreds))
	}
	if c.NATSCA != "" {
		opts = append(opts, nats.RootCAs(c.NATSCA))
	}
	nc, err := nats.Connect(c.NATS, opts...)
	if err != nil {
		return nil, fmt.Errorf("--nats %s: %w (is the NATS cluster running and reachable from here?)", redactURL(c.NATS), err)
	}
	log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted())
	return nc, nil
}

// redactURL hides the password or token of NATS URLs, for messages.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// follow applies the changes after the last one the files hold, and waits until every change
// the log holds now is applied; those the files lack reach them through the folder's
// write-back once it opens.
func (j *journal) follow(ctx context.Context, log *slog.Logger) error {
	l := j.log.Load()
	start := time.Now()
	if err := l.Follow(ctx); err != nil {
		return err
	}
	if err := l.CatchUpAll(ctx); err != nil {
		return err
	}
	if seq, _ := l.Applied(); seq > l.Start() {
		log.Info("changes not yet in the files applied from the change log", "from", l.Start()+1, "to", seq,
			"took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// lag returns how many changes the log holds that this replica has not applied, asking NATS
// for at most within; false when it cannot be asked (not connected, no log, no answer), rather
// than waiting on a connection that is down.
func (j *journal) lag(within time.Duration) (uint64, bool) {
	l := j.log.Load()
	if l == nil || !j.connected() {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	lag, err := l.Lag(ctx)
	return lag, err == nil
}

// connected reports whether the connection to NATS is up.
func (j *journal) connected() bool { return j.conn != nil && j.conn.IsConnected() }

// notReady says why this replica is not ready to serve as one of the cluster, "" when it is:
// the log stopped applying changes (a change needs a newer build), the replica is behind it,
// or NATS is away.
func (j *journal) notReady() string {
	if l := j.log.Load(); l != nil && l.Err() != nil {
		return "the change log stopped: " + l.Err().Error()
	}
	if err := j.stalled.Load(); err != nil {
		return "behind the change log: " + (*err).Error()
	}
	if !j.connected() {
		return "disconnected from NATS: writes are refused until it is back; reads go on"
	}
	return ""
}

// changed tells onChange.
func (j *journal) changed() {
	if j.onChange != nil {
		j.onChange()
	}
}

// setStalled records that the replica stopped applying the log's changes (err) or applies them
// again (nil).
func (j *journal) setStalled(err error) {
	if err == nil {
		j.stalled.Store(nil)
	} else {
		j.stalled.Store(&err)
	}
	j.changed()
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
