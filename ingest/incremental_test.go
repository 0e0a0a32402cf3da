package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/sheetsync/sheetsync/cache"
)

// readCSVBytes decodes content as LoadFile would, read-only, and returns the sheet with its
// layout and the snapshot built from it.
func readCSVBytes(t *testing.T, content []byte) (Sheet, *cache.Snapshot) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "items.csv")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	sheets, _, err := (&Loader{ReadOnly: true}).LoadFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cache.NewSnapshot("items", sheets[0].Table)
	if err != nil {
		t.Fatal(err)
	}
	if sheets[0].csv != nil {
		sheets[0].csv.blocks = hashBlocks(content) // what the state dir's copy gives
	}
	return sheets[0], snap
}

// incrementalLines builds a CSV whose records are the given lines.
func incrementalCSV(lines []string) []byte {
	var b bytes.Buffer
	b.WriteString("name,price,note,_id,_createdDate,_updatedDate,_owner\n")
	for _, l := range lines {
		b.WriteString(l)
	}
	return b.Bytes()
}

func incrementalRow(i int, price int) string {
	note := fmt.Sprintf("note %d", i)
	if i%9 == 4 {
		note = fmt.Sprintf("\"two\nlines, %d\"", i) // a quoted line break: records are not lines
	}
	return fmt.Sprintf("item %d,%d,%s,id-%05d,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\n", i, price, note, i)
}

// TestDiffCSVBytes edits a CSV at random and checks every edit the incremental path accepts:
// base plus its change is what a full read of the new content gives, and its layout is what a
// full read finds. Edits it must refuse (the header, a cell that breaks its column's type, a row
// without _id, a repeated _id) are refused.
func TestDiffCSVBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	var lines []string
	for i := range 3*cache.ChunkSize + 50 {
		lines = append(lines, incrementalRow(i, i%100))
	}
	content := incrementalCSV(lines)
	sheet, base := readCSVBytes(t, content)
	if sheet.csv == nil {
		t.Fatal("a plain CSV got no layout")
	}
	layout := sheet.csv
	accepted, refused := 0, 0
	next := len(lines)
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for round := range rounds {
		edited := slices.Clone(lines)
		wantRefused := false
		switch kind := rng.IntN(9); kind {
		case 0, 1: // change a price
			i := rng.IntN(len(edited))
			edited[i] = incrementalRow(idOf(edited[i]), 1000+round)
		case 2: // insert a row with an id
			i := rng.IntN(len(edited))
			edited = slices.Insert(edited, i, incrementalRow(next, 5))
			next++
		case 3: // remove a row
			i := rng.IntN(len(edited))
			edited = slices.Delete(edited, i, i+1)
		case 4: // a blank line
			i := rng.IntN(len(edited))
			edited = slices.Insert(edited, i, "\n")
		case 5: // several edits far apart: one region spans them
			for range 3 {
				i := rng.IntN(len(edited))
				edited[i] = incrementalRow(idOf(edited[i]), 2000+round)
			}
		case 6: // a price that is not a number: the column's type changes
			i := rng.IntN(len(edited))
			edited[i] = fmt.Sprintf("item %d,cheap,x,id-%05d,,,\n", idOf(edited[i]), idOf(edited[i]))
			wantRefused = true
		case 7: // a row without _id must be written back
			i := rng.IntN(len(edited))
			edited = slices.Insert(edited, i, "new,1,x,,,,\n")
			wantRefused = true
		case 8: // an id repeated from elsewhere in the file
			i := rng.IntN(len(edited) - 1)
			edited = slices.Insert(edited, i, incrementalRow(idOf(edited[len(edited)-1]), 7))
			wantRefused = true
		}
		newContent := incrementalCSV(edited)
		edit, err := diffCSV(bytes.NewReader(content), bytes.NewReader(newContent), int64(len(newContent)), hashBlocks(newContent), layout, base, 1)
		if wantRefused {
			if !errors.Is(err, errNotIncremental) {
				t.Fatalf("round %d: an edit only the full path can decide was accepted (%v)", round, err)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("round %d: refused: %v", round, err)
		}
		accepted++
		got, err := base.Apply(edit.file)
		if err != nil {
			t.Fatalf("round %d: applying the change: %v", round, err)
		}
		wantSheet, want := readCSVBytes(t, newContent)
		if g, w := contentOf(got, nil), contentOf(want, nil); g != w {
			t.Fatalf("round %d: base + change differs from a full read", round)
		}
		if !slices.Equal(offsetsOf(edit.layout), offsetsOf(wantSheet.csv)) || edit.layout.size != wantSheet.csv.size {
			t.Fatalf("round %d: the spliced layout differs from a full read's", round)
		}
		lines, content, base, layout = edited, newContent, got, edit.layout
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("accepted %d, refused %d: the test did not exercise both", accepted, refused)
	}
}

func idOf(line string) int {
	var i int
	fmt.Sscanf(line, "item %d", &i)
	return i
}

func offsetsOf(l *csvLayout) []int64 {
	out := make([]int64, l.offsets.n)
	for i := range out {
		out[i] = l.offsets.at(i)
	}
	return out
}

func TestDiffCSVBytesHeader(t *testing.T) {
	content := incrementalCSV([]string{incrementalRow(1, 1), incrementalRow(2, 2)})
	sheet, base := readCSVBytes(t, content)
	edited := bytes.Replace(content, []byte("price"), []byte("cost"), 1)
	if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(edited), int64(len(edited)), hashBlocks(edited), sheet.csv, base, 1); !errors.Is(err, errNotIncremental) {
		t.Errorf("a header edit was accepted: %v", err)
	}
	// an edit that joins two records by deleting a line break
	joined := bytes.Replace(content, []byte("\nitem 2"), []byte("item 2"), 1)
	if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(joined), int64(len(joined)), hashBlocks(joined), sheet.csv, base, 1); !errors.Is(err, errNotIncremental) {
		t.Errorf("two records joined into one was accepted: %v", err)
	}
}

// TestBlockWriter: hashing content as it streams by, in pieces of any size, gives the hashes of
// hashing it whole, both directions, at every length around the block boundaries.
func TestBlockWriter(t *testing.T) {
	content := make([]byte, 3*blockSize+17)
	for i := range content {
		content[i] = byte(i * 7)
	}
	for _, n := range []int{0, 1, blockSize - 1, blockSize, blockSize + 1, 2 * blockSize, len(content)} {
		b := content[:n]
		whole := blockHashes{}
		for i := 0; i*blockSize < n; i++ {
			whole.fwd = append(whole.fwd, xxhash.Sum64(b[i*blockSize:min((i+1)*blockSize, n)]))
			whole.bwd = append(whole.bwd, xxhash.Sum64(b[max(0, n-(i+1)*blockSize):n-i*blockSize]))
		}
		w := newBlockWriter(int64(n))
		for rest := b; len(rest) > 0; {
			k := min(len(rest), 1+len(rest)%4099)
			w.Write(rest[:k])
			rest = rest[k:]
		}
		got := w.sum()
		if !slices.Equal(got.fwd, whole.fwd) || !slices.Equal(got.bwd, whole.bwd) {
			t.Errorf("length %d: streamed hashes differ from whole ones", n)
		}
	}
}

// TestDiffCSVTypeChanges: an edit that would make a full read infer another type for a column
// goes to the full path, so that incremental and full reads never disagree on a schema: the last
// word of a text column replaced by a number, the last value of a number column removed.
func TestDiffCSVTypeChanges(t *testing.T) {
	header := "code,qty,_id,_createdDate,_updatedDate,_owner\n"
	content := []byte(header + "A1,1,a,,,\n2,2,b,,,\n3,3,c,,,\n")
	sheet, base := readCSVBytes(t, content)
	if f, _ := sheet.Table.Schema.Lookup("code"); f.Type != cache.TypeText {
		t.Fatalf("code is %s", f.Type)
	}
	for _, tt := range []struct{ name, edited string }{
		{"TextBecomesNumber", header + "1,1,a,,,\n2,2,b,,,\n3,3,c,,,\n"},
		{"NumberBecomesEmpty", header + "A1,,a,,,\n2,,b,,,\n3,,c,,,\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			edited := []byte(tt.edited)
			if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(edited), int64(len(edited)), hashBlocks(edited), sheet.csv, base, 1); !errors.Is(err, errNotIncremental) {
				t.Errorf("accepted an edit that changes a column's type: %v", err)
			}
		})
	}
	// a text cell replaced while another word keeps the column text is fine
	edited := []byte(header + "A1,1,a,,,\nB2,2,b,,,\n3,3,c,,,\n")
	if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(edited), int64(len(edited)), hashBlocks(edited), sheet.csv, base, 1); err != nil {
		t.Errorf("refused an edit that keeps every type: %v", err)
	}
}

// TestDiffCSVFarApartEdits: edits far apart leave a changed region bigger than maxRegion, which
// goes to the full path; two edits close together in the same file stay incremental.
func TestDiffCSVFarApartEdits(t *testing.T) {
	var lines []string
	for i := 0; len(lines) < 2 || int64(len(lines))*60 < 2*maxRegion; i++ {
		lines = append(lines, incrementalRow(i, i%100))
	}
	content := incrementalCSV(lines)
	sheet, base := readCSVBytes(t, content)
	if sheet.csv == nil {
		t.Fatal("no layout for a plain CSV")
	}
	edit := func(rows ...int) []byte {
		changed := slices.Clone(lines)
		for _, i := range rows {
			changed[i] = incrementalRow(i, 1000+i)
		}
		return incrementalCSV(changed)
	}
	far := edit(0, len(lines)-1)
	if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(far), int64(len(far)), hashBlocks(far), sheet.csv, base, 1); !errors.Is(err, errNotIncremental) {
		t.Errorf("first and last rows edited: err %v, want errNotIncremental", err)
	}
	near := edit(10, 12)
	if _, err := diffCSV(bytes.NewReader(content), bytes.NewReader(near), int64(len(near)), hashBlocks(near), sheet.csv, base, 1); err != nil {
		t.Errorf("two nearby rows edited: %v", err)
	}
}

// TestIncrementalAfterRestart: after a restart, the first edit of a CSV whose last-synced copy an
// earlier run made is still read incrementally: the copy's block hashes are computed then.
func TestIncrementalAfterRestart(t *testing.T) {
	h := newFolderTest(t, map[string]string{"products.csv": productsOwned})
	h.f.Close()
	again := openFolderTest(t, h.dir, h.state, h.clock)
	save(t, again.path("products.csv"), replace(t, productsOwned, "p2,Pear,2,", "p2,Pear,2.5,"))
	again.waitValue("products", "p2", "price", cache.Number(2.5))
	if n := again.logs.count("file changed", "incremental=true"); n != 1 {
		t.Errorf("%d incremental reads of the first edit after a restart, want 1\n%s", n, again.logs)
	}
}
