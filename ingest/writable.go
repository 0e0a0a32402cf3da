package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sheetsync/sheetsync/cache"
)

// Writable reports whether an API write to collection can be written into its file now, and if
// not, why (the error wraps cache.ErrReadOnly). The API asks before it commits anything, so a
// write that could not reach the file is refused instead of leaving the store and the file
// apart. A collection no file serves is not Folder's to judge: nil; so for "" it says whether the
// folder takes new collections at all.
func (f *Folder) Writable(collection string) error {
	if f.Loader.ReadOnly {
		return cache.ErrReadOnlyServer
	}
	f.mu.Lock()
	name, ok := f.owners[collection]
	st := f.files[name]
	problems := f.problems[name]
	f.mu.Unlock()
	if !ok || st == nil {
		return nil
	}
	if fatal(problems) {
		return fmt.Errorf("%w: %s cannot be read (%s); fix the file to write to it from Wix", cache.ErrReadOnly, name, problems[0].Message)
	}
	f.wb.mu.Lock()
	failed := f.wb.failed[name]
	f.wb.mu.Unlock()
	if failed != nil {
		todo := ""
		if what := f.whatToDo(failed); what != "" {
			todo = ": " + what
		}
		return fmt.Errorf("%w: the last write to %s failed (%v); it is retried every second%s", cache.ErrReadOnly, name, failed, todo)
	}
	if lock := f.lockFile(name); lock != "" {
		return fmt.Errorf("%w: %s is open in another program (its lock file %s exists); close it there to write to it from Wix", cache.ErrReadOnly, name, lock)
	}
	path := filepath.Join(f.Dir, name)
	if err := canWrite(path); err != nil {
		return fmt.Errorf("%w: %s cannot be written: %v", cache.ErrReadOnly, name, err)
	}
	if err := canWrite(f.Dir); err != nil {
		return fmt.Errorf("%w: the folder %s cannot be written (a file is saved by writing a new one beside it): %v", cache.ErrReadOnly, f.Dir, err)
	}
	return nil
}

// whatToDo says what a person can do about a failed write of a file of the folder, for the
// causes a full or read-only disk gives, or "": the error says what failed (no space left on
// device), not that the folder's disk is where to make room.
func (f *Folder) whatToDo(err error) string {
	dir, aerr := filepath.Abs(f.Dir)
	if aerr != nil {
		dir = f.Dir
	}
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "free space on the disk that holds " + dir
	case errors.Is(err, syscall.EROFS):
		return dir + " is on a read-only file system: mount it read-write"
	case errors.Is(err, fs.ErrPermission):
		return "give sheetsync permission to write " + dir + " and its files"
	}
	return ""
}

// capitalize starts s with a capital letter, for a sentence made of a phrase.
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// openElsewhere reports whether a spreadsheet program has the file open (its lock file is
// there): writing it now would be undone when that program saves its copy, so writes wait.
func (f *Folder) openElsewhere(name string) bool { return f.lockFile(name) != "" }

// lockFile returns the name of the lock file a spreadsheet program keeps beside the file
// while it has it open, "" when there is none.
func (f *Folder) lockFile(name string) string {
	for _, lock := range lockFilesOf(name) {
		if _, err := os.Lstat(filepath.Join(f.Dir, lock)); err == nil {
			return lock
		}
	}
	return ""
}

// lockFilesOf names the lock files the common spreadsheet programs keep beside a file they
// have open: Excel's ~$name and LibreOffice's .~lock.name#. A program that saves over the file
// later would undo a write made meanwhile.
func lockFilesOf(name string) []string {
	return []string{"~$" + name, ".~lock." + name + "#"}
}
