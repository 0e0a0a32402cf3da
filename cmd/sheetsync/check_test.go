package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// runCheckCmd runs "sheetsync check args..." as main would.
func runCheckCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"check"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeCheckFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeCheckWorkbook writes a two-sheet workbook: Items (with a formula column) and Notes.
func writeCheckWorkbook(t *testing.T, path string) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.SetSheetName("Sheet1", "Items"))
	if _, err := f.NewSheet("Notes"); err != nil {
		t.Fatal(err)
	}
	must(f.SetSheetRow("Items", "A1", &[]any{"name", "qty", "double"}))
	must(f.SetSheetRow("Items", "A2", &[]any{"bolt", 2, 4}))
	must(f.SetCellFormula("Items", "C2", "B2*2"))
	must(f.SetSheetRow("Items", "A3", &[]any{"nut", 5, 10}))
	must(f.SetCellFormula("Items", "C3", "B3*2"))
	must(f.SetSheetRow("Notes", "A1", &[]any{"text", "done"}))
	must(f.SetSheetRow("Notes", "A2", &[]any{"order more", true}))
	must(f.SaveAs(path))
}

// fieldLine matches a field line of the text report: the key, then its type.
func fieldLine(key, typ string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(key) + ` +` + typ + `\b`)
}

func TestCheckGoodFiles(t *testing.T) {
	dir := t.TempDir()
	const content = "name,price,inStock,added\nfork,1.5,true,2024-05-01\nspoon,2,false,2024-05-02\n"
	csvPath := writeCheckFile(t, filepath.Join(dir, "cutlery.csv"), content)
	xlsxPath := filepath.Join(dir, "parts.xlsx")
	writeCheckWorkbook(t, xlsxPath)
	xlsxBefore, _ := os.ReadFile(xlsxPath)

	code, out, errOut := runCheckCmd(t, csvPath, xlsxPath)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"collection cutlery  (" + csvPath + ", 2 rows)",
		"collection parts  (" + xlsxPath + ` sheet "Items", 2 rows)`,
		"collection parts-Notes  (" + xlsxPath + ` sheet "Notes", 1 row)`,
		"3 collections, 5 rows, no problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, re := range []*regexp.Regexp{
		fieldLine("name", "text"), fieldLine("price", "number"), fieldLine("inStock", "boolean"),
		fieldLine("added", "datetime"), fieldLine("_id", "text"), fieldLine("qty", "number"),
		regexp.MustCompile(`(?m)^  double +number +read-only \(formulas\)$`), fieldLine("done", "boolean"),
	} {
		if !re.MatchString(out) {
			t.Errorf("output lacks a line matching %s:\n%s", re, out)
		}
	}
	// read-only: rows without _id get no ids written into the files
	if b, _ := os.ReadFile(csvPath); string(b) != content {
		t.Errorf("check changed %s:\n%s", csvPath, b)
	}
	if b, _ := os.ReadFile(xlsxPath); !bytes.Equal(b, xlsxBefore) {
		t.Errorf("check changed %s", xlsxPath)
	}

	// a folder stands for its spreadsheets, as serve reads them
	writeCheckFile(t, filepath.Join(dir, "notes.txt"), "not a spreadsheet")
	code, out, _ = runCheckCmd(t, dir)
	if code != 0 || !strings.Contains(out, "3 collections, 5 rows, no problems") {
		t.Errorf("check of the folder: exit %d\n%s", code, out)
	}
}

func TestCheckProblems(t *testing.T) {
	dir := t.TempDir()
	good := writeCheckFile(t, filepath.Join(dir, "good.csv"), "name\nfork\n")
	broken := writeCheckFile(t, filepath.Join(dir, "broken.csv"), "name,price\nfork,1\n\"spoon,2\nknife,3\n")
	dup := writeCheckFile(t, filepath.Join(dir, "dup.csv"), "name,_id\na,x1\nb,x2\nc,x1\n")

	code, out, errOut := runCheckCmd(t, good, broken, dup)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"collection good  (",
		"collection dup  (" + dup + ", 2 rows)",
		"problems:\n",
		broken + " row 3 column A: opening quote has no closing quote; the file is not served",
		dup + ` row 4 column B (_id): _id "x1" repeats row 2; this row is left out`,
		"2 collections, 3 rows, 2 problems",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "collection broken") {
		t.Errorf("an unreadable file is listed as a collection:\n%s", out)
	}

	code, out, _ = runCheckCmd(t, "--json", broken, dup)
	if code != 1 {
		t.Errorf("--json: exit %d, want 1", code)
	}
	var report checkReport
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if len(report.Collections) != 1 || report.Collections[0].Collection != "dup" || report.Collections[0].Rows != 2 {
		t.Errorf("--json collections: %+v", report.Collections)
	}
	if len(report.Problems) != 2 {
		t.Fatalf("--json problems: %+v", report.Problems)
	}
	if p := report.Problems[0]; p.File != broken || p.Row != 3 || p.Column != 1 || !p.Fatal {
		t.Errorf("--json unterminated quote: %+v", p)
	}
	if p := report.Problems[1]; p.File != dup || p.Row != 4 || p.Column != 2 || p.Field != "_id" || p.Fatal {
		t.Errorf("--json repeated _id: %+v", p)
	}
}

// TestCheckNameTaken: two files of one folder that map to one collection are reported, as
// serve reports them; the first by name is listed.
func TestCheckNameTaken(t *testing.T) {
	dir := t.TempDir()
	writeCheckFile(t, filepath.Join(dir, "a b.csv"), "x\n1\n")
	writeCheckFile(t, filepath.Join(dir, "a_b.csv"), "x\n2\n")
	code, out, _ := runCheckCmd(t, dir)
	if code != 1 || !strings.Contains(out, `a_b.csv: collection name "a_b" is already served from a b.csv; rename one of the files`) ||
		strings.Count(out, "collection a_b  (") != 1 {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestCheckUsage(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.csv")
	txt := writeCheckFile(t, filepath.Join(dir, "notes.txt"), "hello")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"NoArgs", nil, "name at least one file or folder"},
		{"Missing", []string{missing}, missing + ": no such file or folder"},
		{"NotASpreadsheet", []string{txt}, txt + ": not a .csv or .xlsx file"},
		{"EmptyFolder", []string{t.TempDir()}, "no .csv or .xlsx files in this folder"},
		{"BadFlag", []string{"--nope", dir}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCheckCmd(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) || out != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and %q", code, errOut, out, tt.want)
			}
		})
	}
}
