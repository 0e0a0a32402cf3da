package ingest

import (
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// reshape is a change of a sheet's columns made through the API: header cells to write (new
// columns, by position) and columns to take out of every row (by position).
type reshape struct {
	header int         // the header's record (CSV) or row (XLSX)
	names  []cellPatch // sorted by column
	cut    []int       // sorted
}

// reshapeCSV rewrites the CSV at path with the header cells named and the cut columns taken out
// of every record from the header on; records above the header, and records too short to reach
// any cut column, keep their bytes.
func reshapeCSV(path string, rs reshape) (uint64, error) {
	r, err := openCSV(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	d := r.dialect()
	if d.charset == csvWindows1252 && !encodable1252(rs.names) {
		d.charset, d.bom = csvUTF8, true
	}
	var rec []byte
	edit := func(idx int, _ []cell, raw []byte, spans [][2]int) ([]byte, bool) {
		var ps []cellPatch
		if idx == rs.header {
			ps = rs.names
		}
		if idx < rs.header || (len(ps) == 0 && (len(rs.cut) == 0 || rs.cut[0] >= len(spans))) {
			return nil, false
		}
		rec = patchCSVRecord(rec[:0], d, raw, spans, ps, rs.cut)
		return rec, false
	}
	tail := func(count int) [][]cellPatch {
		if count <= rs.header && len(rs.names) > 0 {
			return [][]cellPatch{rs.names} // an empty file: the header is new
		}
		return nil
	}
	return writeFileAtomic(path, func(w io.Writer) error { return encodeCSVWith(w, r, d, edit, tail) })
}

// reshapeXLSX names the new header cells of a worksheet and removes the cut columns, through
// excelize, which moves the columns right of a removed one left and adjusts formulas, merged
// cells and defined names that refer to them.
func reshapeXLSX(path, sheet string, rs reshape) (uint64, error) {
	_, lastHeaderCol, err := xlsxHeader(path, sheet)
	if err != nil {
		return 0, err
	}
	f, err := openWorkbook(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	p := &xlsxPatcher{f: f, styles: map[xlsxRestyle]int{}}
	header := max(rs.header, 1)
	for _, c := range rs.names {
		c.record = header
		if err := p.apply(sheet, c, header, lastHeaderCol); err != nil {
			return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
		}
	}
	for i := len(rs.cut) - 1; i >= 0; i-- {
		name, err := excelize.ColumnNumberToName(rs.cut[i] + 1)
		if err != nil {
			return 0, err
		}
		if err := f.RemoveCol(sheet, name); err != nil {
			return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
		}
	}
	return saveXLSX(f, path, nil)
}

// headerName is a header cell naming a field.
func headerName(key string, pos, header int) cellPatch {
	return cellPatch{record: header, col: pos, value: cache.Text(key)}
}
