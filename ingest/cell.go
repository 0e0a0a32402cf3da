package ingest

// cellKind says what a decoder knows about a cell. CSV knows only text; XLSX cells carry
// their spreadsheet type.
type cellKind uint8

const (
	cellEmpty   cellKind = iota
	cellText             // text whose type is inferred (number, boolean, datetime or text)
	cellLiteral          // text that stays text whatever it looks like (a CSV cell written '=1+1)
	cellNumber           // a typed number cell (XLSX); text holds its raw form, num its value
	cellBool             // a typed boolean cell (XLSX); b holds it
	cellDate             // a number cell with a date format (XLSX); ms holds it, text its ISO form
	cellError            // an error value such as #DIV/0! (XLSX); text holds it
)

// cell is one decoded cell. text is only valid until the reader's next call.
type cell struct {
	kind    cellKind
	text    []byte
	num     float64
	ms      int64
	b       bool
	formula bool // the cell holds a formula; the other fields hold its cached value
}

// rowReader yields the rows of one table (a CSV file or one worksheet), in file order, empty
// rows included. Cells are indexed by column from 0; a row may be shorter or longer than others.
type rowReader interface {
	// next returns the next row, valid until the following call, or io.EOF after the last.
	next() ([]cell, error)
	// pos returns where the row last returned starts: its physical index (CSV record number
	// from 0; XLSX row number from 1) and the line a person would look at (CSV line, XLSX row).
	pos() (record, line int)
}
