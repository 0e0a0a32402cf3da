package ingest

import (
	"cmp"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// FileStatus is one file of the folder as the status page shows it: what it serves, when
// sheetsync last read and wrote it, and what is wrong in it.
type FileStatus struct {
	Name   string        // the file's name in the folder
	Sheets []SheetStatus // the collections it serves, in the file's order; none when it is not served
	// Read is when sheetsync last read the file after an event or a rescan, whatever it found
	// (the same bytes, an edit, or an error); zero when not since the folder opened.
	Read time.Time
	// Written is when sheetsync last wrote changes not read from the file (API writes, other
	// replicas' changes) into it; zero when not since the folder opened.
	Written  time.Time
	Problems []Problem
}

// SheetStatus is one collection a file serves.
type SheetStatus struct {
	Sheet      string // "" for a CSV file
	Collection string
}

// FileStatus returns every file the folder serves or has a problem with, by name. Whether a
// collection can be written now is Writable's to say.
func (f *Folder) FileStatus() []FileStatus {
	byName := map[string]*FileStatus{}
	get := func(name string) *FileStatus {
		fs := byName[name]
		if fs == nil {
			fs = &FileStatus{Name: name}
			fs.Read, fs.Written = f.times.get(name)
			byName[name] = fs
		}
		return fs
	}
	f.mu.Lock()
	for name, st := range f.files {
		fs := get(name)
		for _, sh := range st.sheets {
			fs.Sheets = append(fs.Sheets, SheetStatus{Sheet: sh.sheet, Collection: sh.collection})
		}
	}
	f.mu.Unlock()
	for _, p := range f.Problems() {
		fs := get(filepath.Base(p.Path))
		fs.Problems = append(fs.Problems, p)
	}
	out := make([]FileStatus, 0, len(byName))
	for _, fs := range byName {
		out = append(out, *fs)
	}
	slices.SortFunc(out, func(a, b FileStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// fileTimes records when each file was last read and written, for FileStatus.
type fileTimes struct {
	mu      sync.Mutex
	read    map[string]time.Time
	written map[string]time.Time
}

func (t *fileTimes) markRead(name string) { t.mark(&t.read, name) }

func (t *fileTimes) markWritten(name string) { t.mark(&t.written, name) }

func (t *fileTimes) mark(m *map[string]time.Time, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if *m == nil {
		*m = map[string]time.Time{}
	}
	(*m)[name] = time.Now()
}

// forget drops a file that is gone: a file of the same name later is another file.
func (t *fileTimes) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.read, name)
	delete(t.written, name)
}

func (t *fileTimes) get(name string) (read, written time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.read[name], t.written[name]
}
