package ingest

import (
	"os"
	"path/filepath"
	"strings"
)

// leftoverTemps returns the temporary files that write-backs into dir left behind: a process
// killed mid-write (SIGKILL, a crash, a power cut) never reaches the rename or the cleanup
// (writeAtomic names them "."+file+".<digits>.tmp"). They are sheetsync's own partial
// copies, never a person's data, and hidden, so nothing else would ever remove them; each can
// be as big as the file.
func leftoverTemps(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.Type().IsRegular() && isOurTemp(e.Name()) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// isOurTemp reports whether name is one writeAtomic gives a temporary file of a CSV or XLSX
// file: ".<name>.<digits>.tmp".
func isOurTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	if rest, ok = strings.CutSuffix(rest, ".tmp"); !ok {
		return false
	}
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 || dot == len(rest)-1 {
		return false
	}
	for _, c := range rest[dot+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	switch strings.ToLower(filepath.Ext(rest[:dot])) {
	case ".csv", ".xlsx":
		return true
	}
	return false
}

// removeLeftoverTemps removes the temporary files of write-backs a stopped process did not
// finish. It runs when the folder opens, before this process writes anything, and only one
// process serves a folder (the folder lock, or the lease with --shared-dir), so none of them is
// a write in progress.
func (f *Folder) removeLeftoverTemps() {
	for _, path := range leftoverTemps(f.Dir) {
		if err := os.Remove(path); err != nil {
			f.logger().Warn("cannot remove the temporary file of an unfinished write", "file", path, "err", err)
			continue
		}
		f.logger().Info("removed the temporary file of a write that did not finish (the process stopped during it)", "file", path)
	}
}
