package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// withWriteBack registers the Folder for the store's commits, so API changes reach the files.
func withWriteBack(f *Folder) { f.Committer.(*cache.Store).Listen(f.OnCommit) }

// apiCommit commits cs as a Wix write would.
func (h *folderTest) apiCommit(cs cache.ChangeSet) uint64 {
	h.t.Helper()
	cs.Origin = cache.Origin{Kind: cache.OriginAPI}
	v, err := h.store.Commit(context.Background(), cs)
	if err != nil {
		h.t.Fatalf("commit %+v: %v", cs, err)
	}
	return v
}

// waitFile waits until the file holds want.
func (h *folderTest) waitFile(name, want string) {
	h.t.Helper()
	eventually(h.t, 5*time.Second, func() (bool, string) {
		got, err := os.ReadFile(h.path(name))
		return err == nil && string(got) == want, fmt.Sprintf("%s holds\n%s\nwant\n%s", name, got, want)
	})
}

// settle waits until the folder has seen a marker file written after everything before, so
// that an echo of sheetsync's own write, had there been one, would have been read by now.
func (h *folderTest) settle() {
	h.t.Helper()
	marker := fmt.Sprintf("marker%d.csv", time.Now().UnixNano())
	writeFile(h.t, h.dir, marker, "_id\nm\n")
	h.waitFor(strings.TrimSuffix(marker, ".csv"), func(*cache.Snapshot) (bool, string) { return true, "" })
}

// TestWriteBackCSV: inserts, updates and removes through the API reach the file: only the
// changed cells and rows change, the rest keeps its bytes (quotes, CRLF, BOM, a row's own line
// ending), a formula-like text is written as text, and the write is not read back as an edit.
func TestWriteBackCSV(t *testing.T) {
	v1 := "\ufeff_id,name,price,note,_createdDate,_updatedDate,_owner\r\n" +
		"p1,Apple,1.5,\"fresh, red\",2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\r\n" +
		"p2,Pear,2,  spaced  ,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,ann\r\n" +
		"p3,Plum,3,,2024-01-01T00:00:00.000Z,2024-01-03T00:00:00.000Z,\r\n"
	h := newFolderTest(t, map[string]string{"products.csv": v1}, withWriteBack)
	h.apiCommit(cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("p2"), "price": cache.Number(2.25), cache.FieldUpdatedDate: cache.Time(jan3)}},
		Remove: []string{"p3"},
		Insert: []cache.Item{{cache.FieldID: cache.Text("p4"), "name": cache.Text("=HYPERLINK(\"x\")"), "price": cache.Number(4),
			cache.FieldCreatedDate: cache.Time(jan3), cache.FieldUpdatedDate: cache.Time(jan3), cache.FieldOwner: cache.Text("bob")}},
	})
	before := h.snap("products").Version()
	want := "\ufeff_id,name,price,note,_createdDate,_updatedDate,_owner\r\n" +
		"p1,Apple,1.5,\"fresh, red\",2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\r\n" +
		"p2,Pear,2.25,  spaced  ,2024-01-01T00:00:00.000Z,2024-01-03T00:00:00.000Z,ann\r\n" +
		"p4,\"'=HYPERLINK(\"\"x\"\")\",4,,2024-01-03T00:00:00.000Z,2024-01-03T00:00:00.000Z,bob\r\n"
	h.waitFile("products.csv", want)
	h.settle()
	if v := h.snap("products").Version(); v != before {
		t.Errorf("the collection moved from version %d to %d after sheetsync's own write", before, v)
	}
	if n := h.logs.count("file changed", "collection=products"); n != 0 {
		t.Errorf("sheetsync's own write was read back as %d file edits", n)
	}
	if got := h.row("products", "p4")["name"]; got.Str() != "=HYPERLINK(\"x\")" {
		t.Errorf("p4 name served as %v", got)
	}
	// a person's edit after the write is read as usual, against the written content
	save(t, h.path("products.csv"), replace(t, want, "p1,Apple,1.5", "p1,Apple,1.75"))
	h.waitValue("products", "p1", "price", cache.Number(1.75))
	if got := h.row("products", "p4")["price"]; !got.Equal(cache.Number(4)) {
		t.Errorf("p4 price %v after a file edit, want 4", got)
	}
}

// TestWriteBackAddsSystemColumns: a file without _owner gets the column's header and value
// when a write sets it; rows the write does not name keep their bytes.
func TestWriteBackAddsSystemColumns(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	h.apiCommit(cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("p1"), cache.FieldOwner: cache.Text("ann")}}})
	h.waitFile("products.csv", "_id,name,price,_createdDate,_updatedDate,_owner\n"+
		"p1,Apple,1.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,ann\n"+
		"p2,Pear,2,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z\n"+
		"p3,Plum,3,2024-01-01T00:00:00.000Z,2024-01-03T00:00:00.000Z\n")
	h.settle()
	if got := h.row("products", "p1")[cache.FieldOwner]; got.Str() != "ann" {
		t.Errorf("p1 _owner served as %v", got)
	}
}

// TestWriteBackTruncate: a truncate leaves the header alone and removes every row.
func TestWriteBackTruncate(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	h.apiCommit(cache.ChangeSet{Collection: "products", Truncate: true})
	h.waitFile("products.csv", productsHeader)
	h.settle()
	if n := h.snap("products").Len(); n != 0 {
		t.Errorf("%d rows after truncate", n)
	}
}

// TestWriteBackBulkIsOneWrite: a thousand inserts committed at once cost one file write.
func TestWriteBackBulkIsOneWrite(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	var items []cache.Item
	var want strings.Builder
	want.WriteString(productsV1)
	for i := range 1000 {
		id := fmt.Sprintf("b%04d", i)
		items = append(items, cache.Item{cache.FieldID: cache.Text(id), "name": cache.Text("bulk"), "price": cache.Number(float64(i)),
			cache.FieldCreatedDate: cache.Time(jan3), cache.FieldUpdatedDate: cache.Time(jan3)})
		fmt.Fprintf(&want, "%s,bulk,%d,2024-01-03T00:00:00.000Z,2024-01-03T00:00:00.000Z\n", id, i)
	}
	h.apiCommit(cache.ChangeSet{Collection: "products", Insert: items})
	h.waitFile("products.csv", want.String())
	eventually(t, 5*time.Second, func() (bool, string) {
		return h.logs.count("API changes written into the file") > 0, "the write is not logged" // logged after the rename
	})
	h.settle()
	if n := h.logs.count("API changes written into the file"); n != 1 {
		t.Errorf("%d file writes for one bulk insert, want 1", n)
	}
}

// TestWriteBackMerge: a person's edit of one cell and an API write of another cell of the same
// row, at nearly the same moment, both survive in the file and the store (three-way merge).
func TestWriteBackMerge(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	save(t, h.path("products.csv"), replace(t, productsV1, "p1,Apple,", "p1,Green Apple,"))
	h.apiCommit(cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("p1"), "price": cache.Number(9)}}})
	eventually(t, 5*time.Second, func() (bool, string) {
		got, _ := os.ReadFile(h.path("products.csv"))
		row := h.row("products", "p1")
		ok := strings.Contains(string(got), "p1,Green Apple,9,") && row["name"].Str() == "Green Apple" && row["price"].Equal(cache.Number(9))
		return ok, fmt.Sprintf("file:\n%s\nstore: %v", got, row)
	})
}

// TestWriteBackXLSX: a workbook is edited cell by cell: the changed cell keeps its style, the
// other sheet and the column widths stay, a new row takes the style of the row above, a
// removed row is gone, and text that looks like a formula is a text cell.
func TestWriteBackXLSX(t *testing.T) {
	book := inventoryBook(t, func(f *excelize.File) {
		bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
		mustXLSX(t, err)
		mustXLSX(t, f.SetCellStyle("Stock", "C2", "C3", bold))
		mustXLSX(t, f.SetColWidth("Stock", "B", "B", 31))
		mustXLSX(t, f.SetCellStr("Stock", "D1", "double"))
		mustXLSX(t, f.SetCellFormula("Stock", "D2", "C2*2"))
		mustXLSX(t, f.SetCellFormula("Stock", "D3", "C3*2"))
	})
	h := newFolderTest(t, map[string]string{"inventory.xlsx": string(book)}, withWriteBack)
	h.apiCommit(cache.ChangeSet{Collection: "inventory",
		Update: []cache.Item{{cache.FieldID: cache.Text("s1"), "qty": cache.Number(11)}},
		Insert: []cache.Item{{cache.FieldID: cache.Text("s3"), "item": cache.Text("@washer"), "qty": cache.Number(30)}},
	})
	h.apiCommit(cache.ChangeSet{Collection: "inventory", Remove: []string{"s2"}})
	eventually(t, 10*time.Second, func() (bool, string) {
		f, err := excelize.OpenFile(h.path("inventory.xlsx"))
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		rows, _ := f.GetRows("Stock")
		return fmt.Sprint(rows) == "[[_id item qty double] [s1 bolt 11 ] [s3 @washer 30 ]]", fmt.Sprint(rows)
	})
	f, err := excelize.OpenFile(h.path("inventory.xlsx"))
	mustXLSX(t, err)
	defer f.Close()
	for _, ref := range []string{"C2", "C3"} {
		style, _ := f.GetCellStyle("Stock", ref)
		st, err := f.GetStyle(style)
		if err != nil || st.Font == nil || !st.Font.Bold {
			t.Errorf("Stock!%s is not bold after the write", ref)
		}
	}
	if w, _ := f.GetColWidth("Stock", "B"); w != 31 {
		t.Errorf("column B width %v, want 31", w)
	}
	if formula, _ := f.GetCellFormula("Stock", "B3"); formula != "" {
		t.Errorf("@washer was written as the formula %q", formula)
	}
	if formula, _ := f.GetCellFormula("Stock", "D3"); formula != "C3*2" {
		t.Errorf("the new row's formula is %q, want C3*2 (filled down, then moved up with the removed row)", formula)
	}
	if rows, _ := f.GetRows("Staff"); fmt.Sprint(rows) != "[[_id name] [e1 Ann] [e2 Bob]]" {
		t.Errorf("Staff sheet is %v", rows)
	}
	h.settle()
	if n := h.logs.count("file changed", "collection=inventory"); n != 0 {
		t.Errorf("sheetsync's own write was read back as %d file edits", n)
	}
}

// TestWritable: a collection can be written unless sheetsync is read-only, the file is open in
// a spreadsheet program (its lock file), or the file cannot be read.
func TestWritable(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1, "stock.xlsx": string(inventoryBook(t, nil))}, withWriteBack)
	for _, coll := range []string{"products", "stock", "stock-Staff", "nothing"} {
		if err := h.f.Writable(coll); err != nil {
			t.Errorf("Writable(%s): %v", coll, err)
		}
	}
	writeFile(t, h.dir, "~$stock.xlsx", "lock")
	if err := h.f.Writable("stock-Staff"); !errors.Is(err, cache.ErrReadOnly) || !strings.Contains(err.Error(), "~$stock.xlsx") {
		t.Errorf("with Excel's lock file: %v", err)
	}
	writeFile(t, h.dir, ".~lock.products.csv#", "lock")
	if err := h.f.Writable("products"); !errors.Is(err, cache.ErrReadOnly) || !strings.Contains(err.Error(), "open in another program") {
		t.Errorf("with LibreOffice's lock file: %v", err)
	}
	os.Remove(h.path(".~lock.products.csv#"))
	save(t, h.path("products.csv"), productsV1+"p9,\"unterminated\n")
	h.waitProblem("products.csv")
	if err := h.f.Writable("products"); !errors.Is(err, cache.ErrReadOnly) || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("with a broken file: %v", err)
	}
	ro := newFolderTest(t, map[string]string{"products.csv": productsV1}, func(f *Folder) { f.Loader.ReadOnly = true })
	if err := ro.f.Writable("products"); !errors.Is(err, cache.ErrReadOnly) || !strings.Contains(err.Error(), "--read-only") {
		t.Errorf("read-only: %v", err)
	}
}

// TestWriteBackGuard: a save made by someone else while sheetsync writes the file wins: the
// write is abandoned before its rename, leaving their file and no temporary file, and is
// retried after their edit is merged.
func TestWriteBackGuard(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "products.csv", productsV1)
	sheets, _, err := (&Loader{ReadOnly: true}).LoadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	theirs := replace(t, productsV1, "Apple", "Quince")
	w := &sheetWrite{cols: sheets[0].cols, set: map[string][]cellPatch{"p1": {{col: 2, value: cache.Number(7)}}}}
	_, err = rewriteCSV(path, w, func() error {
		mustWrite(t, path, []byte(theirs)) // their save lands while ours is being written
		return errFileBusy
	})
	if !errors.Is(err, errFileBusy) {
		t.Fatalf("rewrite: %v, want errFileBusy", err)
	}
	checkCSVUntouched(t, path, []byte(theirs))
}

// TestWriteBackInsertOrder: rows inserted one after another are appended in that order,
// whatever their ids.
func TestWriteBackInsertOrder(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	for _, id := range []string{"z9", "a1", "m5"} {
		h.apiCommit(cache.ChangeSet{Collection: "products", Insert: []cache.Item{{cache.FieldID: cache.Text(id), "name": cache.Text(id)}}})
	}
	h.waitFile("products.csv", productsV1+"z9,z9,,,\na1,a1,,,\nm5,m5,,,\n")
}

// TestWriteBackSameCell: a person's edit saved in the file before sheetsync writes a Wix value
// into the same cell wins: it is merged first, and the file is not overwritten with the older
// Wix value.
func TestWriteBackSameCell(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack, withDebounce(150*time.Millisecond))
	theirs := replace(t, productsV1, "p1,Apple,1.5,", "p1,Apple,8,")
	save(t, h.path("products.csv"), theirs)
	h.apiCommit(cache.ChangeSet{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("p1"), "price": cache.Number(9)}}})
	h.waitValue("products", "p1", "price", cache.Number(8))
	h.settle()
	// the file keeps the person's price; the merged row may carry its served _updatedDate
	if got, _ := os.ReadFile(h.path("products.csv")); !strings.Contains(string(got), "\np1,Apple,8,2024-01-01T00:00:00.000Z,") ||
		!strings.HasSuffix(string(got), strings.SplitN(theirs, "\n", 3)[2]) {
		t.Errorf("the file is\n%s\nwant the person's save\n%s", got, theirs)
	}
	if got := h.row("products", "p1")["price"]; !got.Equal(cache.Number(8)) {
		t.Errorf("p1 price served as %v, want the person's 8", got)
	}
}

// TestRewriteCSVDialects: a write-back keeps each file's dialect: delimiter, quoting, line
// endings, a missing final line break, blank lines, BOM and Windows-1252.
func TestRewriteCSVDialects(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
	}{
		{"Semicolon",
			"_id;name;price\r\np1;\"Apple; red\";1,5\r\np2;Pear;2\r\n",
			"_id;name;price\r\np1;\"Apple; red\";1,5\r\np2;Pear XL;3\r\np3;\"a;b\";4\r\n"},
		{"TabNoFinalNewline",
			"_id\tname\tprice\np1\tApple\t1\np2\tPear\t2",
			"_id\tname\tprice\np1\tApple\t1\np2\tPear XL\t3\np3\ta;b\t4\n"},
		{"BlankLinesAndQuotes",
			"\n_id,name,price\n\np1,\"Apple\",1\np2,\"Pear\",2\n",
			"\n_id,name,price\n\np1,\"Apple\",1\np2,Pear XL,3\np3,a;b,4\n"},
		{"BOM",
			"\ufeff_id,name,price\np1,Apple,1\np2,Pear,2\n",
			"\ufeff_id,name,price\np1,Apple,1\np2,Pear XL,3\np3,a;b,4\n"},
		{"Windows1252",
			"_id,name,price\np1,Caf\xe9,1\np2,Pear,2\n",
			"_id,name,price\np1,Caf\xe9,1\np2,Pear XL,3\np3,a;b,4\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeFile(t, dir, "products.csv", tt.in)
			sheets, _, err := (&Loader{ReadOnly: true}).LoadFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			cols := sheets[0].cols
			name, price := cols.pos["name"], cols.pos["price"]
			w := &sheetWrite{cols: cols,
				set:     map[string][]cellPatch{"p2": {{col: name, value: cache.Text("Pear XL")}, {col: price, value: cache.Number(3)}}},
				appends: [][]cellPatch{{{col: cols.pos[cache.FieldID], value: cache.Text("p3")}, {col: name, value: cache.Text("a;b")}, {col: price, value: cache.Number(4)}}},
			}
			if _, err := rewriteCSV(path, w, nil); err != nil {
				t.Fatal(err)
			}
			if got := readCSVFile(t, path); string(got) != tt.want {
				t.Errorf("file is\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestWriteBackWaitsForBrokenFile: a write that cannot reach its file (it was broken meanwhile)
// is kept, reported among the problems, and written once the file is fixed.
func TestWriteBackWaitsForBrokenFile(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsV1}, withWriteBack)
	broken := productsV1 + "p9,\"unterminated\n"
	save(t, h.path("products.csv"), broken)
	hourAgo := time.Now().Add(-time.Hour) // past the settle window: broken, not being written
	if err := os.Chtimes(h.path("products.csv"), hourAgo, hourAgo); err != nil {
		t.Fatal(err)
	}
	h.apiCommit(cache.ChangeSet{Collection: "products", Update: []cache.Item{{cache.FieldID: cache.Text("p2"), "price": cache.Number(7)}}})
	eventually(t, 10*time.Second, func() (bool, string) {
		for _, p := range h.f.Problems() {
			if strings.Contains(p.Message, "cannot be written into this file") {
				return true, ""
			}
		}
		return false, fmt.Sprint(h.f.Problems())
	})
	if got, _ := os.ReadFile(h.path("products.csv")); string(got) != broken {
		t.Errorf("the broken file was written:\n%s", got)
	}
	save(t, h.path("products.csv"), productsV1) // fixed: back to the last good bytes
	h.waitFile("products.csv", replace(t, productsV1, "p2,Pear,2,", "p2,Pear,7,"))
	eventually(t, 5*time.Second, func() (bool, string) { return len(h.f.Problems()) == 0, fmt.Sprint(h.f.Problems()) })
}

// TestWriteBackKeepsServedDates: a row edited in the file is served with a new _updatedDate that
// the file does not hold; writing the collection's rows again (a change that reached this copy
// of the file row by row) leaves that date out, so the copies of a file on every replica stay
// alike, until a write from Wix dates the row in the file too.
func TestWriteBackKeepsServedDates(t *testing.T) {
	v1 := "_id,name,price,_createdDate,_updatedDate,_owner\n" +
		"p1,Apple,1.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\n" +
		"p2,Pear,2,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\n"
	h := newFolderTest(t, map[string]string{"products.csv": v1}, withWriteBack)
	v2 := strings.Replace(v1, "Pear,2,", "Pear,2.5,", 1)
	writeFile(t, h.dir, "products.csv", v2)
	h.waitValue("products", "p2", "price", cache.Number(2.5))
	if got := h.row("products", "p2")[cache.FieldUpdatedDate]; got.Equal(cache.Time(jan2)) {
		t.Fatalf("the edited row is served with the file's _updatedDate %v, want a new one", got)
	}
	h.f.rewrite("products")
	h.settle()
	h.waitFile("products.csv", v2)

	h.apiCommit(cache.ChangeSet{Collection: "products",
		Update: []cache.Item{{cache.FieldID: cache.Text("p2"), "name": cache.Text("Nashi"), cache.FieldUpdatedDate: cache.Time(jan3)}}})
	h.waitFile("products.csv", strings.Replace(v2, "Pear,2.5,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z", "Nashi,2.5,2024-01-01T00:00:00.000Z,2024-01-03T00:00:00.000Z", 1))
}
