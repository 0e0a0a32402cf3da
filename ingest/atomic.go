package ingest

import (
	"bufio"

	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
)

// writeFileAtomic replaces the file at path with what write produces, and returns the content
// hash (see hashFile) of the bytes written, by which the watcher later recognises this write as
// its own, so that a reader, a crash or a full
// disk sees either the old file or the new one, never a torn mix: the bytes go to a temporary
// file in the same folder, are synced, and the temporary file is renamed over path. The new
// file keeps the old one's permissions. On any error the temporary file is removed and path is
// untouched.
func writeFileAtomic(path string, write func(w io.Writer) error) (hash uint64, err error) {
	return writeAtomic(path, write, true, nil)
}

// WriteFileAtomic replaces the file at path with data as writeFileAtomic does (temporary file,
// sync, rename), for the small files of sheetsync's state dir that cmd keeps.
func WriteFileAtomic(path string, data []byte) error {
	_, err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(data); return err })
	return err
}

// writeFileAtomicIf is writeFileAtomic that calls guard just before the rename and leaves the
// file as it is when guard fails: write-back checks that nobody saved the file meanwhile.
func writeFileAtomicIf(path string, write func(w io.Writer) error, guard func() error) (uint64, error) {
	return writeAtomic(path, write, true, guard)
}

// writeCacheFile is writeFileAtomic without the fsync, for sheetsync's own caches (the state
// dir's copies): a crash may lose one, which costs a full read later, never data.
func writeCacheFile(path string, write func(w io.Writer) error) (uint64, error) {
	return writeAtomic(path, write, false, nil)
}

func writeAtomic(path string, write func(w io.Writer) error, durable bool, guard func() error) (hash uint64, err error) {
	// a symbolic link is written through: the file it points at is replaced, the link stays
	if real, lerr := filepath.EvalSymlinks(path); lerr == nil {
		path = real
	}
	mode := os.FileMode(0o644)
	if fi, statErr := os.Stat(path); statErr == nil {
		mode = fi.Mode().Perm()
	}
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	digest := xxhash.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, digest), 1<<20)
	if err = write(bw); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err = tmp.Sync(); err != nil {
			return 0, fmt.Errorf("write %s: sync: %w", path, err)
		}
	}
	if err = tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if guard != nil {
		if err = guard(); err != nil {
			return 0, err
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	// sync the folder so the rename itself survives a crash
	if d, derr := os.Open(dir2(dir)); derr == nil && durable {
		d.Sync()
		d.Close()
	} else if derr == nil {
		d.Close()
	}
	return digest.Sum64(), nil
}

// hashFile returns the content hash of the file at path: xxhash64 of its bytes, fast enough
// (gigabytes a second) to run before every re-read of a file, so an unchanged file, or one
// sheetsync wrote itself, costs a read but no decode.
func hashFile(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	d := xxhash.New()
	if _, err := io.CopyBuffer(d, f, make([]byte, 1<<20)); err != nil {
		return 0, err
	}
	return d.Sum64(), nil
}

func dir2(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}
