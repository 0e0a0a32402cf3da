package ingest

import (
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// rewriteXLSX writes each sheet's write into the workbook at path, cell by cell through
// excelize, so styles, widths, number formats, formulas, other sheets and defined names
// survive. Rows are found by their _id cell with the streaming reader; a new row goes below the
// last row with data and takes the style of the cells above it; a removed row is deleted, the
// rows below moving up. guard runs before the file is replaced.
func rewriteXLSX(path string, writes map[string]*sheetWrite, guard func() error) (uint64, error) {
	found := map[string]xlsxRowsByID{}
	for sheet, w := range writes {
		rows, err := findXLSXRows(path, sheet, w)
		if err != nil {
			return 0, err
		}
		found[sheet] = rows
	}
	f, err := openWorkbook(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	p := &xlsxPatcher{f: f, styles: map[xlsxRestyle]int{}}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		p.date1904 = *props.Date1904
	}
	for _, sheet := range slices.Sorted(maps.Keys(writes)) {
		w, rows := writes[sheet], found[sheet]
		header := max(w.cols.header, 1)
		lastHeaderCol := rows.lastHeaderCol
		for _, c := range w.header {
			c.record = header
			if err := p.apply(sheet, c, header, lastHeaderCol); err != nil {
				return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
			}
		}
		for id, cells := range w.set {
			row, ok := rows.byID[id]
			if !ok {
				return 0, fmt.Errorf("write %s sheet %q: no row has _id %q", path, sheet, id)
			}
			for _, c := range cells {
				c.record = row
				if err := p.apply(sheet, c, header, lastHeaderCol); err != nil {
					return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
				}
			}
		}
		above := max(rows.last, header)
		for k, cells := range w.appends {
			row := above + 1 + k
			if err := copyRowStyle(f, sheet, above, row, header, w.cols.width()); err != nil {
				return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
			}
			if err := fillFormulasDown(f, sheet, above, row, header, w.formulas); err != nil {
				return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
			}
			for _, c := range cells {
				c.record = row
				if err := p.apply(sheet, c, header, lastHeaderCol); err != nil {
					return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
				}
			}
		}
		var drop []int
		for id := range w.drop {
			if row, ok := rows.byID[id]; ok {
				drop = append(drop, row)
			}
		}
		slices.Sort(drop)
		for i := len(drop) - 1; i >= 0; i-- { // from the bottom, so row numbers above stay put
			if err := f.RemoveRow(sheet, drop[i]); err != nil {
				return 0, fmt.Errorf("write %s sheet %q: %w", path, sheet, err)
			}
		}
	}
	return saveXLSX(f, path, guard)
}

// copyRowStyle gives the cells of a new row the styles of the data row above it, so a row added
// through the API looks like its neighbours. Nothing is copied from the header.
func copyRowStyle(f *excelize.File, sheet string, above, row, header, width int) error {
	if above <= header {
		return nil
	}
	for c := range width {
		from, _ := excelize.CoordinatesToCellName(c+1, above)
		style, err := f.GetCellStyle(sheet, from)
		if err != nil || style == 0 {
			continue
		}
		to, _ := excelize.CoordinatesToCellName(c+1, row)
		if err := f.SetCellStyle(sheet, to, to, style); err != nil {
			return err
		}
	}
	return nil
}

// fillFormulasDown gives a new row the formulas of the data row above it in the formula
// columns, moved down as a spreadsheet fills them. Their values are computed when a person
// opens the workbook (it is saved asking for a recalculation); until then they are empty.
func fillFormulasDown(f *excelize.File, sheet string, above, row, header int, cols []int) error {
	if above <= header {
		return nil
	}
	for _, c := range cols {
		from, _ := excelize.CoordinatesToCellName(c+1, above)
		formula, err := f.GetCellFormula(sheet, from)
		if err != nil || formula == "" {
			continue
		}
		shifted, ok := shiftFormulaRows(formula, row-above)
		if !ok {
			continue
		}
		to, _ := excelize.CoordinatesToCellName(c+1, row)
		if err := f.SetCellFormula(sheet, to, shifted); err != nil {
			return err
		}
	}
	return nil
}

// xlsxRowsByID is where rows are in a worksheet: the row number of each _id a write names, the
// last row with data, and the header's last non-empty column.
type xlsxRowsByID struct {
	byID          map[string]int
	last          int
	lastHeaderCol int
}

// findXLSXRows reads a sheet with the streaming reader to find the rows w names by _id. Only the
// first row with a given _id counts, as when the sheet was read.
func findXLSXRows(path, sheet string, w *sheetWrite) (xlsxRowsByID, error) {
	out := xlsxRowsByID{byID: map[string]int{}, lastHeaderCol: -1}
	b, err := openXLSX(path)
	if err != nil {
		return out, err
	}
	defer b.Close()
	rows, err := b.rows(sheet)
	if err != nil {
		return out, err
	}
	defer rows.Close()
	idPos := w.cols.pos[cache.FieldID]
	for {
		cells, err := rows.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		row, _ := rows.pos()
		if isBlank(cells) {
			continue
		}
		out.last = row
		if row == w.cols.header {
			out.lastHeaderCol = lastNonEmpty(cells)
		}
		if row <= w.cols.header || idPos >= len(cells) {
			continue
		}
		id := string(cells[idPos].text)
		_, wanted := w.set[id]
		if wanted || w.drop[id] {
			if _, dup := out.byID[id]; !dup {
				out.byID[id] = row
			}
		}
	}
}
