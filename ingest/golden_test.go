package ingest

import (
	"flag"
	"os"
	"testing"
)

// update rewrites the golden files of this package's tests: go test ./ingest -update.
var update = flag.Bool("update", false, "rewrite golden files")

// checkGolden compares got with the golden file at path, rewriting the file first under -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
