package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/sheetsync/sheetsync/cache"
)

// BenchmarkWriteBack measures an API update of one row reaching its file: from the commit to
// the file replaced, for CSV files of growing size. The answer to Wix does not wait for this
// (the store has the write at once); it is how long the file lags, and the cost that coalescing
// shares between the writes arriving meanwhile.
func BenchmarkWriteBack(b *testing.B) {
	for _, tt := range []struct {
		format string
		rows   int
	}{{"csv", 10_000}, {"csv", 100_000}, {"csv", 1_000_000}, {"xlsx", 10_000}, {"xlsx", 100_000}} {
		b.Run(fmt.Sprintf("%s/rows=%d", tt.format, tt.rows), func(b *testing.B) {
			rows := tt.rows
			dir := b.TempDir()
			path := filepath.Join(dir, "items."+tt.format)
			writeBenchItems(b, path, rows)
			fi, _ := os.Stat(path)
			b.SetBytes(fi.Size())
			store := cache.NewStore()
			written := make(chan struct{}, 1)
			f := &Folder{Dir: dir, StateDir: b.TempDir(), Loader: &Loader{Logger: discardLogger()}, Committer: store,
				Logger: slog.New(&signalHandler{msg: "API changes written into the file", c: written})}
			store.Listen(f.OnCommit)
			if _, err := f.Open(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := fmt.Sprintf("id-%07d", (i*7919)%rows)
				collection := "items"
				_, err := store.Commit(ctx, cache.ChangeSet{Collection: collection, Origin: cache.Origin{Kind: cache.OriginAPI},
					Update: []cache.Item{{cache.FieldID: cache.Text(id), "price": cache.Number(float64(1000 + i))}}})
				if err != nil {
					b.Fatal(err)
				}
				select {
				case <-written:
				case <-time.After(time.Minute):
					b.Fatal("the file was not written within a minute")
				}
			}
		})
	}
}

// writeBenchItems writes a CSV or XLSX file of rows items, every one with an id and dates.
func writeBenchItems(b *testing.B, path string, rows int) {
	header := []string{"name", "price", "note", "_id", "_createdDate", "_updatedDate", "_owner"}
	row := func(i int) []any {
		return []any{fmt.Sprintf("item %d", i), i % 1000, fmt.Sprintf("a note about item %d", i), fmt.Sprintf("id-%07d", i),
			"2024-01-01T00:00:00.000Z", "2024-01-02T00:00:00.000Z"}
	}
	if strings.HasSuffix(path, ".csv") {
		var sb strings.Builder
		sb.WriteString(strings.Join(header, ",") + "\n")
		for i := range rows {
			for _, v := range row(i) {
				fmt.Fprint(&sb, v, ",")
			}
			sb.WriteString("\n")
		}
		mustWrite(b, path, []byte(sb.String()))
		return
	}
	book := excelize.NewFile()
	defer book.Close()
	sw, err := book.NewStreamWriter("Sheet1")
	mustXLSX(b, err)
	cells := make([]any, len(header))
	for i, h := range header {
		cells[i] = h
	}
	mustXLSX(b, sw.SetRow("A1", cells))
	for i := range rows {
		ref, _ := excelize.CoordinatesToCellName(1, i+2)
		mustXLSX(b, sw.SetRow(ref, row(i)))
	}
	mustXLSX(b, sw.Flush())
	mustXLSX(b, book.SaveAs(path))
}

// signalHandler is a slog handler that signals c for every record with message msg.
type signalHandler struct {
	msg string
	c   chan struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *signalHandler) WithGroup(string) slog.Handler            { return h }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.c <- struct{}{}
	}
	return nil
}
