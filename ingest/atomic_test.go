package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteFileAtomicFails: a write that fails part-way (a full disk, injected with
// FailWritesIn, as cmd's fault tests do where they cannot mount a small disk) leaves the file as
// it was and no temporary file, and its error names the file and the cause but not the random
// temporary file, so that the same failure reads the same at every try; writes in other folders
// and after stop are not touched.
func TestWriteFileAtomicFails(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	path := writeFile(t, dir, "products.csv", productsV1)
	big := strings.Repeat("x", 4*faultAfter) // more than the fault lets through

	stop := FailWritesIn(dir+string(filepath.Separator), syscall.ENOSPC) // spelt otherwise
	var msgs []string
	for range 2 {
		err := WriteFileAtomic(path, []byte(big))
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("write on a full disk: %v, want ENOSPC", err)
		}
		msgs = append(msgs, err.Error())
		checkCSVUntouched(t, path, []byte(productsV1)) // and nothing beside it
	}
	if want := "write " + path + ": no space left on device"; msgs[0] != want || msgs[1] != want {
		t.Errorf("errors %q, want %q twice", msgs, want)
	}
	if err := WriteFileAtomic(filepath.Join(other, "state.json"), []byte(big)); err != nil {
		t.Errorf("a write in another folder failed: %v", err)
	}
	stop()
	stop() // twice is once
	if err := WriteFileAtomic(path, []byte(big)); err != nil {
		t.Fatalf("after stop: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != big {
		t.Errorf("after stop the file holds %d bytes, want %d", len(b), len(big))
	}
}

// TestWhatToDo: a write failure of a full or read-only disk says what to do about it, naming the
// folder.
func TestWhatToDo(t *testing.T) {
	dir := t.TempDir()
	f := &Folder{Dir: dir}
	for errno, want := range map[syscall.Errno]string{
		syscall.ENOSPC: "free space on the disk that holds " + dir,
		syscall.EDQUOT: "free space on the disk that holds " + dir,
		syscall.EROFS:  dir + " is on a read-only file system: mount it read-write",
		syscall.EACCES: "give sheetsync permission to write " + dir + " and its files",
		syscall.EIO:    "",
	} {
		err := &os.PathError{Op: "write", Path: filepath.Join(dir, "x.csv"), Err: errno}
		if got := f.whatToDo(err); got != want {
			t.Errorf("%v: %q, want %q", errno, got, want)
		}
	}
}
