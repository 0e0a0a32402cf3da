package ingest

import (
	"bufio"
	"context"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// TestMain removes the files the load benchmarks generate.
func TestMain(m *testing.M) {
	code := m.Run()
	benchFiles.mu.Lock()
	if benchFiles.dir != "" {
		os.RemoveAll(benchFiles.dir)
	}
	benchFiles.mu.Unlock()
	os.Exit(code)
}

// benchFiles holds the generated load benchmark files. They are large (190 MB for a million
// rows), so each is written once per process (not per benchmark run, as b.TempDir would), into
// a folder TestMain removes.
var benchFiles struct {
	mu   sync.Mutex
	dir  string
	file map[int]func() (string, error) // by row count
}

// benchLoadCSV returns the path of a generated CSV of rows rows, writing it on first use.
func benchLoadCSV(b *testing.B, rows int) string {
	b.Helper()
	benchFiles.mu.Lock()
	if benchFiles.dir == "" {
		dir, err := os.MkdirTemp("", "sheetsync-bench-")
		if err != nil {
			benchFiles.mu.Unlock()
			b.Fatal(err)
		}
		benchFiles.dir, benchFiles.file = dir, map[int]func() (string, error){}
	}
	file := benchFiles.file[rows]
	if file == nil {
		path := filepath.Join(benchFiles.dir, "products-"+strconv.Itoa(rows)+".csv")
		file = sync.OnceValues(func() (string, error) { return path, writeLoadBenchCSV(path, rows) })
		benchFiles.file[rows] = file
	}
	benchFiles.mu.Unlock()
	path, err := file()
	if err != nil {
		b.Fatal(err)
	}
	return path
}

// writeLoadBenchCSV writes the DESIGN §6 load file: rows rows of ten columns, about 190 bytes
// a row. _id is one of the ten and every row has one, so nothing is written back; the other
// three system columns are added, empty, by the loader. The columns: _id (UUID), name (about
// 24 characters), category (10 values), price (number, 2 decimals), qty (integer), inStock
// (true/false), launchDate (ISO date), sku (zero-padded digits, so text), description (about
// 70 characters), rating (number, 1 decimal).
func writeLoadBenchCSV(path string, rows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	rnd := rand.New(rand.NewPCG(1, 2))
	words := []string{"steel", "compact", "deluxe", "outdoor", "wireless", "classic", "smart", "heavy-duty",
		"portable", "ergonomic", "vintage", "modular", "quiet", "solar", "foldable", "premium"}
	nouns := []string{"widget", "gadget", "lamp", "kettle", "drill", "backpack", "speaker", "chair",
		"blender", "tent", "monitor", "stroller"}
	categories := []string{"tools", "garden", "kitchen", "toys", "books", "office", "outdoor", "audio",
		"furniture", "baby"}
	phrases := []string{"built to last", "with a two year warranty", "easy to clean", "ships in a gift box",
		"made from recycled materials", "for home and office", "in four colours", "tested by our team"}
	day := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

	w.WriteString("_id,name,category,price,qty,inStock,launchDate,sku,description,rating\n")
	var id [16]byte
	var buf []byte
	for i := range rows {
		buf = buf[:0]
		for k := range id {
			id[k] = byte(rnd.Uint32())
		}
		id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80
		var hexID [32]byte
		hex.Encode(hexID[:], id[:])
		buf = append(buf, hexID[0:8]...)
		buf = append(buf, '-')
		buf = append(buf, hexID[8:12]...)
		buf = append(buf, '-')
		buf = append(buf, hexID[12:16]...)
		buf = append(buf, '-')
		buf = append(buf, hexID[16:20]...)
		buf = append(buf, '-')
		buf = append(buf, hexID[20:32]...)
		buf = append(buf, ',')
		buf = append(buf, words[rnd.IntN(len(words))]...)
		buf = append(buf, ' ')
		buf = append(buf, nouns[rnd.IntN(len(nouns))]...)
		buf = append(buf, " model "...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, ',')
		buf = append(buf, categories[rnd.IntN(len(categories))]...)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(1+rnd.IntN(999)), 10)
		buf = append(buf, '.')
		cents := rnd.IntN(100)
		buf = append(buf, byte('0'+cents/10), byte('0'+cents%10))
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(rnd.IntN(1000)), 10)
		buf = append(buf, ',')
		buf = strconv.AppendBool(buf, rnd.IntN(2) == 0)
		buf = append(buf, ',')
		buf = day.AddDate(0, 0, rnd.IntN(3650)).AppendFormat(buf, time.DateOnly)
		buf = append(buf, ',')
		sku := strconv.Itoa(rnd.IntN(10_000_000))
		for range 8 - len(sku) {
			buf = append(buf, '0')
		}
		buf = append(buf, sku...)
		buf = append(buf, ',')
		buf = append(buf, "The "...)
		buf = append(buf, words[rnd.IntN(len(words))]...)
		buf = append(buf, ' ')
		buf = append(buf, nouns[rnd.IntN(len(nouns))]...)
		for range 3 {
			buf = append(buf, ' ')
			buf = append(buf, phrases[rnd.IntN(len(phrases))]...)
		}
		buf = append(buf, ',')
		r := 10 + rnd.IntN(41)
		buf = append(buf, byte('0'+r/10), '.', byte('0'+r%10))
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// BenchmarkLoadCSV1M loads the DESIGN §6 file: 1,000,000 rows, 10 columns, about 190 MB,
// through Loader.LoadFile and cache.NewSnapshot. Targets: ≤ 2 s, ≤ 370 bytes of heap a row.
func BenchmarkLoadCSV1M(b *testing.B) { benchmarkLoadCSV(b, 1_000_000) }

// BenchmarkLoadCSV100k is BenchmarkLoadCSV1M at 100,000 rows.
func BenchmarkLoadCSV100k(b *testing.B) { benchmarkLoadCSV(b, 100_000) }

func benchmarkLoadCSV(b *testing.B, rows int) {
	path := benchLoadCSV(b, rows)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	l := &Loader{Logger: discardLogger(),
		NewID: func() string { b.Fatal("the benchmark file lacks ids: it would be written"); return "" }}
	load := func() *cache.Snapshot {
		sheets, problems, err := l.LoadFile(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		if len(problems) != 0 {
			b.Fatalf("problems: %v", problems)
		}
		snap, err := cache.NewSnapshot(sheets[0].Collection, sheets[0].Table)
		if err != nil {
			b.Fatal(err)
		}
		if snap.Len() != rows {
			b.Fatalf("%d rows, want %d", snap.Len(), rows)
		}
		return snap
	}

	// heap held by one loaded snapshot, measured once, untimed
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	snap := load()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapPerRow := (float64(ms.HeapAlloc) - float64(before)) / float64(rows)
	runtime.KeepAlive(snap)
	snap = nil
	runtime.GC()

	b.SetBytes(fi.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		load()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(heapPerRow, "heap-B/row")
}

// BenchmarkLoadDuplicateIDs loads a file where a block of rows was pasted twice, ids
// included, and as many new rows without ids were added: rows = 3 × n.
func BenchmarkLoadDuplicateIDs(b *testing.B) {
	for _, n := range []int{10_000, 40_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var buf []byte
			buf = append(buf, "_id,name\n"...)
			for i := range n {
				id := strconv.Itoa(i)
				buf = append(buf, "id"+id+",x\nid"+id+",y\n,z"+id+"\n"...)
			}
			path := filepath.Join(b.TempDir(), "dup.csv")
			if err := os.WriteFile(path, buf, 0o644); err != nil {
				b.Fatal(err)
			}
			l := &Loader{ReadOnly: true, Logger: discardLogger()}
			for b.Loop() {
				if _, problems, err := l.LoadFile(context.Background(), path); err != nil || len(problems) != n {
					b.Fatalf("%d problems, %v", len(problems), err)
				}
			}
		})
	}
}
