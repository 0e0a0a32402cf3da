package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplicasKeepWritesThroughNATSRestart restarts the NATS server while two replicas take a
// stream of API writes (issue 6 item 7, issue 8 item 6): the server goes down between two writes,
// comes straight back on the same store, and the writes go on. Every write a replica
// acknowledged must end in both replicas' stores and files, both replicas must follow the log
// again (a write through either is answered), and no write may hang.
func TestReplicasKeepWritesThroughNATSRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a NATS server under writes; not in -short")
	}
	nats := startRestartableNATS(t)
	var dirs []string
	var rs []*Main
	for _, name := range []string{"r1", "r2"} {
		dir := copySamples(t)
		dirs = append(dirs, dir)
		rs = append(rs, runReplica(t, nats.server(), name, dir))
	}

	// a write that hangs is a failure of its own: the client gives up well before the test does
	client := &http.Client{Timeout: 15 * time.Second}
	var (
		mu       sync.Mutex
		acked    []string
		refused  int
		failures []string
	)
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), refused
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second)
	for i, m := range rs {
		wg.Go(func() {
			for n := 0; n < 20000 && time.Now().Before(deadline); n++ {
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
				id := fmt.Sprintf("w%d-%d", i+1, n)
				body := fmt.Sprintf(`{"collectionId":"products","items":[{"_id":%q,"name":%q}]}`, id, id)
				start := time.Now()
				resp, err := client.Post(m.Server.URL()+"/v3/items/insert", "application/json", strings.NewReader(body))
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("insert %s through r%d: %v after %v", id, i+1, err, time.Since(start).Round(time.Millisecond)))
					mu.Unlock()
					continue
				}
				var out map[string]any
				json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusOK:
					acked = append(acked, id)
				case http.StatusServiceUnavailable:
					refused++
				default:
					failures = append(failures, fmt.Sprintf("insert %s through r%d: %d %v", id, i+1, resp.StatusCode, out))
				}
				mu.Unlock()
			}
		})
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)

	eventually(t, 20*time.Second, func() (bool, string) {
		n, _ := count()
		return n >= 40, fmt.Sprintf("%d writes acknowledged before the restart", n)
	})
	// three outages: none at all (the server is back before the clients notice), until a
	// write is refused, and longer than the consumers' heartbeat (2 s)
	for _, outage := range []string{"none", "until refused", "3s"} {
		nats.stop()
		switch _, refusedBefore := count(); outage {
		case "until refused":
			eventually(t, 20*time.Second, func() (bool, string) {
				_, r := count()
				return r > refusedBefore, "no write was refused with NATS down"
			})
		case "3s":
			time.Sleep(3 * time.Second) // the outage itself: nothing to wait for
		}
		nats.start()
		ackedAtRestart, _ := count()
		eventually(t, 30*time.Second, func() (bool, string) {
			n, _ := count()
			return n >= ackedAtRestart+100, fmt.Sprintf("outage %s: %d writes acknowledged after NATS came back, want 100", outage, n-ackedAtRestart)
		})
	}
	stopWriters()
	n, r := count()
	t.Logf("acknowledged %d writes, %d refused while NATS was down or catching up", n, r)
	for _, f := range failures {
		t.Error(f)
	}

	// both replicas follow the log again: each serves every acknowledged write and answers a
	// new one (a replica whose consumer stopped would neither)
	for i, m := range rs {
		eventually(t, 20*time.Second, func() (bool, string) {
			snap, err := m.Store.Snapshot("products")
			if err != nil {
				return false, err.Error()
			}
			for _, id := range acked {
				if _, ok := snap.Lookup(id); !ok {
					applied, _ := m.journal.log.Load().Applied()
					return false, fmt.Sprintf("r%d does not serve %s, acknowledged (it applied the log up to %d)", i+1, id, applied)
				}
			}
			return true, ""
		})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		code, out := postContext(t, ctx, m.Server.URL()+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"after-r%d","name":"after"}]}`, i+1))
		cancel()
		if code != http.StatusOK {
			t.Fatalf("a write through r%d after the restart: %d %v", i+1, code, out)
		}
		acked = append(acked, fmt.Sprintf("after-r%d", i+1))
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		return rs[0].Folder.Idle() && rs[1].Folder.Idle(), "the replicas never wrote everything"
	})
	for i, dir := range dirs {
		file := readSoakFile(t, filepath.Join(dir, "products.csv"))
		for _, id := range acked {
			if _, ok := file.Lookup(id); !ok {
				t.Errorf("r%d's products.csv lacks %s, acknowledged", i+1, id)
			}
		}
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		d := folderDifference(dirs...)
		return d == "", d
	})
	for i, m := range rs {
		// nats.go's consumer nearly always recovers by itself; when it did not, the watchdog
		// (replica.Log.watch) did, and the run says so
		if logs := m.Stderr.(*lockedBuffer).String(); strings.Contains(logs, "following it again") {
			t.Logf("r%d stalled after the restart and followed the log again", i+1)
		}
	}
}

// postContext is post bounded by ctx: a request that hangs fails the test instead of stalling it.
func postContext(tb testing.TB, ctx context.Context, url, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
