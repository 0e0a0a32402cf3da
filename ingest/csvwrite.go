package ingest

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sheetsync/sheetsync/cache"
	"golang.org/x/text/transform"
)

// writeCSVPatches rewrites the CSV file at path with patches applied, atomically. Records that
// no patch touches are copied byte for byte; a patched record keeps its untouched fields' raw
// bytes (quoting as it was) and its own line terminator; a patch past the end of a record pads
// it with empty fields, and a patch past the last record appends records (blank ones for any
// gap), ended like the file's last record. The output keeps the dialect: delimiter, BOM,
// charset and line endings. Patches are given in any order; when two set one cell, the later
// one wins.
//
// A Windows-1252 file stays Windows-1252 unless a patch holds a character that Windows-1252
// cannot encode: then the file is written as UTF-8 with a BOM, which Excel also reads, rather
// than lose the character.
func writeCSVPatches(path string, patches []cellPatch) (uint64, error) {
	ps := slices.Clone(patches)
	for _, p := range ps {
		if p.record < 0 || p.col < 0 {
			return 0, fmt.Errorf("write %s: no cell at record %d column %d", path, p.record, p.col)
		}
	}
	slices.SortStableFunc(ps, func(a, b cellPatch) int {
		return cmp.Or(cmp.Compare(a.record, b.record), cmp.Compare(a.col, b.col))
	})
	ps = lastPerCell(ps)

	r, err := openCSV(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	d := r.dialect()
	if d.charset == csvWindows1252 && !encodable1252(ps) {
		d.charset, d.bom = csvUTF8, true
	}
	edit := func(idx int, _ []cell) ([]cellPatch, bool) {
		j := 0
		for j < len(ps) && ps[j].record == idx {
			j++
		}
		mine := ps[:j]
		ps = ps[j:]
		return mine, false
	}
	tail := func(count int) [][]cellPatch {
		// patches past the last record append records, blank ones for any gap
		var rows [][]cellPatch
		for ; len(ps) > 0; count++ {
			j := 0
			for j < len(ps) && ps[j].record == count {
				j++
			}
			rows = append(rows, ps[:j])
			ps = ps[j:]
		}
		return rows
	}
	return writeFileAtomic(path, func(w io.Writer) error { return encodeCSV(w, r, d, edit, tail) })
}

// recordEdit says what to do with one record of a CSV being rewritten: the cells to set (by
// column, sorted) and whether to leave the record out. row is the record's decoded cells.
type recordEdit func(idx int, row []cell) (patches []cellPatch, drop bool)

// recordRewrite is the general form of a record's edit: the bytes to write in its place
// (terminator included), nil to copy it as it is, or drop to leave it out.
type recordRewrite func(idx int, row []cell, raw []byte, spans [][2]int) (out []byte, drop bool)

// encodeCSV copies r to w in dialect d (charset included), with edit applied to every record
// and the records tail gives (by column, given the count of records read) appended.
func encodeCSV(w io.Writer, r *csvReader, d csvDialect, edit recordEdit, tail func(count int) [][]cellPatch) error {
	var rec []byte
	rewrite := func(idx int, row []cell, raw []byte, spans [][2]int) ([]byte, bool) {
		ps, drop := edit(idx, row)
		if drop || len(ps) == 0 {
			return nil, drop
		}
		rec = patchCSVRecord(rec[:0], d, raw, spans, ps, nil)
		return rec, false
	}
	return encodeCSVWith(w, r, d, rewrite, tail)
}

// encodeCSVWith is encodeCSV with a record rewrite; tail may be nil.
func encodeCSVWith(w io.Writer, r *csvReader, d csvDialect, rewrite recordRewrite, tail func(count int) [][]cellPatch) error {
	var enc *transform.Writer
	if d.charset == csvWindows1252 {
		enc = transform.NewWriter(w, cp1252Encoder{})
		w = enc
	}
	if err := copyCSV(w, r, d, rewrite, tail); err != nil {
		return err
	}
	if enc != nil {
		return enc.Close()
	}
	return nil
}

// copyCSV writes every record of r to w, as rewrite says, then the records tail gives. Records
// rewrite leaves alone are copied byte for byte.
func copyCSV(w io.Writer, r *csvReader, d csvDialect, rewrite recordRewrite, tail func(count int) [][]cellPatch) error {
	if d.bom {
		if _, err := w.Write(utf8BOM); err != nil {
			return err
		}
	}
	var rec []byte
	term := "\n" // how the last record ended
	if d.crlf {
		term = "\r\n"
	}
	ended := true // the last record written has a terminator
	count := 0
	for {
		row, err := r.next()
		if err == io.EOF {
			break
		} else if err != nil {
			return err
		}
		idx, _ := r.pos()
		raw, spans := r.raw(), r.spans()
		count = idx + 1
		t := raw
		if len(spans) > 0 {
			t = raw[spans[len(spans)-1][1]:]
		}
		if len(t) > 0 {
			term = string(t)
		}
		out, drop := rewrite(idx, row, raw, spans)
		if drop {
			continue
		}
		if out == nil {
			out = raw
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
		ended = len(t) > 0
	}
	if tail == nil {
		return nil
	}
	for _, ps := range tail(count) {
		if !ended {
			if _, err := io.WriteString(w, term); err != nil {
				return err
			}
		}
		rec = rec[:0]
		if len(ps) > 0 {
			rec = patchCSVRecord(rec, d, nil, nil, ps, nil)
		}
		rec = append(rec, term...)
		if _, err := w.Write(rec); err != nil {
			return err
		}
		ended = true
	}
	return nil
}

// patchCSVRecord appends the record raw, whose fields are at spans, with ps (one record's
// patches, by column) applied and the columns of cut (sorted) left out, and its terminator.
func patchCSVRecord(b []byte, d csvDialect, raw []byte, spans [][2]int, ps []cellPatch, cut []int) []byte {
	width := len(spans)
	if len(ps) > 0 {
		width = max(width, ps[len(ps)-1].col+1)
	}
	first := true
	for col := range width {
		if len(cut) > 0 && cut[0] == col {
			cut = cut[1:]
			continue
		}
		if !first {
			b = append(b, d.comma)
		}
		first = false
		switch {
		case len(ps) > 0 && ps[0].col == col:
			b = appendCSVField(b, d, ps[0].value)
			ps = ps[1:]
		case col < len(spans):
			b = append(b, raw[spans[col][0]:spans[col][1]]...)
		}
	}
	if len(spans) > 0 {
		return append(b, raw[spans[len(spans)-1][1]:]...)
	}
	return append(b, raw...) // a blank line: raw is its terminator
}

// appendCSVField appends one value as a CSV field in dialect d: text as is, quoted (with ""
// escapes) only when it contains the delimiter, a quote, CR or LF, or starts or ends with a
// space; a text value starting with =, +, - or @ is written with a leading apostrophe (DESIGN
// §7) so no spreadsheet runs it as a formula, and so is one that starts with apostrophes
// followed by one of those, so that it reads back unchanged; numbers with cache.AppendNumber;
// booleans true/false; datetimes with cache.AppendTime (ISO 8601 UTC with milliseconds); null
// as an empty field.
func appendCSVField(b []byte, d csvDialect, v cache.Value) []byte {
	switch v.Kind() {
	case cache.KindNumber:
		return cache.AppendNumber(b, v.Num())
	case cache.KindBool:
		if v.Bool() {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case cache.KindTime:
		return cache.AppendTime(b, v.Millis())
	case cache.KindText:
	default:
		return b
	}
	s := v.Str()
	if s == "" {
		return b
	}
	quote := s[0] == ' ' || s[len(s)-1] == ' ' || strings.IndexByte(s, d.comma) >= 0 ||
		strings.ContainsAny(s, "\"\r\n")
	if quote {
		b = append(b, '"')
	}
	if isFormulaStart(s[0]) || formulaAfterApostrophes(s) {
		b = append(b, '\'')
	}
	if !quote {
		return append(b, s...)
	}
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

// lastPerCell drops all but the last of several patches to one cell; ps is sorted stably.
func lastPerCell(ps []cellPatch) []cellPatch {
	out := ps[:0]
	for i, p := range ps {
		if i+1 < len(ps) && ps[i+1].record == p.record && ps[i+1].col == p.col {
			continue
		}
		out = append(out, p)
	}
	return out
}

// encodable1252 reports whether every text of ps can be written in Windows-1252.
func encodable1252(ps []cellPatch) bool {
	for _, p := range ps {
		s := p.value.Str()
		for i := 0; i < len(s); {
			if s[i] < utf8.RuneSelf {
				i++
				continue
			}
			c, n := utf8.DecodeRuneInString(s[i:])
			if _, ok := encode1252(c); !ok {
				return false
			}
			i += n
		}
	}
	return true
}
