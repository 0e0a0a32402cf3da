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
// file once it starts again: the change log holds them until the file does. The file is big
// enough (100,000 rows, tens of milliseconds a write) for the kill to land mid-write often.
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
	p := startProcess(t, dir)
	url := p.url
	const n = 20
	for i := range n {
		code, out := post(t, url+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"kept-%d","name":"kept %d","price":%d}]}`, i, i, i))
		if code != 200 || out["results"].([]any)[0].(map[string]any)["item"] == nil {
			t.Fatalf("insert %d: %d %v", i, code, out)
		}
	}
	if err := p.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no last write
		t.Fatal(err)
	}
	p.wait()

	url = startProcess(t, dir).url
	if code, out := post(t, url+"/v3/items/count", `{"collectionId":"products","filter":{"_id":{"$startsWith":"kept-"}}}`); code != 200 || out["totalCount"].(float64) != n {
		t.Errorf("after the restart: %d %v, want all %d acknowledged inserts", code, out, n)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), ",kept-") == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the file holds %d of the %d acknowledged inserts", strings.Count(string(b), ",kept-"), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
