package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// A snapshot of the folder is the state dir's record of it: each file's bytes as last synced
// and what is kept beside them (the dates served that the file does not hold). When the folder
// is idle (every change up to some log position written), that record is the folder at that
// position; replicas store it so that a replica the log cannot bring up to date starts from it
// (DESIGN §4, snapshots and bootstrap).

// SyncedFile is one file of the state dir's record: its name in the folder and where its
// last-synced copy and its meta are.
type SyncedFile struct {
	Name, Copy, Meta string
}

// SyncedFiles lists the state dir's record of the folder.
func SyncedFiles(stateDir string) []SyncedFile {
	s := openStateDir(stateDir, slog.Default())
	var out []SyncedFile
	for _, name := range s.names() {
		f := SyncedFile{Name: name, Copy: s.copyPath(name), Meta: s.metaPath(name)}
		if _, err := os.Stat(f.Copy); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// SnapshotSource gives the files of a snapshot: each one's bytes and meta.
type SnapshotSource func(ctx context.Context, name string) (io.ReadCloser, []byte, error)

// InstallSnapshot makes a folder and its state dir what a snapshot of the named files says:
// the state dir's record is replaced by the snapshot's, and each file goes into the folder
// (a file there with other bytes, or that the snapshot lacks, first goes to the trash). The
// folder then opens as after a restart at the snapshot's log position.
func InstallSnapshot(ctx context.Context, dir, stateDir string, names []string, get SnapshotSource, log *slog.Logger) error {
	s := openStateDir(stateDir, log)
	if err := os.RemoveAll(s.dir); err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, name := range names {
		want[name] = true
		if err := installFile(ctx, dir, stateDir, s, name, get, log); err != nil {
			return fmt.Errorf("installing the snapshot of %s: %w", name, err)
		}
	}
	local, err := spreadsheetNames(dir)
	if err != nil {
		return err
	}
	for _, name := range local {
		if !want[name] {
			if err := trashFile(dir, stateDir, name, false, log); err != nil {
				return err
			}
		}
	}
	return nil
}

func installFile(ctx context.Context, dir, stateDir string, s *stateDir, name string, get SnapshotSource, log *slog.Logger) error {
	r, meta, err := get(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	hash, err := writeCacheFile(s.copyPath(name), func(w io.Writer) error { _, err := io.Copy(w, r); return err })
	if err != nil {
		return err
	}
	if _, err := writeCacheFile(s.metaPath(name), func(w io.Writer) error { _, err := w.Write(meta); return err }); err != nil {
		return err
	}
	path := filepath.Join(dir, name)
	if have, err := hashFile(path); err == nil {
		if have == hash {
			return nil
		}
		if err := trashFile(dir, stateDir, name, false, log); err != nil {
			return err
		}
	}
	_, err = copyInto(path, s.copyPath(name))
	return err
}
