package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLeftoverTemps: only the temporary files write-backs make are found; a person's hidden
// files, lock files and look-alikes are not.
func TestLeftoverTemps(t *testing.T) {
	dir := t.TempDir()
	ours := []string{".products.csv.2264007628.tmp", ".Price List.XLSX.1.tmp", ".a.b.csv.42.tmp"}
	theirs := []string{".products.csv.tmp", ".products.csv.12a.tmp", ".notes.txt.123.tmp", "products.csv.123.tmp",
		".~lock.products.csv#", "~$stock.xlsx", ".products.csv.123.tmp.bak", "..123.tmp", ".csv.123.tmp", "products.csv"}
	for _, name := range append(slices.Clone(ours), theirs...) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".dir.csv.7.tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range leftoverTemps(dir) {
		got = append(got, filepath.Base(p))
	}
	slices.Sort(got)
	slices.Sort(ours)
	if !slices.Equal(got, ours) {
		t.Errorf("leftover temporary files: %q, want %q", got, ours)
	}
}
