package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// Hostile workbooks (issue 8): zip bombs, size lies, huge shared-string tables, sheets that
// reach past a worksheet's last row or column, and zips with odd entries. Each is built here,
// never committed, and dropped into a live Folder that must report it plainly, keep its memory
// bounded and go on serving.

// zipEntry is one entry of a hand-built zip: data, stored as it is; or raw, a deflate stream
// stored as it is under a header that declares size and crc, true or not.
type zipEntry struct {
	name string
	data string
	raw  []byte
	size uint64
	crc  uint32
}

// writeZipEntries writes entries, in order and duplicates included, to a zip file at path.
func writeZipEntries(tb testing.TB, path string, entries []zipEntry) {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		if e.raw == nil { // stored: a deflate writer for each of thousands of entries is slow
			w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
			mustXLSX(tb, err)
			_, err = w.Write([]byte(e.data))
			mustXLSX(tb, err)
			continue
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: e.name, Method: zip.Deflate, CRC32: e.crc,
			CompressedSize64: uint64(len(e.raw)), UncompressedSize64: e.size})
		mustXLSX(tb, err)
		_, err = w.Write(e.raw)
		mustXLSX(tb, err)
	}
	mustXLSX(tb, zw.Close())
	mustXLSX(tb, os.WriteFile(path, buf.Bytes(), 0o644))
}

// deflateRepeat returns a raw deflate stream of prefix, then unit count times, then suffix, with
// its inflated size and CRC-32, without deflating the whole: a run of units is deflated once by a
// fresh writer and flushed to a byte boundary, and those bytes are repeated. They inflate alike
// wherever they stand, since a fresh writer refers back only within what it wrote. So gigabytes
// cost a few megabytes and milliseconds; the CRC, over every inflated byte, is left 0 unless
// withCRC.
func deflateRepeat(tb testing.TB, prefix, unit string, count int, suffix string, withCRC bool) (stream []byte, size uint64, crc uint32) {
	tb.Helper()
	var out bytes.Buffer
	piece := func(data string, final bool) {
		w, err := flate.NewWriter(&out, flate.BestCompression)
		mustXLSX(tb, err)
		_, err = w.Write([]byte(data))
		mustXLSX(tb, err)
		if final {
			mustXLSX(tb, w.Close())
		} else {
			mustXLSX(tb, w.Flush())
		}
		size += uint64(len(data))
		if withCRC {
			crc = crc32.Update(crc, crc32.IEEETable, []byte(data))
		}
	}
	piece(prefix, false)
	per := max(1, (4<<20)/len(unit)) // big enough that block overhead leaves the ratio over 1000:1
	chunk := strings.Repeat(unit, per)
	if count >= per {
		start := out.Len()
		piece(chunk, false)
		packed := bytes.Clone(out.Bytes()[start:])
		for range count/per - 1 {
			out.Write(packed)
			size += uint64(len(chunk))
			if withCRC {
				crc = crc32.Update(crc, crc32.IEEETable, []byte(chunk))
			}
		}
	}
	if rest := count % per; rest > 0 {
		piece(strings.Repeat(unit, rest), false)
	}
	piece(suffix, true)
	return out.Bytes(), size, crc
}

// hostileSheet is the start and end of a worksheet part around its rows.
const (
	hostileSheetStart = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n" +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	hostileSheetEnd = `</sheetData></worksheet>`
)

// hostileBook returns the parts of a one-sheet workbook, sheet S at xl/worksheets/sheet1.xml,
// whose rows are data, as zip entries in the usual order.
func hostileBook(data string) []zipEntry {
	parts := xlsxRawBook{sheets: []xlsxRawSheet{{name: "S", target: "worksheets/sheet1.xml", part: "xl/worksheets/sheet1.xml", data: data}}}.parts()
	var entries []zipEntry
	for _, name := range []string{"[Content_Types].xml", "xl/workbook.xml", "xl/_rels/workbook.xml.rels", "xl/worksheets/sheet1.xml"} {
		entries = append(entries, zipEntry{name: name, data: parts[name]})
	}
	return entries
}

// withEntry returns entries with the one named name replaced by e, or e added at the end.
func withEntry(entries []zipEntry, e zipEntry) []zipEntry {
	out := make([]zipEntry, 0, len(entries)+1)
	replaced := false
	for _, x := range entries {
		if x.name == e.name {
			x, replaced = e, true
		}
		out = append(out, x)
	}
	if !replaced {
		out = append(out, e)
	}
	return out
}

// heapPeak samples the heap in use every few milliseconds from now until stop, which returns
// the highest it saw above what was in use when heapPeak was called, after a GC.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak - base
	}
}

// hostileHeapLimit bounds the heap a hostile workbook may make sheetsync use: generous, far
// below what any of them would take if read as it asks.
const hostileHeapLimit = 512 << 20

// hostileCase is a hostile workbook and what the folder must make of it.
type hostileCase struct {
	name  string
	write func(tb testing.TB, path string)
	slow  bool // reads millions of rows or strings: skipped under -short and the race detector
	// served: the workbook is harmless to read and is served, with its one row r1; otherwise it
	// is refused with a problem in sheet, whose message holds every one of want
	served bool
	sheet  string
	want   []string
}

// What the problems of the hostile workbooks advise.
const (
	adviseSmaller = "split the data into smaller workbooks, or save it as CSV"
	adviseResave  = "open it in one and save it again"
)

func hostileCases() []hostileCase {
	const row = `<row r="1"><c r="A1" t="inlineStr"><is><t>_id</t></is></c><c r="B1" t="inlineStr"><is><t>name</t></is></c></row>` +
		`<row r="2"><c r="A2" t="inlineStr"><is><t>r1</t></is></c><c r="B2" t="inlineStr"><is><t>one</t></is></c></row>`
	const rowsUnit = `<row><c><v>1</v></c></row>`
	return []hostileCase{
		{name: "SizeLieSmall", write: func(tb testing.TB, path string) {
			// declares 4 KiB; inflates to 3 GiB, beyond maxXLSXPartSize
			raw, _, _ := deflateRepeat(tb, hostileSheetStart, rowsUnit, (3<<30)/len(rowsUnit), hostileSheetEnd, false)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/worksheets/sheet1.xml", raw: raw, size: 4 << 10}))
		}, sheet: "S", want: []string{"part xl/worksheets/sheet1.xml", "more than the 4096 bytes its zip header declares", adviseResave}},
		{name: "SizeLieSmallSharedStrings", write: func(tb testing.TB, path string) {
			raw, _, _ := deflateRepeat(tb, `<sst>`, `<si><t>a</t></si>`, 1_000_000, `</sst>`, false)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/sharedStrings.xml", raw: raw, size: 4 << 10}))
		}, want: []string{"part xl/sharedStrings.xml: inflates to more than the 4096 bytes its zip header declares", adviseResave}},
		{name: "SizeDeclaredHuge", write: func(tb testing.TB, path string) {
			raw, _, crc := deflateRepeat(tb, hostileSheetStart, rowsUnit, 10, hostileSheetEnd, true)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/worksheets/sheet1.xml", raw: raw, size: 3 << 30, crc: crc}))
		}, want: []string{"part xl/worksheets/sheet1.xml", "3221225472", "limit of 2147483648", adviseSmaller}},
		{name: "RatioBomb", write: func(tb testing.TB, path string) {
			// declares, truthfully, 1 GiB of blanks between the rows, in about a megabyte
			raw, size, crc := deflateRepeat(tb, hostileSheetStart+row, " ", 1<<30, hostileSheetEnd, true)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/worksheets/sheet1.xml", raw: raw, size: size, crc: crc}))
		}, want: []string{"part xl/worksheets/sheet1.xml", "ratio over 1000:1", adviseResave}},
		{name: "RowsBomb", slow: true, write: func(tb testing.TB, path string) {
			// declares, truthfully, 1 GiB of unnumbered rows of data: rows of 26 bytes pack
			// at some 400:1, under the ratio limit, so it is the rows a sheet may have that stop them
			raw, size, crc := deflateRepeat(tb, hostileSheetStart+row, rowsUnit, (1<<30)/len(rowsUnit), hostileSheetEnd, true)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/worksheets/sheet1.xml", raw: raw, size: size, crc: crc}))
		}, sheet: "S", want: []string{"row 1048577 is after row 1048576", adviseSmaller}},
		{name: "SharedStrings20M", slow: true, write: func(tb testing.TB, path string) {
			// 20 million one-letter items, some 340 MB, in under a megabyte, without uniqueCount
			raw, size, crc := deflateRepeat(tb, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`+"\n"+
				`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`, `<si><t>a</t></si>`, 20_000_000, `</sst>`, true)
			writeZipEntries(tb, path, withEntry(hostileBook(row), zipEntry{name: "xl/sharedStrings.xml", raw: raw, size: size, crc: crc}))
		}, want: []string{"xl/sharedStrings.xml", "more than 10000000 shared strings", adviseSmaller}},
		{name: "DimensionAbsurd", write: func(tb testing.TB, path string) {
			// a dimension of the whole sheet, and a row at the very last with a cell in the very
			// last column: read as what it holds, two rows, without room made for the rest
			sheet := `<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1:XFD1048576"/><sheetData>` +
				`<row r="1"><c r="A1" t="inlineStr"><is><t>_id</t></is></c><c r="B1" t="inlineStr"><is><t>name</t></is></c><c r="XFD1" t="inlineStr"><is><t>far</t></is></c></row>` +
				`<row r="2"><c r="A2" t="inlineStr"><is><t>r1</t></is></c><c r="B2" t="inlineStr"><is><t>one</t></is></c></row>` +
				`<row r="1048576" spans="1:16384"><c r="A1048576" t="inlineStr"><is><t>r2</t></is></c><c r="XFD1048576" t="inlineStr"><is><t>last</t></is></c></row>` +
				hostileSheetEnd
			writeZipEntries(tb, path, withEntry(hostileBook(""), zipEntry{name: "xl/worksheets/sheet1.xml", data: sheet}))
		}, served: true},
		{name: "RowAfterLast", write: func(tb testing.TB, path string) {
			writeZipEntries(tb, path, hostileBook(row+`<row r="1048577"><c r="A1048577"><v>1</v></c></row>`))
		}, sheet: "S", want: []string{"row 1048577 is after row 1048576", adviseSmaller}},
		{name: "RowAfterLastUnnumbered", write: func(tb testing.TB, path string) {
			// a row without a number after the last row a worksheet has
			writeZipEntries(tb, path, hostileBook(row+`<row r="1048576"><c><v>1</v></c></row><row><c><v>2</v></c></row>`))
		}, sheet: "S", want: []string{"row 1048577 is after row 1048576", adviseSmaller}},
		{name: "RowsUnnumberedPastLast", slow: true, write: func(tb testing.TB, path string) {
			// a million blank rows without numbers, then rows of data past the last
			rows := row + strings.Repeat(`<row/>`, 1048576-3) + strings.Repeat(`<row><c><v>1</v></c></row>`, 10)
			writeZipEntries(tb, path, hostileBook(rows))
		}, sheet: "S", want: []string{"row 1048577 is after row 1048576", adviseSmaller}},
		{name: "ColumnAfterXFD", write: func(tb testing.TB, path string) {
			writeZipEntries(tb, path, hostileBook(row+`<row r="3"><c r="XFD3"><v>1</v></c><c r="XFE3"><v>1</v></c></row>`))
		}, sheet: "S", want: []string{"cell XFE3 is after column XFD", adviseSmaller}},
		{name: "ColumnAfterXFDUnnumbered", write: func(tb testing.TB, path string) {
			writeZipEntries(tb, path, hostileBook(row+`<row r="3"><c r="XFD3"><v>1</v></c><c><v>2</v></c></row>`))
		}, sheet: "S", want: []string{"a cell after column XFD", adviseSmaller}},
		{name: "DuplicatePart", write: func(tb testing.TB, path string) {
			entries := append(hostileBook(row), zipEntry{name: "xl/worksheets/sheet1.xml", data: hostileSheetStart + hostileSheetEnd})
			writeZipEntries(tb, path, entries)
		}, want: []string{"part xl/worksheets/sheet1.xml twice", adviseResave}},
		{name: "DuplicatePartOtherCase", write: func(tb testing.TB, path string) {
			entries := append(hostileBook(row), zipEntry{name: "XL/Worksheets/Sheet1.xml", data: hostileSheetStart + hostileSheetEnd})
			writeZipEntries(tb, path, entries)
		}, want: []string{"part XL/Worksheets/Sheet1.xml twice", adviseResave}},
		{name: "DuplicatePartBackslash", write: func(tb testing.TB, path string) {
			// excelize, which writes changes into the file, reads this name as the sheet's
			entries := append(hostileBook(row), zipEntry{name: `xl\worksheets\sheet1.xml`, data: hostileSheetStart + hostileSheetEnd})
			writeZipEntries(tb, path, entries)
		}, want: []string{`part xl\worksheets\sheet1.xml twice`, adviseResave}},
		{name: "ManyEntries", write: func(tb testing.TB, path string) {
			// 20,000 parts no relationship names, which are never read; nor is anything
			// extracted, so a name reaching outside the zip is only a name
			entries := hostileBook(row)
			for i := range 20_000 {
				entries = append(entries, zipEntry{name: fmt.Sprintf("xl/media/image%d.png", i), data: "x"})
			}
			entries = append(entries, zipEntry{name: "../../x", data: "x"}, zipEntry{name: "/etc/passwd", data: "x"})
			writeZipEntries(tb, path, entries)
		}, served: true},
		{name: "PathTraversalTarget", write: func(tb testing.TB, path string) {
			// the workbook's relationship points its sheet at ../../x, out of the package: that
			// resolves to the zip's own entry ../x, which is read, and nothing outside the zip is
			entries := hostileBook(row)
			for i, e := range entries {
				switch e.name {
				case "xl/_rels/workbook.xml.rels":
					entries[i].data = strings.Replace(e.data, `Target="worksheets/sheet1.xml"`, `Target="../../x"`, 1)
				case "xl/worksheets/sheet1.xml":
					entries[i].name = "../x"
				}
			}
			writeZipEntries(tb, path, entries)
		}, served: true},
	}
}

// dropIn puts a file into the folder as a copy from elsewhere does: written beside it, dated an
// hour back, and renamed in, so that a broken file is reported at once rather than after
// settleWindow.
func (h *folderTest) dropIn(name string, write func(path string)) string {
	h.t.Helper()
	tmp := filepath.Join(h.t.TempDir(), name)
	write(tmp)
	backdate(h.t, tmp)
	path := h.path(name)
	if err := os.Rename(tmp, path); err != nil {
		h.t.Fatal(err)
	}
	return path
}

// TestFolderHostileXLSX drops each hostile workbook into a live folder serving a CSV and a
// workbook: the folder reports it, naming the file, the limit and what to do; its heap stays
// bounded; the other collections stay served; and a good workbook dropped in afterwards is
// served. The cases run one after another so that each heap measure is its own.
func TestFolderHostileXLSX(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.slow && (testing.Short() || raceEnabled) {
				t.Skip("reads millions of rows or strings")
			}
			start := time.Now()
			h := newFolderTest(t, map[string]string{"products.csv": productsV1, "inventory.xlsx": string(inventoryBook(t, nil))})
			stop := heapPeak()
			path := h.dropIn("hostile.xlsx", func(path string) { tc.write(t, path) })
			if tc.served {
				h.waitFor("hostile", func(s *cache.Snapshot) (bool, string) {
					return rowOf(s, "r1") != nil, fmt.Sprintf("no row r1 in %d rows", s.Len())
				})
			}
			var p Problem
			if !tc.served {
				p = h.waitProblem("hostile.xlsx")
			}
			// what sheetsync check does: LoadFile, as serve's initial load; bounded, so that a
			// bomb the folder let through fails the test rather than hangs it
			ctx, cancel := context.WithTimeout(context.Background(), bound)
			defer cancel()
			sheets, _, err := (&Loader{ReadOnly: true, Logger: discardLogger()}).LoadFile(ctx, path)
			peak := stop()
			t.Logf("heap peak %d MiB above baseline, %v in; problem %q", peak>>20, time.Since(start).Round(time.Millisecond), p.Message)
			if peak > hostileHeapLimit {
				t.Errorf("heap peaked %d MiB above baseline, over %d MiB", peak>>20, hostileHeapLimit>>20)
			}
			if tc.served {
				if err != nil || len(sheets) != 1 {
					t.Errorf("LoadFile: %d sheets, %v; want the one sheet", len(sheets), err)
				}
				h.waitNoProblems()
			} else {
				if !p.Fatal || p.Sheet != tc.sheet {
					t.Errorf("problem %+v: want fatal, sheet %q", p, tc.sheet)
				}
				for _, w := range tc.want {
					if !strings.Contains(p.Message, w) {
						t.Errorf("problem %q does not say %q", p.Message, w)
					}
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Path != path || pe.Err.Error() != p.Message {
					t.Errorf("LoadFile: %v, want a ParseError saying %q", err, p.Message)
				}
				if h.snap("hostile") != nil {
					t.Error("the hostile workbook is served")
				}
			}
			if s := h.snap("products"); s == nil || s.Len() != 3 {
				t.Errorf("products not served whole beside the hostile workbook")
			}
			if h.snap("inventory") == nil || h.snap("inventory-Staff") == nil {
				t.Errorf("inventory not served beside the hostile workbook")
			}
			h.dropIn("good.xlsx", func(path string) { mustWrite(t, path, inventoryBook(t, nil)) })
			h.waitValue("good", "s1", "item", cache.Text("bolt"))
			if ps := h.f.Problems(); !tc.served && (len(ps) != 1 || ps[0] != p) || tc.served && len(ps) != 0 {
				t.Errorf("problems %v after the good workbook, want only %v", ps, p)
			}
		})
	}
}
