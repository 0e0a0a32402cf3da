package ingest

import (
	"errors"
	"fmt"
	"strings"
)

// Problem is something wrong in a file that a person should fix: where it is, and what is
// wrong. Row and Column are 1-based and 0 when they do not apply. Problems do not stop a file
// from being served unless Fatal is set, in which case the collection keeps its last good
// version.
type Problem struct {
	Path    string
	Sheet   string
	Row     int
	Column  int
	Field   string
	Message string
	Fatal   bool
	// Todo is what to do about a problem that is not fixed in the file (a full disk, say); ""
	// when fixing the file is what to do.
	Todo string
}

// String renders the problem as one line: file, sheet, row, column, message.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Path)
	if p.Sheet != "" {
		fmt.Fprintf(&b, " sheet %q", p.Sheet)
	}
	if p.Row > 0 {
		fmt.Fprintf(&b, " row %d", p.Row)
	}
	if p.Column > 0 {
		fmt.Fprintf(&b, " column %s", columnName(p.Column))
	}
	if p.Field != "" {
		fmt.Fprintf(&b, " (%s)", p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}

// ParseError is a file that cannot be read at all: where reading stopped and why.
type ParseError struct {
	Path   string
	Sheet  string
	Row    int // 1-based line (CSV) or row (XLSX); 0 when unknown
	Column int // 1-based; 0 when unknown
	Err    error
}

func (e *ParseError) Error() string {
	p := Problem{Path: e.Path, Sheet: e.Sheet, Row: e.Row, Column: e.Column, Message: e.Err.Error()}
	return p.String()
}

func (e *ParseError) Unwrap() error { return e.Err }

// FileProblem is the problem of a file that cannot be read at all (err from LoadFile): where
// reading stopped, when err is a *ParseError, and why.
func FileProblem(path string, err error) Problem {
	if pe, ok := errors.AsType[*ParseError](err); ok {
		return Problem{Path: pe.Path, Sheet: pe.Sheet, Row: pe.Row, Column: pe.Column, Message: pe.Err.Error(), Fatal: true}
	}
	return Problem{Path: path, Message: err.Error(), Fatal: true}
}

// NameTaken is the problem of a file (or one of its sheets) whose collection name another
// file, first, already serves.
func NameTaken(path, sheet, collection, first string) Problem {
	return Problem{Path: path, Sheet: sheet, Fatal: true,
		Message: fmt.Sprintf("collection name %q is already served from %s; rename one of the files", collection, first)}
}

// columnName returns the spreadsheet letters of a 1-based column number: 1 is A, 27 is AA.
func columnName(n int) string {
	var b []byte
	for n > 0 {
		n--
		b = append([]byte{byte('A' + n%26)}, b...)
		n /= 26
	}
	return string(b)
}
