package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startProcess runs this test binary as sheetsync serving dir and returns it with its URL.
func startProcess(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--dir", dir, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "SHEETSYNC_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		re := regexp.MustCompile(`msg=serving url=(\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
	}()
	select {
	case url := <-urls:
		return cmd, url
	case <-time.After(60 * time.Second):
		t.Fatal("the process did not say where it serves")
	}
	return nil, ""
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
	cmd, url := startProcess(t, dir)
	const n = 20
	for i := range n {
		code, out := post(t, url+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"kept-%d","name":"kept %d","price":%d}]}`, i, i, i))
		if code != 200 || out["results"].([]any)[0].(map[string]any)["item"] == nil {
			t.Fatalf("insert %d: %d %v", i, code, out)
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no last write
		t.Fatal(err)
	}
	cmd.Wait()

	_, url = startProcess(t, dir)
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
