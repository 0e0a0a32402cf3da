package ingest

import "syscall"

// canWrite asks the system whether this process may write path (a file or a folder).
func canWrite(path string) error {
	const wOK = 2
	return syscall.Access(path, wOK)
}
