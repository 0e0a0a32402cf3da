package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache"
)

// process is this test binary running as sheetsync.
type process struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{} // closed when its stderr ends: it exited
	mu   sync.Mutex
	log  strings.Builder
}

// logged returns what the process has logged so far.
func (p *process) logged() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// wait waits for the process to exit, its whole log read.
func (p *process) wait() error {
	<-p.done
	return p.cmd.Wait()
}

// startProcess runs this test binary as sheetsync serving dir, and returns once it says where it
// serves.
func startProcess(t *testing.T, dir string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(os.Args[0], "serve", "--dir", dir, "--addr", "127.0.0.1:0"), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "SHEETSYNC_TEST_MAIN=1")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait()
	})
	urls := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=serving url=(\S+)`)
		for sc.Scan() {
			p.mu.Lock()
			p.log.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case p.url = <-urls:
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("the process did not say where it serves:\n%s", p.logged())
	}
	return nil
}

// TestKilledProcessKeepsWrites: writes acknowledged by a process killed with SIGKILL, wherever
// the kill lands (before, during or after their write into the file), are served and in the
// file once it starts again: the change log holds them until the file does. At the instant of
// each kill the file is a version the server wrote whole (the original plus the first k
// inserts, read without a problem), never a torn mix. The file is big enough (100,000 rows, tens
// of milliseconds a write) for the kill to land mid-write often; each round kills at another
// moment.
func TestKilledProcessKeepsWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	content, _ := editBenchCSV(100_000)
	path := filepath.Join(dir, "products.csv")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	const rounds, perRound = 4, 10
	p := startProcess(t, dir)
	n := 0
	for round := range rounds {
		for range perRound {
			code, out := post(t, p.url+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"kept-%d","name":"kept %d","price":%d}]}`, n, n, n))
			if code != 200 || out["results"].([]any)[0].(map[string]any)["item"] == nil {
				t.Fatalf("insert %d: %d %v", n, code, out)
			}
			n++
		}
		// odd rounds kill before the write-back starts; even rounds kill in its middle, as soon
		// as its temporary file appears
		if round%2 == 0 {
			eventually(t, 10*time.Second, func() (bool, string) {
				return len(tempFiles(dir)) > 0, "the write-back never started"
			})
		}
		if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no last write
			t.Fatal(err)
		}
		p.wait()
		kept := keptInFile(t, path)
		for i, id := range kept {
			if id != fmt.Sprintf("kept-%d", i) {
				t.Fatalf("round %d: the file killed mid-write holds %v, not the first %d inserts in order", round, kept, len(kept))
			}
		}
		t.Logf("round %d: killed with %d of %d inserts in the file", round, len(kept), n)
		p = startProcess(t, dir)
		if code, out := post(t, p.url+"/v3/items/count", `{"collectionId":"products","filter":{"_id":{"$startsWith":"kept-"}}}`); code != 200 || out["totalCount"].(float64) != float64(n) {
			t.Fatalf("round %d, after the restart: %d %v, want all %d acknowledged inserts", round, code, out, n)
		}
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		got := len(keptInFile(t, path))
		return got == n, fmt.Sprintf("the file holds %d of the %d acknowledged inserts", got, n)
	})
	if left := tempFiles(dir); len(left) > 0 {
		t.Errorf("temporary files of killed write-backs left in the folder: %v", left)
	}
}

// tempFiles lists the temporary files of write-backs in dir.
func tempFiles(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	return names
}

// keptInFile reads the products file as serve does, failing on any problem (a torn row, a
// repeated id), and returns the ids of the test's inserts in file order.
func keptInFile(t *testing.T, path string) []string {
	t.Helper()
	snap := readSoakFile(t, path)
	var kept []string
	snap.Rows(func(r cache.RowID) bool {
		if id := snap.ID(r); strings.HasPrefix(id, "kept-") {
			kept = append(kept, id)
		}
		return true
	})
	return kept
}
