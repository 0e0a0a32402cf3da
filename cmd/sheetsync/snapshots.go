package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/ingest"
)

// snapshotEvery is how often a replica stores its folder's snapshot (DESIGN §4): a replica the
// log cannot bring up to date (new, or away longer than the log keeps changes) starts from the
// latest snapshots and the log's tail after them.
var snapshotEvery = 5 * time.Minute

// snapshot stores the folder's snapshot at the log position its files hold: the state dir's
// record of each file, when every change applied so far is written (the folder idle), for each
// file whose stored snapshot is older. The snapshot of a file this replica no longer has goes,
// when it is older than what this replica has applied (a newer one is of a file it has not
// caught up with yet).
func (j *journal) snapshot(ctx context.Context, folder *ingest.Folder, stateDir string) error {
	l := j.log.Load()
	if l == nil || j.files == nil || folder == nil {
		return nil
	}
	seq, _ := l.Applied()
	if !folder.Idle() {
		return nil // changes are being written: the next round
	}
	stored, err := j.files.Snapshots(ctx)
	if err != nil {
		return err
	}
	have := map[string]uint64{}
	for _, s := range stored {
		have[s.Name] = s.Seq
	}
	mine := map[string]bool{}
	for _, f := range ingest.SyncedFiles(stateDir) {
		mine[f.Name] = true
		if at, ok := have[f.Name]; ok && at >= seq {
			continue
		}
		if err := putSnapshot(ctx, j.files, f, seq); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	for name, at := range have {
		if !mine[name] && at < seq {
			if err := j.files.DeleteSnapshot(ctx, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func putSnapshot(ctx context.Context, files *replica.Files, f ingest.SyncedFile, seq uint64) error {
	meta, err := os.ReadFile(f.Meta)
	if err != nil {
		return err
	}
	copy, err := os.Open(f.Copy)
	if err != nil {
		return err
	}
	defer copy.Close()
	return files.PutSnapshot(ctx, f.Name, seq, copy, meta)
}

// snapshotLoop stores snapshots every snapshotEvery until ctx ends.
func (j *journal) snapshotLoop(ctx context.Context, folder *ingest.Folder, stateDir string, log *slog.Logger) {
	t := time.NewTicker(snapshotEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := j.snapshot(ctx, folder, stateDir); err != nil && !failing {
			log.Warn("cannot store the folder's snapshot; retrying", "err", err)
			failing = true
		} else if err == nil {
			failing = false
		}
	}
}

// bootstrap starts a replica the log cannot bring up to date from the latest snapshots: its
// folder and state dir become theirs, and the log is applied after the oldest of them (a
// change a snapshot holds already is reconciled when applied again).
func (j *journal) bootstrap(ctx context.Context, l *replica.Log, c Config, log *slog.Logger) error {
	if j.files == nil {
		return nil
	}
	snaps, err := j.files.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("reading the snapshots: %w", err)
	}
	if len(snaps) == 0 {
		log.Warn("the change log no longer holds every change since this replica's files, and there is no snapshot: the folder is served as it is")
		return nil
	}
	from := snaps[0].Seq
	var names []string
	for _, s := range snaps {
		from = min(from, s.Seq)
		names = append(names, s.Name)
	}
	start := time.Now()
	if err := ingest.InstallSnapshot(ctx, c.Dir, c.StateDir, names, j.files.GetSnapshot, log); err != nil {
		return err
	}
	l.Restart(from)
	log.Info("the change log no longer holds every change since this replica's files: started from the snapshots",
		"files", len(names), "at", from, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
