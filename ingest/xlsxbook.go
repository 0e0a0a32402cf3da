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
	"os"
	"path"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
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

// What a person can do about a workbook refused by a limit, said at the end of the problem: a
// workbook too big to read, or one no spreadsheet program writes (a zip bomb, a zip whose
// headers lie, parts named twice), which is damaged or crafted.
const (
	xlsxTooBig   = "split the data into smaller workbooks, or save it as CSV"
	xlsxNotSaved = "the file is damaged or was not saved by a spreadsheet program; open it in one and save it again"
)

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

// openWorkbook opens a workbook with excelize to change it (write-back, columns, sheets), with
// the same bound on what it may unzip as the reader has: a workbook that passed reading cannot
// make excelize inflate more than that either.
func openWorkbook(path string) (*excelize.File, error) {
	return excelize.OpenFile(path, excelize.Options{UnzipSizeLimit: maxXLSXPartSize})
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
		// Part names are case-insensitive, and excelize, which writes changes into the file,
		// reads a backslash as a slash: a name given twice would let it change one part while
		// this reader serves the other.
		name := strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/"))
		if b.parts[name] != nil {
			return fmt.Errorf("the zip holds part %s twice, so which to read is ambiguous; %s", f.Name, xlsxNotSaved)
		}
		b.parts[name] = f
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

// checkXLSXPart refuses a part whose declared size is beyond the limits. A declared size may
// be trusted as a bound: archive/zip fails a part that inflates beyond it (see limitedPart).
func checkXLSXPart(f *zip.File) error {
	size := f.UncompressedSize64
	if size > maxXLSXPartSize {
		return fmt.Errorf("part %s: uncompressed size %d bytes is over the limit of %d (2 GiB); %s", f.Name, size, maxXLSXPartSize, xlsxTooBig)
	}
	if size > xlsxRatioFloor && size/maxXLSXRatio > f.CompressedSize64 {
		return fmt.Errorf("part %s: compressed %d bytes to %d, a ratio over %d:1, as zip bombs are; %s", f.Name, f.CompressedSize64, size, maxXLSXRatio, xlsxNotSaved)
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
	return &limitedPart{r: r, left: limit, name: f.Name, declared: f.UncompressedSize64}, true, nil
}

// limitedPart reads a zip part and fails once more than left bytes come out of it, whatever
// the zip header declares. archive/zip already fails a part that inflates beyond its declared
// size, with zip.ErrFormat; limitedPart says what that means, and does not depend on it.
type limitedPart struct {
	r        io.ReadCloser
	left     int64
	name     string
	declared uint64 // the part's size as its zip header declares it
}

func (l *limitedPart) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return 0, &partError{msg: fmt.Sprintf("part %s: inflates beyond the size limit, as zip bombs do; %s", l.name, xlsxNotSaved)}
	}
	l.left -= int64(n)
	switch {
	case errors.Is(err, zip.ErrFormat):
		err = &partError{cause: err, msg: fmt.Sprintf("part %s: inflates to more than the %d bytes its zip header declares; %s", l.name, l.declared, xlsxNotSaved)}
	case err != nil && err != io.EOF:
		err = &partError{cause: err, msg: fmt.Sprintf("part %s: %v", l.name, err)}
	}
	return n, err
}

// partError is a part that could not be unzipped: its message names the part and says what is
// wrong plainly, and it wraps what archive/zip said, for errors.Is.
type partError struct {
	msg   string
	cause error
}

func (e *partError) Error() string { return e.msg }
func (e *partError) Unwrap() error { return e.cause }

// inPart names the part an error of reading it came from, unless the error names it already.
func inPart(name string, err error) error {
	if _, ok := errors.AsType[*partError](err); ok {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
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
			return nil, inPart(name, err)
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
			return inPart("xl/workbook.xml", err)
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
			return inPart(name, err)
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
	// The declared size bounds what the part yields (see checkXLSXPart), and an item takes at
	// least five bytes (<si/>): only a part that may hold too many is counted first.
	if f := b.parts[strings.ToLower(name)]; f != nil && f.UncompressedSize64/uint64(len("<si/>")) > uint64(maxSharedStrings) {
		if err := b.countSharedStrings(name); err != nil {
			return err
		}
	}
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
			return inPart(name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "sst":
				n, _ := strconv.Atoi(xlsxAttr(t, "uniqueCount"))
				if n > maxSharedStrings {
					return fmt.Errorf("%s: %d shared strings, over the limit of %d; %s", name, n, maxSharedStrings, xlsxTooBig)
				}
				b.sstEnds = make([]uint32, 0, min(max(n, 0), 1<<20))
			case "si":
				if len(b.sstEnds) >= maxSharedStrings {
					return tooManySharedStrings(name)
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

// tooManySharedStrings is the problem of a shared-string table over maxSharedStrings items,
// whether countSharedStrings or the decoder finds it.
func tooManySharedStrings(part string) error {
	return fmt.Errorf("%s: more than %d shared strings, the most a workbook may have; %s", part, maxSharedStrings, xlsxTooBig)
}

// countSharedStrings fails when the shared-string part holds more than maxSharedStrings items.
// It counts their start tags (<si>, prefixed or not) without decoding the XML: 20 million items
// of one letter pack into under a megabyte, and the decoder takes some 5 s to reach the limit,
// during which the file is neither served nor reported; the count takes a twentieth of that. It
// may count more only for markup no spreadsheet writes (an item tag inside a comment); a table
// it misses (a prefix over 60 bytes) is still stopped by readSharedStrings.
func (b *xlsxBook) countSharedStrings(name string) error {
	rc, _, err := b.open(name)
	if err != nil {
		return err
	}
	defer rc.Close()
	// the last keep bytes of each chunk are read again with the next, for a tag across the two
	const keep = 64
	buf := make([]byte, 1<<20)
	n, have, from := 0, 0, 0 // items counted; bytes in buf; where the search goes on
	for {
		m, err := io.ReadFull(rc, buf[have:])
		have += m
		end := have - len("si") // a tag at i needs the byte after "si"
		if err != nil {
			end++ // at the end of the part, none comes: "si" at have-2 is no tag
		}
		for i := from; i < end; i++ {
			j := bytes.Index(buf[i:have], []byte("si"))
			if j < 0 || i+j >= end {
				break
			}
			i += j
			if isItemTag(buf[:have], i) {
				if n++; n > maxSharedStrings {
					return tooManySharedStrings(name)
				}
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return inPart(name, err)
		}
		tail := min(keep, have)
		copy(buf, buf[have-tail:have])
		from, have = max(0, end-(have-tail)), tail
	}
}

// isItemTag reports whether the "si" at data[i] is the name of a start tag: <si or <x:si,
// followed by >, / or white space.
func isItemTag(data []byte, i int) bool {
	if i+2 >= len(data) || !strings.ContainsRune("> /\t\r\n", rune(data[i+2])) || i == 0 {
		return false
	}
	switch data[i-1] {
	case '<':
		return true
	case ':':
		for j := i - 2; j >= 0 && i-j < 64; j-- { // the prefix, back to its <
			switch c := data[j]; {
			case c == '<':
				return j < i-2
			case c == '>' || c == '/' || c == '"' || c == '\'' || c <= ' ':
				return false
			}
		}
	}
	return false
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
