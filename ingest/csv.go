package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/text/transform"
)

// csvCharset is the character encoding of a CSV file.
type csvCharset uint8

const (
	csvUTF8        csvCharset = iota
	csvWindows1252            // what Excel on Windows writes for "CSV"
)

// csvDialect is how a CSV file is written, so that it can be written back the same way.
type csvDialect struct {
	comma   byte // ',' ';' or '\t', sniffed
	bom     bool // the file starts with a UTF-8 BOM
	crlf    bool // records end with CRLF (decided by the first line ending seen; default LF)
	charset csvCharset
}

const (
	csvBufSize      = 1 << 20   // the read buffer; it grows while one record is larger
	csvMinBufSize   = 64 << 10  // the buffer of a small file, enough to sniff from
	csvSniffSize    = 64 << 10  // how much of the file the dialect is sniffed from
	csvSniffRecords = 50        // how many records the delimiter is sniffed from
	csvMaxRecord    = 256 << 20 // the largest record read
)

var (
	errUnterminatedQuote = errors.New("opening quote has no closing quote")
	errRecordTooLarge    = errors.New("record is too large (over 256 MiB)")
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// csvReader decodes CSV records (RFC 4180, leniently) into cells. It reads through one large
// buffer and returns cells whose text points into it, so that a record costs no allocation.
type csvReader struct {
	rd   io.Reader
	file *os.File // closed by Close; nil when the caller owns rd
	path string   // for errors; empty when unknown
	d    csvDialect
	max  int // largest record, csvMaxRecord but for tests

	buf        []byte
	start, end int   // unread data is buf[start:end]
	shifted    int64 // bytes of the input dropped from the front of buf
	eof        bool

	// the record last returned
	cells            []cell
	spanv            [][2]int
	scratch          []byte // unescaped text of quoted fields
	rawStart, rawEnd int
	record, line     int

	nextLine int       // line where the next record starts
	term     byte      // the byte the fast path looks for to end a record: '\n' or '\r'
	special  [256]bool // bytes that end an unquoted field: the delimiter, CR, LF
}

var _ rowReader = (*csvReader)(nil)

// openCSV opens path for reading. It decides the charset first: a file that is not valid UTF-8
// is read as Windows-1252 (what Excel on Windows writes for "CSV"), transcoded to UTF-8. Then it
// sniffs the dialect. The whole file is read once to decide the charset, since a single é near
// the end decides it as surely as one at the start.
func openCSV(path string) (*csvReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	size := csvBufSize
	if fi, err := f.Stat(); err == nil && fi.Size() < int64(size) {
		size = max(int(fi.Size())+1, csvMinBufSize)
	}
	buf := make([]byte, size)
	ok, err := isUTF8(f, buf)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var rd io.Reader = f
	charset := csvUTF8
	if !ok {
		rd = transform.NewReader(f, cp1252Decoder{})
		charset = csvWindows1252
	}
	r := &csvReader{rd: rd, file: f, path: path, buf: buf}
	if err := r.init(); err != nil {
		f.Close()
		return nil, err
	}
	r.d.charset = charset
	return r, nil
}

// newCSVReader reads UTF-8 CSV from rd. It sniffs the dialect from the first 64 KiB.
func newCSVReader(rd io.Reader) (*csvReader, error) {
	r := &csvReader{rd: rd, buf: make([]byte, csvBufSize)}
	if err := r.init(); err != nil {
		return nil, err
	}
	return r, nil
}

// init peeks at the start of the input, strips a BOM and sniffs the dialect.
func (r *csvReader) init() error {
	if r.max == 0 {
		r.max = csvMaxRecord
	}
	r.record, r.nextLine = -1, 1
	for !r.eof && r.end < csvSniffSize && r.end < len(r.buf) {
		if err := r.read(); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(r.buf[:r.end], utf8BOM) {
		r.d.bom = true
		r.start = len(utf8BOM)
	}
	peek := r.buf[r.start:min(r.end, r.start+csvSniffSize)]
	complete := r.eof && r.start+csvSniffSize >= r.end
	comma, term := sniffCSV(peek, complete)
	r.setComma(comma)
	r.d.crlf, r.term = term == "\r\n", '\n'
	if term == "\r" {
		r.term = '\r'
	}
	return nil
}

// setComma sets the delimiter.
func (r *csvReader) setComma(c byte) {
	r.special[r.d.comma] = false
	r.d.comma = c
	r.special[c] = true
	r.special['\r'] = true
	r.special['\n'] = true
}

// Close closes the file that openCSV opened.
func (r *csvReader) Close() error {
	if r.file == nil {
		return nil
	}
	return r.file.Close()
}

func (r *csvReader) dialect() csvDialect { return r.d }

// offset returns where the record last returned starts in the input, in bytes (the file's bytes
// for UTF-8 input, its BOM included).
func (r *csvReader) offset() int64 { return r.shifted + int64(r.rawStart) }

// newCSVRegionReader reads the records of b, a run of whole records cut from a file of dialect d,
// without sniffing: the incremental path reads only the records of a file that changed.
func newCSVRegionReader(b []byte, d csvDialect) *csvReader {
	r := &csvReader{buf: b, end: len(b), eof: true, max: csvMaxRecord, record: -1, nextLine: 1, term: '\n'}
	r.d = d
	r.setComma(d.comma)
	return r
}

// pos returns the index of the record last returned, from 0, and the 1-based line it starts on.
func (r *csvReader) pos() (record, line int) { return r.record, r.line }

// raw returns the exact bytes of the record last returned by next, its line terminator
// included (as UTF-8 after transcoding, and without the BOM). It is valid until the next call.
func (r *csvReader) raw() []byte { return r.buf[r.rawStart:r.rawEnd] }

// spans gives each field's byte range within raw, quotes included. It is valid until the next
// call.
func (r *csvReader) spans() [][2]int { return r.spanv }

// next returns the cells of the next record, or io.EOF after the last. A blank line is a record
// of no cells.
func (r *csvReader) next() ([]cell, error) {
	for {
		ok, err := r.parse()
		if err != nil {
			return nil, err
		}
		if ok {
			return r.cells, nil
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

// parse decodes the record at buf[start:]. It returns false and no error when the buffer ends
// before the record does.
func (r *csvReader) parse() (bool, error) {
	data := r.buf[r.start:r.end]
	if len(data) == 0 {
		if r.eof {
			return false, io.EOF
		}
		return false, nil
	}
	if r.parseFast(data) {
		return true, nil
	}
	return r.parseSlow(data)
}

// parseFast decodes a record that is one line without quotes, the common case, with a few
// vectorised byte searches. It returns false when the record needs parseSlow.
func (r *csvReader) parseFast(data []byte) bool {
	n := bytes.IndexByte(data, r.term)
	var line []byte
	switch {
	case n >= 0 && r.term == '\n':
		line = data[:n]
		n++
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return false
		}
	case n >= 0: // '\r'
		if n+1 >= len(data) || data[n+1] == '\n' {
			return false // maybe CRLF: let parseSlow decide, and switch to '\n'
		}
		line = data[:n]
		n++
		if bytes.IndexByte(line, '\n') >= 0 {
			return false
		}
	case r.eof:
		line = data
		n = len(data)
		if bytes.IndexByte(line, '\r') >= 0 || bytes.IndexByte(line, '\n') >= 0 {
			return false
		}
	default:
		return false
	}
	if bytes.IndexByte(line, '"') >= 0 {
		return false
	}
	r.cells, r.spanv = r.cells[:cap(r.cells)], r.spanv[:cap(r.spanv)]
	k := 0
	if len(line) > 0 {
		comma := r.d.comma
		for p := 0; ; k++ {
			e := len(line)
			i := bytes.IndexByte(line[p:], comma)
			if i >= 0 {
				e = p + i
			}
			if k == len(r.cells) {
				r.grow()
			}
			setCSVCell(&r.cells[k], line[p:e])
			r.spanv[k] = [2]int{p, e}
			if i < 0 {
				k++
				break
			}
			p = e + 1
		}
	}
	r.cells, r.spanv = r.cells[:k], r.spanv[:k]
	r.done(n, 1)
	return true
}

// parseSlow decodes any record: quoted fields, line breaks inside quotes, lone CRs.
func (r *csvReader) parseSlow(data []byte) (bool, error) {
	comma := r.d.comma
	r.cells, r.spanv = r.cells[:cap(r.cells)], r.spanv[:cap(r.spanv)]
	k := 0
	r.scratch = r.scratch[:0]
	breaks := 0 // line breaks inside quoted fields
	n := len(data)
	p := 0
	if data[0] != '\n' && data[0] != '\r' {
		for {
			fs := p
			var text []byte
			if p < n && data[p] == '"' {
				q, esc := p+1, false
				for {
					i := bytes.IndexByte(data[q:], '"')
					if i < 0 {
						if !r.eof {
							return false, nil
						}
						return false, &ParseError{Path: r.path, Row: r.nextLine + breaks, Column: k + 1, Err: errUnterminatedQuote}
					}
					q += i
					if q+1 < n && data[q+1] == '"' {
						esc = true
						q += 2
						continue
					}
					if q+1 == n && !r.eof {
						return false, nil // the next byte may be a second quote
					}
					break
				}
				text = data[p+1 : q]
				breaks += countBreaks(text)
				if esc {
					text = r.unescape(text)
				}
				p = q + 1
				if p < n && !r.special[data[p]] {
					// Lenient, as Python's csv: what follows the closing quote is data.
					e := p + 1
					for e < n && !r.special[data[e]] {
						e++
					}
					if !esc {
						text = r.keep(text)
					}
					off := len(r.scratch) - len(text)
					r.scratch = append(r.scratch, data[p:e]...)
					text = r.scratch[off:]
					p = e
				}
			} else {
				for p < n && !r.special[data[p]] {
					p++
				}
				text = data[fs:p]
			}
			if k == len(r.cells) {
				r.grow()
			}
			setCSVCell(&r.cells[k], text)
			r.spanv[k] = [2]int{fs, p}
			k++
			if p == n || data[p] != comma {
				break
			}
			p++
		}
	}
	r.cells, r.spanv = r.cells[:k], r.spanv[:k]
	if p == n {
		if !r.eof {
			return false, nil
		}
		r.done(n, breaks)
		return true, nil
	}
	if data[p] == '\n' {
		r.term = '\n'
		r.done(p+1, breaks+1)
		return true, nil
	}
	// '\r'
	if p+1 == n && !r.eof {
		return false, nil
	}
	if p+1 < n && data[p+1] == '\n' {
		r.term = '\n'
		r.done(p+2, breaks+1)
		return true, nil
	}
	r.term = '\r'
	r.done(p+1, breaks+1)
	return true, nil
}

// done consumes a record of n bytes that spans the given number of line breaks.
func (r *csvReader) done(n, breaks int) {
	r.rawStart, r.rawEnd = r.start, r.start+n
	r.start += n
	r.record++
	r.line = r.nextLine
	r.nextLine += breaks
}

// grow makes room for more cells and spans. Both always have the same capacity, and the
// parsers use them at full length.
func (r *csvReader) grow() {
	n := max(2*cap(r.cells), 16)
	cells, spans := make([]cell, n), make([][2]int, n)
	copy(cells, r.cells)
	copy(spans, r.spanv)
	r.cells, r.spanv = cells, spans
}

// unescape appends text with "" turned into " to the scratch buffer and returns that copy.
func (r *csvReader) unescape(text []byte) []byte {
	off := len(r.scratch)
	for {
		i := bytes.IndexByte(text, '"')
		if i < 0 {
			r.scratch = append(r.scratch, text...)
			return r.scratch[off:]
		}
		r.scratch = append(r.scratch, text[:i+1]...)
		text = text[i+2:]
	}
}

// keep copies text to the end of the scratch buffer.
func (r *csvReader) keep(text []byte) []byte {
	off := len(r.scratch)
	r.scratch = append(r.scratch, text...)
	return r.scratch[off:]
}

// fill moves the unfinished record to the front of the buffer, grows the buffer when the
// record fills it, and reads more.
func (r *csvReader) fill() error {
	if r.start > 0 {
		r.shifted += int64(r.start)
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.rawStart, r.rawEnd, r.start = 0, 0, 0
	}
	if r.end > r.max {
		return &ParseError{Path: r.path, Row: r.nextLine, Err: errRecordTooLarge}
	}
	if r.end == len(r.buf) {
		nb := make([]byte, min(2*len(r.buf), r.max+1))
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	return r.read()
}

// read fills the free end of the buffer, or reads to the end of the input. Filling it all
// matters when rd returns little at a time (a transcoder does): a record cut at the end of the
// buffer is parsed again after each read.
func (r *csvReader) read() error {
	n, err := io.ReadFull(r.rd, r.buf[r.end:])
	r.end += n
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		r.eof = true
		return nil
	}
	if err != nil && r.path != "" {
		return fmt.Errorf("read %s: %w", r.path, err)
	}
	return err
}

// setCSVCell sets c to the cell of one unquoted, unescaped field. DESIGN §7: an apostrophe
// before =, +, - or @ marks text that a spreadsheet must not run as a formula; it is dropped.
// So that any text round-trips, the first of several apostrophes before one of those is dropped
// too: the writer puts one more apostrophe in front of the text '=x. A CSV reader only ever
// sets kind and text, so the other fields stay zero.
func setCSVCell(c *cell, text []byte) {
	switch {
	case len(text) == 0:
		c.kind = cellEmpty
	case text[0] == '\'' && formulaAfterApostrophes(text):
		c.kind, text = cellLiteral, text[1:]
	default:
		c.kind = cellText
	}
	c.text = text
}

// formulaAfterApostrophes reports whether s is one or more apostrophes followed by a
// character that starts a formula.
func formulaAfterApostrophes[S ~string | ~[]byte](s S) bool {
	i := 0
	for i < len(s) && s[i] == '\'' {
		i++
	}
	return i > 0 && i < len(s) && isFormulaStart(s[i])
}

// isFormulaStart reports whether a cell starting with c could be run as a formula by a
// spreadsheet opening the CSV: = + - @, and a tab or carriage return before them (OWASP's CSV
// injection list), so such a text is written with a leading apostrophe.
func isFormulaStart(c byte) bool {
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r'
}

// countBreaks counts the line breaks in b: LF, CRLF and lone CR each count once.
func countBreaks(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if bytes.IndexByte(b, '\r') >= 0 {
		for i, c := range b {
			if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') {
				n++
			}
		}
	}
	return n
}
