package ingest

import (
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sheetsync/sheetsync/cache"
)

// declaredTypes are the field types that collections were created or changed with through the
// API, by file and sheet. A file holds only cells, and an empty column would read as text, so a
// NUMBER field Wix just created would turn into TEXT before its first value; the declared type
// is served instead while the cells fit it (see Loader.Declared). They are kept in the state
// dir (types.json) across restarts; without a state dir, in memory only.
type declaredTypes struct {
	path string
	log  *slog.Logger
	mu   sync.Mutex
	m    map[string]map[string]map[string]string // file -> sheet -> field -> type name
}

var typeByName = map[string]cache.FieldType{}

func init() {
	for _, t := range []cache.FieldType{cache.TypeText, cache.TypeNumber, cache.TypeBoolean, cache.TypeDateTime} {
		typeByName[t.String()] = t
	}
}

func openDeclaredTypes(stateDir string, log *slog.Logger) *declaredTypes {
	d := &declaredTypes{log: log, m: map[string]map[string]map[string]string{}}
	if stateDir == "" {
		return d
	}
	d.path = filepath.Join(stateDir, "types.json")
	b, err := os.ReadFile(d.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("cannot read the declared field types; empty columns read as text", "path", d.path, "err", err)
		}
		return d
	}
	if err := json.Unmarshal(b, &d.m); err != nil {
		log.Warn("ignoring unreadable declared field types; empty columns read as text", "path", d.path, "err", err)
		d.m = map[string]map[string]map[string]string{}
	}
	return d
}

// refPrefix starts the stored type of a reference field: "reference:<collection>".
const refPrefix = "reference:"

// lookup returns the declared types of a sheet's fields, or nil.
func (d *declaredTypes) lookup(file, sheet string) map[string]cache.Field {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := d.m[file][sheet]
	if len(names) == 0 {
		return nil
	}
	out := make(map[string]cache.Field, len(names))
	for key, name := range names {
		if ref, ok := strings.CutPrefix(name, refPrefix); ok {
			out[key] = cache.Field{Key: key, Type: cache.TypeText, Ref: ref}
		} else if t, ok := typeByName[name]; ok {
			out[key] = cache.Field{Key: key, Type: t}
		}
	}
	return out
}

// set declares the types of some of a sheet's fields, keeping the others'; a type of 0 forgets
// a field's.
func (d *declaredTypes) set(file, sheet string, types map[string]cache.Field) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	sheets := d.m[file]
	if sheets == nil {
		sheets = map[string]map[string]string{}
		d.m[file] = sheets
	}
	fields := maps.Clone(sheets[sheet])
	if fields == nil {
		fields = map[string]string{}
	}
	for key, f := range types {
		switch {
		case f.Type == 0:
			delete(fields, key)
		case f.Ref != "":
			fields[key] = refPrefix + f.Ref
		default:
			fields[key] = f.Type.String()
		}
	}
	sheets[sheet] = fields
	return d.saveLocked()
}

// forget drops what was declared for a file (it was deleted), or for one sheet of it.
func (d *declaredTypes) forget(file string, sheet *string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sheet == nil {
		delete(d.m, file)
	} else {
		delete(d.m[file], *sheet)
	}
	return d.saveLocked()
}

func (d *declaredTypes) saveLocked() error {
	if d.path == "" {
		return nil
	}
	b, err := json.MarshalIndent(d.m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
		return err
	}
	return WriteFileAtomic(d.path, b)
}
