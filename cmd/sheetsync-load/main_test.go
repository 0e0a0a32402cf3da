package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadAgainstServer builds the sheetsync binary, serves a copy of samples/products.csv on
// 127.0.0.1:0 and sends 200 requests of every kind, in plain JSON and signed.
func TestLoadAgainstServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the sheetsync binary")
	}
	bin := filepath.Join(t.TempDir(), "sheetsync")
	build := exec.Command("go", "build", "-o", bin, "../sheetsync")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("plain", func(t *testing.T) {
		base := startServer(t, bin)
		r := runLoad(t, config{URL: base})
		checkReport(t, r, 200)
	})
	t.Run("two", func(t *testing.T) {
		// two servers (replicas in production) behind one comma-separated --url: the clients
		// split between them, each writing to its own
		a, b := startServer(t, bin), startServer(t, bin)
		r := runLoad(t, config{URL: a + "," + b + "/"})
		checkReport(t, r, 200)
		for _, base := range []string{a, b} {
			resp, err := http.Post(base+"/v3/items/count", "application/json",
				strings.NewReader(`{"collectionId":"products","filter":{"_id":{"$startsWith":"load-"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			var out struct{ TotalCount int }
			json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if out.TotalCount == 0 {
				t.Errorf("%s got none of the writes", base)
			}
		}
	})
	t.Run("signed", func(t *testing.T) {
		keys := t.TempDir()
		if out, err := exec.Command(bin, "keys", "--out", keys).CombinedOutput(); err != nil {
			t.Fatalf("sheetsync keys: %v\n%s", err, out)
		}
		base := startServer(t, bin, "--jwt-public-key", filepath.Join(keys, "public.pem"), "--app-id", "load-test")
		r := runLoad(t, config{URL: base, KeyPath: filepath.Join(keys, "private.pem"), AppID: "load-test"})
		checkReport(t, r, 200)

		// The same requests unsigned are refused: the signing is what let them through.
		r = runLoad(t, config{URL: base})
		if r.OK() != 0 || r.Failed() != 200 {
			t.Errorf("unsigned against a keyed server: ok %d, failed %d; want 0 and 200", r.OK(), r.Failed())
		}
	})
}

func runLoad(t *testing.T, c config) *Report {
	t.Helper()
	c.Mix = []string{kindSmall, kindPage, kindDistinct, "write"}
	c.Requests, c.Duration, c.Concurrency, c.Distinct, c.Collection = 200, time.Minute, 4, DefaultDistinct, "products"
	l, err := newLoader(c)
	if err != nil {
		t.Fatal(err)
	}
	r := l.Run(context.Background())
	var out bytes.Buffer
	r.Print(&out)
	t.Logf("\n%s", out.String())
	return r
}

func checkReport(t *testing.T, r *Report, n int) {
	t.Helper()
	if r.Failed() != 0 || r.OK() != n {
		t.Fatalf("ok %d, failed %d (%q); want %d and 0", r.OK(), r.Failed(), r.Errors, n)
	}
	// The mix is round-robin: a quarter of each kind, the writes half inserts, half updates.
	want := map[string]int{kindSmall: n / 4, kindPage: n / 4, kindDistinct: n / 4, kindInsert: n / 8, kindUpdate: n / 8}
	for kind, w := range want {
		k := r.Kinds[kind]
		if k == nil {
			t.Errorf("%s: no requests; want %d", kind, w)
			continue
		}
		// Updates follow their worker's insert, so the split between the two may be off by one
		// per worker.
		if got := len(k.Latencies); got < w-4 || got > w+4 {
			t.Errorf("%s: %d requests; want %d±4", kind, got, w)
		}
	}
}

// startServer runs the sheetsync binary on a copy of samples/products.csv and returns its URL.
func startServer(t *testing.T, bin string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile("../../samples/products.csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "products.csv"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--dir", dir, "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=serving url=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("sheetsync did not log \"serving url=\" within 30 s")
	}
	return ""
}

func TestCheckLoopback(t *testing.T) {
	for _, tc := range []struct {
		url    string
		remote bool
		ok     bool
	}{
		{"http://127.0.0.1:8080", false, true},
		{"http://localhost:8080", false, true},
		{"http://[::1]:8080", false, true},
		{"http://10.0.0.5:8080", false, false},
		{"https://sheets.example.com", false, false},
		{"https://sheets.example.com", true, true},
		{"ftp://127.0.0.1", false, false},
		{"127.0.0.1:8080", false, false},
	} {
		if err := checkLoopback(tc.url, tc.remote); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q, %v) = %v; want ok %v", tc.url, tc.remote, err, tc.ok)
		}
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for p, want := range map[float64]time.Duration{0.5: 50, 0.9: 90, 0.99: 99, 1: 100} {
		if got := Percentile(d, p); got != want {
			t.Errorf("Percentile(1..100, %v) = %d; want %d", p, got, want)
		}
	}
	if Percentile(nil, 0.5) != 0 {
		t.Error("Percentile of no samples is not 0")
	}
}

func TestGenerate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "products.csv")
	if err := generateFile(path, 500); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 501 || strings.Join(recs[0], ",") != "_id,name,category,price,inStock,launchDate,description" {
		t.Fatalf("%d records, header %q", len(recs), recs[0])
	}
	ids := map[string]bool{}
	for _, r := range recs[1:] {
		if len(r) != 7 || ids[r[0]] {
			t.Fatalf("bad or repeated row %q", r)
		}
		ids[r[0]] = true
	}
}
