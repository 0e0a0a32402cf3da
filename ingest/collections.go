package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// SupportedFieldTypes are the field types a collection created or changed through the API can
// have: the ones a column's type is read as from its cells.
var SupportedFieldTypes = []cache.FieldType{cache.TypeText, cache.TypeNumber, cache.TypeBoolean, cache.TypeDateTime}

// maxCollectionID bounds the id of a collection created through the API: with its extension
// it must fit the 255 bytes most file systems allow a file name.
const maxCollectionID = 200

// CreateCollection creates a collection through the API: a new CSV file named after it, with a
// header naming its fields and the system fields at the right, served before it returns. The
// fields' types are declared (see Loader.Declared), so they hold before any cell does.
// Errors: cache.ErrReadOnly, cache.ErrCollectionExists, *cache.ValidationError.
func (f *Folder) CreateCollection(ctx context.Context, id string, fields []cache.Field) error {
	if f.Loader.ReadOnly {
		return cache.ErrReadOnlyServer
	}
	if id == "" || sanitizeName(id) != id {
		return &cache.ValidationError{Collection: id, Reason: "a collection id names its file, so it may hold only letters, digits, _ and -"}
	}
	if len(id) > maxCollectionID {
		return &cache.ValidationError{Collection: id[:maxCollectionID] + "…", Reason: fmt.Sprintf("a collection id names its file, so it may be at most %d characters long", maxCollectionID)}
	}
	user, types, err := userFields(id, fields)
	if err != nil {
		return err
	}
	name := id + ".csv"
	lock := f.fileLock(name)
	lock.Lock()
	defer lock.Unlock()
	f.mu.Lock()
	owner, taken := f.owners[id]
	f.mu.Unlock()
	if taken {
		return fmt.Errorf("%w: %s (served from %s)", cache.ErrCollectionExists, id, owner)
	}
	for _, ext := range []string{".csv", ".xlsx"} {
		if _, err := os.Lstat(filepath.Join(f.Dir, id+ext)); err == nil {
			return fmt.Errorf("%w: %s (the file %s exists but is not served; see its problem)", cache.ErrCollectionExists, id, id+ext)
		}
	}
	if err := f.decl.set(name, "", types); err != nil {
		return fmt.Errorf("create %s: keeping its field types: %w", id, err)
	}
	var header []byte
	for i, key := range append(user, systemKeys()...) {
		if i > 0 {
			header = append(header, ',')
		}
		header = appendCSVField(header, csvDialect{comma: ','}, cache.Text(key))
	}
	header = append(header, '\n')
	path := filepath.Join(f.Dir, name)
	if _, err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(header); return err }); err != nil {
		f.decl.forget(name, nil)
		return fmt.Errorf("create %s: %w", id, err)
	}
	f.sync(ctx, name, true)
	return f.served(id, name)
}

// served checks that a file just written serves collection id.
func (f *Folder) served(id, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owners[id] == name {
		return nil
	}
	if ps := f.problems[name]; len(ps) > 0 {
		return fmt.Errorf("%s was written but cannot be served: %s", name, ps[0].Message)
	}
	return fmt.Errorf("%s was written but is not served", name)
}

// systemKeys are the system fields' keys, in the order their columns are written.
func systemKeys() []string {
	keys := make([]string, len(cache.SystemFields))
	for i, sf := range cache.SystemFields {
		keys[i] = sf.Key
	}
	return keys
}

// userFields checks the fields of a collection's structure sent through the API and returns the
// keys of those that are not system fields, in order, and their types. System fields are always
// there; sending them is allowed, with their own types.
func userFields(id string, fields []cache.Field) ([]string, map[string]cache.Field, error) {
	var keys []string
	types := map[string]cache.Field{}
	for _, fd := range fields {
		bad := func(reason string) error {
			return &cache.ValidationError{Collection: id, Field: fd.Key, Reason: reason}
		}
		if typ, system := cache.SystemFieldType(fd.Key); system {
			if fd.Type != 0 && fd.Type != typ {
				return nil, nil, bad(fmt.Sprintf("a system field is %s", typ))
			}
			continue
		}
		switch {
		case fd.Key == "" || strings.TrimSpace(fd.Key) != fd.Key:
			return nil, nil, bad("a field key must not be empty or start or end with a space: it is a column's header")
		case strings.ContainsAny(fd.Key[:1], "=+-@'"):
			return nil, nil, bad("a field key must not start with = + - @ or ': a spreadsheet would read the header as a formula")
		case !slices.Contains(SupportedFieldTypes, fd.Type):
			return nil, nil, bad(fmt.Sprintf("type %s cannot be kept in a spreadsheet column; use text, number, boolean or datetime", fd.Type))
		case fd.Ref != "" && fd.Type != cache.TypeText:
			return nil, nil, bad("a reference field holds _id values, so it is text")
		}
		if _, dup := types[fd.Key]; dup {
			return nil, nil, bad("the field is listed twice")
		}
		keys = append(keys, fd.Key)
		types[fd.Key] = cache.Field{Key: fd.Key, Type: fd.Type, Ref: fd.Ref}
	}
	return keys, types, nil
}

// UpdateCollection changes a collection's fields to the ones given (system fields aside): a new
// field is a new column at the right, a field left out is a column removed from the file (the
// file as it was goes to the trash in the state dir first), and a field whose type changes keeps
// its column when every cell fits the new type. Nothing changes when any field cannot.
// Errors: cache.ErrCollectionNotFound, cache.ErrReadOnly, *cache.ValidationError,
// *cache.SchemaChangeError.
func (f *Folder) UpdateCollection(ctx context.Context, id string, fields []cache.Field) error {
	if err := f.Writable(id); err != nil {
		return err
	}
	user, types, err := userFields(id, fields)
	if err != nil {
		return err
	}
	name, st, unlock, err := f.lockFileOf(id)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(f.Dir, name)
	sh := findSheet(st.sheets, id)
	if sh == nil || sh.cols == nil {
		return fmt.Errorf("%w: %s", cache.ErrCollectionNotFound, id)
	}
	f.wb.mu.Lock()
	cur := f.wb.latest[id]
	f.wb.mu.Unlock()
	if cur == nil {
		cur = sh.base
	}
	schema := cur.Schema()
	change := &cache.SchemaChangeError{Collection: id}
	rs := reshape{header: sh.cols.header}
	declare := map[string]cache.Field{}
	next := sh.cols.width()
	for _, key := range user {
		fd, exists := schema.Lookup(key)
		switch {
		case !exists:
			rs.names = append(rs.names, headerName(key, next, sh.cols.header))
			next++
			declare[key] = types[key]
		case fd.Type == types[key].Type && fd.Ref == types[key].Ref:
		case fd.ReadOnly:
			change.Fields = append(change.Fields, cache.FieldError{Key: key, Message: "it is a formula column: change it in the spreadsheet"})
		case fd.Type == types[key].Type: // a text field becomes a reference, or stops being one
			declare[key] = types[key]
		default:
			if msg := cellsFit(cur, key, types[key].Type); msg != "" {
				change.Fields = append(change.Fields, cache.FieldError{Key: key, Message: msg})
			}
			declare[key] = types[key]
		}
	}
	for i := 0; i < schema.Len(); i++ {
		fd := schema.Field(i)
		if _, system := cache.SystemFieldType(fd.Key); system || types[fd.Key].Type != 0 {
			continue
		}
		if fd.ReadOnly {
			change.Fields = append(change.Fields, cache.FieldError{Key: fd.Key, Message: "it is a formula column: remove it in the spreadsheet"})
			continue
		}
		rs.cut = append(rs.cut, sh.cols.pos[fd.Key])
		declare[fd.Key] = cache.Field{}
	}
	if len(change.Fields) > 0 {
		return change
	}
	if len(rs.names) > 0 {
		for key := range sh.cols.absent { // name the system columns too, so the new ones follow them
			rs.names = append(rs.names, headerName(key, sh.cols.pos[key], sh.cols.header))
		}
	}
	sortPatches(rs.names)
	slices.Sort(rs.cut)
	if len(rs.cut) > 0 {
		if err := f.trash(name, true); err != nil {
			return fmt.Errorf("update %s: %w", id, err)
		}
	}
	if err := f.decl.set(name, sh.sheet, declare); err != nil {
		return fmt.Errorf("update %s: keeping its field types: %w", id, err)
	}
	if len(rs.names) > 0 || len(rs.cut) > 0 {
		format, _ := FormatOf(path)
		if format == FormatCSV {
			_, err = reshapeCSV(path, rs)
		} else {
			_, err = reshapeXLSX(path, sh.sheet, rs)
		}
		if err != nil {
			return fmt.Errorf("update %s: %w", id, err)
		}
	}
	f.reread(ctx, name)
	return f.served(id, name)
}

// reread reads a file in full now, whatever its hash: its declared types changed, which its
// bytes do not show.
func (f *Folder) reread(ctx context.Context, name string) {
	f.mu.Lock()
	if st := f.files[name]; st != nil {
		f.files[name] = &trackedFile{name: st.name, hash: 0, sheets: st.sheets, problems: st.problems}
	}
	f.mu.Unlock()
	f.sync(ctx, name, true)
}

// cellsFit says why the values of field key do not all fit type t, or "" when they do.
func cellsFit(s *cache.Snapshot, key string, t cache.FieldType) string {
	i, _ := s.Schema().Index(key)
	bad, n := "", 0
	s.Rows(func(r cache.RowID) bool {
		v := s.Value(r, i)
		if v.IsNull() || fitsType(v, t) {
			return true
		}
		if n == 0 {
			bad = v.String()
		}
		n++
		return true
	})
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d cells are not %s, such as %q", n, t, bad)
}

// fitsType reports whether a value reads as type t, as a cell holding it would.
func fitsType(v cache.Value, t cache.FieldType) bool {
	if t == cache.TypeText || v.Kind() == t.Kind() {
		return true
	}
	if v.Kind() != cache.KindText {
		return false
	}
	r := readCell(&cell{kind: cellText, text: []byte(v.Str())})
	switch t {
	case cache.TypeNumber:
		return r.isNum
	case cache.TypeBoolean:
		return r.isBool
	case cache.TypeDateTime:
		return r.isTime
	}
	return false
}

// DeleteCollection deletes a collection through the API. The file of a CSV or a one-sheet
// workbook moves to the trash in the state dir, never deleted outright; a later sheet of a
// workbook is removed from it, the workbook as it was going to the trash first. The first sheet
// of a workbook with others cannot go: the next sheet would take its collection's name.
// Errors: cache.ErrCollectionNotFound, cache.ErrReadOnly, *cache.SchemaChangeError.
func (f *Folder) DeleteCollection(ctx context.Context, id string) error {
	if err := f.Writable(id); err != nil {
		return err
	}
	name, st, unlock, err := f.lockFileOf(id)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(f.Dir, name)
	format, _ := FormatOf(path)
	if format == FormatCSV || len(st.sheets) == 1 {
		if err := f.trash(name, false); err != nil {
			return fmt.Errorf("delete %s: %w", id, err)
		}
		f.forget(ctx, name)
		f.decl.forget(name, nil)
		return nil
	}
	sh := findSheet(st.sheets, id)
	if sh == nil {
		return fmt.Errorf("%w: %s", cache.ErrCollectionNotFound, id)
	}
	if sh == st.sheets[0] {
		return &cache.SchemaChangeError{Collection: id, Reason: fmt.Sprintf("it is the first sheet of %s, which has other sheets; delete the file, or the sheet in the spreadsheet", name)}
	}
	if err := f.trash(name, true); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	book, err := openWorkbook(path)
	if err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	defer book.Close()
	if err := book.DeleteSheet(sh.sheet); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	if _, err := saveXLSX(book, path, nil); err != nil {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	f.decl.forget(name, &sh.sheet)
	f.sync(ctx, name, true)
	return nil
}

// lockFileOf takes the lock of the file serving collection id and returns the file as tracked;
// the caller unlocks. The owner is looked at again under the lock: the file may have gone or
// been renamed while the lock was awaited.
func (f *Folder) lockFileOf(id string) (name string, st *trackedFile, unlock func(), err error) {
	notFound := fmt.Errorf("%w: %s", cache.ErrCollectionNotFound, id)
	f.mu.Lock()
	name, ok := f.owners[id]
	f.mu.Unlock()
	if !ok {
		return "", nil, nil, notFound
	}
	lock := f.fileLock(name)
	lock.Lock()
	f.mu.Lock()
	st, owner := f.files[name], f.owners[id]
	f.mu.Unlock()
	if st == nil || owner != name {
		lock.Unlock()
		return "", nil, nil, notFound
	}
	return name, st, lock.Unlock, nil
}

// trash keeps a file of the folder in the state dir's trash, named with the time: moved there,
// or copied when keep is set (the file is about to be changed, not removed).
func (f *Folder) trash(name string, keep bool) error {
	return trashFile(f.Dir, f.StateDir, name, keep, f.logger())
}

// trashFile keeps the file name of the folder dir in the trash of stateDir (see Folder.trash).
func trashFile(folder, stateDir, name string, keep bool, log *slog.Logger) error {
	if stateDir == "" {
		return errors.New("there is no state dir to keep the file in its trash")
	}
	dir := filepath.Join(stateDir, "trash")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	to := filepath.Join(dir, time.Now().UTC().Format("20060102T150405.000Z")+"-"+name)
	from := filepath.Join(folder, name)
	if !keep {
		err := os.Rename(from, to)
		if err == nil {
			log.Info("file moved to the trash", "file", name, "trash", to)
			return nil
		}
		if !errors.Is(err, syscall.EXDEV) {
			return err
		}
		// the state dir is on another file system: copy, then remove
	}
	hash, err := hashFile(from)
	if err != nil {
		return err
	}
	fi, err := os.Stat(from)
	if err != nil {
		return err
	}
	if _, err := copyFileAtomic(from, to, hash, fi.Size()); err != nil {
		return err
	}
	if !keep {
		log.Info("file moved to the trash", "file", name, "trash", to)
		return os.Remove(from)
	}
	log.Info("file copied to the trash before a change", "file", name, "trash", to)
	return nil
}
