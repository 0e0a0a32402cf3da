package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/ingest"
)

// sharedFolder runs the folder of --shared-dir (DESIGN §4, folder modes): every replica sees
// the same folder, a network share, and only the replica holding the lease (a JetStream
// key-value entry with a TTL) watches and writes it. The others serve and take writes through
// the change log like any replica; the holder writes every change into the files. When the
// holder dies another replica takes the folder over within the lease's TTL: it compares the
// files with the store, so a file edited meanwhile is read as an edit and a change not yet
// written is written, and nothing is written twice.
type sharedFolder struct {
	m     *Main
	log   *slog.Logger
	lease *replica.Lease
	ctx   context.Context // the folder's life: ends at Close
	stop  context.CancelFunc

	mu sync.Mutex
	// folder is this replica's folder from the moment it holds the lease: commits reach it
	// from then on; open is the same folder once it is open, for the API
	folder  *ingest.Folder
	open    *ingest.Folder
	opening sync.WaitGroup
}

func newSharedFolder(m *Main) *sharedFolder {
	ctx, stop := context.WithCancel(context.Background())
	return &sharedFolder{m: m, log: m.Logger, ctx: ctx, stop: stop}
}

// start campaigns for the lease.
func (s *sharedFolder) start(ctx context.Context) error {
	l, err := replica.OpenLease(ctx, s.m.journal.conn, replica.LeaseOptions{Holder: s.m.Config.Replica, TTL: s.m.Config.LeaseTTL,
		Replicas: s.m.journal.log.Load().Copies(), OnAcquire: s.acquired, OnLose: s.lost, Logger: s.log})
	if err != nil {
		return fmt.Errorf("--shared-dir: %w", err)
	}
	s.lease = l
	return nil
}

// OnCommit passes the store's commits to the folder while this replica holds it.
func (s *sharedFolder) OnCommit(c cache.Committed) {
	s.mu.Lock()
	f := s.folder
	s.mu.Unlock()
	if f != nil {
		f.OnCommit(c)
	}
}

// current returns the folder while this replica holds it and it is open.
func (s *sharedFolder) current() *ingest.Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

// acquired opens the folder, in the background: the lease's callbacks must return at once.
func (s *sharedFolder) acquired() {
	s.mu.Lock()
	f := s.m.newFolder()
	f.TakeOver = true
	s.folder = f
	s.opening.Add(1)
	s.mu.Unlock()
	s.log.Info("this replica holds the shared folder: it watches and writes it", "replica", s.m.Config.Replica)
	go func() {
		defer s.opening.Done()
		f.Follow(s.m.Store.Collections()) // after s.folder is set: no commit goes unseen
		err := f.Restore(s.ctx)
		if err == nil {
			_, err = f.Open(s.ctx)
		}
		if err != nil {
			s.log.Error("cannot open the shared folder", "err", err)
			return
		}
		s.mu.Lock()
		lost := s.folder != f
		if !lost {
			s.open = f
		}
		s.mu.Unlock()
		if lost {
			f.Close() // lost while opening: abandoned already, nothing more is written
		}
	}()
}

// lost stops writing at once: another replica may hold the folder within moments.
func (s *sharedFolder) lost() {
	s.mu.Lock()
	f := s.folder
	s.folder, s.open = nil, nil
	s.mu.Unlock()
	if f == nil {
		return
	}
	f.Abandon()
	s.log.Warn("this replica no longer holds the shared folder; another takes it over", "replica", s.m.Config.Replica)
	go f.Close()
}

// Writable and the collection changes are the holder's: another replica takes item writes
// (the holder writes them) but not changes to files, which it cannot make.
func (s *sharedFolder) Writable(collection string) error {
	if f := s.current(); f != nil {
		return f.Writable(collection)
	}
	if s.m.Config.ReadOnly {
		return cache.ErrReadOnlyServer
	}
	return nil
}

func (s *sharedFolder) notHolder() error {
	holder := "none yet"
	if s.lease != nil && s.lease.Holder() != "" {
		holder = s.lease.Holder()
	}
	return fmt.Errorf("%w: collections are created and changed by the replica that holds the shared folder (%s), not this one; try again",
		cache.ErrUnavailable, holder)
}

func (s *sharedFolder) CreateCollection(ctx context.Context, id string, fields []cache.Field) error {
	if f := s.current(); f != nil {
		return f.CreateCollection(ctx, id, fields)
	}
	return s.notHolder()
}

func (s *sharedFolder) UpdateCollection(ctx context.Context, id string, fields []cache.Field) error {
	if f := s.current(); f != nil {
		return f.UpdateCollection(ctx, id, fields)
	}
	return s.notHolder()
}

func (s *sharedFolder) DeleteCollection(ctx context.Context, id string) error {
	if f := s.current(); f != nil {
		return f.DeleteCollection(ctx, id)
	}
	return s.notHolder()
}

// close writes what is left and then hands the lease over, so the next holder finds the files
// up to date.
func (s *sharedFolder) close() error {
	s.opening.Wait()
	s.mu.Lock()
	f := s.folder
	s.folder, s.open = nil, nil
	s.mu.Unlock()
	var err error
	if f != nil {
		err = f.Close()
	}
	if s.lease != nil {
		s.lease.Close()
	}
	s.stop()
	return err
}
