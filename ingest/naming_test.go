package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFormatOf(t *testing.T) {
	tests := []struct {
		name string
		want Format
		ok   bool
	}{
		{"products.csv", FormatCSV, true},
		{"PRODUCTS.CSV", FormatCSV, true},
		{"Products.Csv", FormatCSV, true},
		{"inventory.xlsx", FormatXLSX, true},
		{"INVENTORY.XLSX", FormatXLSX, true},
		{"Inventory.xLsX", FormatXLSX, true},
		{"a.b.csv", FormatCSV, true},
		{"a b & c.csv", FormatCSV, true},
		{"Café.xlsx", FormatXLSX, true},
		{"x.tmp.csv", FormatCSV, true}, // a .tmp name is one that ends in .tmp
		{"/some/dir/products.csv", FormatCSV, true},
		{"dir.csv/products.xlsx", FormatXLSX, true},

		// editors' lock, backup and temporary files
		{"~$inventory.xlsx", 0, false},
		{"~$products.csv", 0, false},
		{".~lock.products.csv#", 0, false},
		{".~lock.inventory.xlsx#", 0, false},
		{"products.csv#", 0, false},
		{"products.tmp", 0, false},
		{"products.csv.tmp", 0, false},
		{"PRODUCTS.CSV.TMP", 0, false},
		{".products.csv.123456.tmp", 0, false}, // what writeFileAtomic leaves while writing
		{"products.csv~", 0, false},
		{"products~", 0, false},
		{"/dir/~$inventory.xlsx", 0, false},
		// hidden files
		{".hidden.csv", 0, false},
		{".x.xlsx", 0, false},
		{"/dir/.hidden.csv", 0, false},
		// not spreadsheets sheetsync reads
		{"inventory.xls", 0, false},
		{"inventory.xlsm", 0, false},
		{"products.csv.bak", 0, false},
		{"products.tsv", 0, false},
		{"products.txt", 0, false},
		{"products", 0, false},
		{"csv", 0, false},
		{"", 0, false},
		{".", 0, false},
		{"..", 0, false},
		{".csv", 0, false},
		{".xlsx", 0, false},
	}
	for _, tt := range tests {
		got, ok := FormatOf(tt.name)
		if got != tt.want || ok != tt.ok {
			t.Errorf("FormatOf(%q) = %v, %v, want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCollectionName(t *testing.T) {
	tests := []struct {
		file, sheet string
		first       bool
		want        string
	}{
		// a CSV file, or a workbook's first sheet: the file name
		{"products.csv", "", true, "products"},
		{"/data/products.csv", "", true, "products"},
		{"inventory.xlsx", "Sheet1", true, "inventory"},
		{"inventory.xlsx", "Staff & Crew", true, "inventory"},
		{"Products.CSV", "", true, "Products"},
		{"my-file_2.csv", "", true, "my-file_2"},
		{"a.b.csv", "", true, "a_b"},
		{"a b.csv", "", true, "a_b"},
		{"price list (2024).csv", "", true, "price_list__2024_"},
		// further sheets: <file>-<sheet>
		{"inventory.xlsx", "Sheet2", false, "inventory-Sheet2"},
		{"file.xlsx", "Staff & Crew", false, "file-Staff___Crew"},
		{"file.xlsx", "Q1/Q2", false, "file-Q1_Q2"},
		{"file.xlsx", "a.b", false, "file-a_b"},
		{"file.xlsx", "with-dash_under", false, "file-with-dash_under"},
		{"file.xlsx", "", false, "file-"},
		// one _ per character, not per byte
		{"Café.csv", "", true, "Caf_"},
		{"東京.xlsx", "", true, "__"},
		{"file.xlsx", "Prix €", false, "file-Prix__"},
		{"file.xlsx", "😀", false, "file-_"},
		{"ü.csv", "ß", false, "_-_"},
		{"bad\xff.csv", "", true, "bad_"}, // not UTF-8: one _ per bad byte
		// nothing can climb out of the folder or break a URL
		{"../x.csv", "", true, "x"},
		{"/a/b/../../etc/passwd.csv", "", true, "passwd"},
		{"file.xlsx", "../x", false, "file-___x"},
		{"file.xlsx", "..", false, "file-__"},
		{"file.xlsx", `..\..\x`, false, "file-______x"},
		{"file.xlsx", "a/b?c#d%e", false, "file-a_b_c_d_e"},
		{"file.xlsx", "tab\there", false, "file-tab_here"},
		{"file.xlsx", "new\nline", false, "file-new_line"},
		{"x\x00y.csv", "", true, "x_y"},
	}
	for _, tt := range tests {
		if got := CollectionName(tt.file, tt.sheet, tt.first); got != tt.want {
			t.Errorf("CollectionName(%q, %q, %v) = %q, want %q", tt.file, tt.sheet, tt.first, got, tt.want)
		}
	}
}

// FuzzCollectionName checks that any file and sheet name make a collection name of only
// A-Z a-z 0-9 _ -.
func FuzzCollectionName(f *testing.F) {
	f.Add("inventory.xlsx", "Staff & Crew", false)
	f.Add("../x.csv", "../../y", false)
	f.Add("Café.csv", "", true)
	f.Fuzz(func(t *testing.T, file, sheet string, first bool) {
		got := CollectionName(file, sheet, first)
		for i := 0; i < len(got); i++ {
			c := got[i]
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("CollectionName(%q, %q, %v) = %q holds %q", file, sheet, first, got, c)
			}
		}
	})
}

func TestSpreadsheets(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"b.csv", "a.xlsx", "C.CSV", "~$a.xlsx", ".~lock.b.csv#", ".hidden.csv", "x.tmp", "b.csv~",
		"old.xls", "b.csv.bak", "notes.txt",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, sub := range []string{"sub", "folder.csv", ".sheetsync"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, "inner.csv"), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// a link to a file counts; a link to a folder or to nothing does not
	if err := os.Symlink(filepath.Join(dir, "b.csv"), filepath.Join(dir, "link.csv")); err != nil {
		t.Skipf("no symbolic links here: %v", err)
	}
	if err := os.Symlink(filepath.Join(dir, "sub"), filepath.Join(dir, "dirlink.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "missing.csv"), filepath.Join(dir, "dangling.csv")); err != nil {
		t.Fatal(err)
	}

	got, err := Spreadsheets(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		if filepath.Dir(p) != dir {
			t.Errorf("Spreadsheets returned %s, outside %s", p, dir)
		}
		names = append(names, filepath.Base(p))
	}
	if want := []string{"C.CSV", "a.xlsx", "b.csv", "link.csv"}; !slices.Equal(names, want) {
		t.Errorf("Spreadsheets = %q, want %q", names, want)
	}

	if _, err := Spreadsheets(filepath.Join(dir, "nope")); err == nil {
		t.Errorf("Spreadsheets of a missing folder: no error")
	}
}
