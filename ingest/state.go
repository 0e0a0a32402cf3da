package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// stateDir keeps, for every served file, what sheetsync last synced from it, so that a restart
// picks up where it stopped (DESIGN §4): a copy of the file's bytes as last synced (the base
// against which edits made while sheetsync was down are diffed) and the system dates sheetsync
// serves that the file does not hold. A nil *stateDir keeps nothing.
type stateDir struct {
	dir    string
	log    *slog.Logger
	mu     sync.Mutex
	off    bool              // writing failed once; the folder is served without keeping state
	copied map[string]uint64 // the hash of each file's copy, so an unchanged file is not copied again
}

// syncedMeta is what the state dir records of a file beside its copy.
type syncedMeta struct {
	Hash   string        `json:"hash"`
	Sheets []syncedSheet `json:"sheets"`
}

type syncedSheet struct {
	Sheet      string                 `json:"sheet"`
	Collection string                 `json:"collection"`
	Dates      map[string]servedDates `json:"dates,omitempty"`
}

func openStateDir(dir string, log *slog.Logger) *stateDir {
	if dir == "" {
		return nil
	}
	return &stateDir{dir: filepath.Join(dir, "synced"), log: log, copied: map[string]uint64{}}
}

func (s *stateDir) copyPath(name string) string { return filepath.Join(s.dir, name) }
func (s *stateDir) metaPath(name string) string { return filepath.Join(s.dir, name+".json") }

// save records a file as synced: its bytes and its meta. An empty path writes the meta only.
// For a file whose copy it makes, it returns the copy's block hashes (see blockHashes), so that
// the next edit can be read incrementally.
func (s *stateDir) save(path string, st *trackedFile) (blocks *blockHashes) {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.off {
		return
	}
	meta := syncedMeta{Hash: strconv.FormatUint(st.hash, 16)}
	for _, sh := range st.sheets {
		meta.Sheets = append(meta.Sheets, syncedSheet{Sheet: sh.sheet, Collection: sh.collection, Dates: sh.dates})
	}
	err := os.MkdirAll(s.dir, 0o755)
	if err == nil && s.copied[st.name] != st.hash && path != "" {
		var b blockHashes
		if b, err = copyFileAtomic(path, s.copyPath(st.name), st.hash, st.stat.size); err == nil {
			s.copied[st.name] = st.hash
			blocks = &b
		} else if errors.Is(err, errSourceChanged) {
			return nil // the file changed again: its next sync saves it
		}
	}
	if err == nil {
		_, err = writeFileAtomic(s.metaPath(st.name), func(w io.Writer) error { return json.NewEncoder(w).Encode(meta) })
	}
	if err != nil {
		s.off = true
		s.log.Warn("cannot keep state; edits made while sheetsync is stopped will not be told apart from old content", "dir", s.dir, "err", err)
	}
	return blocks
}

// holds reports whether the state dir has a copy of a file with the given content hash.
func (s *stateDir) holds(name string, hash uint64) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.off && s.copied[name] == hash
}

// open returns the copy of a file with the given content hash, to read parts of it.
func (s *stateDir) open(name string, hash uint64) (*os.File, error) {
	if !s.holds(name, hash) {
		return nil, errSourceChanged
	}
	return os.Open(s.copyPath(name))
}

// copyFileAtomic copies src, of the given size, to dst through a temporary file and a rename,
// computing its block hashes on the way; it fails when the copy does not hash to want (src
// changed during the copy).
func copyFileAtomic(src, dst string, want uint64, size int64) (blockHashes, error) {
	in, err := os.Open(src)
	if err != nil {
		return blockHashes{}, err
	}
	defer in.Close()
	blocks := newBlockWriter(size)
	got, err := writeCacheFile(dst, func(w io.Writer) error {
		_, err := io.Copy(w, io.TeeReader(in, blocks))
		return err
	})
	if err == nil && (got != want || blocks.pos != size) {
		os.Remove(dst)
		return blockHashes{}, errSourceChanged
	}
	return blocks.sum(), err
}

// copyInto writes the bytes of the file src to the folder's file dst, atomically and durably,
// and returns their content hash.
func copyInto(dst, src string) (uint64, error) {
	return writeFileAtomic(dst, func(w io.Writer) error {
		in, err := os.Open(src)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(w, in)
		return err
	})
}

var errSourceChanged = errors.New("the file changed while its copy was made")

// load returns what the state dir holds of a file, and the path of its copy ("" when none).
func (s *stateDir) load(name string) (*syncedMeta, string) {
	if s == nil {
		return nil, ""
	}
	b, err := os.ReadFile(s.metaPath(name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot read state", "file", name, "err", err)
		}
		return nil, ""
	}
	var meta syncedMeta
	if err := json.Unmarshal(b, &meta); err != nil {
		s.log.Warn("ignoring unreadable state", "file", name, "err", err)
		return nil, ""
	}
	copyPath := s.copyPath(name)
	if _, err := os.Stat(copyPath); err != nil {
		copyPath = ""
	} else if h, err := strconv.ParseUint(meta.Hash, 16, 64); err == nil {
		s.mu.Lock()
		s.copied[name] = h
		s.mu.Unlock()
	}
	return &meta, copyPath
}

// names returns the files the state dir holds a record of.
func (s *stateDir) names() []string {
	if s == nil {
		return nil
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() {
			names = append(names, name)
		}
	}
	return names
}

// remove forgets a file that is gone.
func (s *stateDir) remove(name string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	os.Remove(s.copyPath(name))
	os.Remove(s.metaPath(name))
	delete(s.copied, name)
}
