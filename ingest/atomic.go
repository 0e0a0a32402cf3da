package ingest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces the file at path with what write produces, so that a reader, a crash or a full
// disk sees either the old file or the new one, never a torn mix: the bytes go to a temporary
// file in the same folder, are synced, and the temporary file is renamed over path. The new
// file keeps the old one's permissions. On any error the temporary file is removed and path is
// untouched.
func writeFileAtomic(path string, write func(w io.Writer) error) (err error) {
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
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// sync the folder so the rename itself survives a crash
	if d, derr := os.Open(dir2(dir)); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func dir2(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}
