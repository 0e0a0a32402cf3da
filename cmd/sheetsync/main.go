// Command sheetsync serves a folder of CSV and XLSX files as a Wix external database.
//
//	sheetsync serve [flags]   serve a folder (also what a bare sheetsync does)
//	sheetsync check FILE...   read files as serve would and print what it would serve and every problem
//	sheetsync keys            make a key pair and sign requests, to try v3 authentication locally
//	sheetsync version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
	"github.com/sheetsync/sheetsync/ingest"
	"github.com/sheetsync/sheetsync/query"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `sheetsync serves a folder of CSV and XLSX files as a Wix external database.

Usage:
  sheetsync serve [flags]   serve a folder (what a bare "sheetsync" does)
  sheetsync check FILE...   read files or folders as serve would; print collections, fields, types, problems
  sheetsync keys            make an RSA key pair to try v3 authentication locally
  sheetsync keys sign       print a v3 request body signed with that key
  sheetsync version         print the version

Run "sheetsync serve -h" for the flags, "sheetsync check -h" and "sheetsync keys -h" for theirs.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "keys":
		return runKeys(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sheetsync: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	m := NewMain()
	m.Stderr = stderr
	if err := m.Config.ParseFlags(args, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "sheetsync:", err)
		return 2
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "sheetsync:", err)
		m.Close()
		return 1
	}
	<-ctx.Done()
	m.Logger.Info("shutting down")
	if err := m.Close(); err != nil {
		fmt.Fprintln(stderr, "sheetsync:", err)
		return 1
	}
	return 0
}

// Main is the serve command: its configuration and the components it wires together. Tests
// drive the same code (STYLE.md §13).
type Main struct {
	Config Config
	Stderr io.Writer
	Logger *slog.Logger

	Store   *cache.Store
	Results *cache.Results
	Server  *httpapi.Server
	Folder  *ingest.Folder // nil with --shared-dir, where it moves with the lease
	shared  *sharedFolder
	journal *journal
	// stopSnapshots ends the periodic snapshots of the folder
	stopSnapshots context.CancelFunc
	// serving is set once the initial load and catch-up are done: /readyz follows NATS from then
	serving atomic.Bool
	// live is Folder for the metrics, which are read while Run sets it
	live atomic.Pointer[ingest.Folder]
	// indexes are the index definitions; indexSync shares them with the other replicas once
	// the change log is open (nil when alone)
	indexes   *query.Indexes
	indexSync atomic.Pointer[indexSync]
	unlock    func()
}

// updateReady sets /readyz from where the replica stands: loading until it serves, then not
// ready while j says why (the log stopped, the replica is behind it, NATS is away).
func (m *Main) updateReady(j *journal) {
	if !m.serving.Load() {
		return
	}
	if reason := j.notReady(); reason != "" {
		m.Server.SetNotReady(reason)
	} else {
		m.Server.SetReady()
	}
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: NewConfig(), Stderr: os.Stderr}
}

// Run validates the configuration and starts serving: the HTTP server first (so /healthz
// answers and a port conflict fails fast), then the initial load of the folder, after which
// /readyz turns ready. It returns once serving; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	m.Logger = newLogger(m.Stderr, m.Config.LogFormat)
	if !m.Config.SharedDir { // with --shared-dir every replica shares the state dir; the lease decides
		unlock, err := lockStateDir(m.Config.StateDir)
		if err != nil {
			return err
		}
		m.unlock = unlock
	}
	dir, _ := filepath.Abs(m.Config.Dir)
	m.Logger.Info("sheetsync starting", "version", Version(), "dir", dir, "addr", m.Config.Addr, "read_only", m.Config.ReadOnly,
		"replica", m.Config.Replica, "shared_dir", m.Config.SharedDir)
	m.Store = cache.NewStore()
	results, err := cache.NewResults(cache.DefaultMaxCost)
	if err != nil {
		return fmt.Errorf("result cache: %w", err)
	}
	m.Results = results
	m.journal = newJournal(m.Store, m.Config.StateDir)
	m.journal.shared = m.Config.SharedDir
	folder := m.newFolder()
	var files httpapi.Files = folder
	if m.Config.SharedDir {
		m.shared = newSharedFolder(m)
		m.Store.Listen(m.shared.OnCommit) // the holder's folder writes every change
		files = m.shared
	} else {
		m.Store.Listen(folder.OnCommit) // changes not read from these files reach them
	}
	if err := m.openServer(files, m.journal); err != nil {
		return err
	}
	start := time.Now()
	// the order of a restart (DESIGN §4): the files as the state dir says they were when the
	// last change they hold was applied, then the log's changes after it, then what changed in
	// the files meanwhile, read as edits
	j := m.journal
	j.onChange = func() { m.updateReady(j) }
	if err := j.connect(ctx, m.Config, m.Logger); err != nil {
		return fmt.Errorf("change log: %w", err)
	}
	if m.journal.files != nil {
		folder.Files = m.journal.files
	}
	if m.journal.indexDefs != nil {
		s, err := startIndexSync(m.journal.indexDefs, m.indexes, m.saveIndexesHere, m.Logger)
		if err != nil {
			return fmt.Errorf("index definitions: %w", err)
		}
		m.indexSync.Store(s)
	}
	if err := folder.Restore(ctx); err != nil {
		return err
	}
	if err := m.journal.follow(ctx, m.Logger); err != nil {
		return fmt.Errorf("change log: %w", err)
	}
	var problems int
	if m.Config.SharedDir {
		// every replica serves from the state dir and the log; the holder of the lease opens
		// the folder itself
		if err := m.shared.start(ctx); err != nil {
			return err
		}
	} else {
		report, err := folder.Open(ctx)
		if err != nil {
			return err
		}
		m.Folder = folder
		m.live.Store(folder)
		problems = len(report.Problems)
		snapCtx, stop := context.WithCancel(context.Background())
		m.stopSnapshots = stop
		go m.journal.snapshotLoop(snapCtx, folder, m.Config.StateDir, m.Logger)
	}
	m.serving.Store(true)
	m.updateReady(j)
	collections, rows := m.Store.Collections(), 0
	for _, c := range collections {
		rows += c.Len()
	}
	m.Logger.Info("serving", "url", m.Server.URL(), "collections", len(collections), "rows", rows,
		"problems", problems, "load", time.Since(start).Round(time.Millisecond))
	return nil
}

// newFolder returns the live folder as the configuration says; with --shared-dir, a new one
// each time this replica takes the folder over.
func (m *Main) newFolder() *ingest.Folder {
	f := &ingest.Folder{
		Dir: m.Config.Dir, StateDir: m.Config.StateDir,
		Loader:    &ingest.Loader{ReadOnly: m.Config.ReadOnly, Logger: m.Logger},
		Committer: folderCommitter{m.journal}, Baseline: m.Store, Replica: m.Config.Replica,
		Debounce: m.Config.Debounce, Rescan: m.Config.Rescan, Logger: m.Logger,
	}
	f.OnWritten = m.journal.saveWritten(f) // set before the folder's writer starts
	if m.journal.files != nil {
		f.Files = m.journal.files
	}
	return f
}

// openServer authenticates each protocol as DESIGN §2 says and starts listening.
func (m *Main) openServer(files httpapi.Files, store httpapi.Store) error {
	c := m.Config
	v3 := httpapi.Auth{Mode: m.openMode(), AppID: c.AppID}
	if c.JWTPublicKey != "" {
		key, err := httpapi.ParsePublicKey(c.JWTPublicKey)
		if err != nil {
			return err
		}
		v3.Mode, v3.PublicKey = httpapi.AuthKey, key
	}
	legacy := httpapi.Auth{Mode: m.openMode(), SecretKey: c.SecretKey}
	if c.SecretKey != "" {
		legacy.Mode = httpapi.AuthKey
	}
	indexes, err := m.loadIndexes()
	if err != nil {
		return err
	}
	m.indexes = indexes
	m.logAuth("v3", v3.Mode, "--jwt-public-key and --app-id")
	m.logAuth("legacy", legacy.Mode, "--secret-key")
	srv, err := httpapi.NewServer(httpapi.Config{Addr: c.Addr, TLS: c.TLSConfig(), V3: v3, Legacy: legacy, Version: Version(), Logger: m.Logger, Files: files,
		SaveIndexes: m.saveIndexes, Metrics: m.newMetrics(), Status: m.status},
		store, &query.Engine{Results: m.Results, Indexes: indexes})
	if err != nil {
		return err
	}
	srv.SetNotReady("loading " + c.Dir)
	if err := srv.Open(); err != nil {
		return fmt.Errorf("%w (is another sheetsync or program using it? choose another port with --addr)", err)
	}
	m.Server = srv
	return nil
}

// openMode is how a protocol without its key runs: open on loopback or when allowed, off
// otherwise.
func (m *Main) openMode() httpapi.AuthMode {
	if m.Config.Loopback() || m.Config.AllowUnauthenticated {
		return httpapi.AuthOpen
	}
	return httpapi.AuthOff
}

func (m *Main) logAuth(protocol string, mode httpapi.AuthMode, flags string) {
	switch mode {
	case httpapi.AuthKey:
		m.Logger.Info(protocol+" protocol on, authenticated", "protocol", protocol)
	case httpapi.AuthOpen:
		m.Logger.Warn(protocol+" protocol on WITHOUT authentication: anyone who reaches "+m.Config.Addr+" can call it; set "+flags+" before exposing it", "protocol", protocol)
	default:
		m.Logger.Warn(protocol+" protocol off: no key on a public address; set "+flags+" to serve it", "protocol", protocol)
	}
}

// Close stops serving and releases everything, in reverse order of Run.
func (m *Main) Close() error {
	var err error
	if m.Server != nil {
		err = m.Server.Close()
	}
	if m.stopSnapshots != nil {
		m.stopSnapshots()
		m.stopSnapshots = nil
	}
	if m.Folder != nil {
		if ferr := m.Folder.Close(); err == nil {
			err = ferr
		}
		if m.journal != nil { // the files hold every change now: the freshest snapshot there is
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if serr := m.journal.snapshot(ctx, m.Folder, m.Config.StateDir); serr != nil {
				m.Logger.Warn("cannot store the folder's snapshot", "err", serr)
			}
			cancel()
		}
	}
	if m.shared != nil {
		if ferr := m.shared.close(); err == nil {
			err = ferr
		}
		m.shared = nil
	}
	if s := m.indexSync.Swap(nil); s != nil {
		s.close()
	}
	if m.journal != nil {
		m.journal.close(m.Folder)
		m.journal = nil
	}
	if m.unlock != nil {
		m.unlock()
		m.unlock = nil
	}
	if m.Results != nil {
		m.Results.Close()
	}
	return err
}

func newLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// indexesPath is where the index definitions made through the API are kept.
func (m *Main) indexesPath() string { return filepath.Join(m.Config.StateDir, "indexes.json") }

// loadIndexes returns the index registry with the definitions kept in the state dir. The
// indexes themselves are built from the data when first used.
func (m *Main) loadIndexes() (*query.Indexes, error) {
	x := query.NewIndexes()
	b, err := os.ReadFile(m.indexesPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return x, nil
	case err != nil:
		return nil, fmt.Errorf("reading the index definitions: %w", err)
	}
	if err := x.Load(b); err != nil {
		m.Logger.Warn("ignoring unreadable index definitions; indexes can be created again", "path", m.indexesPath(), "err", err)
	}
	return x, nil
}

// saveIndexes keeps the index definitions in the state dir, replacing the file atomically, and
// shares them with the other replicas.
func (m *Main) saveIndexes(b []byte) error {
	if err := ingest.WriteFileAtomic(m.indexesPath(), b); err != nil {
		return err
	}
	if s := m.indexSync.Load(); s != nil {
		return s.publish()
	}
	return nil
}

// saveIndexesHere keeps the index definitions in the state dir only: for definitions that came
// from another replica.
func (m *Main) saveIndexesHere() error {
	b, err := m.indexes.Marshal()
	if err != nil {
		return err
	}
	return ingest.WriteFileAtomic(m.indexesPath(), b)
}
