package ingest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

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
		return 0, fmt.Errorf("write %s: create a temporary file beside it: %w", path, bare(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	digest := xxhash.New()
	var out io.Writer = tmp
	if fault := writeFault(dir); fault != nil {
		out = &faultyWriter{w: tmp, name: tmp.Name(), left: faultAfter, err: fault}
	}
	bw := bufio.NewWriterSize(io.MultiWriter(bareWriter{out}, digest), 1<<20)
	if err = write(bw); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return 0, fmt.Errorf("write %s: chmod: %w", path, bare(err))
	}
	if durable {
		if err = tmp.Sync(); err != nil {
			return 0, fmt.Errorf("write %s: sync: %w", path, bare(err))
		}
	}
	if err = tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: close: %w", path, bare(err))
	}
	if guard != nil {
		if err = guard(); err != nil {
			return 0, err
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("write %s: rename: %w", path, bare(err))
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

// bare returns the cause of a failed operation on a temporary file without the file's name,
// for an error that names the file being written instead: the temporary name is random, so the
// same failure (a full disk) would read differently at every try and be logged at every try
// (writeDirty logs a failure once), and it names a file that no longer exists.
func bare(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	}
	return err
}

// bareWriter is a temporary file whose write errors are bare.
type bareWriter struct{ w io.Writer }

func (b bareWriter) Write(p []byte) (int, error) {
	n, err := b.w.Write(p)
	return n, bare(err)
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

// writeFaults holds, by folder, the error every write of a file in it fails with (see
// FailWritesIn); faulty counts them, so that writes look nothing up when no test set one.
var (
	writeFaults sync.Map // cleaned folder path -> error
	faulty      atomic.Int32
)

// faultAfter is how many bytes of its temporary file a faulty write writes before failing, as a
// disk that fills up during a write takes its first bytes.
const faultAfter = 512

// FailWritesIn makes every write of a file in dir fail with err, wrapped as the write to the
// temporary file fails, after its first bytes went into the temporary file: what a full disk
// (syscall.ENOSPC) does to a write, for tests of a server built on this package that cannot
// fill a real one (mounting a small file system needs privileges CI may not have). Writes go
// on failing until the returned stop is called. Nothing but tests calls it.
func FailWritesIn(dir string, err error) (stop func()) {
	key := faultKey(dir)
	writeFaults.Store(key, err)
	faulty.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			writeFaults.Delete(key)
			faulty.Add(-1)
		})
	}
}

// writeFault returns the error FailWritesIn set for the folder dir, or nil.
func writeFault(dir string) error {
	if faulty.Load() == 0 {
		return nil
	}
	if v, ok := writeFaults.Load(faultKey(dir)); ok {
		return v.(error)
	}
	return nil
}

// faultKey is the one name of a folder, however it is spelt (a trailing separator, a symbolic
// link): writes resolve the links of their path.
func faultKey(dir string) string {
	dir = filepath.Clean(dir2(dir))
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return dir
}

// faultyWriter writes left bytes to w, then fails every write with err, as *os.File reports a
// failed write.
type faultyWriter struct {
	w    io.Writer
	name string
	left int
	err  error
}

func (f *faultyWriter) Write(p []byte) (int, error) {
	n := min(len(p), f.left)
	n, err := f.w.Write(p[:n])
	f.left -= n
	if err == nil && n < len(p) {
		err = &fs.PathError{Op: "write", Path: f.name, Err: f.err}
	}
	return n, err
}
