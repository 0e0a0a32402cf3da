package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// csvCases lists the fixture folders under testdata/csv.
func csvCases(tb testing.TB) []string {
	tb.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "csv", "*"))
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no CSV fixtures: %v", err)
	}
	return dirs
}

// TestCSVRead decodes every fixture and compares a dump of its dialect, records and cells
// with records.golden.
func TestCSVRead(t *testing.T) {
	for _, dir := range csvCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			path := filepath.Join(dir, "input.csv")
			r, err := openCSV(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := dumpCSV(t, r, readUTF8(t, path))
			checkGolden(t, filepath.Join(dir, "records.golden"), got)
		})
	}
}

// TestCSVReadSmallBuffer reads every fixture one byte at a time through a tiny buffer, so that
// records, quotes, CRLF pairs and escapes are cut at every possible place, and checks that the
// result is what a whole read gives.
func TestCSVReadSmallBuffer(t *testing.T) {
	for _, dir := range csvCases(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			path := filepath.Join(dir, "input.csv")
			data := readUTF8(t, path)
			whole, err := newCSVReader(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			want := dumpCSV(t, whole, data)

			r := &csvReader{rd: iotest.OneByteReader(bytes.NewReader(data)), buf: make([]byte, 4)}
			if err := r.init(); err != nil {
				t.Fatal(err)
			}
			r.setComma(whole.d.comma) // 4 bytes are too few to sniff from
			r.d.crlf = whole.d.crlf
			if got := dumpCSV(t, r, data); got != want {
				t.Errorf("small buffer:\n%s\nwhole:\n%s", got, want)
			}
		})
	}
}

// FuzzCSVReader checks, for any input, that the raw records and spans describe the input
// exactly (dumpCSV checks that) and that a tiny buffer fed one byte at a time reads what a
// whole read does.
func FuzzCSVReader(f *testing.F) {
	for _, dir := range csvCases(f) {
		f.Add(readUTF8(f, filepath.Join(dir, "input.csv")))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, err := newCSVReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := dumpCSV(t, whole, data)
		r := &csvReader{rd: iotest.OneByteReader(bytes.NewReader(data)), buf: make([]byte, 4)}
		if err := r.init(); err != nil {
			t.Fatal(err)
		}
		r.setComma(whole.d.comma)
		r.d.crlf = whole.d.crlf
		if got := dumpCSV(t, r, data); got != want {
			t.Errorf("small buffer:\n%s\nwhole:\n%s", got, want)
		}
	})
}

func TestCSVReadErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		max   int // record size limit, when not the default
		want  *ParseError
	}{
		{name: "Unterminated", input: "a,b\n1,\"x\n", want: &ParseError{Row: 2, Column: 2, Err: errUnterminatedQuote}},
		{name: "UnterminatedAfterQuotedLines", input: "a,b\n\"1\n2\",\"x,y\nz\n", want: &ParseError{Row: 3, Column: 2, Err: errUnterminatedQuote}},
		{name: "UnterminatedFirstField", input: "\"", want: &ParseError{Row: 1, Column: 1, Err: errUnterminatedQuote}},
		{name: "TooLarge", input: "a,b\n1," + strings.Repeat("x", 200) + "\n", max: 100, want: &ParseError{Row: 2, Err: errRecordTooLarge}},
		{name: "TooLargeQuoted", input: "a,b\n1,\"" + strings.Repeat("x\n", 100) + "\"\n", max: 100, want: &ParseError{Row: 2, Err: errRecordTooLarge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &csvReader{rd: strings.NewReader(tt.input), buf: make([]byte, 16), max: tt.max}
			if err := r.init(); err != nil {
				t.Fatal(err)
			}
			var err error
			for err == nil {
				_, err = r.next()
			}
			var got *ParseError
			if !errors.As(err, &got) {
				t.Fatalf("error %v, want a *ParseError", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error %#v, want %#v", got, tt.want)
			}
		})
	}

	t.Run("File", func(t *testing.T) {
		path := filepath.Join("testdata", "csv", "unterminated", "input.csv")
		r, err := openCSV(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for err == nil {
			_, err = r.next()
		}
		want := &ParseError{Path: path, Row: 3, Column: 2, Err: errUnterminatedQuote}
		var got *ParseError
		if !errors.As(err, &got) || !reflect.DeepEqual(got, want) {
			t.Errorf("error %#v, want %#v", err, want)
		}
		if msg := want.Error(); msg != path+" row 3 column B: opening quote has no closing quote" {
			t.Errorf("message %q", msg)
		}
	})
}

func TestCSVSniff(t *testing.T) {
	tests := []struct {
		name  string
		input string
		comma byte
		crlf  bool
	}{
		{name: "Comma", input: "a,b,c\n1,2,3\n", comma: ','},
		{name: "Semicolon", input: "a;b;c\n1;2;3\n", comma: ';'},
		{name: "Tab", input: "a\tb\n1\t2\n", comma: '\t'},
		{name: "SingleColumn", input: "a\n1\n2\n", comma: ','},
		{name: "Empty", input: "", comma: ','},
		{name: "DecimalComma", input: "a;b\n1,5;2,5\n3,5;4\n", comma: ';'},
		{name: "CommaInsideQuotes", input: "a;b\n\"1,2,3,4\";x\n\"5,6,7,8\";y\n", comma: ';'},
		{name: "SemicolonsInText", input: "a,b,c\nx;y,2,3\n4,5,6\n", comma: ','},
		{name: "TieMoreFields", input: "a,b;c,d\n", comma: ','},
		{name: "TieOrder", input: "a,b;c\n", comma: ','},
		{name: "TieOrderTab", input: "a;b\tc\n", comma: ';'},
		{name: "BlankLinesIgnored", input: "\n\na;b\n\n1;2\n", comma: ';'},
		{name: "CRLF", input: "a,b\r\n1,2\n", comma: ',', crlf: true},
		{name: "FirstEndingLF", input: "a,b\n1,2\r\n", comma: ','},
		{name: "CRLFInsideQuotesIgnored", input: "a,\"x\r\ny\"\n1,2\r\n", comma: ','},
		{name: "LoneCR", input: "a,b\r1,2\r", comma: ','},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newCSVReader(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			got := r.dialect()
			want := csvDialect{comma: tt.comma, crlf: tt.crlf}
			if got != want {
				t.Errorf("dialect %+v, want %+v", got, want)
			}
		})
	}
}

// TestCSVSniffLimit checks that only the first 50 records decide the delimiter.
func TestCSVSniffLimit(t *testing.T) {
	input := strings.Repeat("a;b\n", 50) + strings.Repeat("a,b,c\n", 100)
	r, err := newCSVReader(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.dialect().comma; got != ';' {
		t.Errorf("comma %q, want ';'", got)
	}
}

// TestCSVLongFile reads a file larger than the buffer, so that records straddle refills.
func TestCSVLongFile(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,note\r\n")
	const n = 50000
	for i := range n {
		if i%7 == 0 {
			fmt.Fprintf(&b, "%d,\"quoted, \"\"%d\"\"\nline\"\r\n", i, i)
		} else {
			fmt.Fprintf(&b, "%d,plain %d\r\n", i, i)
		}
	}
	r, err := newCSVReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !r.dialect().crlf {
		t.Errorf("dialect %+v, want crlf", r.dialect())
	}
	line := 2
	for i := -1; ; i++ {
		cells, err := r.next()
		if err == io.EOF {
			if i != n {
				t.Fatalf("%d records, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i < 0 {
			continue
		}
		want := fmt.Sprintf("plain %d", i)
		if i%7 == 0 {
			want = fmt.Sprintf("quoted, \"%d\"\nline", i)
		}
		record, l := r.pos()
		if len(cells) != 2 || string(cells[1].text) != want || record != i+1 || l != line {
			t.Fatalf("record %d line %d: %q, want record %d line %d: %q", record, l, csvCellTexts(cells), i+1, line, want)
		}
		line++
		if i%7 == 0 {
			line++
		}
	}
}

func TestIsUTF8(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{name: "ASCII", input: "a,b\n1,2\n", want: true},
		{name: "Empty", input: "", want: true},
		{name: "TwoByte", input: "caf\u00e9,na\u00efve\n", want: true},
		{name: "FourByte", input: "x\U0001F600y\U0001F600", want: true},
		{name: "Latin1", input: "caf\xe9\n", want: false},
		{name: "TruncatedAtEnd", input: "abc\xe2\x82", want: false},
		{name: "Windows1252Quote", input: "\x93hi\x94", want: false},
	}
	for _, tt := range tests {
		for _, size := range []int{4, 5, 1 << 10} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, size), func(t *testing.T) {
				got, err := isUTF8(iotest.OneByteReader(strings.NewReader(tt.input)), make([]byte, size))
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("isUTF8(%q) = %v, want %v", tt.input, got, tt.want)
				}
			})
		}
	}
}

// TestCP1252 checks that every byte decodes, to what charmap.Windows1252 says where it defines
// the byte, and encodes back, so that a copy of any such file is exact.
func TestCP1252(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	dec, _, err := transform.Bytes(cp1252Decoder{}, all)
	if err != nil {
		t.Fatal(err)
	}
	want, err := charmap.Windows1252.NewDecoder().Bytes(all)
	if err != nil {
		t.Fatal(err)
	}
	want = bytes.ReplaceAll(want, []byte("\uFFFD"), nil)
	if got := bytes.Map(func(r rune) rune {
		if r == 0x81 || r == 0x8D || r == 0x8F || r == 0x90 || r == 0x9D {
			return -1
		}
		return r
	}, dec); !bytes.Equal(got, want) {
		t.Errorf("decoded %q, want %q", got, want)
	}
	enc, _, err := transform.Bytes(cp1252Encoder{}, dec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, all) {
		t.Errorf("round trip %x, want %x", enc, all)
	}
	for _, s := range []string{"\u0100", "\uFFFD", "\U0001F600", "\xff"} {
		if _, _, err := transform.Bytes(cp1252Encoder{}, []byte(s)); !errors.Is(err, errNot1252) {
			t.Errorf("encode %q: error %v, want errNot1252", s, err)
		}
	}
}

// readUTF8 returns the content of a fixture as the reader sees it: transcoded to UTF-8 when
// it is not valid UTF-8.
func readUTF8(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if ok, _ := isUTF8(bytes.NewReader(data), make([]byte, 64)); !ok {
		if data, _, err = transform.Bytes(cp1252Decoder{}, data); err != nil {
			tb.Fatal(err)
		}
	}
	return data
}

// dumpCSV reads r to the end and renders its dialect, every record with its position and
// cells, and the error that stopped it, one line each. It also checks that raw and spans
// describe data exactly: the raw records, after the BOM, concatenate to data; fields are
// separated by single delimiters and followed by nothing but the terminator.
func dumpCSV(tb testing.TB, r *csvReader, data []byte) string {
	tb.Helper()
	var b strings.Builder
	d := r.dialect()
	charset := "utf-8"
	if d.charset == csvWindows1252 {
		charset = "windows-1252"
	}
	fmt.Fprintf(&b, "dialect: comma=%q bom=%v crlf=%v charset=%s\n", d.comma, d.bom, d.crlf, charset)
	var raws []byte
	if d.bom {
		raws = append(raws, utf8BOM...)
	}
	for {
		cells, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintf(&b, "error: %v\n", err)
			return b.String()
		}
		record, line := r.pos()
		fmt.Fprintf(&b, "record %d line %d:", record, line)
		if len(cells) == 0 {
			b.WriteString(" (blank)")
		}
		for i, c := range cells {
			if i > 0 {
				b.WriteString(" |")
			}
			switch c.kind {
			case cellEmpty:
				b.WriteString(" empty")
			case cellText:
				fmt.Fprintf(&b, " %q", c.text)
			case cellLiteral:
				fmt.Fprintf(&b, " literal %q", c.text)
			default:
				fmt.Fprintf(&b, " kind %d %q", c.kind, c.text)
			}
		}
		b.WriteString("\n")

		raw, spans := r.raw(), r.spans()
		if len(spans) != len(cells) {
			tb.Errorf("record %d: %d spans for %d cells", record, len(spans), len(cells))
		}
		end := 0
		for i, s := range spans {
			if i > 0 && (s[0] != end+1 || raw[end] != d.comma) {
				tb.Errorf("record %d: span %v after %d in %q", record, s, end, raw)
			}
			end = s[1]
		}
		if strings.Trim(string(raw[end:]), "\r\n") != "" || len(raw[end:]) > 2 {
			tb.Errorf("record %d: %q after the last field of %q", record, raw[end:], raw)
		}
		raws = append(raws, raw...)
	}
	if !bytes.Equal(raws, data) {
		tb.Errorf("raw records:\n%q\nfile:\n%q", raws, data)
	}
	return b.String()
}

func csvCellTexts(cells []cell) []string {
	var s []string
	for _, c := range cells {
		s = append(s, string(c.text))
	}
	return s
}

func BenchmarkCSVReader(b *testing.B) {
	path, size := writeBenchCSV(b, false)
	benchmarkCSVReader(b, path, size)
}

// BenchmarkCSVReaderQuoted reads a file where every field is quoted, as some exporters write.
func BenchmarkCSVReaderQuoted(b *testing.B) {
	path, size := writeBenchCSV(b, true)
	benchmarkCSVReader(b, path, size)
}

func benchmarkCSVReader(b *testing.B, path string, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, err := openCSV(path)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			cells, err := r.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(cells)
		}
		r.Close()
		if n == 0 {
			b.Fatal("no cells")
		}
	}
}

// writeBenchCSV writes a CSV of about 20 MB with ten columns of the usual kinds to a temporary
// folder: about 190 bytes a row, as in DESIGN §6.
func writeBenchCSV(b *testing.B, quoteAll bool) (string, int64) {
	b.Helper()
	words := strings.Fields("the quick brown fox jumps over a lazy dog while seven small green " +
		"parrots sing about durable widgets and shiny gadgets in the warm evening light")
	categories := []string{"tools", "garden", "kitchen", "toys", "books", "office supplies"}
	var buf bytes.Buffer
	row := func(fields ...string) {
		for i, f := range fields {
			if i > 0 {
				buf.WriteByte(',')
			}
			if quoteAll {
				buf.WriteByte('"')
				buf.WriteString(f)
				buf.WriteByte('"')
			} else {
				buf.WriteString(f)
			}
		}
		buf.WriteByte('\n')
	}
	row("id", "name", "category", "price", "quantity", "active", "released", "sku", "description", "rating")
	seed := uint32(1)
	rnd := func() int {
		seed = seed*1664525 + 1013904223
		return int(seed >> 8)
	}
	for i := 0; buf.Len() < 20<<20; i++ {
		var sentence []string
		for range 9 + rnd()%4 {
			sentence = append(sentence, words[rnd()%len(words)])
		}
		row(
			fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", rnd(), rnd()&0xffff, rnd()&0xfff, rnd()&0xfff, i),
			fmt.Sprintf("Product %s %d", words[rnd()%len(words)], i),
			categories[rnd()%len(categories)],
			fmt.Sprintf("%d.%02d", rnd()%1000, rnd()%100),
			fmt.Sprint(rnd()%5000),
			fmt.Sprint(rnd()%2 == 0),
			fmt.Sprintf("20%02d-%02d-%02dT%02d:%02d:00Z", rnd()%25, 1+rnd()%12, 1+rnd()%28, rnd()%24, rnd()%60),
			fmt.Sprintf("SKU-%08d", rnd()%100000000),
			strings.Join(sentence, " "),
			fmt.Sprintf("%d.%d", rnd()%5, rnd()%10),
		)
	}
	path := filepath.Join(b.TempDir(), "bench.csv")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(buf.Len())
}

// TestCSVOffsets: every record's offset points at its first byte in the file, across buffer
// refills, quoted line breaks and a BOM.
func TestCSVOffsets(t *testing.T) {
	var file bytes.Buffer
	file.Write(utf8BOM)
	var want []int64
	for i := range 5000 {
		want = append(want, int64(file.Len()))
		if i%7 == 3 {
			fmt.Fprintf(&file, "\"multi\nline %d\",x\r\n", i)
		} else {
			fmt.Fprintf(&file, "row %d,%s\n", i, strings.Repeat("y", i%50))
		}
	}
	r, err := newCSVReader(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	r.buf = r.buf[:64] // refill often
	for i := 0; ; i++ {
		if _, err := r.next(); err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d records, want %d", i, len(want))
			}
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if got := r.offset(); got != want[i] {
			t.Fatalf("record %d at %d, want %d", i, got, want[i])
		}
		if !bytes.HasPrefix(file.Bytes()[r.offset():], r.raw()) {
			t.Fatalf("record %d: raw bytes are not at the offset", i)
		}
	}
}
