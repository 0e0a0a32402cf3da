package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/ingest"
)

const checkUsage = `Usage: sheetsync check [--json] FILE_OR_FOLDER...

Reads each .csv and .xlsx file (every one directly in a folder) as serve would, without writing
anything, and prints its collections, their fields and types, row counts and every problem with
its file, row and column. Exit status: 0 without problems, 1 with problems, 2 on a usage error.
`

// checkReport is what check found; --json prints it as it is.
type checkReport struct {
	Collections []checkCollection `json:"collections"`
	Problems    []checkProblem    `json:"problems"`
}

type checkCollection struct {
	Collection string       `json:"collection"`
	File       string       `json:"file"`
	Sheet      string       `json:"sheet,omitempty"`
	Rows       int          `json:"rows"`
	Fields     []checkField `json:"fields"`
}

type checkField struct {
	Key      string `json:"key"`
	Type     string `json:"type"`
	ReadOnly bool   `json:"readOnly,omitempty"` // a column of formulas
	Ref      string `json:"reference,omitempty"`
}

type checkProblem struct {
	File    string `json:"file"`
	Sheet   string `json:"sheet,omitempty"`
	Row     int    `json:"row,omitempty"`    // 1-based
	Column  int    `json:"column,omitempty"` // 1-based
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
	Fatal   bool   `json:"fatal"` // the file or sheet is not served
	Text    string `json:"text"`  // the whole problem as one line
}

// runCheck is the check command: it returns the exit code.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sheetsync check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, checkUsage) }
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "sheetsync check: name at least one file or folder\n\n"+checkUsage)
		return 2
	}
	files, err := checkFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync check:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})) // progress on big files
	report, err := check(ctx, files, &ingest.Loader{ReadOnly: true, Logger: logger})
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync check:", err)
		return 2
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintln(stderr, "sheetsync check:", err)
			return 2
		}
	} else {
		report.print(stdout)
	}
	if len(report.Problems) > 0 {
		return 1
	}
	return 0
}

// checkFiles expands the arguments into the spreadsheet files to read: a folder stands for the
// files serve would publish from it. A missing path or a file that is not a spreadsheet is an
// error naming it.
func checkFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		fi, err := os.Stat(arg)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("%s: no such file or folder", arg)
		case err != nil:
			return nil, err
		case fi.IsDir():
			in, err := ingest.Spreadsheets(arg)
			if err != nil {
				return nil, err
			}
			if len(in) == 0 {
				return nil, fmt.Errorf("%s: no .csv or .xlsx files in this folder", arg)
			}
			files = append(files, in...)
		default:
			if _, ok := ingest.FormatOf(arg); !ok {
				return nil, fmt.Errorf("%s: not a .csv or .xlsx file", arg)
			}
			files = append(files, arg)
		}
	}
	// the order serve reads a folder in, which decides who keeps a collection name both want
	slices.SortStableFunc(files, func(a, b string) int {
		return strings.Compare(filepath.Clean(a), filepath.Clean(b))
	})
	return slices.CompactFunc(files, func(a, b string) bool { return filepath.Clean(a) == filepath.Clean(b) }), nil
}

// check loads each file with l, as serve's initial load does, and reports what it would serve
// and what is wrong. Two files of one folder that map to one collection name are a problem, as
// in serve; files in different folders are never served together, so they may.
func check(ctx context.Context, files []string, l *ingest.Loader) (*checkReport, error) {
	report := &checkReport{Collections: []checkCollection{}, Problems: []checkProblem{}}
	owners := map[string]map[string]string{} // folder → collection → file
	for _, path := range files {
		dir := filepath.Dir(filepath.Clean(path))
		owner := owners[dir]
		if owner == nil {
			owner = map[string]string{}
			owners[dir] = owner
		}
		if first, taken := owner[ingest.CollectionName(path, "", true)]; taken {
			report.addProblem(ingest.NameTaken(path, "", ingest.CollectionName(path, "", true), filepath.Base(first)))
			continue
		}
		sheets, problems, err := l.LoadFile(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			p := ingest.FileProblem(path, err)
			if _, ok := errors.AsType[*ingest.ParseError](err); ok {
				p.Message += "; the file is not served"
			}
			report.addProblem(p)
			continue
		}
		for _, p := range problems {
			report.addProblem(p)
		}
		for _, sh := range sheets {
			if first, taken := owner[sh.Collection]; taken {
				report.addProblem(ingest.NameTaken(path, sh.Sheet, sh.Collection, filepath.Base(first)))
				continue
			}
			if _, err := cache.NewSnapshot(sh.Collection, sh.Table); err != nil {
				report.addProblem(ingest.Problem{Path: path, Sheet: sh.Sheet, Fatal: true, Message: err.Error()})
				continue
			}
			owner[sh.Collection] = path
			c := checkCollection{Collection: sh.Collection, File: path, Sheet: sh.Sheet, Rows: sh.Rows}
			for _, f := range sh.Table.Schema.Fields() {
				c.Fields = append(c.Fields, checkField{Key: f.Key, Type: f.Type.String(), ReadOnly: f.ReadOnly, Ref: f.Ref})
			}
			report.Collections = append(report.Collections, c)
		}
	}
	return report, nil
}

func (r *checkReport) addProblem(p ingest.Problem) {
	r.Problems = append(r.Problems, checkProblem{File: p.Path, Sheet: p.Sheet, Row: p.Row, Column: p.Column, Field: p.Field,
		Message: p.Message, Fatal: p.Fatal, Text: p.String()})
}

// print writes the report as aligned text: a block per collection, then the problems, then a
// summary line.
func (r *checkReport) print(w io.Writer) {
	rows := 0
	for _, c := range r.Collections {
		rows += c.Rows
		where := c.File
		if c.Sheet != "" {
			where += fmt.Sprintf(" sheet %q", c.Sheet)
		}
		fmt.Fprintf(w, "collection %s  (%s, %s)\n", c.Collection, where, plural(c.Rows, "row"))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, f := range c.Fields {
			var notes []string
			if f.ReadOnly {
				notes = append(notes, "read-only (formulas)")
			}
			if f.Ref != "" {
				notes = append(notes, "reference to "+f.Ref)
			}
			if len(notes) == 0 {
				fmt.Fprintf(tw, "  %s\t%s\n", f.Key, f.Type)
			} else {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.Key, f.Type, strings.Join(notes, ", "))
			}
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p.Text)
		}
		fmt.Fprintln(w)
	}
	summary := "no problems"
	if len(r.Problems) > 0 {
		summary = plural(len(r.Problems), "problem")
	}
	fmt.Fprintf(w, "%s, %s, %s\n", plural(len(r.Collections), "collection"), plural(rows, "row"), summary)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
