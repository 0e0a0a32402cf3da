package replica_test

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sheetsync/sheetsync/cache/replica"
)

var update = flag.Bool("update", false, "rewrite the golden messages of the current wire version")

// TestGolden keeps a few messages of each wire version in testdata/wire/v<N>. Every build must
// decode them to the changes they were made from: the log may still hold them (a replica
// reads every version up to its own). And while N is the version EncodeChange writes, encoding
// the changes must give the same bytes: a test failing here means the format changed, which
// needs a new version (docs/wire-format.md, "Versions"), not a rewritten golden file.
func TestGolden(t *testing.T) {
	names := map[string]bool{"insert": true, "update with nulls": true, "remove": true, "drop": true,
		"schema": true, "replace": true, "truncate and insert": true}
	dir := filepath.Join("testdata", "wire", "v1")
	for _, tt := range roundTripCases(t) {
		if !names[tt.name] {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".hex")
			if *update && replica.WireVersion == 1 {
				b, err := replica.EncodeChange(tt.cs)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(hexLines(b)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got, err := replica.DecodeChange(want)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffChange(got, tt.cs); d != "" {
				t.Fatal(d)
			}
			if replica.WireVersion != 1 {
				return
			}
			b, err := replica.EncodeChange(tt.cs)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != string(want) {
				t.Fatalf("encoding changed:\n%s\nwant\n%s", hexLines(b), text)
			}
		})
	}
}

// hexLines writes b as hex, 32 bytes a line, so that a golden file reads in a diff.
func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}
