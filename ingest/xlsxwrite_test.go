package ingest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// writeEditWorkbook builds the workbook the writer tests edit: a styled header, a date column,
// a formula column, a column width, a second sheet and a defined name.
func writeEditWorkbook(tb testing.TB, path string) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	mustXLSX(tb, f.SetSheetName("Sheet1", "Products"))
	_, err := f.NewSheet("Other")
	mustXLSX(tb, err)
	header, err := f.NewStyle(&excelize.Style{
		Font: &excelize.Font{Bold: true, Color: "FFFFFF"},
		Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"4472C4"}},
	})
	mustXLSX(tb, err)
	date, err := f.NewStyle(&excelize.Style{NumFmt: 14, Font: &excelize.Font{Italic: true}})
	mustXLSX(tb, err)
	money, err := f.NewStyle(&excelize.Style{NumFmt: 4})
	mustXLSX(tb, err)

	for i, h := range []string{"name", "price", "added", "double"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		mustXLSX(tb, f.SetCellStr("Products", ref, h))
	}
	mustXLSX(tb, f.SetCellStyle("Products", "A1", "D1", header))
	day := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	for i, name := range []string{"Widget", "Gadget"} {
		row, price := i+2, 9.5+float64(i)
		ref := func(col string) string { return fmt.Sprintf("%s%d", col, row) }
		mustXLSX(tb, f.SetCellStr("Products", ref("A"), name))
		mustXLSX(tb, f.SetCellFloat("Products", ref("B"), price, -1, 64))
		mustXLSX(tb, f.SetCellStyle("Products", ref("B"), ref("B"), money))
		mustXLSX(tb, f.SetCellFloat("Products", ref("C"), xlsxSerial(day.AddDate(0, 0, i)), -1, 64))
		mustXLSX(tb, f.SetCellStyle("Products", ref("C"), ref("C"), date))
		// a formula with its cached value (excelize stores it as t="str")
		mustXLSX(tb, f.SetCellFloat("Products", ref("D"), price*2, -1, 64))
		mustXLSX(tb, f.SetCellFormula("Products", ref("D"), ref("B")+"*2"))
	}
	mustXLSX(tb, f.SetColWidth("Products", "A", "A", 30))
	mustXLSX(tb, f.SetCellStr("Other", "A1", "untouched"))
	mustXLSX(tb, f.SetCellFloat("Other", "B1", 42, -1, 64))
	mustXLSX(tb, f.SetDefinedName(&excelize.DefinedName{Name: "Prices", RefersTo: "Products!$B$2:$B$3"}))
	manual := "manual"
	mustXLSX(tb, f.SetCalcProps(&excelize.CalcPropsOptions{CalcMode: &manual}))
	mustXLSX(tb, f.SaveAs(path))
}

func xlsxTimeValue(tb testing.TB, s string) cache.Value {
	tb.Helper()
	ms, ok := cache.ParseTime(s)
	if !ok {
		tb.Fatalf("bad time %q", s)
	}
	return cache.Time(ms)
}

func TestXLSXWritePatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "edit.xlsx")
	writeEditWorkbook(t, path)
	before, err := excelize.OpenFile(path)
	mustXLSX(t, err)
	styleB1, _ := before.GetCellStyle("Products", "B1")
	styleB2, _ := before.GetCellStyle("Products", "B2")
	styleC2, _ := before.GetCellStyle("Products", "C2")
	styleD1, _ := before.GetCellStyle("Products", "D1")
	before.Close()

	_, err = writeXLSXPatches(path, map[string][]cellPatch{"Products": {
		{record: 1, col: 4, value: cache.Text("_id")},
		{record: 1, col: 5, value: cache.Text("_createdDate")},
		{record: 2, col: 4, value: cache.Text("id-1")},
		{record: 3, col: 4, value: cache.Text("id-2")},
		{record: 2, col: 5, value: xlsxTimeValue(t, "2024-07-01T12:34:56.789Z")},
		{record: 3, col: 5, value: xlsxTimeValue(t, "1899-06-01T00:00:00Z")}, // before Excel's calendar
		{record: 3, col: 2, value: xlsxTimeValue(t, "2025-01-02T03:04:05.006Z")},
		{record: 2, col: 2, value: cache.Number(45)},   // a number into a date-formatted cell
		{record: 2, col: 0, value: cache.Text("=1+2")}, // text, never a formula
		{record: 3, col: 1, value: cache.Number(12.25)},
		{record: 3, col: 0, value: cache.Null()},
		{record: 5, col: 0, value: cache.Null()}, // already empty
		{record: 5, col: 6, value: cache.Bool(true)},
	}})
	mustXLSX(t, err)

	diffLines(t, xlsxDump(t, mustOpenXLSX(t, path), "Products"), []string{
		`1: "name" | "price" | "added" | "double" | "_id" | "_createdDate"`,
		`2: "=1+2" | n:9.5 | n:45 | f:"19" | "id-1" | d:2024-07-01T12:34:56.789Z`,
		`3: _ | n:12.25 | d:2025-01-02T03:04:05.006Z | f:"21" | "id-2" | "1899-06-01T00:00:00.000Z"`,
		`4: `,
		`5: _ | _ | _ | _ | _ | _ | b:true`,
	})

	f, err := excelize.OpenFile(path)
	mustXLSX(t, err)
	defer f.Close()
	str, num, float, typ := xlsxGet[string](t), xlsxGet[int](t), xlsxGet[float64](t), xlsxGet[excelize.CellType](t)
	for _, tt := range []struct {
		what      string
		got, want any
	}{
		{"A2 formula", str(f.GetCellFormula("Products", "A2")), ""},
		{"A2 type", typ(f.GetCellType("Products", "A2")), excelize.CellTypeSharedString},
		{"D2 formula", str(f.GetCellFormula("Products", "D2")), "B2*2"},
		{"D3 formula", str(f.GetCellFormula("Products", "D3")), "B3*2"},
		{"E1 style (copied from D1)", num(f.GetCellStyle("Products", "E1")), styleD1},
		{"F1 style (copied from D1)", num(f.GetCellStyle("Products", "F1")), styleD1},
		{"B1 style", num(f.GetCellStyle("Products", "B1")), styleB1},
		{"B2 style", num(f.GetCellStyle("Products", "B2")), styleB2},
		{"B3 style (a number written over a number)", num(f.GetCellStyle("Products", "B3")), styleB2},
		{"C3 style (a date written over a date)", num(f.GetCellStyle("Products", "C3")), styleC2},
		{"B2 shown", str(f.GetCellValue("Products", "B2")), "9.50"},
		{"F2 shown", str(f.GetCellValue("Products", "F2")), "2024-07-01 12:34:57"},
		{"A width", float(f.GetColWidth("Products", "A")), 30.0},
		{"Other A1", str(f.GetCellValue("Other", "A1")), "untouched"},
		{"Other B1", str(f.GetCellValue("Other", "B1")), "42"},
		{"sheets", strings.Join(f.GetSheetList(), ","), "Products,Other"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %#v, want %#v", tt.what, tt.got, tt.want)
		}
	}
	// C2 lost its date format for the number but kept its font
	c2, _ := f.GetCellStyle("Products", "C2")
	st, err := f.GetStyle(c2)
	mustXLSX(t, err)
	if st.NumFmt != 0 || st.CustomNumFmt != nil || st.Font == nil || !st.Font.Italic {
		t.Errorf("C2 style = %+v (font %+v), want General and italic", st, st.Font)
	}
	calc, err := f.GetCalcProps()
	mustXLSX(t, err)
	if calc.FullCalcOnLoad == nil || !*calc.FullCalcOnLoad || calc.CalcMode == nil || *calc.CalcMode != "manual" {
		t.Errorf("calc props = fullCalcOnLoad %v, calcMode %v; want true and manual (kept)", calc.FullCalcOnLoad, calc.CalcMode)
	}
	names := f.GetDefinedName()
	if len(names) != 1 || names[0].Name != "Prices" || names[0].RefersTo != "Products!$B$2:$B$3" {
		t.Errorf("defined names = %+v", names)
	}
	sheet := xlsxPart(t, path, "xl/worksheets/sheet1.xml")
	if strings.Contains(sheet, "<f>1+2</f>") || strings.Contains(sheet, "<f>=1+2</f>") {
		t.Errorf("text =1+2 was written as a formula:\n%s", sheet)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// TestXLSXWriteDate1904 writes a datetime to a 1904-based workbook and reads it back.
func TestXLSXWriteDate1904(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mac.xlsx")
	f := excelize.NewFile()
	yes := true
	mustXLSX(t, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}))
	mustXLSX(t, f.SetCellStr("Sheet1", "A1", "when"))
	mustXLSX(t, f.SaveAs(path))
	f.Close()
	mustXLSX(t, dropHash(writeXLSXPatches(path, map[string][]cellPatch{"Sheet1": {
		{record: 2, col: 0, value: xlsxTimeValue(t, "1904-01-01T06:00:00Z")},
		{record: 3, col: 0, value: xlsxTimeValue(t, "2030-12-31T23:59:59.999Z")},
	}})))
	diffLines(t, xlsxDump(t, mustOpenXLSX(t, path), "Sheet1"), []string{
		`1: "when"`,
		`2: d:1904-01-01T06:00:00.000Z`,
		`3: d:2030-12-31T23:59:59.999Z`,
	})
}

// TestXLSXWriteFails checks that a write that cannot be done leaves the file as it was.
func TestXLSXWriteFails(t *testing.T) {
	for _, tt := range []struct {
		name    string
		patches map[string][]cellPatch
		msg     string
	}{
		{"ErrNoSheet", map[string][]cellPatch{
			"Products": {{record: 2, col: 0, value: cache.Text("changed")}},
			"Missing":  {{record: 1, col: 0, value: cache.Text("x")}},
		}, `no sheet "Missing"`},
		{"ErrRowZero", map[string][]cellPatch{"Products": {
			{record: 2, col: 0, value: cache.Text("changed")},
			{record: 0, col: 0, value: cache.Text("x")},
		}}, `sheet "Products": cell at row 0, column 1 is outside the sheet`},
		{"ErrColumnTooFar", map[string][]cellPatch{"Products": {
			{record: 2, col: 0, value: cache.Text("changed")},
			{record: 2, col: excelize.MaxColumns, value: cache.Text("x")},
		}}, `sheet "Products": cell at row 2, column 16385 is outside the sheet`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "edit.xlsx")
			writeEditWorkbook(t, path)
			want, err := os.ReadFile(path)
			mustXLSX(t, err)
			_, err = writeXLSXPatches(path, tt.patches)
			if err == nil || !strings.HasSuffix(err.Error(), tt.msg) {
				t.Fatalf("error %v, want one ending %q", err, tt.msg)
			}
			got, err := os.ReadFile(path)
			mustXLSX(t, err)
			if !bytes.Equal(got, want) {
				t.Error("the file changed")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("folder holds %d entries, want only the workbook", len(entries))
			}
		})
	}
}

func TestXLSXWriteNotAWorkbook(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fake.xlsx")
	mustXLSX(t, os.WriteFile(path, []byte("name\nWidget\n"), 0o644))
	_, err := writeXLSXPatches(path, map[string][]cellPatch{"Sheet1": {{record: 1, col: 0, value: cache.Text("x")}}})
	if err == nil {
		t.Fatal("no error")
	}
	if got, _ := os.ReadFile(path); string(got) != "name\nWidget\n" {
		t.Errorf("file changed to %q", got)
	}
}

// xlsxGet returns a function that unpacks a getter's value and error, failing the test on an
// error.
func xlsxGet[T any](tb testing.TB) func(T, error) any {
	return func(v T, err error) any {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// BenchmarkXLSXWritePatches writes one cell back to a 100,000-row, 10-column workbook: the
// cost of a write-back, which excelize makes proportional to the sheet.
func BenchmarkXLSXWritePatches(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.xlsx")
	writeBenchXLSX(b, path, 100_000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, err := writeXLSXPatches(path, map[string][]cellPatch{"Sheet1": {{record: 2, col: 0, value: cache.Text(fmt.Sprint("edit ", i))}}})
		mustXLSX(b, err)
	}
}

func dropHash(_ uint64, err error) error { return err }
