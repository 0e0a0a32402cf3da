package ingest

import (
	"os"
	"time"
)

// statKey is what a stat call tells of a file's content without reading it: size and
// modification time, and where the system has them, the inode and change time. Size and time
// alone miss a file replaced by one of the same length and time (a sync client that keeps
// times, a coarse-grained file system); the replacement has another inode, and a write that
// sets the time back still moves the change time.
type statKey struct {
	size  int64
	mtime time.Time
	ino   uint64
	ctime int64 // ns since the epoch
}

func keyOf(fi os.FileInfo) statKey {
	k := statKey{size: fi.Size(), mtime: fi.ModTime()}
	k.ino, k.ctime = inodeAndCtime(fi)
	return k
}
