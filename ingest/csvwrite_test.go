package ingest

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sheetsync/sheetsync/cache"
)

// TestCSVWriteCopy checks that writing a fixture without patches reproduces it byte for byte.
func TestCSVWriteCopy(t *testing.T) {
	for _, dir := range csvCases(t) {
		if filepath.Base(dir) == "unterminated" {
			continue
		}
		t.Run(filepath.Base(dir), func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "input.csv"))
			if err != nil {
				t.Fatal(err)
			}
			path := writeTempCSV(t, want)
			if _, err := writeCSVPatches(path, nil); err != nil {
				t.Fatal(err)
			}
			if got := readCSVFile(t, path); !bytes.Equal(got, want) {
				t.Errorf("copy:\n%q\nwant:\n%q", got, want)
			}
		})
	}
}

func TestCSVWritePatches(t *testing.T) {
	text := cache.Text
	tests := []struct {
		name    string
		input   string
		patches []cellPatch
		want    string
	}{
		{
			name:    "AddColumnRightOfHeaderAndShortRows",
			input:   "a,b\n1,2\n3\n4,5,6\n",
			patches: []cellPatch{{0, 2, text("_id")}, {1, 2, text("x")}, {2, 2, text("y")}, {3, 2, text("z")}},
			want:    "a,b,_id\n1,2,x\n3,,y\n4,5,z\n",
		},
		{
			name:    "PadFarRight",
			input:   "a\n1\n",
			patches: []cellPatch{{1, 3, text("d")}},
			want:    "a\n1,,,d\n",
		},
		{
			name:    "QuotedRowKeepsQuoting",
			input:   "id,name,note\n1,\"Smith, John\",\"He said \"\"hi\"\"\"\n",
			patches: []cellPatch{{1, 0, cache.Number(7)}},
			want:    "id,name,note\n7,\"Smith, John\",\"He said \"\"hi\"\"\"\n",
		},
		{
			name:    "QuotedFieldReplaced",
			input:   "id,name,note\n1,\"Smith, John\",\"He said \"\"hi\"\"\"\n2,\"x\"\n",
			patches: []cellPatch{{1, 1, text("Doe")}, {2, 2, text("new")}},
			want:    "id,name,note\n1,Doe,\"He said \"\"hi\"\"\"\n2,\"x\",new\n",
		},
		{
			name:    "QuotedMultiline",
			input:   "a,b\n\"x\ny\",1\n2,3\n",
			patches: []cellPatch{{1, 1, text("one")}, {2, 0, text("two\nlines")}},
			want:    "a,b\n\"x\ny\",one\n\"two\nlines\",3\n",
		},
		{
			name:    "CRLF",
			input:   "a,b\r\n1,2\r\n3,4\r\n",
			patches: []cellPatch{{1, 1, text("x\r\ny")}, {2, 2, text("z")}},
			want:    "a,b\r\n1,\"x\r\ny\"\r\n3,4,z\r\n",
		},
		{
			name:    "MixedLineEndingsKeptPerRecord",
			input:   "a,b\r\n1,2\n3,4\r\n",
			patches: []cellPatch{{1, 0, text("x")}, {2, 0, text("y")}},
			want:    "a,b\r\nx,2\ny,4\r\n",
		},
		{
			name:    "LoneCR",
			input:   "a,b\r1,2\r",
			patches: []cellPatch{{1, 2, text("x")}, {2, 0, text("3")}},
			want:    "a,b\r1,2,x\r3\r",
		},
		{
			name:    "BOM",
			input:   "\xef\xbb\xbfid,name\n1,Caf\xc3\xa9\n",
			patches: []cellPatch{{0, 0, text("ID")}, {1, 1, text("Th\u00e9")}},
			want:    "\xef\xbb\xbfID,name\n1,Th\xc3\xa9\n",
		},
		{
			name:    "Semicolon",
			input:   "a;b\n1,5;2\n",
			patches: []cellPatch{{1, 1, text("x;y")}, {1, 2, cache.Number(2.5)}},
			want:    "a;b\n1,5;\"x;y\";2.5\n",
		},
		{
			name:    "Tab",
			input:   "a\tb\n1\t2\n",
			patches: []cellPatch{{1, 1, text("x\ty, z")}},
			want:    "a\tb\n1\t\"x\ty, z\"\n",
		},
		{
			name:    "NoFinalTerminator",
			input:   "a,b\n1,2",
			patches: []cellPatch{{1, 3, text("z")}},
			want:    "a,b\n1,2,,z",
		},
		{
			name:    "AnyOrderSeveralPerRecord",
			input:   "a,b,c\n1,2,3\n4,5,6\n",
			patches: []cellPatch{{2, 2, text("f")}, {1, 1, text("b")}, {1, 0, text("a")}, {2, 0, text("d")}},
			want:    "a,b,c\na,b,3\nd,5,f\n",
		},
		{
			name:    "SameCellLaterWins",
			input:   "a,b\n1,2\n",
			patches: []cellPatch{{1, 1, text("first")}, {1, 1, text("second")}},
			want:    "a,b\n1,second\n",
		},
		{
			name:    "BlankLine",
			input:   "a,b\n\n1,2\n",
			patches: []cellPatch{{1, 1, text("x")}},
			want:    "a,b\n,x\n1,2\n",
		},
		{
			name:    "ClearCell",
			input:   "a,b\n1,\"two\"\n",
			patches: []cellPatch{{1, 1, cache.Null()}},
			want:    "a,b\n1,\n",
		},
		{
			name:    "AppendRecords",
			input:   "a,b\n1,2",
			patches: []cellPatch{{4, 1, text("5")}, {2, 0, text("3")}},
			want:    "a,b\n1,2\n3\n\n,5\n",
		},
		{
			name:    "AppendRecordsCRLF",
			input:   "a,b\r\n",
			patches: []cellPatch{{1, 0, text("1")}},
			want:    "a,b\r\n1\r\n",
		},
		{
			name:    "EmptyFile",
			input:   "",
			patches: []cellPatch{{0, 0, text("id")}, {0, 1, text("name")}},
			want:    "id,name\n",
		},
		{
			name:    "Formula",
			input:   "a,b\n1,2\n",
			patches: []cellPatch{{1, 0, text("=1+1")}, {1, 1, text("-5")}},
			want:    "a,b\n'=1+1,'-5\n",
		},
		{
			name: "Types",
			input: "a,b,c,d,e\n" +
				"1,2,3,4,5\n",
			patches: []cellPatch{
				{1, 0, cache.Number(-1.5)}, {1, 1, cache.Bool(true)}, {1, 2, cache.Time(1700000000123)},
				{1, 3, cache.Null()}, {1, 4, cache.Bool(false)},
			},
			want: "a,b,c,d,e\n-1.5,true,2023-11-14T22:13:20.123Z,,false\n",
		},
		{
			name:    "Windows1252",
			input:   "name,city\nRen\xe9e,Montr\xe9al\n\x93Q\x94,\x81\n",
			patches: []cellPatch{{1, 0, text("Zo\u00eb \u20ac")}},
			want:    "name,city\nZo\xeb \x80,Montr\xe9al\n\x93Q\x94,\x81\n",
		},
		{
			name:    "Windows1252BecomesUTF8",
			input:   "name,city\nRen\xe9e,Montr\xe9al\n",
			patches: []cellPatch{{1, 1, text("\u6771\u4eac")}},
			want:    "\xef\xbb\xbfname,city\nRen\xc3\xa9e,\xe6\x9d\xb1\xe4\xba\xac\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTempCSV(t, []byte(tt.input))
			before := append([]cellPatch(nil), tt.patches...)
			if _, err := writeCSVPatches(path, tt.patches); err != nil {
				t.Fatal(err)
			}
			if got := readCSVFile(t, path); string(got) != tt.want {
				t.Errorf("wrote:\n%q\nwant:\n%q", got, tt.want)
			}
			for i := range before {
				if tt.patches[i] != before[i] {
					t.Fatalf("patches reordered: %v", tt.patches)
				}
			}
		})
	}
}

func TestAppendCSVField(t *testing.T) {
	comma := csvDialect{comma: ','}
	semicolon := csvDialect{comma: ';'}
	tests := []struct {
		name string
		d    csvDialect
		v    cache.Value
		want string
	}{
		{"Null", comma, cache.Null(), ""},
		{"EmptyText", comma, cache.Text(""), ""},
		{"Text", comma, cache.Text("Widget"), "Widget"},
		{"Comma", comma, cache.Text("a,b"), `"a,b"`},
		{"CommaInSemicolonDialect", semicolon, cache.Text("a,b"), "a,b"},
		{"Semicolon", semicolon, cache.Text("a;b"), `"a;b"`},
		{"Quote", comma, cache.Text(`say "hi"`), `"say ""hi"""`},
		{"LF", comma, cache.Text("a\nb"), "\"a\nb\""},
		{"CR", comma, cache.Text("a\rb"), "\"a\rb\""},
		{"LeadingSpace", comma, cache.Text(" a"), `" a"`},
		{"TrailingSpace", comma, cache.Text("a "), `"a "`},
		{"InnerSpace", comma, cache.Text("a b"), "a b"},
		{"Equals", comma, cache.Text("=SUM(A1:A3)"), "'=SUM(A1:A3)"},
		{"Plus", comma, cache.Text("+33 1 23"), "'+33 1 23"},
		{"Minus", comma, cache.Text("-5"), "'-5"},
		{"At", comma, cache.Text("@user"), "'@user"},
		{"FormulaQuoted", comma, cache.Text("=a,b"), `"'=a,b"`},
		{"ApostropheFormula", comma, cache.Text("'=x"), "''=x"},
		{"ApostropheText", comma, cache.Text("'hello"), "'hello"},
		{"Apostrophe", comma, cache.Text("'"), "'"},
		{"NumberLooking", comma, cache.Text("00123"), "00123"},
		{"Number", comma, cache.Number(19.5), "19.5"},
		{"NegativeNumber", comma, cache.Number(-5), "-5"},
		{"BigNumber", comma, cache.Number(1e21), "1e+21"},
		{"True", comma, cache.Bool(true), "true"},
		{"False", comma, cache.Bool(false), "false"},
		{"Time", comma, cache.Time(0), "1970-01-01T00:00:00.000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendCSVField([]byte("x"), tt.d, tt.v))
			if got != "x"+tt.want {
				t.Errorf("appendCSVField(%v) = %q, want %q", tt.v, got[1:], tt.want)
			}
		})
	}
}

// TestCSVWriteReadBack writes texts that a spreadsheet would take for formulas, or that need
// quoting, and checks that the reader returns the same text, as a literal where it must be.
func TestCSVWriteReadBack(t *testing.T) {
	texts := []string{
		"=1+1", "+33", "-5", "@sum", "'=x", "''+y", "'", "'hello", "a,b", " x ", `"q"`, "=a,b",
		"line\nbreak", "cr\rhere", "crlf\r\nhere", "'@", "=", "caf\u00e9",
		"\t=1+2", "\r=1+2", "'\t@x",
	}
	for _, comma := range []byte{',', ';', '\t'} {
		t.Run(string(comma), func(t *testing.T) {
			input := []byte("h" + string(comma) + "i\n")
			patches := []cellPatch{}
			for i, s := range texts {
				patches = append(patches, cellPatch{i + 1, 0, cache.Text(s)}, cellPatch{i + 1, 1, cache.Text("after")})
			}
			path := writeTempCSV(t, input)
			if _, err := writeCSVPatches(path, patches); err != nil {
				t.Fatal(err)
			}
			r, err := openCSV(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.dialect().comma; got != comma {
				t.Fatalf("comma %q, want %q", got, comma)
			}
			for i := -1; ; i++ {
				cells, err := r.next()
				if err == io.EOF {
					if i != len(texts) {
						t.Errorf("%d records, want %d", i, len(texts))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if i < 0 {
					continue
				}
				want := texts[i]
				wantKind := cellText
				if isFormulaStart(want[0]) || formulaAfterApostrophes(want) {
					wantKind = cellLiteral
				}
				if len(cells) != 2 || string(cells[0].text) != want || cells[0].kind != wantKind || string(cells[1].text) != "after" {
					t.Errorf("record %d: %q kind %d, want %q kind %d", i+1, csvCellTexts(cells), cells[0].kind, want, wantKind)
				}
			}
		})
	}
}

// FuzzCSVField checks that any text, written as a field, reads back unchanged.
func FuzzCSVField(f *testing.F) {
	for _, s := range []string{"a", "=1", "'=1", "a,b", "\"", " x", "\r\n", "''@", "x\"y\"z"} {
		f.Add(s, byte(','))
	}
	f.Add("a;b", byte(';'))
	f.Add("a\tb", byte('\t'))
	f.Fuzz(func(t *testing.T, s string, comma byte) {
		if comma != ',' && comma != ';' && comma != '\t' {
			return
		}
		if s == "" {
			return // an empty text is an empty cell
		}
		d := csvDialect{comma: comma}
		line := appendCSVField(nil, d, cache.Text(s))
		line = append(line, comma)
		line = append(line, "end\n"...)
		r := &csvReader{rd: bytes.NewReader(line), buf: make([]byte, 64)}
		if err := r.init(); err != nil {
			t.Fatal(err)
		}
		r.setComma(comma)
		cells, err := r.next()
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(cells) != 2 || string(cells[0].text) != s || string(cells[1].text) != "end" {
			t.Errorf("%q read back as %q, want %q", line, csvCellTexts(cells), s)
		}
		if _, err := r.next(); err != io.EOF {
			t.Errorf("%q: more than one record: %v", line, err)
		}
	})
}

func TestCSVWriteFailure(t *testing.T) {
	t.Run("ErrReadOnlyFolder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root ignores folder permissions")
		}
		want := []byte("a,b\n1,2\n")
		path := writeTempCSV(t, want)
		dir := filepath.Dir(path)
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		if _, err := writeCSVPatches(path, []cellPatch{{1, 1, cache.Text("x")}}); err == nil {
			t.Fatal("no error writing into a read-only folder")
		}
		checkCSVUntouched(t, path, want)
	})

	t.Run("ErrParse", func(t *testing.T) {
		want := []byte("a,b\n1,\"open\n2,3\n")
		path := writeTempCSV(t, want)
		_, err := writeCSVPatches(path, []cellPatch{{0, 0, cache.Text("x")}})
		var perr *ParseError
		if !errors.As(err, &perr) {
			t.Fatalf("error %v, want a *ParseError", err)
		}
		if wantErr := (&ParseError{Path: path, Row: 2, Column: 2, Err: errUnterminatedQuote}); *perr != *wantErr {
			t.Errorf("error %#v, want %#v", perr, wantErr)
		}
		checkCSVUntouched(t, path, want)
	})

	t.Run("ErrNegativeColumn", func(t *testing.T) {
		want := []byte("a,b\n")
		path := writeTempCSV(t, want)
		if _, err := writeCSVPatches(path, []cellPatch{{0, -1, cache.Text("x")}}); err == nil {
			t.Fatal("no error for a negative column")
		}
		checkCSVUntouched(t, path, want)
	})

	t.Run("ErrMissingFile", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gone.csv")
		if _, err := writeCSVPatches(path, nil); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v, want os.ErrNotExist", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the file was created: %v", err)
		}
	})
}

// checkCSVUntouched fails unless path holds want and its folder holds nothing else.
func checkCSVUntouched(tb testing.TB, path string, want []byte) {
	tb.Helper()
	if got := readCSVFile(tb, path); !bytes.Equal(got, want) {
		tb.Errorf("file changed:\n%q\nwant:\n%q", got, want)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		tb.Errorf("folder holds %q, want only %s", names, filepath.Base(path))
	}
}

// writeTempCSV writes data to a CSV file in a new temporary folder and returns its path.
func writeTempCSV(tb testing.TB, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "table.csv")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func readCSVFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func BenchmarkCSVWrite(b *testing.B) {
	src, size := writeBenchCSV(b, false)
	data, err := os.ReadFile(src)
	if err != nil {
		b.Fatal(err)
	}
	path := writeTempCSV(b, data)
	patches := []cellPatch{{1, 1, cache.Text("patched")}, {5000, 10, cache.Text("new column")}}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := writeCSVPatches(path, patches); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWriteReturnsContentHash: the hash a write returns is the hash of the file it left, which
// is how the watcher tells sheetsync's own writes from a person's.
func TestWriteReturnsContentHash(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "a.csv")
	if err := os.WriteFile(csvPath, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := writeCSVPatches(csvPath, []cellPatch{{record: 1, col: 2, value: cache.Text("x")}})
	if err != nil {
		t.Fatal(err)
	}
	if want, err := hashFile(csvPath); err != nil || got != want {
		t.Errorf("writeCSVPatches returned %x, the file hashes to %x (%v)", got, want, err)
	}
}

// TestCSVFormulaInjection: a text a spreadsheet would run as a formula when it opens the CSV is
// written with a leading apostrophe: = + - @, and a tab or carriage return before them (OWASP's
// CSV injection list).
func TestCSVFormulaInjection(t *testing.T) {
	for in, want := range map[string]string{
		"=HYPERLINK(\"x\")": `"'=HYPERLINK(""x"")"`,
		"+cmd":              "'+cmd",
		"-2+3":              "'-2+3",
		"@SUM(A1)":          "'@SUM(A1)",
		"\t=1+2":            "'\t=1+2",
		"\r=1+2":            "\"'\r=1+2\"",
		"plain":             "plain",
	} {
		if got := string(appendCSVField(nil, csvDialect{comma: ','}, cache.Text(in))); got != want {
			t.Errorf("%q is written %q, want %q", in, got, want)
		}
	}
}
