package ingest

import (
	"fmt"
	"io"
	"slices"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// xlsxDateTimeFormat is the number format given to a cell that receives a datetime and has no
// date format yet.
const xlsxDateTimeFormat = "yyyy-mm-dd hh:mm:ss"

// writeXLSXPatches applies patches to the named sheets of the workbook at path and replaces the
// file atomically. It edits through excelize, so styles, widths, number formats, formulas,
// other sheets and defined names survive. Text becomes a string cell, never a formula (DESIGN
// §7); numbers, booleans and datetimes become typed cells, datetimes with a date format so that
// a person sees a date and openXLSX reads one back; null clears a cell's value but keeps its
// style. A new header cell, right of the last one, takes the last one's style.
func writeXLSXPatches(path string, sheets map[string][]cellPatch) (uint64, error) {
	if len(sheets) == 0 {
		return hashFile(path)
	}
	f, err := openWorkbook(path)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	w := &xlsxPatcher{f: f, styles: map[xlsxRestyle]int{}}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		w.date1904 = *props.Date1904
	}
	names := make([]string, 0, len(sheets))
	for name := range sheets {
		names = append(names, name)
	}
	slices.Sort(names) // a stable order keeps the shared-string table, and so the file, deterministic
	for _, name := range names {
		if idx, err := f.GetSheetIndex(name); err != nil || idx < 0 {
			return 0, fmt.Errorf("write %s: no sheet %q", path, name)
		}
		headerRow, lastHeaderCol, err := xlsxHeader(path, name)
		if err != nil {
			return 0, fmt.Errorf("write: %w", err) // a ParseError, which names the file
		}
		for _, p := range sheets[name] {
			if err := w.apply(name, p, headerRow, lastHeaderCol); err != nil {
				return 0, fmt.Errorf("write %s sheet %q: %w", path, name, err)
			}
		}
	}
	return saveXLSX(f, path, nil)
}

// saveXLSX replaces the workbook at path with f, atomically, guard running before the rename.
// Formulas keep their cached values, which may now be stale: the spreadsheet is asked to
// recalculate when a person opens the file (all properties are passed back, as excelize clears
// those it is not given).
func saveXLSX(f *excelize.File, path string, guard func() error) (uint64, error) {
	calc, err := f.GetCalcProps()
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	yes := true
	calc.FullCalcOnLoad = &yes
	if err := f.SetCalcProps(&calc); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return writeFileAtomicIf(path, func(out io.Writer) error { return f.Write(out) }, guard)
}

// xlsxHeader finds the header row of a sheet the way the table reader does, as the first row
// with a non-empty cell, and the column of its last non-empty cell. Both are 0 and -1 when the
// sheet has no data.
func xlsxHeader(path, sheet string) (row, lastCol int, err error) {
	b, err := openXLSX(path)
	if err != nil {
		return 0, -1, err
	}
	defer b.Close()
	rows, err := b.rows(sheet)
	if err != nil {
		return 0, -1, err
	}
	defer rows.Close()
	for {
		cells, err := rows.next()
		if err == io.EOF {
			return 0, -1, nil
		}
		if err != nil {
			return 0, -1, err
		}
		for i := len(cells) - 1; i >= 0; i-- {
			if cells[i].kind != cellEmpty {
				row, _ = rows.pos()
				return row, i, nil
			}
		}
	}
}

// xlsxPatcher applies cell patches to an open workbook.
type xlsxPatcher struct {
	f        *excelize.File
	date1904 bool
	styles   map[xlsxRestyle]int
}

// xlsxRestyle is a cell style and whether the cell needs a date format: the key under which a
// derived style is remembered.
type xlsxRestyle struct {
	style int
	date  bool
}

func (w *xlsxPatcher) apply(sheet string, p cellPatch, headerRow, lastHeaderCol int) error {
	if p.record < 1 || p.record > excelize.TotalRows || p.col < 0 || p.col >= excelize.MaxColumns {
		return fmt.Errorf("cell at row %d, column %d is outside the sheet", p.record, p.col+1)
	}
	ref, err := excelize.CoordinatesToCellName(p.col+1, p.record)
	if err != nil {
		return err
	}
	f := w.f
	if p.record == headerRow && p.col > lastHeaderCol && lastHeaderCol >= 0 && !p.value.IsNull() {
		last, _ := excelize.CoordinatesToCellName(lastHeaderCol+1, headerRow)
		style, err := f.GetCellStyle(sheet, last)
		if err != nil {
			return err
		}
		if err := f.SetCellStyle(sheet, ref, ref, style); err != nil {
			return err
		}
	}
	v := p.value
	switch v.Kind() {
	case cache.KindNull:
		value, err := f.GetCellValue(sheet, ref, excelize.Options{RawCellValue: true})
		if err != nil {
			return err
		}
		formula, err := f.GetCellFormula(sheet, ref)
		if err != nil {
			return err
		}
		if value == "" && formula == "" {
			return nil // already empty; do not create the cell
		}
		return f.SetCellValue(sheet, ref, nil)
	case cache.KindText:
		return f.SetCellStr(sheet, ref, v.Str())
	case cache.KindBool:
		return f.SetCellBool(sheet, ref, v.Bool())
	case cache.KindNumber:
		if err := f.SetCellFloat(sheet, ref, v.Num(), -1, 64); err != nil {
			return err
		}
		return w.restyle(sheet, ref, false) // a number in a date-formatted cell would read back as a date
	case cache.KindTime:
		serial, ok := millisToExcelTime(v.Millis(), w.date1904)
		if !ok {
			// before the workbook's calendar starts: keep the instant as ISO text
			return f.SetCellStr(sheet, ref, v.String())
		}
		if err := f.SetCellFloat(sheet, ref, serial, -1, 64); err != nil {
			return err
		}
		return w.restyle(sheet, ref, true)
	}
	return fmt.Errorf("cell %s: unknown value kind %v", ref, v.Kind())
}

// restyle gives a cell a date-time number format (date true) unless its style already shows a
// date, or takes a date format away (date false) so that a number reads back as a number. The
// rest of the style (font, fill, borders, alignment) is kept.
func (w *xlsxPatcher) restyle(sheet, ref string, date bool) error {
	f := w.f
	id, err := f.GetCellStyle(sheet, ref)
	if err != nil {
		return err
	}
	key := xlsxRestyle{id, date}
	to, ok := w.styles[key]
	if !ok {
		st, err := f.GetStyle(id)
		if err != nil {
			return err
		}
		isDate := isDateNumFmtID(st.NumFmt)
		if st.CustomNumFmt != nil {
			isDate = isDateFormatCode(*st.CustomNumFmt)
		}
		to = id
		if isDate != date {
			st.NumFmt, st.DecimalPlaces, st.CustomNumFmt = 0, nil, nil
			if date {
				code := xlsxDateTimeFormat
				st.CustomNumFmt = &code
			}
			if to, err = f.NewStyle(st); err != nil {
				return err
			}
		}
		w.styles[key] = to
	}
	if to == id {
		return nil
	}
	return f.SetCellStyle(sheet, ref, ref, to)
}
