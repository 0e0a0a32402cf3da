package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// tableCases lists the fixture folders under testdata/table.
func tableCases(tb testing.TB) []string {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "table", "*"))
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no table fixtures: %v", err)
	}
	return dirs
}

// tableInput returns the input file of a fixture folder: input.csv or input.xlsx.
func tableInput(tb testing.TB, dir string) string {
	tb.Helper()
	for _, name := range []string{"input.csv", "input.xlsx"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); err == nil {
			return path
		}
	}
	tb.Fatalf("%s has no input.csv or input.xlsx", dir)
	return ""
}

// TestTableGolden decodes every fixture under testdata/table the way the server does
// (Loader.LoadFile, read-only so that rows without _id get their stable, content-derived ids)
// and compares a dump of every sheet with want.golden. It also checks that every decoded table
// is a valid snapshot and that the read-only load left the file alone.
func TestTableGolden(t *testing.T) {
	for _, dir := range tableCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			path := tableInput(t, dir)
			before := mustReadFile(t, path)
			l := &Loader{ReadOnly: true, Logger: discardLogger()}
			sheets, problems, err := l.LoadFile(context.Background(), path)
			got := dumpLoad(t, sheets, problems, err)
			if after := mustReadFile(t, path); !bytes.Equal(after, before) {
				t.Errorf("a read-only load changed %s", path)
			}
			checkGolden(t, filepath.Join(dir, "want.golden"), got)
		})
	}
}

// TestTableGoldenStable loads every fixture twice and checks that the dumps, stable ids
// included, are the same: nothing in a read-only load depends on the time or on chance.
func TestTableGoldenStable(t *testing.T) {
	for _, dir := range tableCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			path := tableInput(t, dir)
			l := &Loader{ReadOnly: true, Logger: discardLogger(),
				Now:   func() time.Time { t.Fatal("a read-only load asked for the time"); return time.Time{} },
				NewID: func() string { t.Fatal("a read-only load asked for a new id"); return "" }}
			s1, p1, err1 := l.LoadFile(context.Background(), path)
			s2, p2, err2 := l.LoadFile(context.Background(), path)
			if a, b := dumpLoad(t, s1, p1, err1), dumpLoad(t, s2, p2, err2); a != b {
				t.Errorf("two loads differ\nfirst:\n%s\nsecond:\n%s", a, b)
			}
		})
	}
}

// dumpLoad renders what LoadFile returned: for each sheet its collection, fields (type,
// read-only) and rows (non-empty values only, text quoted), then the problems.
func dumpLoad(tb testing.TB, sheets []Sheet, problems []Problem, err error) string {
	tb.Helper()
	var b strings.Builder
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			tb.Fatalf("LoadFile error is %T, want *ParseError: %v", err, err)
		}
		fmt.Fprintf(&b, "error: row=%d col=%d sheet=%q: %v\n", pe.Row, pe.Column, pe.Sheet, pe.Err)
		if sheets != nil || problems != nil {
			tb.Errorf("LoadFile returned sheets or problems along with an error")
		}
		return b.String()
	}
	for _, sh := range sheets {
		snap, err := cache.NewSnapshot(sh.Collection, sh.Table)
		if err != nil {
			tb.Fatalf("sheet %q is not a valid snapshot: %v", sh.Sheet, err)
		}
		if snap.Len() != sh.Rows {
			tb.Errorf("sheet %q: Rows = %d, snapshot has %d", sh.Sheet, sh.Rows, snap.Len())
		}
		fmt.Fprintf(&b, "collection %q (file %s, sheet %q): %d rows\n", sh.Collection, filepath.Base(sh.Path), sh.Sheet, sh.Rows)
		schema := snap.Schema()
		b.WriteString("fields:\n")
		for _, f := range schema.Fields() {
			fmt.Fprintf(&b, "  %-14s %s", f.Key, f.Type)
			if f.ReadOnly {
				b.WriteString(" read-only")
			}
			b.WriteByte('\n')
		}
		b.WriteString("rows:\n")
		n := 0
		snap.Rows(func(r cache.RowID) bool {
			n++
			fmt.Fprintf(&b, "  %d:", n)
			for i, v := range snap.Row(r) {
				if v.IsNull() {
					continue
				}
				fmt.Fprintf(&b, " %s=%s", schema.Field(i).Key, dumpValue(v))
			}
			b.WriteByte('\n')
			return true
		})
	}
	b.WriteString("problems:\n")
	for _, p := range problems {
		fmt.Fprintf(&b, "  row=%d col=%d", p.Row, p.Column)
		if p.Sheet != "" {
			fmt.Fprintf(&b, " sheet=%q", p.Sheet)
		}
		if p.Field != "" {
			fmt.Fprintf(&b, " field=%s", p.Field)
		}
		if p.Fatal {
			b.WriteString(" fatal")
		}
		fmt.Fprintf(&b, ": %s\n", p.Message)
	}
	return b.String()
}

// dumpValue renders a value so that its kind shows: text quoted, the rest bare.
func dumpValue(v cache.Value) string {
	if v.Kind() == cache.KindText {
		return strconv.Quote(v.Str())
	}
	return v.String()
}

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestTableFixtureXLSX writes testdata/table/workbook/input.xlsx, with -update only; without it
// it checks that the committed fixture still holds what the generator puts there.
func TestTableFixtureXLSX(t *testing.T) {
	path := filepath.Join("testdata", "table", "workbook", "input.xlsx")
	if *update {
		writeTableWorkbook(t, path)
	}
	sheet := xlsxPart(t, path, "xl/worksheets/sheet1.xml")
	for _, want := range []string{`t="e"`, `<f>B2*2</f>`, `t="b"`} {
		if !strings.Contains(sheet, want) {
			t.Errorf("sheet1.xml lacks %s; regenerate the fixture with -update", want)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 16<<10 {
		t.Errorf("the fixture should exist and be small: %v", err)
	}
}

// writeTableWorkbook builds the workbook fixture with excelize: a first sheet with a styled
// header, a date column, a formula column, a formula column whose cached value is an error,
// booleans; and a second sheet named "Staff & Crew" with a date column. excelize cannot write
// an error value, so one cell is then rewritten inside the zip.
func writeTableWorkbook(tb testing.TB, path string) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	mustXLSX(tb, f.SetSheetName("Sheet1", "Stock"))
	_, err := f.NewSheet("Staff & Crew")
	mustXLSX(tb, err)
	header, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	mustXLSX(tb, err)
	date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	mustXLSX(tb, err)
	stamp := "yyyy-mm-dd hh:mm"
	dateTime, err := f.NewStyle(&excelize.Style{CustomNumFmt: &stamp})
	mustXLSX(tb, err)

	set := func(sheet, ref string, v any) { mustXLSX(tb, f.SetCellValue(sheet, ref, v)) }
	styled := func(sheet, ref string, v any, style int) {
		set(sheet, ref, v)
		mustXLSX(tb, f.SetCellStyle(sheet, ref, ref, style))
	}
	formula := func(sheet, ref, expr string, cached any) {
		if cached != nil {
			set(sheet, ref, cached)
		}
		mustXLSX(tb, f.SetCellFormula(sheet, ref, expr))
	}
	for i, h := range []string{"name", "price", "added", "double", "ratio", "active", "code"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		set("Stock", ref, h)
	}
	mustXLSX(tb, f.SetCellStyle("Stock", "A1", "G1", header))
	day := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	set("Stock", "A2", "Widget")
	set("Stock", "B2", 9.5)
	styled("Stock", "C2", xlsxSerial(day), date)
	formula("Stock", "D2", "B2*2", 19)
	formula("Stock", "E2", "B2/0", nil) // becomes #DIV/0! below
	set("Stock", "F2", true)
	set("Stock", "G2", "00123")

	set("Stock", "A3", "Gadget")
	set("Stock", "B3", 12)
	styled("Stock", "C3", xlsxSerial(day.Add(36*time.Hour+30*time.Minute)), dateTime)
	formula("Stock", "D3", "B3*2", 24)
	formula("Stock", "E3", "B3/24", 0.5)
	set("Stock", "F3", false)
	set("Stock", "G3", "A-7")

	set("Stock", "A4", "Gizmo")
	set("Stock", "B4", "n/a") // a word among numbers: the column is text
	formula("Stock", "D4", "B4*2", nil)
	set("Stock", "F4", "TRUE") // text that reads as a boolean

	for i, h := range []string{"name", "role", "since"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		styled("Staff & Crew", ref, h, header)
	}
	set("Staff & Crew", "A2", "Ann")
	set("Staff & Crew", "B2", "Director")
	styled("Staff & Crew", "C2", xlsxSerial(time.Date(2019, 1, 7, 0, 0, 0, 0, time.UTC)), date)
	set("Staff & Crew", "A3", "Bob")
	set("Staff & Crew", "B3", "=not a formula")
	styled("Staff & Crew", "C3", xlsxSerial(time.Date(2021, 6, 30, 0, 0, 0, 0, time.UTC)), date)

	var buf bytes.Buffer
	mustXLSX(tb, f.Write(&buf))
	out := rewriteZipPart(tb, buf.Bytes(), "xl/worksheets/sheet1.xml", func(s string) string {
		from := `<c r="E2" t="str"><f>B2/0</f></c>`
		if !strings.Contains(s, from) {
			tb.Fatalf("sheet1.xml has no %s:\n%s", from, s)
		}
		return strings.Replace(s, from, `<c r="E2" t="e"><f>B2/0</f><v>#DIV/0!</v></c>`, 1)
	})
	mustXLSX(tb, os.WriteFile(path, out, 0o644))
}

// rewriteZipPart returns the zip file data with one part's text changed by edit.
func rewriteZipPart(tb testing.TB, data []byte, name string, edit func(string) string) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	mustXLSX(tb, err)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	found := false
	for _, zf := range zr.File {
		rc, err := zf.Open()
		mustXLSX(tb, err)
		body, err := io.ReadAll(rc)
		rc.Close()
		mustXLSX(tb, err)
		if zf.Name == name {
			body, found = []byte(edit(string(body))), true
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: zf.Name, Method: zip.Deflate})
		mustXLSX(tb, err)
		_, err = w.Write(body)
		mustXLSX(tb, err)
	}
	mustXLSX(tb, zw.Close())
	if !found {
		tb.Fatalf("no part %s", name)
	}
	return out.Bytes()
}

// sliceRows is a rowReader over literal cells, for the inference tests.
type sliceRows struct {
	rows [][]cell
	i    int
}

func (r *sliceRows) next() ([]cell, error) {
	if r.i >= len(r.rows) {
		return nil, io.EOF
	}
	r.i++
	return r.rows[r.i-1], nil
}

func (r *sliceRows) pos() (record, line int) { return r.i - 1, r.i }

// Cell constructors for the inference tests: what CSV and XLSX decoders produce.
func cText(s string) cell { return cell{kind: cellText, text: []byte(s)} }
func cLit(s string) cell  { return cell{kind: cellLiteral, text: []byte(s)} }
func cNum(f float64) cell {
	return cell{kind: cellNumber, num: f, text: strconv.AppendFloat(nil, f, 'g', -1, 64)}
}
func cBool(b bool) cell    { return cell{kind: cellBool, b: b, text: []byte(strconv.FormatBool(b))} }
func cErr(s string) cell   { return cell{kind: cellError, text: []byte(s)} }
func cFormula(c cell) cell { c.formula = true; return c }
func cDate(s string) cell {
	ms, ok := cache.ParseTime(s)
	if !ok {
		panic("bad date " + s)
	}
	return cell{kind: cellDate, ms: ms, text: cache.AppendTime(nil, ms)}
}

var cEmpty = cell{}

// TestColumnType checks the type inferred for one column from the cells below its header,
// with the values served, for every mix of cell kinds the decoders produce.
func TestColumnType(t *testing.T) {
	tests := []struct {
		name     string
		cells    []cell
		want     cache.FieldType
		readOnly bool
		values   []string // dumpValue of each row's cell; "" when empty
		problems int
	}{
		{name: "Empty", cells: nil, want: cache.TypeText},
		{name: "AllEmpty", cells: []cell{cEmpty, cEmpty}, want: cache.TypeText, values: []string{"", ""}},
		{name: "Numbers", cells: []cell{cText("1"), cEmpty, cText("-2.5"), cText("1e3")}, want: cache.TypeNumber, values: []string{"1", "", "-2.5", "1000"}},
		{name: "NumberCells", cells: []cell{cNum(1.5), cText("2")}, want: cache.TypeNumber, values: []string{"1.5", "2"}},
		{name: "LeadingZero", cells: []cell{cText("1"), cText("00123")}, want: cache.TypeText, values: []string{`"1"`, `"00123"`}},
		{name: "NumberThenWord", cells: []cell{cText("1.50"), cText("x")}, want: cache.TypeText, values: []string{`"1.50"`, `"x"`}},
		{name: "NumberCellThenWord", cells: []cell{cNum(0.25), cText("x")}, want: cache.TypeText, values: []string{`"0.25"`, `"x"`}},
		{name: "Booleans", cells: []cell{cText("true"), cText("FALSE"), cText("True")}, want: cache.TypeBoolean, values: []string{"true", "false", "true"}},
		{name: "BoolCells", cells: []cell{cBool(true), cText("false"), cEmpty}, want: cache.TypeBoolean, values: []string{"true", "false", ""}},
		{name: "BoolThenNumber", cells: []cell{cText("true"), cText("1")}, want: cache.TypeText, values: []string{`"true"`, `"1"`}},
		{name: "BoolCellThenNumberCell", cells: []cell{cBool(false), cNum(1)}, want: cache.TypeText, values: []string{`"false"`, `"1"`}},
		{name: "Dates", cells: []cell{cText("2024-03-15"), cText("2024-03-15T10:00:00+02:00")}, want: cache.TypeDateTime,
			values: []string{"2024-03-15T00:00:00.000Z", "2024-03-15T08:00:00.000Z"}},
		{name: "DateCells", cells: []cell{cDate("2024-03-15"), cText("2024-03-16 12:30")}, want: cache.TypeDateTime,
			values: []string{"2024-03-15T00:00:00.000Z", "2024-03-16T12:30:00.000Z"}},
		{name: "DateThenWord", cells: []cell{cText("2024-03-15"), cText("soon")}, want: cache.TypeText, values: []string{`"2024-03-15"`, `"soon"`}},
		{name: "DateCellThenNumberCell", cells: []cell{cDate("2024-03-15"), cNum(3)}, want: cache.TypeText, values: []string{`"2024-03-15T00:00:00.000Z"`, `"3"`}},
		{name: "LiteralFormula", cells: []cell{cLit("=1+2")}, want: cache.TypeText, values: []string{`"=1+2"`}},
		{name: "LiteralNumber", cells: []cell{cLit("-5"), cText("3")}, want: cache.TypeText, values: []string{`"-5"`, `"3"`}},
		{name: "ErrorCell", cells: []cell{cErr("#DIV/0!"), cNum(2)}, want: cache.TypeNumber, values: []string{"", "2"}, problems: 1},
		{name: "OnlyErrors", cells: []cell{cErr("#N/A")}, want: cache.TypeText, values: []string{""}, problems: 1},
		{name: "Formula", cells: []cell{cFormula(cNum(4)), cNum(5)}, want: cache.TypeNumber, readOnly: true, values: []string{"4", "5"}},
		{name: "FormulaNotCalculated", cells: []cell{cFormula(cEmpty), cText("x")}, want: cache.TypeText, readOnly: true, values: []string{"", `"x"`}},
		{name: "FormulaError", cells: []cell{cFormula(cErr("#REF!"))}, want: cache.TypeText, readOnly: true, values: []string{""}, problems: 1},
		{name: "SixteenDigits", cells: []cell{cText("1234567890123456")}, want: cache.TypeText, values: []string{`"1234567890123456"`}},
		{name: "FifteenDigits", cells: []cell{cText("123456789012345")}, want: cache.TypeNumber, values: []string{"123456789012345"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// a second column keeps rows whose x is empty from being blank rows
			rows := [][]cell{{cText("x"), cText("k")}}
			for _, c := range tt.cells {
				rows = append(rows, []cell{c, cText("row")})
			}
			tb := newTableBuilder("t.csv", "")
			if err := tb.read(context.Background(), &sliceRows{rows: rows}, nil); err != nil {
				t.Fatal(err)
			}
			if err := tb.finish(); err != nil {
				t.Fatal(err)
			}
			tb.setIDs(tb.stableIDs("t"), 0, false)
			table, err := tb.table()
			if err != nil {
				t.Fatal(err)
			}
			snap, err := cache.NewSnapshot("t", table)
			if err != nil {
				t.Fatal(err)
			}
			f, _ := snap.Schema().Lookup("x")
			if f.Type != tt.want || f.ReadOnly != tt.readOnly {
				t.Errorf("field x = %s read-only %v, want %s read-only %v", f.Type, f.ReadOnly, tt.want, tt.readOnly)
			}
			var values []string
			snap.Rows(func(r cache.RowID) bool {
				v := snap.Value(r, 0)
				if v.IsNull() {
					values = append(values, "")
				} else {
					values = append(values, dumpValue(v))
				}
				return true
			})
			if !slices.Equal(values, tt.values) {
				t.Errorf("values = %q, want %q", values, tt.values)
			}
			if len(tb.problems) != tt.problems {
				t.Errorf("problems = %v, want %d", tb.problems, tt.problems)
			}
		})
	}
}

// TestHeaderProblemRow: a problem in the header names the header's row, which a person needs
// to find it when the header is not on the first line.
func TestHeaderProblemRow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.csv")
	if err := os.WriteFile(path, []byte("\n\nname,name\nAnn,Bob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, problems, err := (&Loader{ReadOnly: true, Logger: discardLogger()}).LoadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || problems[0].Row != 3 || problems[0].Column != 2 {
		t.Errorf("problems %+v, want one at row 3, column 2", problems)
	}
}

// TestSystemDateCells: _createdDate and _updatedDate are datetimes whatever their cells hold;
// a cell that is not a date is reported and served empty.
func TestSystemDateCells(t *testing.T) {
	long := strings.Repeat("x", 50)
	rows := [][]cell{
		{cText("k"), cText("_createdDate")},
		{cText("a"), cDate("2024-03-15")},
		{cText("b"), cText("2024-03-15T10:00:00+02:00")},
		{cText("c"), cLit("-2024")},
		{cText("d"), cNum(45000)},
		{cText("e"), cBool(true)},
		{cText("f"), cText(long)},
		{cText("g"), cErr("#VALUE!")},
		{cText("h"), cEmpty},
	}
	tb := newTableBuilder("t.xlsx", "S")
	if err := tb.read(context.Background(), &sliceRows{rows: rows}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tb.finish(); err != nil {
		t.Fatal(err)
	}
	tb.setIDs(tb.stableIDs("t"), 0, false)
	table, err := tb.table()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cache.NewSnapshot("t", table)
	if err != nil {
		t.Fatal(err)
	}
	i, _ := snap.Schema().Index(cache.FieldCreatedDate)
	var got []string
	snap.Rows(func(r cache.RowID) bool {
		got = append(got, snap.Value(r, i).String())
		return true
	})
	want := []string{"2024-03-15T00:00:00.000Z", "2024-03-15T08:00:00.000Z", "", "", "", "", "", ""}
	if !slices.Equal(got, want) {
		t.Errorf("_createdDate %q, want %q", got, want)
	}
	var msgs []string
	for _, p := range tb.problems {
		msgs = append(msgs, fmt.Sprintf("%d:%d %s: %s", p.Row, p.Column, p.Field, p.Message))
	}
	wantMsgs := []string{
		`4:2 _createdDate: not an ISO 8601 date-time: "-2024"; it is served empty`,
		`5:2 _createdDate: not a date-time; it is served empty`,
		`6:2 _createdDate: not a date-time; it is served empty`,
		`7:2 _createdDate: not an ISO 8601 date-time: "` + long[:40] + `…"; it is served empty`,
		`8:2 _createdDate: the cell holds the error #VALUE!; it is served empty`,
	}
	if !slices.Equal(msgs, wantMsgs) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(wantMsgs, "\n"))
	}
}
