package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// BenchmarkAPIWrite measures DESIGN §6's "API write answered (single item), any file size": a
// v3 update or insert of one item, through HTTP on loopback, into a 100,000-row CSV or XLSX. The
// answer comes once the store holds the write (read-your-writes); the file follows, its writes
// coalesced, so the answer's latency does not grow with the file. Reported: median and p99
// latency one request at a time, and requests/s with 8 clients.
func BenchmarkAPIWrite(b *testing.B) {
	for _, format := range []string{"csv", "xlsx"} {
		for _, op := range []string{"update", "insert"} {
			b.Run(fmt.Sprintf("%s/%s/rows=100000", format, op), func(b *testing.B) { benchmarkAPIWrite(b, format, op, 100_000) })
		}
	}
}

func benchmarkAPIWrite(b *testing.B, format, op string, rows int) {
	dir := b.TempDir()
	content, _ := editBenchCSV(rows)
	path := filepath.Join(dir, "products."+format)
	if format == "csv" {
		if err := os.WriteFile(path, content, 0o644); err != nil {
			b.Fatal(err)
		}
	} else {
		writeBenchBook(b, path, content)
	}
	m := MustRunMain(b, dir, nil)
	url := m.Server.URL() + "/v3/items/" + op
	body := func(i int) []byte {
		if op == "insert" {
			return fmt.Appendf(nil, `{"collectionId":"products","items":[{"name":"new %d","category":"garden","price":%d,"qty":1,"inStock":true}]}`, i, i)
		}
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", (i*7919)%rows)
		return fmt.Appendf(nil, `{"collectionId":"products","items":[{"_id":%q,"name":"renamed %d","category":"garden","price":%d,"qty":1,"inStock":true}]}`, id, i, i)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	send := func(i int) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body(i)))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"error"`)) {
			b.Fatalf("%s: %d %s", op, resp.StatusCode, out)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		send(i)
		lat = append(lat, time.Since(start))
	}
	// throughput: 8 clients, as many requests again
	const clients = 8
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < b.N; i += clients {
				send(b.N + i)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms-p99")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s-8clients")
}

// writeBenchBook writes the rows of a CSV made by editBenchCSV into a workbook, as text cells.
func writeBenchBook(b *testing.B, path string, content []byte) {
	book := excelize.NewFile()
	defer book.Close()
	sw, err := book.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	for r, line := range bytes.Split(bytes.TrimSuffix(content, []byte("\n")), []byte("\n")) {
		var cells []any
		for _, c := range bytes.Split(line, []byte(",")) {
			cells = append(cells, string(c))
		}
		ref, _ := excelize.CoordinatesToCellName(1, r+1)
		if err := sw.SetRow(ref, cells); err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := book.SaveAs(path); err != nil {
		b.Fatal(err)
	}
}
