package ingest

import "sync/atomic"

// Stats counts what the folder did since it opened, for metrics (a Prometheus scrape reads
// them; each is monotonic).
type Stats struct {
	FileChanges       uint64 // changes read from files and committed (a file loaded, edited, or a sheet dropped)
	ParseFailures     uint64 // reads of a file that failed (the file stays at its last good version)
	WriteBacks        uint64 // file writes of changes not read from the files (API writes, other replicas)
	WriteBackFailures uint64 // file writes that failed (retried)
	Adoptions         uint64 // files brought to another replica's version
}

// stats are the folder's counters.
type stats struct {
	fileChanges, parseFailures, writeBacks, writeBackFailures, adoptions atomic.Uint64
}

// Stats returns the folder's counters.
func (f *Folder) Stats() Stats {
	return Stats{
		FileChanges:       f.stats.fileChanges.Load(),
		ParseFailures:     f.stats.parseFailures.Load(),
		WriteBacks:        f.stats.writeBacks.Load(),
		WriteBackFailures: f.stats.writeBackFailures.Load(),
		Adoptions:         f.stats.adoptions.Load(),
	}
}
