package ingest

import (
	"io"

	"github.com/sheetsync/sheetsync/cache"
)

// rewriteCSV writes w into the CSV file at path in one pass: rows are found by the text of their
// _id cell; a changed row keeps the raw bytes of its untouched cells and its line ending, a
// removed row is left out, new rows are appended, and every other record is copied byte for
// byte, in the file's dialect. Only the first row with a given _id is touched: a repeated one
// (reported when the file was read) is left as it is. guard runs before the file is replaced.
func rewriteCSV(path string, w *sheetWrite, guard func() error) (uint64, error) {
	r, err := openCSV(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	d := r.dialect()
	if d.charset == csvWindows1252 && !encodable1252(w.patches()) {
		d.charset, d.bom = csvUTF8, true
	}
	idPos := w.cols.pos[cache.FieldID]
	seen := map[string]bool{}
	edit := func(idx int, row []cell) ([]cellPatch, bool) {
		switch {
		case idx == w.cols.header:
			return w.header, false
		case idx < w.cols.header || idPos >= len(row):
			return nil, false
		}
		id := string(row[idPos].text)
		if seen[id] {
			return nil, false
		}
		seen[id] = true
		if w.drop[id] {
			return nil, true
		}
		return w.set[id], false
	}
	tail := func(count int) [][]cellPatch {
		rows := make([][]cellPatch, 0, len(w.appends)+1)
		if count <= w.cols.header {
			rows = append(rows, w.header) // an empty file: the header comes first
		}
		width := w.cols.headerWidth()
		for _, ps := range w.appends {
			if len(ps) > 0 && ps[len(ps)-1].col < width-1 {
				// as wide as the header, as a spreadsheet writes a row
				ps = append(ps[:len(ps):len(ps)], cellPatch{col: width - 1})
			}
			rows = append(rows, ps)
		}
		return rows
	}
	return writeFileAtomicIf(path, func(out io.Writer) error { return encodeCSV(out, r, d, edit, tail) }, guard)
}

// patches returns every cell w writes.
func (w *sheetWrite) patches() []cellPatch {
	out := append([]cellPatch(nil), w.header...)
	for _, ps := range w.set {
		out = append(out, ps...)
	}
	for _, ps := range w.appends {
		out = append(out, ps...)
	}
	return out
}
