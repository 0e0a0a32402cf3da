package ingest

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenWorkbookLimit: excelize, which write-back and column changes use, refuses a workbook
// declaring more than the reader's limit to unzip (its default would allow 16 GB) without
// inflating it.
func TestOpenWorkbookLimit(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var deflated bytes.Buffer
	fw, _ := flate.NewWriter(&deflated, flate.BestCompression)
	fw.Write(bytes.Repeat([]byte("<row/>"), 1<<16))
	fw.Close()
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "xl/worksheets/sheet1.xml", Method: zip.Deflate,
		CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 3 << 30})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(deflated.Bytes())
	zw.Close()
	path := filepath.Join(t.TempDir(), "bomb.xlsx")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := openWorkbook(path)
	if err == nil {
		f.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "unzip size") {
		t.Fatalf("opening a workbook that declares 3 GiB to unzip: %v, want excelize's unzip size limit", err)
	}
}
