package ingest

import "github.com/sheetsync/sheetsync/cache"

// cellPatch sets one cell of a table when its file is written back. Cells are addressed
// physically: record is the CSV record number from 0 (the header is usually record 0) or the
// XLSX row number from 1; col is the column from 0. A patch beyond a row's last cell pads the
// row with empty cells.
type cellPatch struct {
	record int
	col    int
	value  cache.Value
}
