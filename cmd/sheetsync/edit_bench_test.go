package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEditVisible measures what DESIGN §6 holds the live folder to: with default settings,
// the time from the rename of a CSV in which one cell changed to the first API answer that shows
// the change. The file is rewritten the way editors save, to a temporary file renamed over it.
func BenchmarkEditVisible(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) { benchmarkEditVisible(b, rows) })
	}
}

func benchmarkEditVisible(b *testing.B, rows int) {
	dir := b.TempDir()
	path := filepath.Join(dir, "products.csv")
	content, line := editBenchCSV(rows)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		b.Fatal(err)
	}
	m := MustRunMain(b, dir, nil)
	target := rows / 2
	id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", target)
	query, _ := json.Marshal(map[string]any{"collectionId": "products",
		"query": map[string]any{"filter": map[string]any{"_id": id}, "fields": []string{"price"}}})
	price := func() float64 {
		resp, err := http.Post(m.Server.URL()+"/v3/items/query", "application/json", bytes.NewReader(query))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Items []struct{ Price float64 } }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || len(out.Items) != 1 {
			b.Fatalf("query: %v %+v", err, out)
		}
		return out.Items[0].Price
	}
	tmp := filepath.Join(dir, ".products.csv.tmp") // hidden: not published, as editors' temp files
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		want := float64(100000 + i)
		edited := slices.Concat(content[:line[target]], withPrice(content[line[target]:line[target+1]], want), content[line[target+1]:])
		if err := os.WriteFile(tmp, edited, 0o644); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
		for price() != want {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("edit %d not visible after 30 s", i)
			}
			time.Sleep(2 * time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "ms-p90")
}

// editBenchCSV returns a CSV of rows products with 10 columns and the system columns (so no id is
// written back), and the byte offset where each data row starts (plus the end).
func editBenchCSV(rows int) ([]byte, []int) {
	rng := rand.New(rand.NewPCG(1, 1))
	words := []string{"oak", "linen", "brass", "walnut", "ceramic", "wool", "cotton", "marble", "copper", "rattan"}
	cats := []string{"furniture", "lighting", "textiles", "kitchen", "garden", "decor"}
	var b bytes.Buffer
	b.WriteString("name,category,price,qty,inStock,launchDate,sku,description,rating,_id,_createdDate,_updatedDate,_owner\n")
	starts := make([]int, 0, rows+1)
	for i := range rows {
		starts = append(starts, b.Len())
		fmt.Fprintf(&b, "%s %s %d,%s,%s,%d,%t,2024-%02d-%02d,%06d,%s %s %s %s %s,%.1f,%08d-0000-4000-8000-000000000000,2024-01-01T00:00:00.000Z,2024-01-02T00:00:00.000Z,\n",
			words[rng.IntN(10)], words[rng.IntN(10)], i, cats[rng.IntN(6)], strconv.FormatFloat(float64(rng.IntN(100000))/100, 'f', -1, 64),
			rng.IntN(500), rng.IntN(5) != 0, 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(1000000),
			words[rng.IntN(10)], words[rng.IntN(10)], words[rng.IntN(10)], words[rng.IntN(10)], words[rng.IntN(10)],
			float64(rng.IntN(41)+10)/10, i)
	}
	starts = append(starts, b.Len())
	return b.Bytes(), starts
}

// withPrice returns a line of editBenchCSV with another price, its third cell: only that cell
// differs.
func withPrice(line []byte, price float64) []byte {
	cells := bytes.SplitN(line, []byte(","), 4)
	cells[2] = strconv.AppendFloat(nil, price, 'f', -1, 64)
	return bytes.Join(cells, []byte(","))
}
