package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/sheetsync/sheetsync/cache"
)

// Committer applies a change: *cache.Store in tests, the replica log when served. It returns
// the collection's new version.
type Committer interface {
	Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error)
}

// Loader decodes spreadsheet files into collections (DESIGN §3).
type Loader struct {
	// ReadOnly forbids writing files: rows without _id get stable ids derived from their content
	// instead of new UUIDs written into the file.
	ReadOnly bool
	Logger   *slog.Logger
	Now      func() time.Time // when ids are stamped; time.Now when nil
	NewID    func() string    // new ids; UUID v4 when nil
	// Declared returns the types declared for a sheet's fields (by a collection created or
	// changed through the API), or nil. A declared type is served when every cell of the column
	// fits it: an empty column keeps the type it was created with, and a text column of digits
	// stays text; a column whose cells do not fit gets the inferred type.
	// A declared reference field (Field.Ref) is a text column of ids.
	Declared func(file, sheet string) map[string]cache.Field
}

// Sheet is one decoded table and where it came from.
type Sheet struct {
	Collection string
	Path       string
	Sheet      string // the worksheet; "" for CSV
	Table      cache.Table
	Rows       int

	csv  *csvLayout    // a CSV file's layout, for incremental reads; nil when it has none
	cols *sheetColumns // where each field is in the file, for write-back
}

// LoadFile decodes every table of the file at path. Rows without _id get one: a new UUID written
// back into the file once (with _createdDate and _updatedDate), so ids stay stable across
// restarts and replicas; or, read-only, an id derived from the row (see stableIDs). It returns
// the problems found along the way; an error means the file could not be read at all
// (*ParseError) and nothing of it should be served.
func (l *Loader) LoadFile(ctx context.Context, path string) ([]Sheet, []Problem, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, nil, &ParseError{Path: path, Err: err}
	}
	ld, err := l.load(ctx, path, before, false)
	if err != nil {
		return nil, nil, err
	}
	return ld.sheets, ld.problems, nil
}

// errChangedWhileRead is a file that changed between being read and its ids being written back:
// reading it again sees the new content.
var errChangedWhileRead = errors.New("it changed while being read")

// loaded is what reading one file gave.
type loaded struct {
	sheets   []Sheet
	problems []Problem
	wrote    bool   // ids were written back into the file
	hash     uint64 // then: the content hash of what was written
}

// load reads the file at path, which had the size and time of before when its caller looked.
// When ids must be written back but the file changed since before, it returns
// errChangedWhileRead if retry is set, and otherwise serves the rows with stable ids.
func (l *Loader) load(ctx context.Context, path string, before os.FileInfo, retry bool) (*loaded, error) {
	format, ok := FormatOf(path)
	if !ok {
		return nil, &ParseError{Path: path, Err: errors.New("not a .csv or .xlsx file")}
	}
	var tables []*tableBuilder
	var names []string
	var err error
	switch format {
	case FormatCSV:
		tables, err = decodeCSV(ctx, path, func(done func() float64) func(int) { return l.progress(path, done) })
	case FormatXLSX:
		tables, err = decodeXLSX(ctx, path, l.progress(path, nil))
	}
	if err != nil {
		return nil, err
	}
	for i, t := range tables {
		names = append(names, CollectionName(path, t.sheet, i == 0))
	}
	ld := &loaded{}
	missing := 0
	for _, t := range tables {
		missing += len(t.missing)
	}
	if missing > 0 && !l.ReadOnly {
		hash, err := l.writeIDs(path, format, before, tables)
		switch {
		case err == nil:
			ld.wrote, ld.hash = true, hash
		case retry && errors.Is(err, errChangedWhileRead):
			return nil, err
		default:
			ld.problems = append(ld.problems, Problem{Path: path, Message: fmt.Sprintf("%d rows have no _id and the file cannot be written (%v); they are served with ids derived from their content until it can", missing, err)})
		}
	}
	for i, t := range tables {
		if !ld.wrote && len(t.missing) > 0 {
			t.setIDs(t.stableIDs(names[i]), 0, false)
		}
		if l.Declared != nil {
			t.declare(l.Declared(filepath.Base(path), t.sheet))
		}
		table, err := t.table()
		if err != nil {
			return nil, err
		}
		ld.problems = append(ld.problems, t.problems...)
		sheet := Sheet{Collection: names[i], Path: path, Sheet: t.sheet, Table: table, Rows: t.rows, cols: t.columns(ld.wrote && len(t.missing) > 0)}
		if format == FormatCSV && !ld.wrote {
			sheet.csv = t.layout(t.dialect, before.Size(), table.Schema)
		}
		ld.sheets = append(ld.sheets, sheet)
	}
	return ld, nil
}

// writeIDs gives every row without _id a new id, dated now, and writes them into the file. The
// decoded tables change only once the file is written.
func (l *Loader) writeIDs(path string, format Format, before os.FileInfo, tables []*tableBuilder) (uint64, error) {
	now, newID := time.Now, uuid.NewString
	if l.Now != nil {
		now = l.Now
	}
	if l.NewID != nil {
		newID = l.NewID
	}
	stamp := now().UnixMilli()
	ids := make([][]string, len(tables))
	bySheet := map[string][]cellPatch{}
	var all []cellPatch
	for i, t := range tables {
		ids[i] = make([]string, len(t.missing))
		for k := range ids[i] {
			ids[i][k] = newID()
		}
		ps := t.idPatches(ids[i], stamp)
		bySheet[t.sheet] = append(bySheet[t.sheet], ps...)
		all = append(all, ps...)
	}
	// the patches address rows as they were read; a file saved since then must be read again
	if after, err := os.Stat(path); err != nil || !sameStat(before, after) {
		return 0, errChangedWhileRead
	}
	var hash uint64
	var err error
	switch format {
	case FormatCSV:
		hash, err = writeCSVPatches(path, all)
	case FormatXLSX:
		hash, err = writeXLSXPatches(path, bySheet)
	}
	if err != nil {
		return 0, err
	}
	for i, t := range tables {
		t.setIDs(ids[i], stamp, true)
	}
	return hash, nil
}

// sameStat reports whether a file kept its size and modification time, the cheap sign that it
// was not written in between.
func sameStat(a, b os.FileInfo) bool {
	return a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// decodeCSV reads a CSV file into one table.
func decodeCSV(ctx context.Context, path string, progress func(done func() float64) func(rows int)) ([]*tableBuilder, error) {
	r, err := openCSV(path)
	if err != nil {
		return nil, asParseError(path, "", err)
	}
	defer r.Close()
	t := newTableBuilder(path, "")
	t.dialect = r.dialect()
	var report func(int)
	if progress != nil {
		size := int64(0)
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		report = progress(func() float64 {
			if size == 0 {
				return 0
			}
			return float64(r.offset()) / float64(size)
		})
	}
	if err := t.read(ctx, r, report); err != nil {
		return nil, asParseError(path, "", err)
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return []*tableBuilder{t}, nil
}

// decodeXLSX reads every worksheet of a workbook, in workbook order.
func decodeXLSX(ctx context.Context, path string, progress func(rows int)) ([]*tableBuilder, error) {
	b, err := openXLSX(path)
	if err != nil {
		return nil, asParseError(path, "", err)
	}
	defer b.Close()
	if len(b.sheets()) == 0 {
		return nil, &ParseError{Path: path, Err: errors.New("the workbook has no worksheets")}
	}
	var tables []*tableBuilder
	done := 0
	for _, sheet := range b.sheets() {
		rows, err := b.rows(sheet)
		if err != nil {
			return nil, asParseError(path, sheet, err)
		}
		t := newTableBuilder(path, sheet)
		err = t.read(ctx, rows, func(n int) { progress(done + n) })
		rows.Close()
		if err != nil {
			return nil, asParseError(path, sheet, err)
		}
		if err := t.finish(); err != nil {
			return nil, err
		}
		done += t.rows
		tables = append(tables, t)
	}
	return tables, nil
}

// asParseError gives an error the file's location unless it has one.
func asParseError(path, sheet string, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &ParseError{Path: path, Sheet: sheet, Err: err}
}

// Loaded describes a collection loaded from a file.
type Loaded struct {
	Collection string
	Path       string
	Sheet      string
	Rows       int
	Fields     int
}

// Report is what loading a folder found: the collections served and the problems to fix.
type Report struct {
	Collections []Loaded
	Problems    []Problem
}

// Spreadsheets lists the files directly in dir that sheetsync publishes (DESIGN §3), sorted by
// name. Subfolders, the state folder, hidden files and editors' lock and temporary files are
// skipped; a symbolic link counts when it points at a file.
func Spreadsheets(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		if _, ok := FormatOf(e.Name()); !ok {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, path)
	}
	sort.Strings(out)
	return out, nil
}

// LoadDir loads every spreadsheet in dir and commits each of its collections as a whole
// (a Replace change of origin file). A file that cannot be read is reported and skipped; when
// two files map to one collection name, the first by file name wins and the other is reported.
// It fails only when dir itself cannot be read or ctx ends.
func (l *Loader) LoadDir(ctx context.Context, dir string, c Committer) (*Report, error) {
	files, err := Spreadsheets(dir)
	if err != nil {
		return nil, err
	}
	log := l.logger()
	report := &Report{}
	owner := map[string]string{}
	for _, path := range files {
		start := time.Now()
		// a file whose name is taken is not even read: reading it would write ids into it
		if first, taken := owner[CollectionName(path, "", true)]; taken {
			p := NameTaken(path, "", CollectionName(path, "", true), filepath.Base(first))
			report.Problems = append(report.Problems, p)
			log.Error("collection name taken; not served", "problem", p.String())
			continue
		}
		sheets, problems, err := l.LoadFile(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p := FileProblem(path, err)
			report.Problems = append(report.Problems, p)
			log.Error("cannot read file; it is not served", "problem", p.String())
			continue
		}
		for _, p := range problems {
			log.Warn("problem in file", "problem", p.String())
		}
		report.Problems = append(report.Problems, problems...)
		for _, sh := range sheets {
			if first, taken := owner[sh.Collection]; taken {
				p := NameTaken(path, sh.Sheet, sh.Collection, filepath.Base(first))
				report.Problems = append(report.Problems, p)
				log.Error("collection name taken; not served", "problem", p.String())
				continue
			}
			owner[sh.Collection] = path
			table := sh.Table
			if _, err := c.Commit(ctx, cache.ChangeSet{Collection: sh.Collection, Origin: cache.Origin{Kind: cache.OriginFile, Path: path}, Replace: &table}); err != nil {
				return nil, fmt.Errorf("commit %s: %w", sh.Collection, err)
			}
			report.Collections = append(report.Collections, Loaded{Collection: sh.Collection, Path: path, Sheet: sh.Sheet, Rows: sh.Rows, Fields: table.Schema.Len()})
			log.Info("collection loaded", "collection", sh.Collection, "file", filepath.Base(path), "sheet", sh.Sheet,
				"rows", sh.Rows, "fields", table.Schema.Len(), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return report, nil
}

func (l *Loader) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.Default()
}

// progressEvery is how often reading a big file logs how far it got.
var progressEvery = 2 * time.Second

// progress returns a function that logs rows read so far, at most every progressEvery, with
// how much of the file that is when done (a function giving the share read, 0 to 1) knows.
func (l *Loader) progress(path string, done func() float64) func(rows int) {
	start, last := time.Now(), time.Now()
	return func(rows int) {
		if time.Since(last) < progressEvery {
			return
		}
		last = time.Now()
		secs := time.Since(start).Seconds()
		args := []any{"file", filepath.Base(path), "rows", rows, "rows_per_sec", int(float64(rows) / secs)}
		if done != nil {
			if share := done(); share > 0 && share <= 1 {
				left := time.Duration(secs * (1 - share) / share * float64(time.Second))
				args = append(args, "percent", int(share*100), "left", left.Round(time.Second))
			}
		}
		l.logger().Info("reading", args...)
	}
}
