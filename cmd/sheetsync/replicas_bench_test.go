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

	"github.com/sheetsync/sheetsync/cache"
)

// BenchmarkReplicaWrite measures a v3 update sent to replica A over HTTP until replica B's store
// applied it (DESIGN §6: ≤ 5 ms median, ≤ 25 ms p99 on loopback), both replicas on one NATS
// server on loopback, a 100,000-row CSV each; then writes/s with 8 clients to one collection and
// to 8 collections (each client its own).
//
//	go test ./cmd/sheetsync -run '^$' -bench ReplicaWrite -benchtime 2000x
func BenchmarkReplicaWrite(b *testing.B) {
	ns := startNATS(b)
	const rows, collections = 100_000, 8
	content, _ := editBenchCSV(rows)
	small, _ := editBenchCSV(10_000)
	var dirs []string
	for range 2 {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "products.csv"), content, 0o644); err != nil {
			b.Fatal(err)
		}
		for c := range collections {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("shelf%d.csv", c)), small, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		dirs = append(dirs, dir)
	}
	a := runReplica(b, ns, "a", dirs[0])
	replicaB := runReplica(b, ns, "b", dirs[1])
	applied := make(chan string, 64)
	replicaB.Store.Listen(func(c cache.Committed) {
		if c.Change.Origin.Kind == cache.OriginAPI && len(c.Change.Update) == 1 {
			select {
			case applied <- c.Change.Update[0][cache.FieldUpdatedDate].String() + c.Change.Update[0].ID():
			default:
			}
		}
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	update := func(collection string, i, n int) {
		id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", (i*7919)%n)
		body := fmt.Appendf(nil, `{"collectionId":%q,"items":[{"_id":%q,"name":"renamed %d","category":"garden","price":%d,"qty":1,"inStock":true}]}`, collection, id, i, i)
		resp, err := client.Post(a.Server.URL()+"/v3/items/update", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"error"`)) {
			b.Fatalf("update: %d %s", resp.StatusCode, out)
		}
	}
	var answered, onB []time.Duration
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		update("products", i, rows)
		answered = append(answered, time.Since(start))
		select {
		case <-applied:
		case <-time.After(10 * time.Second):
			b.Fatalf("update %d not applied on b within 10 s", i)
		}
		onB = append(onB, time.Since(start))
	}
	b.StopTimer()
	throughput := func(collection func(client int) string, n int) float64 {
		const clients = 8
		start := time.Now()
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				for i := c; i < b.N; i += clients {
					update(collection(c), b.N+i, n)
				}
			})
		}
		wg.Wait()
		return float64(b.N) / time.Since(start).Seconds()
	}
	one := throughput(func(int) string { return "products" }, rows)
	many := throughput(func(c int) string { return fmt.Sprintf("shelf%d", c) }, 10_000)
	slices.Sort(answered)
	slices.Sort(onB)
	b.ReportMetric(float64(answered[len(answered)/2].Microseconds())/1000, "ms-answered-median")
	b.ReportMetric(float64(onB[len(onB)/2].Microseconds())/1000, "ms-on-b-median")
	b.ReportMetric(float64(onB[len(onB)*99/100].Microseconds())/1000, "ms-on-b-p99")
	b.ReportMetric(one, "writes/s-1-collection")
	b.ReportMetric(many, "writes/s-8-collections")
}

// BenchmarkReplicaBootstrap measures a new replica, with an empty folder and state dir, joining
// a replica that serves one big CSV: from its start until it serves every row, and until its
// folder holds the file, byte for byte.
//
//	go test ./cmd/sheetsync -run '^$' -bench ReplicaBootstrap -benchtime 1x
func BenchmarkReplicaBootstrap(b *testing.B) {
	for _, rows := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) { benchmarkBootstrap(b, rows) })
	}
}

func benchmarkBootstrap(b *testing.B, rows int) {
	content, _ := editBenchCSV(rows)
	var serving, written []time.Duration
	for range b.N {
		b.StopTimer()
		ns := startNATS(b)
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "products.csv"), content, 0o644); err != nil {
			b.Fatal(err)
		}
		runReplica(b, ns, "a", dir)
		fresh := b.TempDir()
		b.StartTimer()
		start := time.Now()
		m := runReplica(b, ns, "new", fresh)
		snap, err := m.Store.Snapshot("products")
		if err != nil || snap.Len() != rows {
			b.Fatalf("the new replica is ready without every row: %v", err)
		}
		serving = append(serving, time.Since(start))
		for {
			if got, _ := os.ReadFile(filepath.Join(fresh, "products.csv")); bytes.Equal(got, content) {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatal("the new replica's folder did not get products.csv within 5 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
		written = append(written, time.Since(start))
		b.StopTimer()
	}
	slices.Sort(serving)
	slices.Sort(written)
	b.ReportMetric(serving[len(serving)/2].Seconds(), "s-serving")
	b.ReportMetric(written[len(written)/2].Seconds(), "s-file-written")
	b.ReportMetric(float64(len(content))/(1<<20), "MB-file")
}
