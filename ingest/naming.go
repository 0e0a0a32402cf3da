package ingest

import (
	"path/filepath"
	"strings"
)

// Format is a spreadsheet file format sheetsync reads.
type Format uint8

// The formats sheetsync publishes.
const (
	FormatCSV Format = iota + 1
	FormatXLSX
)

// FormatOf returns the format of a file that sheetsync publishes, judged by its name alone
// (DESIGN §3): *.csv and *.xlsx, any case. Hidden files and the lock, backup and temporary files
// editors leave behind (~$x.xlsx, .~lock.x.csv#, x.tmp, x~) are not published.
func FormatOf(name string) (Format, bool) {
	base := filepath.Base(name)
	if strings.HasPrefix(base, ".") || strings.HasPrefix(base, "~$") ||
		strings.HasSuffix(base, "~") || strings.HasSuffix(base, "#") ||
		strings.HasSuffix(strings.ToLower(base), ".tmp") {
		return 0, false
	}
	switch strings.ToLower(filepath.Ext(base)) {
	case ".csv":
		return FormatCSV, true
	case ".xlsx":
		return FormatXLSX, true
	}
	return 0, false
}

// CollectionName returns the collection a file's sheet is published as: the file name without
// its extension for a CSV file and a workbook's first sheet, <file>-<sheet> for the further
// sheets of a workbook. Every character outside A-Z a-z 0-9 _ - becomes _ (DESIGN §3), so a
// name can never reach outside the folder or confuse a URL.
func CollectionName(file, sheet string, first bool) string {
	base := filepath.Base(file)
	name := strings.TrimSuffix(base, filepath.Ext(base))
	if !first {
		name += "-" + sheet
	}
	return sanitizeName(name)
}

func sanitizeName(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s { // one _ per character, not per byte: "Café" is "Caf_"
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			out = append(out, byte(r))
		default:
			out = append(out, '_')
		}
	}
	return string(out)
}
