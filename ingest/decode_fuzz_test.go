package ingest

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// fuzzLoad writes data to a file named name in a fresh folder and loads it read-only (rows
// without _id get ids derived from their content, nothing is written). It returns the path
// and dumpLoad's account of the result, which fails the test unless any error is a
// *ParseError. Loading the same bytes twice must give the same account.
func fuzzLoad(t *testing.T, name string, data []byte) (path, dump string) {
	t.Helper()
	defer noHang(fuzzHangLimit)()
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	l := &Loader{ReadOnly: true, Logger: discardLogger()}
	sheets, problems, err := l.LoadFile(context.Background(), path)
	dump = dumpLoad(t, sheets, problems, err)
	if err != nil && strings.TrimSpace(err.Error()) == "" {
		t.Fatalf("error without a message")
	}
	for _, sh := range sheets {
		for i, c := range sh.Table.Columns {
			if c.Len() != sh.Rows {
				t.Fatalf("sheet %q field %s: %d values for %d rows", sh.Sheet, sh.Table.Schema.Field(i).Key, c.Len(), sh.Rows)
			}
		}
	}
	sheets, problems, err = l.LoadFile(context.Background(), path)
	if again := dumpLoad(t, sheets, problems, err); again != dump {
		t.Fatalf("second load differs:\n%s\nfirst:\n%s", again, dump)
	}
	return path, dump
}

// FuzzDecodeCSV loads arbitrary bytes as a CSV file, seeded with the CSV fixtures: it must not
// panic, fail only with a *ParseError, give every column one value per row and decode the
// same way twice. A file that loads is then encoded back the way write-back does with no edits, which
// must give it byte for byte (write-back copies the records it does not edit). FuzzCSVReader
// covers the record reader alone.
func FuzzDecodeCSV(f *testing.F) {
	for _, dir := range csvCases(f) {
		f.Add(mustReadFile(f, filepath.Join(dir, "input.csv")))
	}
	for _, dir := range tableCases(f) {
		if p := filepath.Join(dir, "input.csv"); fileExists(p) {
			f.Add(mustReadFile(f, p))
		}
	}
	f.Add([]byte("_id,name,price\nx-1,=1+2,3\nx-1,\"a\"\"b\",1e400\n"))
	f.Add([]byte("\xef\xbb\xbfa;b\r\n1,5;\"x\r\ny\"\r\n"))
	f.Add([]byte("a\tb\n\x80\x81\x9d\t\xff\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path, dump := fuzzLoad(t, "data.csv", data)
		if strings.HasPrefix(dump, "error:") {
			return
		}
		r, err := openCSV(path)
		if err != nil {
			t.Fatalf("the file loads but does not open for writing back: %v", err)
		}
		defer r.Close()
		var got bytes.Buffer
		unchanged := func(int, []cell) ([]cellPatch, bool) { return nil, false }
		if err := encodeCSV(&got, r, r.dialect(), unchanged, nil); err != nil {
			t.Fatalf("writing back without changes: %v", err)
		}
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("writing back without changes changed the file:\n%q\nwas:\n%q", got.Bytes(), data)
		}
	})
}

// xlsxFuzzParts are the parts FuzzXLSXParts mutates; the others come from the fixture workbook.
var xlsxFuzzParts = []string{"xl/worksheets/sheet1.xml", "xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml"}

// FuzzDecodeXLSX loads arbitrary bytes as a workbook, seeded with the XLSX fixtures and some
// broken zips: it must not panic and may fail only with a *ParseError. Mutations of whole zips
// rarely get past the CRC checks, so FuzzXLSXParts mutates the XML inside a valid zip.
func FuzzDecodeXLSX(f *testing.F) {
	for _, p := range []string{"testdata/table/workbook/input.xlsx", "../httpapi/testdata/fixtures/inventory.xlsx", "../samples/stores.xlsx"} {
		b := mustReadFile(f, p)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
	f.Add(xlsxZip(f, map[string]string{"[Content_Types].xml": "<Types/>"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzLoad(t, "book.xlsx", data)
	})
}

// FuzzXLSXParts builds a workbook from the fixture with its sheet, shared strings, styles and
// workbook parts replaced by arbitrary text, and loads it: it must not panic, fail only with a
// *ParseError, give every column one value per row and decode the same way twice. A workbook
// that loads is then patched through excelize (write-back): that must not panic either, and
// when it succeeds the workbook still opens and the patched cell reads back.
func FuzzXLSXParts(f *testing.F) {
	base := readZipParts(f, "testdata/table/workbook/input.xlsx")
	f.Add(base[xlsxFuzzParts[0]], base[xlsxFuzzParts[1]], base[xlsxFuzzParts[2]], base[xlsxFuzzParts[3]])
	f.Add(`<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="inlineStr"><is><t>b</t></is></c></row>`+
		`<row r="3"><c r="A3" s="1"><v>45000.5</v></c><c r="B3" t="b"><v>1</v></c><c r="XFD3" t="e"><v>#N/A</v></c></row></sheetData></worksheet>`,
		`<sst><si><t>a&amp;b</t></si><si><r><t>x</t></r><r><t>y</t></r></si></sst>`,
		`<styleSheet><numFmts><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts><cellXfs><xf numFmtId="0"/><xf numFmtId="164"/></cellXfs></styleSheet>`,
		base[xlsxFuzzParts[3]])
	f.Fuzz(func(t *testing.T, sheet, sst, styles, workbook string) {
		defer noHang(2 * fuzzHangLimit)()
		parts := map[string]string{}
		for name, text := range base {
			parts[name] = text
		}
		for i, text := range []string{sheet, sst, styles, workbook} {
			parts[xlsxFuzzParts[i]] = text
		}
		path, dump := fuzzLoad(t, "book.xlsx", xlsxZip(t, parts))
		if strings.HasPrefix(dump, "error:") {
			return
		}
		l := &Loader{ReadOnly: true, Logger: discardLogger()}
		sheets, _, err := l.LoadFile(context.Background(), path)
		if err != nil || len(sheets) == 0 {
			return
		}
		name := sheets[0].Sheet
		if _, err := writeXLSXPatches(path, map[string][]cellPatch{name: {{record: 1, col: 0, value: cache.Text("patched")}}}); err != nil {
			return // excelize refused the workbook: the write fails, the file stays
		}
		b, err := openXLSX(path)
		if err != nil {
			t.Fatalf("the patched workbook no longer opens: %v", err)
		}
		defer b.Close()
		rows, err := b.rows(name)
		if err != nil {
			t.Fatalf("the patched sheet %q no longer opens: %v", name, err)
		}
		defer rows.Close()
		for {
			row, err := rows.next()
			if err == io.EOF {
				t.Fatalf("no cell of the patched sheet %q reads \"patched\"", name)
			}
			if err != nil {
				t.Fatalf("reading the patched sheet %q: %v", name, err)
			}
			if len(row) > 0 && string(row[0].text) == "patched" {
				return
			}
		}
	})
}

// fuzzHangLimit is how long one fuzz input may take before noHang calls it a hang.
const fuzzHangLimit = 10 * time.Second

// noHang panics, from its own goroutine, if the returned function is not called within d: the
// fuzzing engine sees its worker crash and keeps the input as a crasher, where a hung worker
// would only stall the run.
func noHang(d time.Duration) (stop func()) {
	timer := time.AfterFunc(d, func() { panic(fmt.Sprintf("one fuzz input took over %s: a hang", d)) })
	return func() { timer.Stop() }
}

func cellTexts(row []cell) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = string(c.text)
	}
	return out
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readZipParts returns the text of every part of the zip file at path.
func readZipParts(tb testing.TB, path string) map[string]string {
	tb.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer zr.Close()
	parts := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		parts[f.Name] = string(b)
	}
	return parts
}
