package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
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

// xlsxDumpCell renders a cell for comparison: _ empty, "text", n:number, b:bool, d:datetime,
// e:error, with f: before a formula's cached value.
func xlsxDumpCell(tb testing.TB, c cell) string {
	tb.Helper()
	var s string
	switch c.kind {
	case cellEmpty:
		s = "_"
	case cellText:
		s = strconv.Quote(string(c.text))
	case cellNumber:
		if f, err := strconv.ParseFloat(string(c.text), 64); err != nil || f != c.num {
			tb.Errorf("number cell: text %q does not match num %v", c.text, c.num)
		}
		s = "n:" + string(c.text)
	case cellBool:
		if string(c.text) != strconv.FormatBool(c.b) {
			tb.Errorf("bool cell: text %q does not match b %v", c.text, c.b)
		}
		s = "b:" + strconv.FormatBool(c.b)
	case cellDate:
		if got, want := string(c.text), string(cache.AppendTime(nil, c.ms)); got != want {
			tb.Errorf("date cell: text %q does not match ms %s", got, want)
		}
		s = "d:" + string(c.text)
	case cellError:
		s = "e:" + string(c.text)
	default:
		s = fmt.Sprintf("kind%d:%q", c.kind, c.text)
	}
	if c.formula {
		s = "f:" + s
	}
	return s
}

// xlsxDump reads every row of a sheet and renders each as "row: cell | cell ...".
func xlsxDump(tb testing.TB, b *xlsxBook, sheet string) []string {
	tb.Helper()
	r, err := b.rows(sheet)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	var out []string
	for {
		row, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		record, line := r.pos()
		if record != line || record != len(out)+1 {
			tb.Fatalf("pos() = %d, %d after %d rows", record, line, len(out))
		}
		cells := make([]string, len(row))
		for i, c := range row {
			cells[i] = xlsxDumpCell(tb, c)
		}
		out = append(out, fmt.Sprintf("%d: %s", record, strings.Join(cells, " | ")))
	}
	if _, err := r.next(); err != io.EOF {
		tb.Fatalf("next() after the end = %v, want io.EOF", err)
	}
	return out
}

func mustOpenXLSX(tb testing.TB, path string) *xlsxBook {
	tb.Helper()
	b, err := openXLSX(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

func mustXLSX(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func diffLines(tb testing.TB, got, want []string) {
	tb.Helper()
	if !slices.Equal(got, want) {
		tb.Errorf("rows differ\ngot:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// xlsxSerial is the Excel 1900-system serial of a UTC time.
func xlsxSerial(t time.Time) float64 {
	return 25569 + float64(t.UnixMilli())/86400000
}

// writeTypesWorkbook builds, with excelize, a two-sheet workbook holding every kind of cell
// excelize can write.
func writeTypesWorkbook(tb testing.TB, path string) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	mustXLSX(tb, f.SetSheetName("Sheet1", "Products"))
	_, err := f.NewSheet("Stock")
	mustXLSX(tb, err)

	style := func(s *excelize.Style) int {
		id, err := f.NewStyle(s)
		mustXLSX(tb, err)
		return id
	}
	custom := func(code string) int { return style(&excelize.Style{CustomNumFmt: &code}) }
	date14, dmy, stamp := style(&excelize.Style{NumFmt: 14}), custom("dd/mm/yyyy"), custom("yyyy-mm-dd hh:mm:ss")
	money := custom(`#,##0.00 [$€-407];[Red]-#,##0.00`)

	set := func(sheet, ref string, v any) { mustXLSX(tb, f.SetCellValue(sheet, ref, v)) }
	styled := func(sheet, ref string, v any, id int) {
		set(sheet, ref, v)
		mustXLSX(tb, f.SetCellStyle(sheet, ref, ref, id))
	}
	for i, h := range []string{"name", "price", "instock", "added", "custom", "stamp", "calc", "money"} {
		ref, _ := excelize.CoordinatesToCellName(i+1, 1)
		set("Products", ref, h)
	}
	day := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	set("Products", "A2", "Widget")
	set("Products", "B2", 9.5)
	set("Products", "C2", true)
	styled("Products", "D2", xlsxSerial(day), date14)
	styled("Products", "E2", xlsxSerial(day), dmy)
	styled("Products", "F2", xlsxSerial(day.Add(13*time.Hour+45*time.Minute+30*time.Second+250*time.Millisecond)), stamp)
	set("Products", "G2", 19)
	mustXLSX(tb, f.SetCellFormula("Products", "G2", "B2*2"))
	styled("Products", "H2", -1234.5, money)

	set("Products", "A3", "00123")
	set("Products", "B3", 1.5e-7)
	set("Products", "C3", false)
	set("Products", "D3", "=1+2") // a string, not a formula
	mustXLSX(tb, f.SetCellDefault("Products", "E3", "inline text"))
	mustXLSX(tb, f.SetCellRichText("Products", "F3", []excelize.RichTextRun{
		{Text: "bold", Font: &excelize.Font{Bold: true}},
		{Text: " and plain"},
	}))
	set("Products", "A5", "after a gap")
	set("Products", "C5", "  spaced  ")

	set("Stock", "A1", "sku")
	set("Stock", "B1", "qty")
	set("Stock", "A2", "W-1")
	set("Stock", "B2", 3)
	mustXLSX(tb, f.SaveAs(path))
}

func TestXLSXTypes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "types.xlsx")
	writeTypesWorkbook(t, path)
	b := mustOpenXLSX(t, path)
	if got, want := b.sheets(), []string{"Products", "Stock"}; !slices.Equal(got, want) {
		t.Fatalf("sheets() = %q, want %q", got, want)
	}
	diffLines(t, xlsxDump(t, b, "Products"), []string{
		`1: "name" | "price" | "instock" | "added" | "custom" | "stamp" | "calc" | "money"`,
		`2: "Widget" | n:9.5 | b:true | d:2024-03-15T00:00:00.000Z | d:2024-03-15T00:00:00.000Z | d:2024-03-15T13:45:30.250Z | f:"19" | n:-1234.5`,
		`3: "00123" | n:0.00000015 | b:false | "=1+2" | "inline text" | "bold and plain"`,
		`4: `,
		`5: "after a gap" | _ | "  spaced  "`,
	})
	diffLines(t, xlsxDump(t, b, "Stock"), []string{
		`1: "sku" | "qty"`,
		`2: "W-1" | n:3`,
	})

	// the formula's cached value really is in the file, and "=1+2" is not a formula
	sheet := xlsxPart(t, path, "xl/worksheets/sheet1.xml")
	if !strings.Contains(sheet, "<f>B2*2</f><v>19</v>") {
		t.Errorf("sheet1.xml lacks the cached formula value:\n%s", sheet)
	}
	if strings.Count(sheet, "<f>") != 1 {
		t.Errorf("sheet1.xml has %d formulas, want 1", strings.Count(sheet, "<f>"))
	}
	if !strings.Contains(sheet, `t="inlineStr"`) {
		t.Errorf("sheet1.xml has no inline string; the fixture does not test them")
	}

	// the reader may be reopened and reread, and several sheets read at once
	r1, err := b.rows("Products")
	mustXLSX(t, err)
	defer r1.Close()
	r2, err := b.rows("Stock")
	mustXLSX(t, err)
	defer r2.Close()
	row, err := r1.next()
	mustXLSX(t, err)
	if got := string(row[0].text); got != "name" {
		t.Errorf("Products A1 = %q", got)
	}
	row, err = r2.next()
	mustXLSX(t, err)
	if got := string(row[0].text); got != "sku" {
		t.Errorf("Stock A1 = %q", got)
	}
}

// xlsxPart returns one part of a zip file as text.
func xlsxPart(tb testing.TB, path, name string) string {
	tb.Helper()
	zr, err := zip.OpenReader(path)
	mustXLSX(tb, err)
	defer zr.Close()
	rc, err := zr.Open(name)
	mustXLSX(tb, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	mustXLSX(tb, err)
	return string(data)
}

func TestXLSXDate1904(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mac.xlsx")
	f := excelize.NewFile()
	defer f.Close()
	yes := true
	mustXLSX(t, f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}))
	id, err := f.NewStyle(&excelize.Style{NumFmt: 22})
	mustXLSX(t, err)
	for ref, serial := range map[string]float64{"A1": 0, "A2": 1.5, "A3": 43101} {
		mustXLSX(t, f.SetCellFloat("Sheet1", ref, serial, -1, 64))
		mustXLSX(t, f.SetCellStyle("Sheet1", ref, ref, id))
	}
	mustXLSX(t, f.SetCellValue("Sheet1", "A4", time.Date(2020, 2, 29, 8, 30, 0, 0, time.UTC)))
	mustXLSX(t, f.SaveAs(path))

	b := mustOpenXLSX(t, path)
	if !b.date1904 {
		t.Fatal("date1904 not read")
	}
	diffLines(t, xlsxDump(t, b, "Sheet1"), []string{
		"1: d:1904-01-01T00:00:00.000Z",
		"2: d:1904-01-02T12:00:00.000Z",
		"3: d:2022-01-02T00:00:00.000Z",
		"4: d:2020-02-29T08:30:00.000Z",
	})
}

// xlsxContentTypes is the [Content_Types].xml of the raw fixtures.
const xlsxContentTypes = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`

const (
	xlsxRelWorksheet = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"
	xlsxRelChart     = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/chartsheet"
)

// xlsxRawBook is a workbook written part by part, for what excelize will not write.
type xlsxRawBook struct {
	sheets   []xlsxRawSheet
	styles   string
	sst      string
	date1904 bool
}

type xlsxRawSheet struct {
	name, relType, target, part, data string
}

func (w xlsxRawBook) parts() map[string]string {
	var wb, rels strings.Builder
	wb.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">`)
	if w.date1904 {
		wb.WriteString(`<workbookPr date1904="1"/>`)
	}
	wb.WriteString("<sheets>")
	rels.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">`)
	parts := map[string]string{"[Content_Types].xml": xlsxContentTypes}
	for i, s := range w.sheets {
		fmt.Fprintf(&wb, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, s.name, i+1, i+1)
		typ := s.relType
		if typ == "" {
			typ = xlsxRelWorksheet
		}
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="%s" Target="%s"/>`, i+1, typ, s.target)
		parts[s.part] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` + s.data + `</sheetData></worksheet>`
	}
	wb.WriteString("</sheets></workbook>")
	rels.WriteString(`<Relationship Id="rIdL" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/hyperlink" Target="https://example.com/" TargetMode="External"/>`)
	if w.styles != "" {
		parts["xl/styles.xml"] = w.styles
	}
	if w.sst != "" {
		parts["xl/sharedStrings.xml"] = w.sst
	}
	rels.WriteString("</Relationships>")
	parts["xl/workbook.xml"] = wb.String()
	parts["xl/_rels/workbook.xml.rels"] = rels.String()
	return parts
}

// xlsxZip zips parts, in name order.
func xlsxZip(tb testing.TB, parts map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.WriteString(w, parts[name]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeXLSXZip writes parts, in name order, to a zip file.
func writeXLSXZip(tb testing.TB, path string, parts map[string]string) {
	tb.Helper()
	mustXLSX(tb, os.WriteFile(path, xlsxZip(tb, parts), 0o644))
}

const xlsxRawStyles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="5">
  <numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>
  <numFmt numFmtId="165" formatCode="[Red]0.00"/>
  <numFmt numFmtId="166" formatCode="&quot;Day&quot; 0"/>
  <numFmt numFmtId="167" formatCode="[h]:mm"/>
  <numFmt numFmtId="168" formatCode="0.00_);[Red]\(0.00\)"/>
</numFmts>
<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>
<cellXfs count="7">
  <xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/><xf numFmtId="164"/><xf numFmtId="165"/>
  <xf numFmtId="166"/><xf numFmtId="167"/><xf numFmtId="168"/>
</cellXfs>
<dxfs count="1"><dxf><numFmt numFmtId="164" formatCode="0.00"/></dxf></dxfs>
</styleSheet>`

const xlsxRawSST = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="6" uniqueCount="6">
<si><t>plain</t></si>
<si><r><rPr><b/></rPr><t>bold</t></r><r><t xml:space="preserve"> and plain</t></r></si>
<si><t>東京</t><rPh sb="0" eb="2"><t>トウキョウ</t></rPh><phoneticPr fontId="1"/></si>
<si><t>a_x000D_b _x005F_x0041_ _xD83D__xDE00_ &amp; &lt;</t></si>
<si><t xml:space="preserve">  spaced  </t></si>
<si/>
</sst>`

const xlsxRawData = `
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c><c r="D1" t="s"><v>3</v></c><c r="E1" t="s"><v>4</v></c></row>
<row r="2"><c t="inlineStr"><is><t>inline</t></is></c><c t="inlineStr"><is><r><t>rich</t></r><r><t>Inline</t></r><rPh><t>x</t></rPh></is></c><c><v>42</v></c><c t="b"><v>1</v></c><c t="b"><v>0</v></c></row>
<row r="3">
  <c r="A3" t="e"><v>#DIV/0!</v></c>
  <c r="B3" t="d"><v>2024-01-02T03:04:05Z</v></c>
  <c r="C3" s="1"><v>45000</v></c>
  <c r="D3" s="2"><v>45000.5</v></c>
  <c r="E3" s="3"><v>1.5</v></c>
  <c r="F3" s="4"><v>7</v></c>
  <c r="G3" s="5"><v>1.25</v></c>
  <c r="H3" s="6" t="n"><v>3</v></c>
</row>
<row r="5">
  <c r="A5"><f>1+1</f><v>2</v></c>
  <c r="B5"><f t="shared" ref="B5:B6" si="0">A5*2</f><v>4</v></c>
  <c r="C5"><f>NOW()</f></c>
  <c r="D5" t="str"><f>"a"&amp;"b"</f><v>ab</v></c>
  <c r="E5" t="e"><f>1/0</f><v>#DIV/0!</v></c>
</row>
<row r="6"><c r="B6"><f t="shared" si="0"/><v>8</v></c></row>
<row r="7"/>
<row r="8" s="1" customFormat="1"><c r="A8" s="1"/><c r="B8" t="s"><v>5</v></c><c r="C8" t="str"><v></v></c></row>
<row r="9"><c r="A9" s="1"><v>-1</v></c><c r="B9" s="1"><v>3000000</v></c><c r="C9"><v>1E3</v></c><c r="D9" t="inlineStr"><is><t>_x0031_</t></is></c></row>
<row r="12"><c r="AA12" t="str"><v>far</v></c></row>
`

func TestXLSXRaw(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raw.xlsx")
	book := xlsxRawBook{
		styles: xlsxRawStyles,
		sst:    xlsxRawSST,
		sheets: []xlsxRawSheet{
			{name: "Raw", target: "/xl/worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml", data: xlsxRawData},
			{name: "Chart", relType: xlsxRelChart, target: "chartsheets/sheet1.xml", part: "xl/chartsheets/sheet1.xml"},
			{name: "Second &amp; last", target: "worksheets/sheet2.xml", part: "xl/worksheets/sheet2.xml",
				data: `<row><c><v>1</v></c></row><row><c><v>2</v></c></row>`},
			{name: "Empty", target: "worksheets/sheet3.xml", part: "xl/worksheets/sheet3.xml"},
		},
	}
	writeXLSXZip(t, path, book.parts())
	b := mustOpenXLSX(t, path)
	if got, want := b.sheets(), []string{"Raw", "Second & last", "Empty"}; !slices.Equal(got, want) {
		t.Fatalf("sheets() = %q, want %q", got, want)
	}
	if got, want := b.dates, []bool{false, true, true, false, false, true, false}; !slices.Equal(got, want) {
		t.Errorf("date styles = %v, want %v", got, want)
	}
	diffLines(t, xlsxDump(t, b, "Raw"), []string{
		`1: "plain" | "bold and plain" | "東京" | "a\rb _x0041_ 😀 & <" | "  spaced  "`,
		`2: "inline" | "richInline" | n:42 | b:true | b:false`,
		`3: e:#DIV/0! | d:2024-01-02T03:04:05.000Z | d:2023-03-15T00:00:00.000Z | d:2023-03-15T12:00:00.000Z | n:1.5 | n:7 | d:1900-01-01T06:00:00.000Z | n:3`,
		`4: `,
		`5: f:n:2 | f:n:4 | f:_ | f:"ab" | f:e:#DIV/0!`,
		`6: _ | f:n:8`,
		`7: `,
		`8: `,
		`9: n:-1 | n:3000000 | n:1E3 | "1"`,
		`10: `,
		`11: `,
		`12: ` + strings.Repeat("_ | ", 26) + `"far"`,
	})
	diffLines(t, xlsxDump(t, b, "Second & last"), []string{"1: n:1", "2: n:2"})
	diffLines(t, xlsxDump(t, b, "Empty"), nil)
	if _, err := b.rows("Chart"); err == nil {
		t.Error("rows(\"Chart\") of a chart sheet: no error")
	}
}

// TestXLSXPrefixed reads a worksheet whose elements carry a namespace prefix, as some
// generators write them.
func TestXLSXPrefixed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prefixed.xlsx")
	parts := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml"}}}.parts()
	parts["xl/worksheets/sheet1.xml"] = `<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>` +
		`<x:row r="2"><x:c r="B2" t="inlineStr"><x:is><x:t>hi</x:t></x:is></x:c><x:c r="C2"><x:v>2.5</x:v></x:c></x:row>` +
		`</x:sheetData></x:worksheet>`
	writeXLSXZip(t, path, parts)
	diffLines(t, xlsxDump(t, mustOpenXLSX(t, path), "S"), []string{`1: `, `2: _ | "hi" | n:2.5`})
}

func TestIsDateFormatCode(t *testing.T) {
	for _, tt := range []struct {
		code string
		want bool
	}{
		{"General", false},
		{"general", false},
		{"0.00", false},
		{"#,##0", false},
		{"0%", false},
		{"0.00E+00", false},
		{"@", false},
		{`"Day" 0`, false},
		{`0.00_);[Red]\(0.00\)`, false},
		{`#,##0.00 [$€-407];[Red]-#,##0.00`, false},
		{`0\h`, false},
		{`_-* #,##0_-;\-* #,##0_-;_-* "-"_-;_-@_-`, false},
		{`[Red]0.00`, false},
		{"dd/mm/yyyy", true},
		{"yyyy-mm-dd hh:mm:ss", true},
		{"[$-409]mmmm d, yyyy;@", true},
		{"h:mm AM/PM", true},
		{"[h]:mm", true},
		{"[mm]", true},
		{"mm:ss.0", true},
		{`"Date: "d`, true},
		{`[Blue]yyyy`, true},
		{`"unterminated`, false},
	} {
		if got := isDateFormatCode(tt.code); got != tt.want {
			t.Errorf("isDateFormatCode(%q) = %v, want %v", tt.code, got, tt.want)
		}
	}
	for id := 0; id < 200; id++ {
		want := id >= 14 && id <= 22 || id >= 27 && id <= 36 || id >= 45 && id <= 47 || id >= 50 && id <= 58
		if got := isDateNumFmtID(id); got != want {
			t.Errorf("isDateNumFmtID(%d) = %v, want %v", id, got, want)
		}
	}
}

// TestExcelTimeToMillis checks the serial conversion against excelize.ExcelDateToTime on whole
// seconds, and that writing and reading an instant round-trips to the millisecond.
func TestExcelTimeToMillis(t *testing.T) {
	for _, date1904 := range []bool{false, true} {
		for _, serial := range []float64{0, 0.5, 1, 1.25, 59, 60, 61, 61.75, 1462, 25569, 43831.5, 45000.999988425923, 2958465} {
			got, ok := excelTimeToMillis(serial, date1904)
			if !ok {
				t.Errorf("excelTimeToMillis(%v, %v) not ok", serial, date1904)
				continue
			}
			want, err := excelize.ExcelDateToTime(serial, date1904)
			mustXLSX(t, err)
			if got != want.UnixMilli() {
				t.Errorf("excelTimeToMillis(%v, %v) = %s, excelize gives %s", serial, date1904,
					cache.AppendTime(nil, got), cache.AppendTime(nil, want.UnixMilli()))
			}
		}
		for _, serial := range []float64{-1, 2958466, math.NaN()} {
			if _, ok := excelTimeToMillis(serial, date1904); ok {
				t.Errorf("excelTimeToMillis(%v, %v) ok, want not", serial, date1904)
			}
		}
		for _, s := range []string{"1904-01-01T00:00:00.001Z", "1970-01-01", "2024-02-29T23:59:59.999Z", "2024-07-01T12:34:56.789Z", "9999-12-31T23:59:59.999Z"} {
			ms, _ := cache.ParseTime(s)
			serial, ok := millisToExcelTime(ms, date1904)
			if !ok {
				t.Errorf("millisToExcelTime(%s, %v) not ok", s, date1904)
				continue
			}
			back, ok := excelTimeToMillis(serial, date1904)
			if !ok || back != ms {
				t.Errorf("%s (1904 %v) -> %v -> %s", s, date1904, serial, cache.AppendTime(nil, back))
			}
		}
	}
	march, _ := cache.ParseTime("1900-03-01")
	if serial, ok := millisToExcelTime(march, false); !ok || serial != 61 {
		t.Errorf("millisToExcelTime(1900-03-01) = %v, %v, want 61", serial, ok)
	}
	for _, s := range []string{"1900-02-28", "1899-12-31"} {
		ms, _ := cache.ParseTime(s)
		if _, ok := millisToExcelTime(ms, false); ok {
			t.Errorf("millisToExcelTime(%s) ok, want not", s)
		}
	}
	ms, _ := cache.ParseTime("1903-12-31T23:59:59Z")
	if _, ok := millisToExcelTime(ms, true); ok {
		t.Error("millisToExcelTime(1903-12-31, 1904) ok, want not")
	}
}

// xlsxCheckParseError compares a ParseError whole.
func xlsxCheckParseError(tb testing.TB, err error, want *ParseError, msg string) {
	tb.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		tb.Fatalf("error %v (%T), want a *ParseError", err, err)
	}
	got := *pe
	got.Err = nil
	w := *want
	w.Err = nil
	if got != w || pe.Err == nil || pe.Err.Error() != msg {
		tb.Errorf("error = %#v %q\nwant    %#v %q", got, pe.Err, w, msg)
	}
}

func TestXLSXOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xlsx")
	writeTypesWorkbook(t, good)
	goodBytes, err := os.ReadFile(good)
	mustXLSX(t, err)
	oneSheet := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml", data: `<row r="1"><c r="A1"><v>1</v></c></row>`}}}

	for _, tt := range []struct {
		name  string
		write func(path string)
		msg   string
	}{
		{"ErrCSV", func(path string) {
			mustXLSX(t, os.WriteFile(path, []byte("name,price\nWidget,9.5\n"), 0o644))
		}, "not an XLSX workbook: zip: not a valid zip file"},
		{"ErrEncrypted", func(path string) {
			mustXLSX(t, os.WriteFile(path, append([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), make([]byte, 504)...), 0o644))
		}, "not an XLSX workbook: an encrypted workbook or an old .xls file"},
		{"ErrEmptyFile", func(path string) {
			mustXLSX(t, os.WriteFile(path, nil, 0o644))
		}, "not an XLSX workbook: zip: not a valid zip file"},
		{"ErrTruncated", func(path string) {
			mustXLSX(t, os.WriteFile(path, goodBytes[:len(goodBytes)/2], 0o644))
		}, "not an XLSX workbook: zip: not a valid zip file"},
		{"ErrOtherZip", func(path string) {
			writeXLSXZip(t, path, map[string]string{"notes.txt": "hello"})
		}, "not an XLSX workbook: the zip file holds no spreadsheet"},
		{"ErrNoWorkbook", func(path string) {
			writeXLSXZip(t, path, map[string]string{"[Content_Types].xml": xlsxContentTypes, "word/document.xml": "<w/>"})
		}, "not an XLSX workbook: xl/workbook.xml is missing"},
		{"ErrNoSheets", func(path string) {
			writeXLSXZip(t, path, xlsxRawBook{}.parts())
		}, "workbook has no sheets"},
		{"ErrMissingSheetPart", func(path string) {
			parts := oneSheet.parts()
			delete(parts, "xl/worksheets/sheet1.xml")
			writeXLSXZip(t, path, parts)
		}, `sheet "S": its part xl/worksheets/sheet1.xml is missing`},
		{"ErrBadWorkbookXML", func(path string) {
			parts := oneSheet.parts()
			parts["xl/workbook.xml"] = `<workbook><sheets><sheet name=S r:id="rId1"/></sheets></workbook>`
			writeXLSXZip(t, path, parts)
		}, "xl/workbook.xml: XML syntax error on line 1: unquoted or missing attribute value in element"},
		{"ErrTooManySharedStringsDeclared", func(path string) {
			b := oneSheet
			b.sst = `<sst uniqueCount="10000001"><si><t>a</t></si></sst>`
			writeXLSXZip(t, path, b.parts())
		}, "xl/sharedStrings.xml: 10000001 shared strings, over the limit of 10000000; " + xlsxTooBig},
		{"ErrDeclaredHuge", func(path string) {
			writeXLSXRaw(t, path, oneSheet.parts(), "xl/worksheets/sheet1.xml", 3<<30)
		}, "part xl/worksheets/sheet1.xml: uncompressed size 3221225472 bytes is over the limit of 2147483648 (2 GiB); " + xlsxTooBig},
		{"ErrZipBomb", func(path string) {
			writeXLSXBomb(t, path, oneSheet.parts(), "xl/worksheets/sheet2.xml", 17<<20)
		}, "part xl/worksheets/sheet2.xml: compressed 17343 bytes to 17825792, a ratio over 1000:1, as zip bombs are; " + xlsxNotSaved},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".xlsx")
			tt.write(path)
			b, err := openXLSX(path)
			if err == nil {
				b.Close()
				t.Fatal("no error")
			}
			xlsxCheckParseError(t, err, &ParseError{Path: path}, tt.msg)
		})
	}
}

// TestXLSXTooManySharedStrings: a shared-string table over the limit is refused with the same
// problem whether the quick count (countSharedStrings) or the decoder finds it: the count sees
// plain and prefixed item tags; one whose prefix is too long for it is left to the decoder.
func TestXLSXTooManySharedStrings(t *testing.T) {
	defer func(n int) { maxSharedStrings = n }(maxSharedStrings)
	maxSharedStrings = 3
	longPrefix := strings.Repeat("p", 100)
	for _, tt := range []struct {
		name, sst string
		ok        bool
	}{
		{"Plain", `<sst><si><t>a</t></si><si><t>b</t></si><si><t>c</t></si><si><t>d</t></si></sst>`, false},
		{"Empty", `<sst><si/><si/><si/><si/></sst>`, false},
		{"Prefixed", `<x:sst xmlns:x="urn:x"><x:si><x:t>a</x:t></x:si><x:si><x:t>b</x:t></x:si><x:si/><x:si ><x:t>d</x:t></x:si></x:sst>`, false},
		{"LongPrefix", `<` + longPrefix + `:sst xmlns:` + longPrefix + `="urn:x">` + strings.Repeat(`<`+longPrefix+`:si/>`, 4) + `</` + longPrefix + `:sst>`, false},
		{"Three", `<sst><si><t>si si> &lt;si&gt;</t></si><si><t>Mississippi</t></si><si
><t>a:si b</t></si><sis/><x:sis/></sst>`, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sst.xlsx")
			b := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml"}}, sst: tt.sst}
			writeXLSXZip(t, path, b.parts())
			book, err := openXLSX(path)
			if tt.ok {
				mustXLSX(t, err)
				if len(book.sstEnds) != 3 {
					t.Errorf("%d shared strings, want 3", len(book.sstEnds))
				}
				book.Close()
				return
			}
			xlsxCheckParseError(t, err, &ParseError{Path: path}, "xl/sharedStrings.xml: more than 3 shared strings, the most a workbook may have; "+xlsxTooBig)
		})
	}
}

// TestCountSharedStrings checks the quick count against the decoder on a table of 2.5 MB, whose
// item tags fall across the count's 1 MB reads at some offset or other.
func TestCountSharedStrings(t *testing.T) {
	defer func(n int) { maxSharedStrings = n }(maxSharedStrings)
	for name, open := range map[string]string{"Plain": "<si>", "Space": "<si >", "Prefixed": "<x:si>", "Newline": "<si\n>"} {
		t.Run(name, func(t *testing.T) {
			closeTag := "</si>"
			if strings.Contains(open, "x:") {
				closeTag = "</x:si>"
			}
			var sst strings.Builder
			sst.WriteString(`<sst xmlns:x="urn:x">`)
			n := 0
			for ; sst.Len() < 5<<19; n++ {
				fmt.Fprintf(&sst, "%s<t>%s</t>%s", open, strings.Repeat("s", n%97), closeTag)
			}
			sst.WriteString("</sst>")
			path := filepath.Join(t.TempDir(), "sst.xlsx")
			b := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml"}}, sst: sst.String()}
			writeXLSXZip(t, path, b.parts())
			maxSharedStrings = n // the decoder reads it whole
			book := mustOpenXLSX(t, path)
			if len(book.sstEnds) != n {
				t.Fatalf("decoded %d shared strings, want %d", len(book.sstEnds), n)
			}
			maxSharedStrings = n - 1 // under the count's threshold (5 bytes an item): it runs
			if err := book.countSharedStrings("xl/sharedStrings.xml"); err == nil {
				t.Errorf("%d items counted as at most %d", n, n-1)
			}
			maxSharedStrings = n
			if err := book.countSharedStrings("xl/sharedStrings.xml"); err != nil {
				t.Errorf("%d items counted as more: %v", n, err)
			}
		})
	}
}

// writeXLSXRaw writes parts to a zip, the one named big stored raw with a declared
// uncompressed size of size bytes.
func writeXLSXRaw(tb testing.TB, path string, parts map[string]string, big string, size uint64) {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range parts {
		if name == big {
			continue
		}
		w, err := zw.Create(name)
		mustXLSX(tb, err)
		io.WriteString(w, data)
	}
	var packed bytes.Buffer
	fw, _ := flate.NewWriter(&packed, flate.BestCompression)
	fw.Write([]byte(parts[big]))
	fw.Close()
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: big, Method: zip.Deflate,
		CRC32:              crc32.ChecksumIEEE([]byte(parts[big])),
		CompressedSize64:   uint64(packed.Len()),
		UncompressedSize64: size,
	})
	mustXLSX(tb, err)
	w.Write(packed.Bytes())
	mustXLSX(tb, zw.Close())
	mustXLSX(tb, os.WriteFile(path, buf.Bytes(), 0o644))
}

// writeXLSXBomb writes parts plus one more part of size zero bytes, packed as tightly as
// deflate can: some 17 KB on disk for 17 MB.
func writeXLSXBomb(tb testing.TB, path string, parts map[string]string, bomb string, size int) {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestCompression)
	})
	for name, data := range parts {
		w, err := zw.Create(name)
		mustXLSX(tb, err)
		io.WriteString(w, data)
	}
	w, err := zw.Create(bomb)
	mustXLSX(tb, err)
	zeros := make([]byte, 1<<20)
	for n := 0; n < size; n += len(zeros) {
		w.Write(zeros)
	}
	mustXLSX(tb, zw.Close())
	mustXLSX(tb, os.WriteFile(path, buf.Bytes(), 0o644))
}

// TestXLSXSizeLies opens a workbook whose worksheet declares fewer bytes than it inflates to:
// reading stops with an error rather than trusting the header.
func TestXLSXSizeLies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lies.xlsx")
	var rows strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&rows, `<row r="%d"><c r="A%d"><v>%d</v></c></row>`, i, i, i)
	}
	parts := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml", data: rows.String()}}}.parts()
	writeXLSXRaw(t, path, parts, "xl/worksheets/sheet1.xml", 1000)
	b := mustOpenXLSX(t, path)
	r, err := b.rows("S")
	mustXLSX(t, err)
	defer r.Close()
	for {
		_, err = r.next()
		if err != nil {
			break
		}
	}
	if err == io.EOF || !errors.Is(err, zip.ErrFormat) {
		t.Fatalf("error %v, want zip.ErrFormat", err)
	}
	if want := "part xl/worksheets/sheet1.xml: inflates to more than the 1000 bytes its zip header declares; " + xlsxNotSaved; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("error %q, want it to end %q", err, want)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Sheet != "S" || pe.Path != path || pe.Row < 1 {
		t.Errorf("error %#v, want a ParseError with path, sheet and row", err)
	}
}

// TestLimitedPart checks the inflate limit that backs up the zip headers' declared sizes.
func TestLimitedPart(t *testing.T) {
	l := &limitedPart{r: io.NopCloser(bytes.NewReader(make([]byte, 100))), left: 99, name: "p"}
	_, err := io.ReadAll(l)
	if err == nil || err.Error() != "part p: inflates beyond the size limit, as zip bombs do; "+xlsxNotSaved {
		t.Errorf("100 bytes through a limit of 99: %v", err)
	}
	l = &limitedPart{r: io.NopCloser(bytes.NewReader(make([]byte, 100))), left: 100, name: "p"}
	if data, err := io.ReadAll(l); err != nil || len(data) != 100 {
		t.Errorf("100 bytes through a limit of 100: %d bytes, %v", len(data), err)
	}
}

func TestXLSXSheetErrors(t *testing.T) {
	for _, tt := range []struct {
		name, data string
		want       ParseError
		msg        string
	}{
		{"ErrRowOrder", `<row r="3"/><row r="2"/>`, ParseError{Row: 2}, "row 2 comes after row 3"},
		{"ErrRowNumber", `<row r="0"/>`, ParseError{Row: 1}, `bad row number "0"`},
		{"ErrRowTooFar", `<row r="1048577"/>`, ParseError{}, "row 1048577 is after row 1048576, the last a worksheet has; " + xlsxTooBig},
		{"ErrRowTooFarUnnumbered", `<row r="1048576"/><row/>`, ParseError{}, "row 1048577 is after row 1048576, the last a worksheet has; " + xlsxTooBig},
		{"ErrCellRefColumn", `<row r="1"><c r="XFE1"><v>1</v></c></row>`, ParseError{Row: 1}, "cell XFE1 is after column XFD, the last a worksheet has; " + xlsxTooBig},
		{"ErrCellRefRow", `<row r="1"><c r="A1048577"><v>1</v></c></row>`, ParseError{Row: 1}, "cell A1048577 is after row 1048576, the last a worksheet has; " + xlsxTooBig},
		{"ErrCellAfterXFD", `<row r="1"><c r="XFD1"><v>1</v></c><c><v>2</v></c></row>`, ParseError{Row: 1}, "a cell after column XFD, the last a worksheet has; " + xlsxTooBig},
		{"ErrCellRef", `<row r="1"><c r="1A"><v>1</v></c></row>`, ParseError{Row: 1}, `bad cell reference "1A"`},
		{"ErrSharedString", `<row r="4"><c r="B4" t="s"><v>7</v></c></row>`, ParseError{Row: 4, Column: 2}, "shared string 7 does not exist"},
		{"ErrNumber", `<row r="1"><c r="C1"><v>abc</v></c></row>`, ParseError{Row: 1, Column: 3}, `bad number "abc"`},
		{"ErrNumberNaN", `<row r="1"><c r="C1"><v>NaN</v></c></row>`, ParseError{Row: 1, Column: 3}, `bad number "NaN"`},
		{"ErrNoSheetData", "", ParseError{Row: 1}, "the worksheet ends before its data does"},
		{"ErrEndsEarly", `<row r="1"><c r="A1"><v>1</v></c></row><row r="2"><c r="A2"><v>2</v>`, ParseError{Row: 2, Column: 1}, "the worksheet ends inside a row"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.xlsx")
			parts := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml"}}}.parts()
			switch tt.name {
			case "ErrNoSheetData":
				parts["xl/worksheets/sheet1.xml"] = "<worksheet/>"
			case "ErrEndsEarly":
				parts["xl/worksheets/sheet1.xml"] = "<worksheet>\n<sheetData>" + tt.data
			default:
				parts["xl/worksheets/sheet1.xml"] = "<worksheet>\n<sheetData>" + tt.data + "</sheetData></worksheet>"
			}
			writeXLSXZip(t, path, parts)
			r, err := mustOpenXLSX(t, path).rows("S")
			mustXLSX(t, err)
			defer r.Close()
			for err == nil {
				_, err = r.next()
			}
			want := tt.want
			want.Path, want.Sheet = path, "S"
			xlsxCheckParseError(t, err, &want, tt.msg)
			if _, again := r.next(); again != err {
				t.Errorf("next() after an error = %v, want the same error", again)
			}
		})
	}
}

func TestXLSXNoSuchSheet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "types.xlsx")
	writeTypesWorkbook(t, path)
	_, err := mustOpenXLSX(t, path).rows("Nope")
	xlsxCheckParseError(t, err, &ParseError{Path: path, Sheet: "Nope"}, "no such worksheet")
}

// TestXLSXRowsReuse checks that a long sheet is read with one cells slice: the reader keeps no
// more than a row.
func TestXLSXRowsReuse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "long.xlsx")
	writeBenchXLSX(t, path, 5000)
	r, err := mustOpenXLSX(t, path).rows("Sheet1")
	mustXLSX(t, err)
	defer r.Close()
	var first *cell
	n := 0
	for {
		row, err := r.next()
		if err == io.EOF {
			break
		}
		mustXLSX(t, err)
		n++
		if n == 2 {
			first = &row[0]
		} else if n > 2 && len(row) > 0 && &row[0] != first {
			t.Fatalf("row %d: a new cells slice", n)
		}
	}
	if n != 5001 {
		t.Errorf("read %d rows, want 5001", n)
	}
	if cap(r.buf) > 4096 || cap(r.cells) > 64 {
		t.Errorf("buffers grew to %d bytes and %d cells", cap(r.buf), cap(r.cells))
	}
}

// writeBenchXLSX writes, with excelize's StreamWriter, a header and rows of ten columns:
// strings, numbers, a date, a boolean.
func writeBenchXLSX(tb testing.TB, path string, rows int) {
	tb.Helper()
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	mustXLSX(tb, err)
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	mustXLSX(tb, err)
	header := []any{"name", "sku", "price", "qty", "added", "active", "category", "weight", "note", "rank"}
	mustXLSX(tb, sw.SetRow("A1", header))
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	row := make([]any, 10)
	for i := range rows {
		row[0] = "Product " + strconv.Itoa(i)
		row[1] = fmt.Sprintf("SKU-%06d", i)
		row[2] = float64(i%1000) + 0.99
		row[3] = i % 250
		row[4] = excelize.Cell{StyleID: dateStyle, Value: xlsxSerial(day.AddDate(0, 0, i%365))}
		row[5] = i%3 == 0
		row[6] = []string{"tools", "garden", "kitchen", "toys"}[i%4]
		row[7] = float64(i%97) / 7
		row[8] = "a note that is somewhat longer than the other cells"
		row[9] = i
		ref, _ := excelize.CoordinatesToCellName(1, i+2)
		mustXLSX(tb, sw.SetRow(ref, row))
	}
	mustXLSX(tb, sw.Flush())
	mustXLSX(tb, f.SaveAs(path))
}

// BenchmarkXLSXRows reads a generated 100,000-row, 10-column worksheet; bytes are those of
// the worksheet XML. The inflate case only decompresses it, the floor under any XML reader.
func BenchmarkXLSXRows(b *testing.B) {
	const rows = 100_000
	path := filepath.Join(b.TempDir(), "bench.xlsx")
	writeBenchXLSX(b, path, rows)
	xmlSize := int64(len(xlsxPart(b, path, "xl/worksheets/sheet1.xml")))

	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(xmlSize)
		n := 0
		for b.Loop() {
			book, err := openXLSX(path)
			mustXLSX(b, err)
			r, err := book.rows("Sheet1")
			mustXLSX(b, err)
			for {
				row, err := r.next()
				if err == io.EOF {
					break
				}
				mustXLSX(b, err)
				if len(row) != 10 {
					b.Fatalf("row of %d cells", len(row))
				}
				n++
			}
			r.Close()
			book.Close()
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("inflate", func(b *testing.B) {
		b.SetBytes(xmlSize)
		for b.Loop() {
			book, err := openXLSX(path)
			mustXLSX(b, err)
			rc, _, err := book.open("xl/worksheets/sheet1.xml")
			mustXLSX(b, err)
			_, err = io.Copy(io.Discard, rc)
			mustXLSX(b, err)
			rc.Close()
			book.Close()
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

func TestXLSXMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gone.xlsx")
	_, err := openXLSX(path)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Path != path || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v, want a ParseError wrapping fs.ErrNotExist", err)
	}
}

// TestXLSXConstantFormulas: LibreOffice writes boolean cells as =TRUE() and =FALSE(); they are
// data, not formulas, so their column stays writable. A real formula still counts.
func TestXLSXConstantFormulas(t *testing.T) {
	data := `<row r="1"><c r="A1" t="inlineStr"><is><t>flag</t></is></c><c r="B1" t="inlineStr"><is><t>sum</t></is></c></row>
<row r="2"><c r="A2" t="b"><f aca="false">TRUE()</f><v>1</v></c><c r="B2"><f>1+1</f><v>2</v></c></row>
<row r="3"><c r="A3" t="b"><f aca="false">FALSE()</f><v>0</v></c><c r="B3"><f>1+2</f><v>3</v></c></row>`
	path := filepath.Join(t.TempDir(), "flags.xlsx")
	writeXLSXZip(t, path, xlsxRawBook{sheets: []xlsxRawSheet{{name: "Sheet1", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml", data: data}}}.parts())
	sheets, _, err := (&Loader{ReadOnly: true}).LoadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	schema := sheets[0].Table.Schema
	flag, _ := schema.Lookup("flag")
	sum, _ := schema.Lookup("sum")
	if flag.Type != cache.TypeBoolean || flag.ReadOnly {
		t.Errorf("flag: %+v, want a writable boolean", flag)
	}
	if !sum.ReadOnly {
		t.Errorf("sum: %+v, want a read-only formula field", sum)
	}
}
