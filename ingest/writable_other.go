//go:build !linux

package ingest

import "os"

// canWrite checks that path exists and, for a file, that it opens for writing; a failed
// write-back reports the rest.
func canWrite(path string) error {
	fi, err := os.Stat(path)
	if err != nil || fi.IsDir() {
		return err
	}
	file, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	return file.Close()
}
