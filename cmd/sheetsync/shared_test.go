package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// runShared runs a replica of a --shared-dir folder in this process: every replica on the same
// folder and state dir, through ns, with a short lease.
func runShared(tb testing.TB, url, name, dir string) *Main {
	return MustRunMain(tb, dir, func(c *Config) {
		c.NATS, c.Replica, c.SharedDir = url, name, true
		c.LeaseTTL, c.Debounce = 600*time.Millisecond, 20*time.Millisecond
	})
}

// holds reports whether the replica has the shared folder open.
func holds(m *Main) bool { return m.shared != nil && m.shared.current() != nil }

// TestSharedDirFailover: replicas sharing one folder elect one to watch and write it. Writes
// through any replica reach the file through the holder; when the holder stops, or dies (its
// NATS connection gone, so it cannot renew the lease), another takes over, reads an edit made to
// the file meanwhile and writes what came after, and the old holder writes nothing more.
func TestSharedDirFailover(t *testing.T) {
	ns := startNATS(t)
	dir := copySamples(t)
	products := filepath.Join(dir, "products.csv")
	fileHolds := func(text, what string) {
		t.Helper()
		eventually(t, 10*time.Second, func() (bool, string) {
			b, _ := os.ReadFile(products)
			return bytes.Contains(b, []byte(text)), fmt.Sprintf("products.csv does not hold %q (%s)", text, what)
		})
	}
	served := func(m *Main, id, want string) {
		t.Helper()
		eventually(t, 10*time.Second, func() (bool, string) {
			got := itemName(t, m, "products", id)
			return got == want, fmt.Sprintf("%s serves %s named %q, want %q", m.Config.Replica, id, got, want)
		})
	}
	insert := func(m *Main, id, name string) {
		t.Helper()
		body := fmt.Sprintf(`{"collectionId":"products","items":[{"_id":%q,"name":%q,"price":1}]}`, id, name)
		if code, out := post(t, m.Server.URL()+"/v3/items/insert", body); code != 200 {
			t.Fatalf("insert through %s: %d %v", m.Config.Replica, code, out)
		}
	}

	r1 := runShared(t, ns.URL(), "r1", dir)
	eventually(t, 10*time.Second, func() (bool, string) { return holds(r1), "r1 alone never held the folder" })
	r2 := runShared(t, ns.URL(), "r2", dir)
	insert(r2, "s-1", "Written Through r2")
	fileHolds(",s-1,", "written through r2, into the file by r1")
	served(r1, "s-1", "Written Through r2")
	if holds(r2) {
		t.Fatal("r2 holds the folder while r1 does")
	}

	// r1 stops; a person edits the file before r2 takes over
	if err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(products)
	if err != nil {
		t.Fatal(err)
	}
	writeByRename(t, products, bytes.Replace(b, []byte("Written Through r2,"), []byte("Edited While Nobody Held It,"), 1))
	eventually(t, 10*time.Second, func() (bool, string) { return holds(r2), "r2 never took the folder over from r1" })
	served(r2, "s-1", "Edited While Nobody Held It")
	insert(r2, "s-2", "After The Takeover")
	fileHolds(",s-2,", "written through r2 after it took over")

	// r2 dies without letting go: r3 takes over once the lease expires
	r3 := runShared(t, ns.URL(), "r3", dir)
	r2.journal.conn.Close()
	eventually(t, 10*time.Second, func() (bool, string) { return !holds(r2), "r2 kept the folder without NATS" })
	eventually(t, 10*time.Second, func() (bool, string) { return holds(r3), "r3 never took the folder over from r2" })
	insert(r3, "s-3", "After The Second Takeover")
	fileHolds(",s-3,", "written through r3 after r2 died")
	served(r3, "s-2", "After The Takeover")
	b, _ = os.ReadFile(products)
	if n := bytes.Count(b, []byte(",s-")); n != 3 {
		t.Errorf("products.csv holds %d of the three rows written, want each once:\n%s", n, b[max(0, len(b)-400):])
	}
}
