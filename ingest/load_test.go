package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testStamp is the time a testLoader stamps rows with.
var testStamp = time.Date(2024, 5, 1, 12, 30, 45, 123e6, time.UTC)

// testLoader returns a writing Loader whose clock is fixed at testStamp and whose new ids are
// id-1, id-2, ...
func testLoader() *Loader {
	n := 0
	return &Loader{
		Logger: discardLogger(),
		Now:    func() time.Time { return testStamp },
		NewID:  func() string { n++; return "id-" + strconv.Itoa(n) },
	}
}

// noWriteLoader returns a writing Loader that fails the test if it is about to give any row a
// new id.
func noWriteLoader(tb testing.TB) *Loader {
	return &Loader{
		Logger: discardLogger(),
		Now:    func() time.Time { tb.Error("the loader asked for the time: it meant to write"); return testStamp },
		NewID:  func() string { tb.Error("the loader asked for a new id: it meant to write"); return "x" },
	}
}

// mustLoad loads path and fails on an error.
func mustLoad(tb testing.TB, l *Loader, path string) ([]Sheet, []Problem) {
	tb.Helper()
	sheets, problems, err := l.LoadFile(context.Background(), path)
	if err != nil {
		tb.Fatalf("LoadFile(%s): %v", path, err)
	}
	return sheets, problems
}

// sheetRows returns a sheet's rows as maps from field key to the value's string form, empty
// cells left out.
func sheetRows(tb testing.TB, sh Sheet) []map[string]string {
	tb.Helper()
	snap, err := cache.NewSnapshot(sh.Collection, sh.Table)
	if err != nil {
		tb.Fatalf("sheet %q: %v", sh.Sheet, err)
	}
	var out []map[string]string
	snap.Rows(func(r cache.RowID) bool {
		m := map[string]string{}
		for i, v := range snap.Row(r) {
			if !v.IsNull() {
				m[snap.Schema().Field(i).Key] = v.String()
			}
		}
		out = append(out, m)
		return true
	})
	return out
}

// column returns one field of every row ("" where empty).
func column(rows []map[string]string, key string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r[key]
	}
	return out
}

// fileState is a file's bytes and modification time, to tell whether it was written.
type fileState struct {
	data  []byte
	mtime time.Time
	size  int64
}

func statFile(tb testing.TB, path string) fileState {
	tb.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return fileState{data: mustReadFile(tb, path), mtime: fi.ModTime(), size: fi.Size()}
}

func checkUnchanged(tb testing.TB, path string, before fileState) {
	tb.Helper()
	after := statFile(tb, path)
	if !bytes.Equal(after.data, before.data) {
		tb.Errorf("%s changed:\n%q\nwas:\n%q", filepath.Base(path), after.data, before.data)
	}
	if !after.mtime.Equal(before.mtime) {
		tb.Errorf("%s was rewritten: mtime %v, was %v", filepath.Base(path), after.mtime, before.mtime)
	}
}

// backdate sets a file's modification time an hour back, so that a rewrite within the same
// clock tick still shows as a new mtime.
func backdate(tb testing.TB, path string) {
	tb.Helper()
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		tb.Fatal(err)
	}
}

func writeFile(tb testing.TB, dir, name string, data string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		tb.Fatal(err)
	}
	backdate(tb, path)
	return path
}

// splitLines splits CSV text into lines, each with its terminator.
func splitLines(s string) []string {
	return strings.SplitAfter(s, "\n")
}

// checkAppendedOnly checks that every line of after is the line of before with fields added
// before its terminator (a line that gets nothing is unchanged) and that the BOM is kept.
func checkAppendedOnly(tb testing.TB, before, after string, comma byte) {
	tb.Helper()
	bom := string(utf8BOM)
	if strings.HasPrefix(before, bom) != strings.HasPrefix(after, bom) {
		tb.Errorf("the BOM was not kept")
	}
	b, a := splitLines(before), splitLines(after)
	if len(a) != len(b) {
		tb.Fatalf("%d lines became %d:\n%q\nwas:\n%q", len(b), len(a), after, before)
	}
	for i := range b {
		body, term := cutTerminator(b[i])
		nbody, nterm := cutTerminator(a[i])
		if term != nterm {
			tb.Errorf("line %d: terminator %q became %q", i+1, term, nterm)
		}
		if !strings.HasPrefix(nbody, body) {
			tb.Errorf("line %d: %q does not start with the old line %q", i+1, nbody, body)
			continue
		}
		if added := nbody[len(body):]; added != "" && added[0] != comma {
			tb.Errorf("line %d: %q was added to %q, not as new fields", i+1, added, body)
		}
	}
}

func cutTerminator(line string) (body, term string) {
	switch {
	case strings.HasSuffix(line, "\r\n"):
		return line[:len(line)-2], "\r\n"
	case strings.HasSuffix(line, "\n"):
		return line[:len(line)-1], "\n"
	}
	return line, ""
}

// TestLoadCSVWritesIDs: rows without _id get a new id and both dates, written into the file
// with the system columns added at the right of the header; every other byte stays; a second
// load writes nothing and serves the same ids.
func TestLoadCSVWritesIDs(t *testing.T) {
	const ts = "2024-05-01T12:30:45.123Z"
	tests := []struct {
		name, input, want string
		problems          int // the ragged-row problem
	}{
		{
			name:  "Comma",
			input: "name,qty\nAnn,3\nBob,4\n",
			want: "name,qty,_id,_createdDate,_updatedDate,_owner\n" +
				"Ann,3,id-1," + ts + "," + ts + "\n" +
				"Bob,4,id-2," + ts + "," + ts + "\n",
		},
		{
			name:  "CRLFAndBOM",
			input: "\uFEFFname,qty\r\nAnn,3\r\nBob,4\r\n",
			want: "\uFEFFname,qty,_id,_createdDate,_updatedDate,_owner\r\n" +
				"Ann,3,id-1," + ts + "," + ts + "\r\n" +
				"Bob,4,id-2," + ts + "," + ts + "\r\n",
		},
		{
			name:  "Semicolon",
			input: "name;price\nAnn;1,50\nBob;2,00\n",
			want: "name;price;_id;_createdDate;_updatedDate;_owner\n" +
				"Ann;1,50;id-1;" + ts + ";" + ts + "\n" +
				"Bob;2,00;id-2;" + ts + ";" + ts + "\n",
		},
		{
			name:  "Tab",
			input: "name\tnote\nAnn\ta, b\n",
			want: "name\tnote\t_id\t_createdDate\t_updatedDate\t_owner\n" +
				"Ann\ta, b\tid-1\t" + ts + "\t" + ts + "\n",
		},
		{
			name:  "NoFinalNewline",
			input: "name,qty\nAnn,3\nBob,4",
			want: "name,qty,_id,_createdDate,_updatedDate,_owner\n" +
				"Ann,3,id-1," + ts + "," + ts + "\n" +
				"Bob,4,id-2," + ts + "," + ts,
		},
		{
			name:  "QuotingKept",
			input: "\"name\",qty\n\"Smith, Ann\",\"3\"\n\"Bob\",4\n",
			want: "\"name\",qty,_id,_createdDate,_updatedDate,_owner\n" +
				"\"Smith, Ann\",\"3\",id-1," + ts + "," + ts + "\n" +
				"\"Bob\",4,id-2," + ts + "," + ts + "\n",
		},
		{
			// short rows are padded to reach the new columns; the widest row decides where
			// they go; blank lines and rows of empty cells are not rows and get nothing
			name:  "RaggedAndBlank",
			input: "a,b,c\n1\n\n1,2,3,4\n,,\n1,2,3\n",
			want: "a,b,c,,_id,_createdDate,_updatedDate,_owner\n" +
				"1,,,,id-1," + ts + "," + ts + "\n" +
				"\n" +
				"1,2,3,4,id-2," + ts + "," + ts + "\n" +
				",,\n" +
				"1,2,3,,id-3," + ts + "," + ts + "\n",
			problems: 1,
		},
		{
			// a header row that is not the first record
			name:  "BlankBeforeHeader",
			input: "\n,\nname\nAnn\n",
			want:  "\n,\nname,_id,_createdDate,_updatedDate,_owner\nAnn,id-1," + ts + "," + ts + "\n",
		},
		{
			// a field with a line break inside is one record over two lines
			name:  "QuotedNewline",
			input: "name,note\nAnn,\"two\nlines\"\nBob,x\n",
			want: "name,note,_id,_createdDate,_updatedDate,_owner\n" +
				"Ann,\"two\nlines\",id-1," + ts + "," + ts + "\n" +
				"Bob,x,id-2," + ts + "," + ts + "\n",
		},
		{
			name:  "Windows1252",
			input: "name,qty\nCaf\xe9,3\n",
			want:  "name,qty,_id,_createdDate,_updatedDate,_owner\nCaf\xe9,3,id-1," + ts + "," + ts + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "products.csv", tt.input)
			sheets, problems := mustLoad(t, testLoader(), path)
			if len(problems) != tt.problems {
				t.Errorf("problems: %v", problems)
			}
			got := string(mustReadFile(t, path))
			if got != tt.want {
				t.Errorf("file:\n%q\nwant:\n%q", got, tt.want)
			}
			if !strings.Contains(tt.name, "Newline") {
				comma := byte(',')
				if i := strings.IndexAny(tt.input, ";\t"); i >= 0 {
					comma = tt.input[i]
				}
				checkAppendedOnly(t, tt.input, got, comma)
			}
			rows := sheetRows(t, sheets[0])
			ids := column(rows, cache.FieldID)
			for i, id := range ids {
				if want := "id-" + strconv.Itoa(i+1); id != want {
					t.Errorf("row %d: _id %q, want %q", i+1, id, want)
				}
			}
			if c, u := column(rows, cache.FieldCreatedDate), column(rows, cache.FieldUpdatedDate); slices.ContainsFunc(c, func(s string) bool { return s != ts }) ||
				slices.ContainsFunc(u, func(s string) bool { return s != ts }) {
				t.Errorf("dates: %q and %q, want %s", c, u, ts)
			}

			// again: nothing to write, and the same rows
			backdate(t, path)
			before := statFile(t, path)
			again, problems := mustLoad(t, noWriteLoader(t), path)
			checkUnchanged(t, path, before)
			if len(problems) != 0 {
				// the header now reaches past the widest row: no row is ragged any more
				t.Errorf("second load: problems: %v", problems)
			}
			if got, want := sheetRows(t, again[0]), rows; !slices.EqualFunc(got, want, mapsEqual) {
				t.Errorf("second load:\n%v\nfirst:\n%v", got, want)
			}
			if f, _ := again[0].Table.Schema.Lookup(cache.FieldCreatedDate); f.Type != cache.TypeDateTime {
				t.Errorf("_createdDate read back as %s", f.Type)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestLoadCSVWritesMissingIDsOnly: only the rows without _id change; a row with a date keeps
// it and gets no new one.
func TestLoadCSVWritesMissingIDsOnly(t *testing.T) {
	const ts = "2024-05-01T12:30:45.123Z"
	input := "name,_id,_createdDate,_updatedDate,_owner\r\n" +
		"Ann,a1,2024-01-01,2024-01-02,o1\r\n" +
		"Bob,,,,\r\n" +
		"Cid,c3,,,\r\n" +
		"Dan,,2023-05-05T00:00:00.000Z,,o4\r\n" +
		"\"Eve, Jr\",,,,\r\n"
	want := "name,_id,_createdDate,_updatedDate,_owner\r\n" +
		"Ann,a1,2024-01-01,2024-01-02,o1\r\n" +
		"Bob,id-1," + ts + "," + ts + ",\r\n" +
		"Cid,c3,,,\r\n" +
		"Dan,id-2,2023-05-05T00:00:00.000Z,,o4\r\n" +
		"\"Eve, Jr\",id-3," + ts + "," + ts + ",\r\n"
	path := writeFile(t, t.TempDir(), "people.csv", input)
	sheets, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	if got := string(mustReadFile(t, path)); got != want {
		t.Errorf("file:\n%q\nwant:\n%q", got, want)
	}
	rows := sheetRows(t, sheets[0])
	if got, want := column(rows, cache.FieldID), []string{"a1", "id-1", "c3", "id-2", "id-3"}; !slices.Equal(got, want) {
		t.Errorf("ids %q, want %q", got, want)
	}
	if got, want := column(rows, cache.FieldCreatedDate), []string{"2024-01-01T00:00:00.000Z", ts, "", "2023-05-05T00:00:00.000Z", ts}; !slices.Equal(got, want) {
		t.Errorf("_createdDate %q, want %q", got, want)
	}
	if got, want := column(rows, cache.FieldUpdatedDate), []string{"2024-01-02T00:00:00.000Z", ts, "", "", ts}; !slices.Equal(got, want) {
		t.Errorf("_updatedDate %q, want %q", got, want)
	}
}

// TestLoadCSVDuplicateIDNotWritten: a row left out for repeating an _id is not given anything;
// the rows without _id around it are.
func TestLoadCSVDuplicateIDNotWritten(t *testing.T) {
	input := "_id,name\na1,Ann\na1,Bob\n,Cid\n"
	path := writeFile(t, t.TempDir(), "dup.csv", input)
	sheets, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 1 || problems[0].Row != 3 || !strings.Contains(problems[0].Message, "repeats row 2") {
		t.Errorf("problems: %v", problems)
	}
	got := string(mustReadFile(t, path))
	want := "_id,name,_createdDate,_updatedDate,_owner\na1,Ann\na1,Bob\nid-1,Cid,2024-05-01T12:30:45.123Z,2024-05-01T12:30:45.123Z\n"
	if got != want {
		t.Errorf("file:\n%q\nwant:\n%q", got, want)
	}
	if got, want := column(sheetRows(t, sheets[0]), "name"), []string{"Ann", "Cid"}; !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
}

// writeIDWorkbook builds a workbook whose first sheet lacks system columns and has a styled
// header, a date column and a formula column, and whose second sheet already has its ids.
func writeIDWorkbook(tb testing.TB, path string) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	mustXLSX(tb, f.SetSheetName("Sheet1", "Products"))
	_, err := f.NewSheet("Done")
	mustXLSX(tb, err)
	header, err := f.NewStyle(&excelize.Style{
		Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"4472C4"}},
	})
	mustXLSX(tb, err)
	date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	mustXLSX(tb, err)
	for i, h := range []string{"name", "price", "added", "double"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		mustXLSX(tb, f.SetCellStr("Products", ref, h))
	}
	mustXLSX(tb, f.SetCellStyle("Products", "A1", "D1", header))
	day := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Widget", "Gadget", "Gizmo"} {
		row := i + 2
		ref := func(col string) string { return col + strconv.Itoa(row) }
		mustXLSX(tb, f.SetCellStr("Products", ref("A"), name))
		mustXLSX(tb, f.SetCellFloat("Products", ref("B"), 9.5+float64(i), -1, 64))
		mustXLSX(tb, f.SetCellFloat("Products", ref("C"), xlsxSerial(day.AddDate(0, 0, i)), -1, 64))
		mustXLSX(tb, f.SetCellStyle("Products", ref("C"), ref("C"), date))
		mustXLSX(tb, f.SetCellFloat("Products", ref("D"), (9.5+float64(i))*2, -1, 64))
		mustXLSX(tb, f.SetCellFormula("Products", ref("D"), ref("B")+"*2"))
	}
	mustXLSX(tb, f.SetColWidth("Products", "A", "A", 30))
	for i, v := range []string{"sku", "_id", "_createdDate", "_updatedDate", "_owner"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		mustXLSX(tb, f.SetCellStr("Done", ref, v))
	}
	mustXLSX(tb, f.SetCellStr("Done", "A2", "W-1"))
	mustXLSX(tb, f.SetCellStr("Done", "B2", "done-1"))
	mustXLSX(tb, f.SaveAs(path))
	backdate(tb, path)
}

// xlsxCellStyle returns a cell's style id and font.
func xlsxCellStyle(tb testing.TB, f *excelize.File, sheet, ref string) (int, *excelize.Font) {
	tb.Helper()
	id, err := f.GetCellStyle(sheet, ref)
	mustXLSX(tb, err)
	st, err := f.GetStyle(id)
	mustXLSX(tb, err)
	return id, st.Font
}

// TestLoadXLSXWritesIDs: ids and dates are written through excelize into the sheet that lacks
// them; the header's styles survive and the new header cells take the last one's; the other
// sheet, the formulas and the column width are kept; a second load changes nothing.
func TestLoadXLSXWritesIDs(t *testing.T) {
	const ts = "2024-05-01T12:30:45.123Z"
	path := filepath.Join(t.TempDir(), "inventory.xlsx")
	writeIDWorkbook(t, path)
	orig, err := excelize.OpenFile(path)
	mustXLSX(t, err)
	headerStyle, headerFont := xlsxCellStyle(t, orig, "Products", "D1")
	dateStyle, _ := xlsxCellStyle(t, orig, "Products", "C2")
	width, err := orig.GetColWidth("Products", "A")
	mustXLSX(t, err)
	orig.Close()
	doneBefore := xlsxDump(t, mustOpenXLSX(t, path), "Done")

	sheets, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	if len(sheets) != 2 || sheets[0].Collection != "inventory" || sheets[1].Collection != "inventory-Done" {
		t.Fatalf("sheets: %+v", sheets)
	}
	rows := sheetRows(t, sheets[0])
	if got, want := column(rows, cache.FieldID), []string{"id-1", "id-2", "id-3"}; !slices.Equal(got, want) {
		t.Errorf("ids %q, want %q", got, want)
	}
	if got, want := column(sheetRows(t, sheets[1]), cache.FieldID), []string{"done-1"}; !slices.Equal(got, want) {
		t.Errorf("Done ids %q, want %q", got, want)
	}

	f, err := excelize.OpenFile(path)
	mustXLSX(t, err)
	defer f.Close()
	got, err := f.GetRows("Products", excelize.Options{RawCellValue: true})
	mustXLSX(t, err)
	if want := []string{"name", "price", "added", "double", "_id", "_createdDate", "_updatedDate", "_owner"}; !slices.Equal(got[0], want) {
		t.Errorf("header %q, want %q", got[0], want)
	}
	for i, row := range got[1:] {
		if len(row) != 7 || row[4] != "id-"+strconv.Itoa(i+1) {
			t.Errorf("row %d: %q", i+2, row)
		}
	}
	for _, ref := range []string{"A1", "D1"} {
		if id, _ := xlsxCellStyle(t, f, "Products", ref); id != headerStyle {
			t.Errorf("%s style %d, want %d", ref, id, headerStyle)
		}
	}
	for _, ref := range []string{"E1", "F1", "G1", "H1"} {
		id, font := xlsxCellStyle(t, f, "Products", ref)
		if id != headerStyle || font == nil || !font.Bold || font.Color != headerFont.Color {
			t.Errorf("new header cell %s: style %d font %+v, want style %d like D1", ref, id, font, headerStyle)
		}
	}
	if id, _ := xlsxCellStyle(t, f, "Products", "C3"); id != dateStyle {
		t.Errorf("C3 style %d, want the date style %d", id, dateStyle)
	}
	if formula, err := f.GetCellFormula("Products", "D2"); err != nil || formula != "B2*2" {
		t.Errorf("D2 formula %q, %v", formula, err)
	}
	if w, err := f.GetColWidth("Products", "A"); err != nil || w != width {
		t.Errorf("column A width %v, %v, want %v", w, err, width)
	}
	diffLines(t, xlsxDump(t, mustOpenXLSX(t, path), "Done"), doneBefore)

	// what the file now holds reads back as it was served, dates to the millisecond
	backdate(t, path)
	before := statFile(t, path)
	again, problems := mustLoad(t, noWriteLoader(t), path)
	checkUnchanged(t, path, before)
	if len(problems) != 0 {
		t.Errorf("second load: problems: %v", problems)
	}
	again0 := sheetRows(t, again[0])
	if !slices.EqualFunc(again0, rows, mapsEqual) {
		t.Errorf("second load:\n%v\nfirst:\n%v", again0, rows)
	}
	if got := column(again0, cache.FieldCreatedDate); !slices.Equal(got, []string{ts, ts, ts}) {
		t.Errorf("_createdDate read back as %q, want %s", got, ts)
	}
	if f, _ := again[0].Table.Schema.Lookup("double"); !f.ReadOnly {
		t.Errorf("the formula column is no longer read-only")
	}
}

// TestLoadXLSXOtherSheetsUntouched: a sheet with no row to give an id is not written, even
// when it lacks the system columns.
func TestLoadXLSXOtherSheetsUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edit.xlsx")
	writeEditWorkbook(t, path) // its sheet "Other" is a header without rows or system columns
	before := xlsxDump(t, mustOpenXLSX(t, path), "Other")
	_, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	diffLines(t, xlsxDump(t, mustOpenXLSX(t, path), "Other"), before)
}

// TestLoadXLSXEmptySheet: an empty sheet next to one that needs ids must not stop the ids
// from being written.
func TestLoadXLSXEmptySheet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.xlsx")
	f := excelize.NewFile()
	mustXLSX(t, f.SetCellStr("Sheet1", "A1", "name"))
	mustXLSX(t, f.SetCellStr("Sheet1", "A2", "Ann"))
	_, err := f.NewSheet("Sheet2")
	mustXLSX(t, err)
	mustXLSX(t, f.SaveAs(path))
	f.Close()
	backdate(t, path)

	sheets, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	if got := column(sheetRows(t, sheets[0]), cache.FieldID); !slices.Equal(got, []string{"id-1"}) {
		t.Errorf("ids %q, want the new id written to the file", got)
	}
}

// TestLoadReadOnly: a read-only loader never writes; rows without _id get ids derived from
// their content, the same on every load, whatever the other rows are and wherever they are;
// identical rows get distinct ids.
func TestLoadReadOnly(t *testing.T) {
	dir := t.TempDir()
	ro := &Loader{ReadOnly: true, Logger: discardLogger(),
		NewID: func() string { t.Error("read-only asked for a new id"); return "x" }}
	ids := func(path string) map[string][]string {
		t.Helper()
		before := statFile(t, path)
		sheets, problems := mustLoad(t, ro, path)
		checkUnchanged(t, path, before)
		if len(problems) != 0 {
			t.Errorf("problems: %v", problems)
		}
		out := map[string][]string{}
		for _, r := range sheetRows(t, sheets[0]) {
			out[r["name"]] = append(out[r["name"]], r[cache.FieldID])
			if r[cache.FieldCreatedDate] != "" || r[cache.FieldUpdatedDate] != "" {
				t.Errorf("read-only dated a row: %v", r)
			}
		}
		return out
	}

	path := writeFile(t, dir, "items.csv", "name,qty\nAnn,1\nBob,2\nAnn,1\nCid,3\n")
	first := ids(path)
	if again := ids(path); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("second load: %v, first %v", again, first)
	}
	if len(first["Ann"]) != 2 || first["Ann"][0] == first["Ann"][1] {
		t.Errorf("identical rows: ids %q, want two different", first["Ann"])
	}
	for name, v := range first {
		for _, id := range v {
			if _, err := uuid.Parse(id); err != nil {
				t.Errorf("%s: id %q is not a UUID: %v", name, id, err)
			}
		}
	}

	// other rows change, move and go; the rows that stay keep their ids
	writeFile(t, dir, "items.csv", "name,qty\nZed,9\nCid,3\nAnn,1\nBob,2\nAnn,1\n")
	moved := ids(path)
	for _, name := range []string{"Ann", "Bob", "Cid"} {
		if !slices.Equal(moved[name], first[name]) {
			t.Errorf("%s: ids %q after other rows changed, were %q", name, moved[name], first[name])
		}
	}
	// a row edited in the file is a new row
	writeFile(t, dir, "items.csv", "name,qty\nAnn,1\nBob,5\n")
	if edited := ids(path); edited["Bob"][0] == first["Bob"][0] || edited["Ann"][0] != first["Ann"][0] {
		t.Errorf("after editing Bob: %v, were %v", edited, first)
	}

	// the same row in another collection has another id
	other := writeFile(t, dir, "other.csv", "name,qty\nAnn,1\nBob,2\nAnn,1\nCid,3\n")
	if o := ids(other); o["Ann"][0] == first["Ann"][0] {
		t.Errorf("other.csv and items.csv give Ann the same id %s", o["Ann"][0])
	}

	// system columns take no part: dating a row or adding empty system columns keeps its id
	writeFile(t, dir, "items.csv", "name,qty,_id,_owner\nAnn,1,,x\nBob,2,,\nAnn,1,,\nCid,3,,\n")
	if got := ids(path); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("with system columns: %v, want %v", got, first)
	}

	// a workbook is never written either
	book := filepath.Join(dir, "book.xlsx")
	writeIDWorkbook(t, book)
	before := statFile(t, book)
	s1, _ := mustLoad(t, ro, book)
	s2, _ := mustLoad(t, ro, book)
	checkUnchanged(t, book, before)
	if a, b := column(sheetRows(t, s1[0]), cache.FieldID), column(sheetRows(t, s2[0]), cache.FieldID); !slices.Equal(a, b) || slices.Contains(a, "") {
		t.Errorf("workbook ids %q then %q", a, b)
	}
}

// TestLoadUnwritable: when the ids cannot be written, the rows are served with the ids a
// read-only load gives them, the file is left as it was, and the problem is reported.
func TestLoadUnwritable(t *testing.T) {
	const input = "name,qty\nAnn,1\nBob,2\n"
	check := func(t *testing.T, path string, load func() ([]Sheet, []Problem)) {
		t.Helper()
		before := statFile(t, path)
		sheets, problems := load()
		checkUnchanged(t, path, before)
		if len(problems) != 1 || problems[0].Path != path || problems[0].Fatal ||
			!strings.Contains(problems[0].Message, "2 rows have no _id and the file cannot be written") {
			t.Errorf("problems: %v", problems)
		}
		entries, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("the folder holds %d entries: a temporary file was left behind", len(entries))
		}
		ro, _ := mustLoad(t, &Loader{ReadOnly: true, Logger: discardLogger()}, path)
		got, want := sheetRows(t, sheets[0]), sheetRows(t, ro[0])
		if !slices.EqualFunc(got, want, mapsEqual) {
			t.Errorf("served:\n%v\nwant what a read-only load serves:\n%v", got, want)
		}
	}

	t.Run("ReadOnlyFolder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores folder permissions; FileSizeLimit covers this case for root")
		}
		if runtime.GOOS == "windows" {
			t.Skip("folder permissions do not stop writes on Windows")
		}
		dir := t.TempDir()
		path := writeFile(t, dir, "items.csv", input)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		check(t, path, func() ([]Sheet, []Problem) { return mustLoad(t, testLoader(), path) })
	})
	t.Run("ChangedWhileRead", func(t *testing.T) {
		// a person saves the file between sheetsync reading it and writing the ids back: the
		// ids must not be spliced into the new content by old row numbers
		path := writeFile(t, t.TempDir(), "items.csv", input)
		l := testLoader()
		l.Now = func() time.Time { // called once the file is read, just before it is written
			if err := os.WriteFile(path, []byte(input+"Cy,3\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return testStamp
		}
		sheets, problems := mustLoad(t, l, path)
		if got, _ := os.ReadFile(path); string(got) != input+"Cy,3\n" {
			t.Errorf("the file was written over the person's save:\n%s", got)
		}
		if len(problems) != 1 || !strings.Contains(problems[0].Message, "changed while being read") {
			t.Errorf("problems: %v", problems)
		}
		if sheets[0].Rows != 2 {
			t.Errorf("served %d rows of the content that was read, want 2", sheets[0].Rows)
		}
	})
}

// TestLoadSymlink: a spreadsheet that is a symbolic link (Spreadsheets publishes it) gets its
// ids written into the file it points at; the link stays a link.
func TestLoadSymlink(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	target := writeFile(t, elsewhere, "real.csv", "name\nAnn\n")
	link := filepath.Join(dir, "items.csv")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if _, problems := mustLoad(t, testLoader(), link); len(problems) != 0 {
		t.Errorf("problems: %v", problems)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("items.csv is no longer a symbolic link: %v, %v", fi.Mode(), err)
	}
	if got := string(mustReadFile(t, target)); !strings.Contains(got, "id-1") {
		t.Errorf("the link's target did not get the ids:\n%s", got)
	}
}

// TestLoadDir loads a folder holding good files, broken ones, files to ignore and two files
// that map to one collection name, into a real store.
func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", "name,price,name\nWidget,9.5,x\nGadget,12,y\n")
	writeIDWorkbook(t, filepath.Join(dir, "inventory.xlsx"))
	writeFile(t, dir, "broken.csv", "a,b\n1,\"x\n2,3\n")
	writeFile(t, dir, "notzip.xlsx", "this is not a zip file")
	writeFile(t, dir, "a.b.csv", "k\nfrom a.b\n")
	writeFile(t, dir, "a_b.csv", "k\nfrom a_b\n")
	// never read
	writeFile(t, dir, "~$inventory.xlsx", "owner lock")
	writeFile(t, dir, ".~lock.products.csv#", "lock")
	writeFile(t, dir, ".x.csv", "k\nhidden\n")
	writeFile(t, dir, "products.csv.tmp", "k\ntemp\n")
	writeFile(t, dir, "notes.txt", "k\nnotes\n")
	writeFile(t, dir, "old.xls", "k\nold\n")
	if err := os.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub"), "inner.csv", "k\ninner\n")
	writeFile(t, filepath.Join(dir, "sub", "deeper"), "deep.csv", "k\ndeep\n")
	if err := os.MkdirAll(filepath.Join(dir, "folder.csv"), 0o755); err != nil {
		t.Fatal(err)
	}

	store := cache.NewStore()
	report, err := testLoader().LoadDir(context.Background(), dir, store)
	if err != nil {
		t.Fatal(err)
	}

	var names []string
	for _, snap := range store.Collections() {
		names = append(names, snap.Name())
	}
	if want := []string{"a_b", "inventory", "inventory-Done", "products"}; !slices.Equal(names, want) {
		t.Fatalf("collections %q, want %q", names, want)
	}
	var loaded []string
	for _, c := range report.Collections {
		loaded = append(loaded, fmt.Sprintf("%s %s %q rows=%d fields=%d", c.Collection, filepath.Base(c.Path), c.Sheet, c.Rows, c.Fields))
	}
	if want := []string{
		`a_b a.b.csv "" rows=1 fields=5`,
		`inventory inventory.xlsx "Products" rows=3 fields=8`,
		`inventory-Done inventory.xlsx "Done" rows=1 fields=5`,
		`products products.csv "" rows=2 fields=7`,
	}; !slices.Equal(loaded, want) {
		t.Errorf("report.Collections:\n%s\nwant:\n%s", strings.Join(loaded, "\n"), strings.Join(want, "\n"))
	}

	snap, err := store.Snapshot("a_b")
	if err != nil {
		t.Fatal(err)
	}
	if i, _ := snap.Schema().Index("k"); snap.Len() != 1 || snap.Value(cache.MakeRowID(0, 0), i).Str() != "from a.b" {
		t.Errorf("a_b is not served from a.b.csv")
	}
	if got := string(mustReadFile(t, filepath.Join(dir, "a_b.csv"))); got != "k\nfrom a_b\n" {
		t.Errorf("the file that lost the name clash was written:\n%s", got)
	}
	snap, err = store.Snapshot("products")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snap.Schema().Index("name_2"); !ok || snap.Len() != 2 {
		t.Errorf("products: %d rows, fields %v", snap.Len(), snap.Schema().Fields())
	}
	products := string(mustReadFile(t, filepath.Join(dir, "products.csv")))
	idField, _ := snap.Schema().Index(cache.FieldID)
	snap.Rows(func(r cache.RowID) bool {
		if id := snap.Value(r, idField).Str(); !strings.HasPrefix(id, "id-") || !strings.Contains(products, ","+id+",") {
			t.Errorf("products serves _id %q, which is not the new id written into products.csv:\n%s", id, products)
		}
		return true
	})

	fatal := map[string]Problem{}
	var warnings []Problem
	for _, p := range report.Problems {
		if p.Fatal {
			fatal[filepath.Base(p.Path)] = p
			if !strings.Contains(p.String(), filepath.Base(p.Path)) {
				t.Errorf("problem %q does not name its file", p.String())
			}
		} else {
			warnings = append(warnings, p)
		}
		for _, ignored := range []string{"~$", ".x.csv", "inner", "deep", "notes", "old.xls", ".tmp", "lock", "folder.csv"} {
			if strings.Contains(p.Path, ignored) {
				t.Errorf("a problem with a file that should be ignored: %v", p)
			}
		}
	}
	if len(fatal) != 3 {
		t.Errorf("fatal problems: %v, want broken.csv, notzip.xlsx, a_b.csv", fatal)
	}
	if p := fatal["broken.csv"]; p.Row != 2 || p.Column != 2 || !strings.Contains(p.Message, "quote") {
		t.Errorf("broken.csv: %+v", p)
	}
	if p, ok := fatal["notzip.xlsx"]; !ok || p.Message == "" {
		t.Errorf("notzip.xlsx: %+v", p)
	}
	if p := fatal["a_b.csv"]; !strings.Contains(p.Message, `"a_b"`) || !strings.Contains(p.Message, "a.b.csv") {
		t.Errorf("a_b.csv: %+v, want a message naming the collection and a.b.csv", p)
	}
	if len(warnings) != 1 || filepath.Base(warnings[0].Path) != "products.csv" || warnings[0].Field != "name_2" {
		t.Errorf("warnings: %v, want the repeated header of products.csv", warnings)
	}

	// the files that were given ids read back as served; a second load writes nothing
	states := map[string]fileState{}
	files, err := Spreadsheets(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		backdate(t, f)
		states[f] = statFile(t, f)
	}
	store2 := cache.NewStore()
	report2, err := noWriteLoader(t).LoadDir(context.Background(), dir, store2)
	if err != nil {
		t.Fatal(err)
	}
	for f, st := range states {
		checkUnchanged(t, f, st)
	}
	if len(report2.Collections) != 4 || len(report2.Problems) != len(report.Problems) {
		t.Errorf("second load: %+v", report2)
	}
	for _, name := range names {
		s1, _ := store.Snapshot(name)
		s2, _ := store2.Snapshot(name)
		if a, b := dumpSnapshot(s1), dumpSnapshot(s2); a != b {
			t.Errorf("%s: second load serves\n%s\nfirst:\n%s", name, b, a)
		}
	}

	if _, err := testLoader().LoadDir(context.Background(), filepath.Join(dir, "missing"), cache.NewStore()); err == nil {
		t.Errorf("LoadDir of a missing folder: no error")
	}
}

// dumpSnapshot renders a snapshot's rows, for comparison.
func dumpSnapshot(s *cache.Snapshot) string {
	var b strings.Builder
	s.Rows(func(r cache.RowID) bool {
		for i, v := range s.Row(r) {
			fmt.Fprintf(&b, "%s=%s ", s.Schema().Field(i).Key, dumpValue(v))
		}
		b.WriteByte('\n')
		return true
	})
	return b.String()
}

// writeLargeCSV writes a CSV of rows rows without _id.
func writeLargeCSV(tb testing.TB, path string, rows int) {
	tb.Helper()
	var b bytes.Buffer
	b.WriteString("name,qty\n")
	for i := range rows {
		fmt.Fprintf(&b, "item %d,%d\n", i, i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
	backdate(tb, path)
}

// TestLoadCanceled: a load whose context ends stops with the context's error, writes nothing
// and is not reported as a broken file.
func TestLoadCanceled(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "big.csv")
	writeLargeCSV(t, csvPath, 20_000)
	xlsxPath := filepath.Join(dir, "big.xlsx")
	var data strings.Builder
	data.WriteString(`<row r="1"><c r="A1" t="inlineStr"><is><t>qty</t></is></c></row>`)
	for r := 2; r <= 20_000; r++ {
		fmt.Fprintf(&data, `<row r="%d"><c r="A%d"><v>%d</v></c></row>`, r, r, r)
	}
	writeXLSXZip(t, xlsxPath, xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml",
		part: "xl/worksheets/sheet1.xml", data: data.String()}}}.parts())
	backdate(t, xlsxPath)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()

	for _, path := range []string{csvPath, xlsxPath} {
		for _, tc := range []struct {
			ctx  context.Context
			want error
		}{{canceled, context.Canceled}, {expired, context.DeadlineExceeded}} {
			before := statFile(t, path)
			sheets, problems, err := noWriteLoader(t).LoadFile(tc.ctx, path)
			if err != tc.want {
				t.Errorf("%s: LoadFile = %v (%T), want %v", filepath.Base(path), err, err, tc.want)
			}
			if sheets != nil || problems != nil {
				t.Errorf("%s: LoadFile returned sheets or problems with its error", filepath.Base(path))
			}
			checkUnchanged(t, path, before)
		}
	}

	report, err := noWriteLoader(t).LoadDir(canceled, dir, cache.NewStore())
	if !errors.Is(err, context.Canceled) || report != nil {
		t.Errorf("LoadDir = %v, %v, want context.Canceled", report, err)
	}
}

// TestLoadXLSXHeaderNotFirst: the ids go to the right rows when the header is below a title
// and a blank row, and data rows have gaps between them.
func TestLoadXLSXHeaderNotFirst(t *testing.T) {
	path := filepath.Join(t.TempDir(), "titled.xlsx")
	f := excelize.NewFile()
	mustXLSX(t, f.SetCellStr("Sheet1", "B1", "")) // an empty string cell: still a blank row
	mustXLSX(t, f.SetCellStr("Sheet1", "A3", "name"))
	mustXLSX(t, f.SetCellStr("Sheet1", "B3", "qty"))
	mustXLSX(t, f.SetCellStr("Sheet1", "A4", "Ann"))
	mustXLSX(t, f.SetCellInt("Sheet1", "B4", 1))
	mustXLSX(t, f.SetCellStr("Sheet1", "A7", "Bob"))
	mustXLSX(t, f.SetCellInt("Sheet1", "C7", 9)) // wider than the header
	mustXLSX(t, f.SaveAs(path))
	f.Close()
	backdate(t, path)

	sheets, problems := mustLoad(t, testLoader(), path)
	if len(problems) != 1 { // the ragged row
		t.Errorf("problems: %v", problems)
	}
	rows := sheetRows(t, sheets[0])
	if got := column(rows, cache.FieldID); !slices.Equal(got, []string{"id-1", "id-2"}) {
		t.Errorf("ids %q", got)
	}
	f, err := excelize.OpenFile(path)
	mustXLSX(t, err)
	defer f.Close()
	got, err := f.GetRows("Sheet1")
	mustXLSX(t, err)
	want := [][]string{
		nil, nil,
		{"name", "qty", "", "_id", "_createdDate", "_updatedDate", "_owner"},
		{"Ann", "1", "", "id-1"},
		nil, nil,
		{"Bob", "", "9", "id-2"},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %q", got)
	}
	for i := range want {
		n := min(len(want[i]), len(got[i]))
		if len(want[i]) > 0 && (n < len(want[i]) || !slices.Equal(got[i][:n], want[i])) {
			t.Errorf("row %d: %q, want %q...", i+1, got[i], want[i])
		}
		if len(want[i]) == 0 && slices.ContainsFunc(got[i], func(s string) bool { return s != "" }) {
			t.Errorf("row %d: %q, want it blank", i+1, got[i])
		}
	}
	again, _ := mustLoad(t, noWriteLoader(t), path)
	if !slices.EqualFunc(sheetRows(t, again[0]), rows, mapsEqual) {
		t.Errorf("second load: %v, first %v", sheetRows(t, again[0]), rows)
	}
}

// TestLoadProgress: reading a big CSV logs how far it got: rows, rows per second, the share of
// the file read and the time left.
func TestLoadProgress(t *testing.T) {
	defer func(was time.Duration) { progressEvery = was }(progressEvery)
	progressEvery = 0 // at every check (each 16,384 rows): the test needs no big file
	var b strings.Builder
	b.WriteString("_id,name\n")
	for i := range 40_000 {
		fmt.Fprintf(&b, "r%d,name %d\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	l := &Loader{ReadOnly: true, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, _, err := l.LoadFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(logs.String(), "\n")
	var progress []string
	for _, line := range lines {
		if strings.Contains(line, "msg=reading") {
			progress = append(progress, line)
		}
	}
	if len(progress) == 0 {
		t.Fatalf("no progress line:\n%s", logs.String())
	}
	last := progress[len(progress)-1]
	for _, want := range []string{"file=big.csv", "rows=", "rows_per_sec=", "percent=", "left="} {
		if !strings.Contains(last, want) {
			t.Errorf("progress line %q lacks %s", last, want)
		}
	}
	percent := func(line string) int {
		_, after, _ := strings.Cut(line, "percent=")
		n, _ := strconv.Atoi(strings.Fields(after + " ")[0])
		return n
	}
	if len(progress) != 2 || percent(progress[0]) < 30 || percent(progress[0]) > 50 || percent(last) < 70 || percent(last) > 90 {
		t.Errorf("progress lines %q: want about 40%% then 80%% of the file (rows 16,384 and 32,768 of 40,000)", progress)
	}
}
