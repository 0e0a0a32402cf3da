package ingest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/xuri/excelize/v2"
)

// rows opens a streaming reader over one worksheet.
func (b *xlsxBook) rows(sheet string) (*xlsxRows, error) {
	part, ok := b.sheetOf[sheet]
	if !ok {
		return nil, &ParseError{Path: b.path, Sheet: sheet, Err: errors.New("no such worksheet")}
	}
	rc, _, err := b.open(part)
	if err != nil {
		return nil, &ParseError{Path: b.path, Sheet: sheet, Err: err}
	}
	return &xlsxRows{book: b, sheet: sheet, rc: rc, dec: newXLSXDecoder(rc)}, nil
}

// xlsxRows streams the rows of one worksheet. It implements rowReader. The text of a cell may
// point into the workbook's shared strings: callers must not modify it.
type xlsxRows struct {
	book  *xlsxBook
	sheet string
	rc    io.ReadCloser
	dec   *xml.Decoder

	row     int  // the row number last returned
	pending int  // the number of a row whose <row> element has been read but not its cells
	inData  bool // inside <sheetData>
	done    bool // </sheetData> has been read
	err     error

	cells []cell
	buf   []byte // the text of the current row's cells
	col   int    // column of the cell being read
}

var _ rowReader = (*xlsxRows)(nil)

// next returns the next row: every row number in turn from 1 to the last <row> in the sheet,
// those missing from the XML as empty rows.
func (r *xlsxRows) next() ([]cell, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.pending == 0 && !r.done {
		if err := r.seekRow(); err != nil {
			r.err = err
			return nil, err
		}
	}
	if r.pending == 0 {
		return nil, io.EOF
	}
	r.row++
	r.cells, r.buf = r.cells[:0], r.buf[:0]
	if r.row < r.pending {
		return r.cells, nil
	}
	if err := r.readRow(); err != nil {
		r.err = err
		return nil, err
	}
	r.pending = 0
	return r.cells, nil
}

// pos returns the Excel row number of the row last returned, as both record and line.
func (r *xlsxRows) pos() (record, line int) { return r.row, r.row }

// Close releases the worksheet stream.
func (r *xlsxRows) Close() error { return r.rc.Close() }

func (r *xlsxRows) fail(row, col int, err error) error {
	return &ParseError{Path: r.book.path, Sheet: r.sheet, Row: row, Column: col, Err: err}
}

// seekRow reads up to the next <row> element and sets pending to its number, or done at the
// end of the sheet data.
func (r *xlsxRows) seekRow() error {
	for {
		tok, err := r.dec.RawToken()
		if err == io.EOF {
			return r.fail(r.row+1, 0, errors.New("the worksheet ends before its data does"))
		}
		if err != nil {
			return r.fail(r.row+1, 0, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "sheetData":
				r.inData = true
			case "row":
				if !r.inData {
					continue
				}
				n := r.row + 1
				if v := xlsxAttr(t, "r"); v != "" {
					if n, err = strconv.Atoi(v); err != nil || n < 1 {
						return r.fail(r.row+1, 0, fmt.Errorf("bad row number %q", v))
					}
				}
				// A row past the last a worksheet has is refused whether it is numbered or
				// follows that row unnumbered: the rows a sheet may have bound the table built.
				if n > excelize.TotalRows {
					return r.fail(0, 0, fmt.Errorf("row %d is after row %d, the last a worksheet has; %s", n, excelize.TotalRows, xlsxTooBig))
				}
				if n <= r.row {
					return r.fail(n, 0, fmt.Errorf("row %d comes after row %d", n, r.row))
				}
				r.pending = n
				return nil
			}
		case xml.EndElement:
			if t.Name.Local == "sheetData" {
				r.done = true
				return nil
			}
		}
	}
}

// xlsxCellState is what has been read of one <c> element.
type xlsxCellState struct {
	typ          string // the t attribute
	style        int    // the s attribute
	formula      bool   // an <f> element
	inF          bool
	fFrom, fTo   int  // the <f> text in buf
	hasV, hasIS  bool // a <v> or <is> element
	vFrom, vTo   int  // the <v> text in buf
	isFrom, isTo int  // the <is> text in buf
	inV, inIS    bool
	inT          bool // inside a <t> of the <is> that is not phonetic
	phonetic     int  // depth of <rPh> elements
}

// readRow reads the cells of the pending row up to its </row>.
func (r *xlsxRows) readRow() error {
	r.col = -1
	var c xlsxCellState
	inCell := false
	for {
		tok, err := r.dec.RawToken()
		if err == io.EOF {
			err = errors.New("the worksheet ends inside a row")
		}
		if err != nil {
			return r.fail(r.row, r.col+1, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "c":
				col, err := r.startCell(t, &c)
				if err != nil {
					return r.fail(r.row, 0, err)
				}
				r.col, inCell = col, true
			case "f":
				if inCell {
					c.formula, c.inF, c.fFrom = true, true, len(r.buf)
					c.fTo = c.fFrom
				}
			case "v":
				if inCell {
					c.inV, c.hasV, c.vFrom = true, true, len(r.buf)
					c.vTo = c.vFrom
				}
			case "is":
				if inCell {
					c.inIS, c.hasIS, c.isFrom = true, true, len(r.buf)
					c.isTo = c.isFrom
				}
			case "rPh":
				c.phonetic++
			case "t":
				c.inT = c.inIS && c.phonetic == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "c":
				if inCell {
					if err := r.endCell(&c); err != nil {
						return r.fail(r.row, r.col+1, err)
					}
				}
				inCell = false
			case "v":
				if c.inV {
					c.inV, c.vTo = false, len(r.buf)
				}
			case "f":
				if c.inF {
					c.inF, c.fTo = false, len(r.buf)
				}
			case "is":
				if c.inIS {
					c.inIS, c.isTo = false, len(r.buf)
				}
			case "rPh":
				c.phonetic--
			case "t":
				c.inT = false
			case "row":
				return nil
			case "sheetData":
				return r.fail(r.row, 0, errors.New("a row is not closed"))
			}
		case xml.CharData:
			if c.inV || c.inT || c.inF {
				r.buf = append(r.buf, t...)
			}
		}
	}
}

// startCell reads the attributes of a <c> element and returns its column.
func (r *xlsxRows) startCell(t xml.StartElement, c *xlsxCellState) (int, error) {
	*c = xlsxCellState{}
	col := r.col + 1
	for _, a := range t.Attr {
		switch a.Name.Local {
		case "r":
			x, _, err := excelize.CellNameToCoordinates(a.Value)
			switch {
			case errors.Is(err, excelize.ErrColumnNumber):
				return 0, fmt.Errorf("cell %s is after column %s, the last a worksheet has; %s", a.Value, columnName(excelize.MaxColumns), xlsxTooBig)
			case errors.Is(err, excelize.ErrMaxRows):
				return 0, fmt.Errorf("cell %s is after row %d, the last a worksheet has; %s", a.Value, excelize.TotalRows, xlsxTooBig)
			case err != nil:
				return 0, fmt.Errorf("bad cell reference %q", a.Value)
			}
			col = x - 1
		case "s":
			c.style, _ = strconv.Atoi(a.Value)
		case "t":
			c.typ = a.Value
		}
	}
	if col >= excelize.MaxColumns {
		return 0, fmt.Errorf("a cell after column %s, the last a worksheet has; %s", columnName(excelize.MaxColumns), xlsxTooBig)
	}
	return col, nil
}

// endCell decodes the value of the cell just read and stores it at its column.
func (r *xlsxRows) endCell(c *xlsxCellState) error {
	var x cell
	x.formula = c.formula && !constantFormula(r.buf[c.fFrom:c.fTo])
	v := r.buf[c.vFrom:c.vTo]
	switch {
	case c.hasIS && (c.typ == "inlineStr" || !c.hasV):
		x.kind, x.text = cellText, r.unescape(c.isFrom, c.isTo)
	case !c.hasV || len(v) == 0:
		// no value: empty, or a formula not yet calculated
	case c.typ == "s":
		i, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil {
			return fmt.Errorf("bad shared string index %q", v)
		}
		s, ok := r.book.sharedString(i)
		if !ok {
			return fmt.Errorf("shared string %d does not exist", i)
		}
		r.buf = r.buf[:c.vFrom]
		x.kind, x.text = cellText, s
	case c.typ == "str" || c.typ == "inlineStr":
		x.kind, x.text = cellText, r.unescape(c.vFrom, c.vTo)
	case c.typ == "b":
		x.kind, x.b = cellBool, string(v) == "1" || strings.EqualFold(string(v), "true")
		r.buf = strconv.AppendBool(r.buf[:c.vFrom], x.b)
		x.text = r.buf[c.vFrom:]
	case c.typ == "e":
		x.kind, x.text = cellError, v
	case c.typ == "d":
		if ms, ok := cache.ParseTime(string(bytes.TrimSpace(v))); ok {
			x.kind, x.ms = cellDate, ms
			r.buf = cache.AppendTime(r.buf[:c.vFrom], ms)
			x.text = r.buf[c.vFrom:]
		} else {
			x.kind, x.text = cellText, v
		}
	case c.typ == "n" || c.typ == "":
		v = bytes.TrimSpace(v)
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return fmt.Errorf("bad number %q", v)
		}
		if c.style >= 0 && c.style < len(r.book.dates) && r.book.dates[c.style] {
			if ms, ok := excelTimeToMillis(f, r.book.date1904); ok {
				x.kind, x.ms = cellDate, ms
				r.buf = cache.AppendTime(r.buf[:c.vFrom], ms)
				x.text = r.buf[c.vFrom:]
				break
			}
		}
		x.kind, x.num, x.text = cellNumber, f, v
	default:
		x.kind, x.text = cellText, v // an unknown type: keep what it shows
	}
	if x.kind == cellText && len(x.text) == 0 {
		x.kind = cellEmpty
	}
	if x.kind == cellEmpty && !x.formula {
		return nil
	}
	x.text = x.text[:len(x.text):len(x.text)] // so that appending to it cannot reach the next cell
	for len(r.cells) <= r.col {
		r.cells = append(r.cells, cell{})
	}
	r.cells[r.col] = x
	return nil
}

// unescape decodes the _xHHHH_ escapes of buf[from:to], which ends the buffer.
func (r *xlsxRows) unescape(from, to int) []byte {
	s := unescapeXLSX(r.buf[from:to])
	r.buf = r.buf[:from+len(s)]
	return s
}

// Excel serial numbers of the Unix epoch in the 1900 and 1904 date systems, and the largest
// serial Excel shows as a date (9999-12-31).
const (
	excelEpoch1900 = 25569
	excelEpoch1904 = 24107
	excelMaxSerial = 2958466
)

// excelTimeToMillis converts an Excel serial date to milliseconds since the Unix epoch, UTC. It
// keeps milliseconds (excelize.ExcelDateToTime rounds to seconds) and leaves the first two
// months of 1900, where Excel counts a 29 February that never was, to excelize.
func excelTimeToMillis(serial float64, date1904 bool) (int64, bool) {
	if serial < 0 || serial >= excelMaxSerial || math.IsNaN(serial) {
		return 0, false
	}
	if date1904 {
		return int64(math.Round((serial - excelEpoch1904) * 86400000)), true
	}
	if serial < 61 {
		t, err := excelize.ExcelDateToTime(serial, false)
		if err != nil {
			return 0, false
		}
		return t.Round(time.Millisecond).UnixMilli(), true
	}
	return int64(math.Round((serial - excelEpoch1900) * 86400000)), true
}

// millisToExcelTime converts milliseconds since the Unix epoch to an Excel serial date; ok is
// false before the workbook's date system begins (1900-03-01 is the first day this handles in
// the 1900 system, as the days before it are off by one in Excel).
func millisToExcelTime(ms int64, date1904 bool) (float64, bool) {
	epoch := float64(excelEpoch1900)
	if date1904 {
		epoch = excelEpoch1904
	}
	serial := epoch + float64(ms)/86400000
	if serial < 0 || serial >= excelMaxSerial || !date1904 && serial < 61 {
		return 0, false
	}
	return serial, true
}

// constantFormula reports whether a formula is only a constant that a spreadsheet writes as a
// formula: LibreOffice saves every boolean cell as =TRUE() or =FALSE(). Such a cell holds data a
// person typed, not a computed value, so its field stays writable.
func constantFormula(f []byte) bool {
	switch strings.ToUpper(strings.TrimSpace(string(f))) {
	case "TRUE()", "FALSE()", "TRUE", "FALSE":
		return true
	}
	return false
}
