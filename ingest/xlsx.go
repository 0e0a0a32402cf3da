package ingest

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// Limits against hostile workbooks (zip bombs). A part may not declare or inflate to more than
// maxXLSXPartSize bytes, nor, once over xlsxRatioFloor bytes, to more than maxXLSXRatio times
// its compressed size.
const (
	maxXLSXPartSize = 2 << 30
	maxXLSXRatio    = 1000
	xlsxRatioFloor  = 16 << 20
)

// maxSharedStrings caps the shared-string table. A variable so that tests can lower it.
var maxSharedStrings = 10_000_000

// xlsxBook is an open workbook: its sheet list, which cell styles are dates, and the shared
// strings, read once; worksheets are streamed by rows.
type xlsxBook struct {
	path     string
	zr       *zip.ReadCloser
	parts    map[string]*zip.File // by lower-cased part name
	names    []string             // worksheet names, in workbook order
	sheetOf  map[string]string    // worksheet name -> part name
	date1904 bool
	dates    []bool   // by cellXfs index: the number format shows a date or time
	sst      []byte   // shared strings, back to back
	sstEnds  []uint32 // end of each shared string in sst
}

// openXLSX opens the workbook at path and reads what every worksheet needs: the sheet names and
// parts, the date system, which styles are dates and the shared strings. Every error is a
// *ParseError naming the file and what is wrong with it.
func openXLSX(path string) (*xlsxBook, error) {
	zr, err := zip.OpenReader(path)
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		var pathErr *fs.PathError
		switch {
		case errors.As(err, &pathErr):
			// the file itself could not be read
		case isOLEFile(path):
			err = errors.New("not an XLSX workbook: an encrypted workbook or an old .xls file")
		default:
			err = fmt.Errorf("not an XLSX workbook: %w", err)
		}
		return nil, &ParseError{Path: path, Err: err}
	}
	b := &xlsxBook{path: path, zr: zr, parts: make(map[string]*zip.File, len(zr.File)), sheetOf: map[string]string{}}
	if err := b.load(); err != nil {
		zr.Close()
		return nil, &ParseError{Path: path, Err: err}
	}
	return b, nil
}

// isOLEFile reports whether the file is an OLE compound document: a password-protected
// workbook or a pre-2007 .xls.
func isOLEFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [8]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
}

func (b *xlsxBook) load() error {
	for _, f := range b.zr.File {
		if err := checkXLSXPart(f); err != nil {
			return err
		}
		b.parts[strings.ToLower(strings.TrimPrefix(f.Name, "/"))] = f
	}
	if b.parts["xl/workbook.xml"] == nil {
		if b.parts["[content_types].xml"] == nil {
			return errors.New("not an XLSX workbook: the zip file holds no spreadsheet")
		}
		return errors.New("not an XLSX workbook: xl/workbook.xml is missing")
	}
	rels, err := b.readRels("xl/_rels/workbook.xml.rels")
	if err != nil {
		return err
	}
	if err := b.readWorkbook(rels); err != nil {
		return err
	}
	stylesPart, sstPart := "xl/styles.xml", "xl/sharedStrings.xml"
	for _, rel := range rels {
		switch {
		case strings.HasSuffix(rel.typ, "/styles"):
			stylesPart = rel.target
		case strings.HasSuffix(rel.typ, "/sharedStrings"):
			sstPart = rel.target
		}
	}
	if err := b.readStyles(stylesPart); err != nil {
		return err
	}
	return b.readSharedStrings(sstPart)
}

// checkXLSXPart refuses a part whose declared size is beyond the limits.
func checkXLSXPart(f *zip.File) error {
	size := f.UncompressedSize64
	if size > maxXLSXPartSize {
		return fmt.Errorf("part %s: uncompressed size %d bytes is over the limit of %d", f.Name, size, maxXLSXPartSize)
	}
	if size > xlsxRatioFloor && size/maxXLSXRatio > f.CompressedSize64 {
		return fmt.Errorf("part %s: compressed %d bytes to %d, a ratio over %d:1", f.Name, f.CompressedSize64, size, maxXLSXRatio)
	}
	return nil
}

// open opens a part by name (case-insensitively); ok is false when there is none. The reader
// errors when the part inflates beyond the limits, whatever its header declares.
func (b *xlsxBook) open(name string) (rc io.ReadCloser, ok bool, err error) {
	f := b.parts[strings.ToLower(name)]
	if f == nil {
		return nil, false, nil
	}
	r, err := f.Open()
	if err != nil {
		return nil, true, fmt.Errorf("part %s: %w", f.Name, err)
	}
	limit := int64(maxXLSXPartSize)
	if f.CompressedSize64 < maxXLSXPartSize/maxXLSXRatio {
		limit = max(int64(f.CompressedSize64)*maxXLSXRatio, xlsxRatioFloor)
	}
	return &limitedPart{r: r, left: limit, name: f.Name}, true, nil
}

// limitedPart reads a zip part and fails once more than left bytes come out of it.
type limitedPart struct {
	r    io.ReadCloser
	left int64
	name string
}

func (l *limitedPart) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return 0, fmt.Errorf("part %s: inflates beyond the size limit", l.name)
	}
	l.left -= int64(n)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("part %s: %w", l.name, err)
	}
	return n, err
}

func (l *limitedPart) Close() error { return l.r.Close() }

func newXLSXDecoder(r io.Reader) *xml.Decoder {
	d := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	d.CharsetReader = func(label string, input io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("unsupported XML encoding %q", label)
	}
	return d
}

// xlsxRel is one relationship of the workbook part.
type xlsxRel struct {
	typ, target string
}

func (b *xlsxBook) readRels(name string) (map[string]xlsxRel, error) {
	rc, ok, err := b.open(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("not an XLSX workbook: %s is missing", name)
	}
	defer rc.Close()
	rels := map[string]xlsxRel{}
	d := newXLSXDecoder(rc)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return rels, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "Relationship" {
			continue
		}
		if xlsxAttr(se, "TargetMode") == "External" {
			continue // a link outside the package, not a part
		}
		id, target := xlsxAttr(se, "Id"), xlsxAttr(se, "Target")
		rels[id] = xlsxRel{typ: xlsxAttr(se, "Type"), target: xlsxPartName(target)}
	}
}

// xlsxPartName resolves a relationship target of the workbook part: relative to xl/, or absolute
// from the package root.
func xlsxPartName(target string) string {
	if strings.HasPrefix(target, "/") {
		return strings.TrimPrefix(path.Clean(target), "/")
	}
	return path.Join("xl", target)
}

func (b *xlsxBook) readWorkbook(rels map[string]xlsxRel) error {
	rc, _, err := b.open("xl/workbook.xml")
	if err != nil {
		return err
	}
	defer rc.Close()
	d := newXLSXDecoder(rc)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("xl/workbook.xml: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "workbookPr":
			if v := xlsxAttr(se, "date1904"); v == "1" || strings.EqualFold(v, "true") {
				b.date1904 = true
			}
		case "sheet":
			name, id := xlsxAttr(se, "name"), ""
			for _, a := range se.Attr {
				if a.Name.Local == "id" && a.Name.Space != "" {
					id = a.Value
				}
			}
			rel, ok := rels[id]
			if !ok {
				return fmt.Errorf("sheet %q: no relationship %q in the workbook", name, id)
			}
			if !strings.HasSuffix(rel.typ, "/worksheet") {
				continue // a chart sheet or macro sheet: no cells to serve
			}
			if b.parts[strings.ToLower(rel.target)] == nil {
				return fmt.Errorf("sheet %q: its part %s is missing", name, rel.target)
			}
			if _, dup := b.sheetOf[name]; dup {
				return fmt.Errorf("sheet %q appears twice in the workbook", name)
			}
			b.names = append(b.names, name)
			b.sheetOf[name] = rel.target
		}
	}
	if len(b.names) == 0 {
		return errors.New("workbook has no sheets")
	}
	return nil
}

func xlsxAttr(se xml.StartElement, local string) string {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// readStyles notes, for each cell format (cellXfs), whether its number format is a date or time.
func (b *xlsxBook) readStyles(name string) error {
	rc, ok, err := b.open(name)
	if err != nil || !ok {
		return err
	}
	defer rc.Close()
	custom := map[int]bool{} // custom number format id -> is a date
	var xfs []int            // numFmtId of each cellXfs entry
	var inNumFmts, inCellXfs bool
	d := newXLSXDecoder(rc)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "numFmts":
				inNumFmts = true
			case "cellXfs":
				inCellXfs = true
			case "numFmt":
				if !inNumFmts {
					continue // a differential format's, not a cell's
				}
				id, err := strconv.Atoi(xlsxAttr(t, "numFmtId"))
				if err != nil {
					continue
				}
				code := xlsxAttr(t, "formatCode")
				if c16 := xlsxAttr(t, "formatCode16"); c16 != "" {
					code = c16
				}
				custom[id] = isDateFormatCode(code)
			case "xf":
				if !inCellXfs {
					continue
				}
				if len(xfs) >= excelize.MaxCellStyles {
					return fmt.Errorf("%s: more than %d cell formats", name, excelize.MaxCellStyles)
				}
				id, err := strconv.Atoi(xlsxAttr(t, "numFmtId"))
				if err != nil {
					id = 0
				}
				xfs = append(xfs, id)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "numFmts":
				inNumFmts = false
			case "cellXfs":
				inCellXfs = false
			}
		}
	}
	b.dates = make([]bool, len(xfs))
	for i, id := range xfs {
		if date, ok := custom[id]; ok {
			b.dates[i] = date
		} else {
			b.dates[i] = isDateNumFmtID(id)
		}
	}
	return nil
}

// isDateNumFmtID reports whether a built-in number format shows a date or time.
func isDateNumFmtID(id int) bool {
	return 14 <= id && id <= 22 || 27 <= id && id <= 36 || 45 <= id && id <= 47 || 50 <= id && id <= 58
}

// isDateFormatCode reports whether a number format code shows a date or time: whether it holds
// y, m, d, h or s outside quoted text, escaped characters and brackets ([Red], [$-409]); an
// elapsed-time bracket such as [h] or [mm] counts as time.
func isDateFormatCode(code string) bool {
	if strings.EqualFold(strings.TrimSpace(code), "general") {
		return false
	}
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			j := strings.IndexByte(code[i+1:], '"')
			if j < 0 {
				return false
			}
			i += j + 1
		case '\\', '_', '*':
			i++ // the next character is literal, a space width or a fill
		case '[':
			j := strings.IndexByte(code[i+1:], ']')
			if j < 0 {
				return false
			}
			inner := code[i+1 : i+1+j]
			if inner != "" && strings.Trim(inner, "hHmMsS") == "" {
				return true
			}
			i += j + 1
		case 'y', 'Y', 'm', 'M', 'd', 'D', 'h', 'H', 's', 'S':
			return true
		}
	}
	return false
}

// readSharedStrings loads the shared-string table: each item's plain text or rich-text runs,
// without phonetic runs.
func (b *xlsxBook) readSharedStrings(name string) error {
	rc, ok, err := b.open(name)
	if err != nil || !ok {
		return err
	}
	defer rc.Close()
	d := newXLSXDecoder(rc)
	var start, phonetic int
	var inT bool
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "sst":
				n, _ := strconv.Atoi(xlsxAttr(t, "uniqueCount"))
				if n > maxSharedStrings {
					return fmt.Errorf("%s: %d shared strings, over the limit of %d", name, n, maxSharedStrings)
				}
				b.sstEnds = make([]uint32, 0, min(max(n, 0), 1<<20))
			case "si":
				if len(b.sstEnds) >= maxSharedStrings {
					return fmt.Errorf("%s: more than %d shared strings", name, maxSharedStrings)
				}
				start, phonetic, inT = len(b.sst), 0, false
			case "rPh":
				phonetic++
			case "t":
				inT = phonetic == 0
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "si":
				b.sst = b.sst[:start+len(unescapeXLSX(b.sst[start:]))]
				b.sstEnds = append(b.sstEnds, uint32(len(b.sst)))
			case "rPh":
				phonetic--
			case "t":
				inT = false
			}
		case xml.CharData:
			if inT {
				b.sst = append(b.sst, t...)
			}
		}
	}
}

// sharedString returns shared string i, capped so that appending to it cannot overwrite the next.
func (b *xlsxBook) sharedString(i int) ([]byte, bool) {
	if i < 0 || i >= len(b.sstEnds) {
		return nil, false
	}
	var from uint32
	if i > 0 {
		from = b.sstEnds[i-1]
	}
	to := b.sstEnds[i]
	return b.sst[from:to:to], true
}

// unescapeXLSX decodes, in place, the _xHHHH_ escapes with which spreadsheets store characters
// XML cannot carry (_x000D_ is a carriage return; _x005F_ is a literal underscore, so that
// _x005F_x000D_ reads as the text _x000D_).
func unescapeXLSX(s []byte) []byte {
	i := bytes.Index(s, []byte("_x"))
	if i < 0 {
		return s
	}
	out := s[:i]
	for i < len(s) {
		u, ok := xlsxEscape(s[i:])
		if !ok {
			out = append(out, s[i])
			i++
			continue
		}
		i += 7
		r := rune(u)
		if utf16.IsSurrogate(r) {
			r = utf8.RuneError
			if u2, ok := xlsxEscape(s[i:]); ok && u < 0xdc00 {
				if pair := utf16.DecodeRune(rune(u), rune(u2)); pair != utf8.RuneError {
					r = pair
					i += 7
				}
			}
		}
		out = utf8.AppendRune(out, r)
	}
	return out
}

// xlsxEscape decodes an _xHHHH_ escape at the start of s.
func xlsxEscape(s []byte) (uint16, bool) {
	if len(s) < 7 || s[0] != '_' || s[1] != 'x' || s[6] != '_' {
		return 0, false
	}
	var u uint16
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			u = u<<4 | uint16(c-'0')
		case 'a' <= c && c <= 'f':
			u = u<<4 | uint16(c-'a'+10)
		case 'A' <= c && c <= 'F':
			u = u<<4 | uint16(c-'A'+10)
		default:
			return 0, false
		}
	}
	return u, true
}

// sheets returns the worksheet names in workbook order.
func (b *xlsxBook) sheets() []string { return b.names }

// Close releases the workbook file.
func (b *xlsxBook) Close() error { return b.zr.Close() }

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
					if n, err = strconv.Atoi(v); err != nil || n < 1 || n > excelize.TotalRows {
						return r.fail(r.row+1, 0, fmt.Errorf("bad row number %q", v))
					}
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
	hasV, hasIS  bool   // a <v> or <is> element
	vFrom, vTo   int    // the <v> text in buf
	isFrom, isTo int    // the <is> text in buf
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
				c.formula = inCell
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
			if c.inV || c.inT {
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
			if err != nil {
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
		return 0, fmt.Errorf("a cell beyond column %s", columnName(excelize.MaxColumns))
	}
	return col, nil
}

// endCell decodes the value of the cell just read and stores it at its column.
func (r *xlsxRows) endCell(c *xlsxCellState) error {
	var x cell
	x.formula = c.formula
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
