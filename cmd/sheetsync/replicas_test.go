package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sheetsync/sheetsync/cache/replica"
)

// startNATS starts a NATS server with JetStream listening on a random loopback port, as an
// existing cluster of one for --nats.
func startNATS(tb testing.TB) *replica.Embedded {
	tb.Helper()
	ns, err := replica.StartEmbedded(replica.EmbeddedOptions{StoreDir: tb.TempDir(), Listen: true, Port: -1, Name: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ns.Shutdown)
	return ns
}

// restartableNATS is a NATS server with JetStream that a test stops and starts again on the
// same store and port, as a restarted server comes back where its clients look for it.
type restartableNATS struct {
	tb    testing.TB
	store string
	port  int
	mu    sync.Mutex
	ns    *replica.Embedded
}

// startRestartableNATS starts the server on a random loopback port; it stops with the test.
func startRestartableNATS(tb testing.TB) *restartableNATS {
	tb.Helper()
	r := &restartableNATS{tb: tb, store: tb.TempDir(), port: -1}
	r.start()
	u, err := url.Parse(r.ns.URL())
	if err != nil {
		tb.Fatal(err)
	}
	r.port, _ = strconv.Atoi(u.Port())
	tb.Cleanup(r.stop)
	return r
}

// server returns the server running now.
func (r *restartableNATS) server() *replica.Embedded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ns
}

// start starts the server again after stop.
func (r *restartableNATS) start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	ns, err := replica.StartEmbedded(replica.EmbeddedOptions{StoreDir: r.store, Listen: true, Port: r.port, Name: "test"})
	if err != nil {
		r.tb.Fatal(err)
	}
	r.ns = ns
}

// stop shuts the server down and waits until it is.
func (r *restartableNATS) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ns.Shutdown()
}

// runReplica runs a replica in this process on dir with its own state dir, through ns.
func runReplica(tb testing.TB, ns *replica.Embedded, name, dir string) *Main {
	state := tb.TempDir()
	return MustRunMain(tb, dir, func(c *Config) {
		c.NATS, c.Replica, c.StateDir = ns.URL(), name, state
		c.Debounce = 20 * time.Millisecond
	})
}

// jetStreamOf connects to ns as an operator's tool would, to look at the stream or change it.
func jetStreamOf(tb testing.TB, ns *replica.Embedded) jetstream.JetStream {
	tb.Helper()
	nc, err := ns.Connect()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// spreadsheets returns the spreadsheets of a folder by name.
func spreadsheets(dir string) map[string][]byte {
	m := map[string][]byte{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") && (ext == ".csv" || ext == ".xlsx") {
			m[e.Name()], _ = os.ReadFile(filepath.Join(dir, e.Name()))
		}
	}
	return m
}

// folderDifference names the first spreadsheet that differs between folders, "" when they hold
// the same files byte for byte.
func folderDifference(dirs ...string) string {
	first := spreadsheets(dirs[0])
	for _, dir := range dirs[1:] {
		other := spreadsheets(dir)
		names := slices.Sorted(maps.Keys(first))
		for n := range other {
			if _, ok := first[n]; !ok {
				names = append(names, n)
			}
		}
		for _, name := range names {
			a, inFirst := first[name]
			b, inOther := other[name]
			switch {
			case !inOther:
				return fmt.Sprintf("%s has %s, %s has not", dirs[0], name, dir)
			case !inFirst:
				return fmt.Sprintf("%s has %s, %s has not", dir, name, dirs[0])
			case !bytes.Equal(a, b):
				return fmt.Sprintf("%s differs between %s and %s: %s", name, dirs[0], dir, firstDifference(a, b))
			}
		}
	}
	return ""
}

// itemName returns the name of an item through a replica's v3 API, "" when it has none.
func itemName(tb testing.TB, m *Main, collection, id string) string {
	resp, err := http.Post(m.Server.URL()+"/v3/items/query", "application/json",
		strings.NewReader(fmt.Sprintf(`{"collectionId":%q,"query":{"filter":{"_id":%q}}}`, collection, id)))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Items []map[string]any `json:"items"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Items) == 0 {
		return ""
	}
	name, _ := body.Items[0]["name"].(string)
	return name
}

// TestReplicasShareEveryChange: three replicas, each with its own copy of the samples, through
// one NATS server: API writes through any replica, a hand edit of a file, a new file and a
// removed file on one replica all reach every replica's store and folder, and the folders end
// byte for byte the same; so does the folder of a fourth joining later on a stale copy.
func TestReplicasShareEveryChange(t *testing.T) {
	ns := startNATS(t)
	var dirs []string
	var rs []*Main
	for i := range 3 {
		dir := copySamples(t)
		dirs = append(dirs, dir)
		rs = append(rs, runReplica(t, ns, fmt.Sprintf("r%d", i+1), dir))
	}
	seen := func(collection, id, want string) {
		t.Helper()
		for i, m := range rs {
			eventually(t, 10*time.Second, func() (bool, string) {
				got := itemName(t, m, collection, id)
				return got == want, fmt.Sprintf("r%d serves %s/%s named %q, want %q", i+1, collection, id, got, want)
			})
		}
	}
	// the store is written first and the files moments later: wait for the files
	inFiles := func(file, text string) {
		t.Helper()
		for _, dir := range dirs {
			eventually(t, 10*time.Second, func() (bool, string) {
				b, _ := os.ReadFile(filepath.Join(dir, file))
				return bytes.Contains(b, []byte(text)), fmt.Sprintf("%s in %s does not hold %q", file, dir, text)
			})
		}
	}
	same := func(what string) {
		t.Helper()
		eventually(t, 10*time.Second, func() (bool, string) {
			d := folderDifference(dirs...)
			return d == "", what + ": " + d
		})
	}
	same("at the start")

	// API writes through each replica
	if code, body := post(t, rs[0].Server.URL()+"/v3/items/insert", `{"collectionId":"products","items":[{"_id":"rake-1","name":"Garden Rake","price":12.5}]}`); code != 200 {
		t.Fatalf("insert through r1: %d %v", code, body)
	}
	seen("products", "rake-1", "Garden Rake")
	if code, body := post(t, rs[1].Server.URL()+"/v3/items/update", `{"collectionId":"products","items":[{"_id":"rake-1","name":"Leaf Rake","price":14}]}`); code != 200 {
		t.Fatalf("update through r2: %d %v", code, body)
	}
	seen("products", "rake-1", "Leaf Rake")
	if code, body := post(t, rs[2].Server.URL()+"/v3/items/insert", `{"collectionId":"stores-Staff","items":[{"_id":"staff-x","name":"Aoife Byrne","role":"clerk"}]}`); code != 200 {
		t.Fatalf("insert into a workbook through r3: %d %v", code, body)
	}
	seen("stores-Staff", "staff-x", "Aoife Byrne")
	inFiles("products.csv", "Leaf Rake,,14,")
	same("after API writes")
	// a collection created through r1, with a NUMBER field its empty column cannot show, takes
	// an item with a number through r2
	if code, body := post(t, rs[0].Server.URL()+"/v3/collections/create", `{"collection":{"id":"orders","fields":[{"key":"customer","type":"TEXT"},{"key":"total","type":"NUMBER"}]}}`); code != 200 {
		t.Fatalf("create a collection through r1: %d %v", code, body)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		code, body := post(t, rs[1].Server.URL()+"/v3/items/insert", `{"collectionId":"orders","items":[{"_id":"o1","customer":"Ann","total":12.5}]}`)
		return code == 200, fmt.Sprintf("insert into the new collection through r2: %d %v", code, body)
	})
	inFiles("orders.csv", "Ann,12.5,o1,")
	same("after a collection was created on r1 and written through r2")
	for i, m := range rs {
		if logs := m.Stderr.(*lockedBuffer).String(); strings.Contains(logs, "level=ERROR") {
			t.Fatalf("r%d logged an error:\n%s", i+1, logs)
		}
	}

	// a copy of r1's folder as it is now, for a replica that joins later
	stale := t.TempDir()
	for name, b := range spreadsheets(dirs[0]) {
		if err := os.WriteFile(filepath.Join(stale, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// a hand edit of a file on r2
	path := filepath.Join(dirs[1], "products.csv")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(b, []byte("Leaf Rake"), []byte("Hand Rake"), 1)
	writeByRename(t, path, edited)
	seen("products", "rake-1", "Hand Rake")
	inFiles("products.csv", "Hand Rake,,14,")
	same("after a hand edit on r2")

	// a new file on r3, a file removed on r1
	writeByRename(t, filepath.Join(dirs[2], "tools.csv"), []byte("_id,name\nt1,Spade\n"))
	seen("tools", "t1", "Spade")
	inFiles("tools.csv", "t1,Spade")
	if err := os.Remove(filepath.Join(dirs[0], "tools.csv")); err != nil {
		t.Fatal(err)
	}
	seen("tools", "t1", "")
	same("after a file was added on r3 and removed on r1")

	// a replica joining on a stale copy of a folder: the cluster's version wins (the copy goes
	// to its trash), and its folder ends as the others', byte for byte, from replaying the log
	dirs = append(dirs, stale)
	rs = append(rs, runReplica(t, ns, "r4", stale))
	seen("products", "rake-1", "Hand Rake")
	same("after r4 joined on a stale copy")
}

// writeByRename replaces a file as editors save: a temporary file renamed over it.
func writeByRename(tb testing.TB, path string, b []byte) {
	tb.Helper()
	tmp := path + ".tmp~"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		tb.Fatal(err)
	}
}

// TestReplicaBootstrapFromSnapshot: when the log no longer holds every change since the
// beginning (its size or age limit dropped the oldest), a new replica with an empty folder
// starts from the snapshots the others stored and the log's tail after them, and ends with the
// same data and the same folder.
func TestReplicaBootstrapFromSnapshot(t *testing.T) {
	ns := startNATS(t)
	r1dir := copySamples(t)
	r1 := runReplica(t, ns, "r1", r1dir)
	insert := func(id, name string) {
		t.Helper()
		body := fmt.Sprintf(`{"collectionId":"products","items":[{"_id":%q,"name":%q,"price":2}]}`, id, name)
		if code, out := post(t, r1.Server.URL()+"/v3/items/insert", body); code != 200 {
			t.Fatalf("insert: %d %v", code, out)
		}
	}
	insert("before-snapshot", "In The Snapshot")
	eventually(t, 10*time.Second, func() (bool, string) {
		return r1.Folder.Idle() && bytes.Contains(spreadsheets(r1dir)["products.csv"], []byte("before-snapshot")), "r1 never wrote the insert"
	})
	ctx := context.Background()
	if err := r1.journal.snapshot(ctx, r1.Folder, r1.Config.StateDir); err != nil {
		t.Fatal(err)
	}
	insert("after-snapshot", "In The Log")

	// the log drops everything but its last change
	stream, err := jetStreamOf(t, ns).Stream(ctx, replica.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(ctx, jetstream.WithPurgeSequence(info.State.LastSeq)); err != nil {
		t.Fatal(err)
	}

	r2dir := t.TempDir()
	r2 := runReplica(t, ns, "r2", r2dir)
	for id, want := range map[string]string{"before-snapshot": "In The Snapshot", "after-snapshot": "In The Log"} {
		eventually(t, 10*time.Second, func() (bool, string) {
			got := itemName(t, r2, "products", id)
			return got == want, fmt.Sprintf("the new replica serves %s named %q, want %q", id, got, want)
		})
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		d := folderDifference(r1dir, r2dir)
		return d == "", d
	})
}

// TestReplicasSurviveNATSRestart: while NATS is down, writes fail at once with 503 and reads go
// on, and /readyz says why; once it is back, the replicas reconnect, resume from the last
// change they applied, take writes again, and commit a file edited meanwhile.
func TestReplicasSurviveNATSRestart(t *testing.T) {
	nats := startRestartableNATS(t)
	ns := nats.server()
	var dirs []string
	var rs []*Main
	for _, name := range []string{"r1", "r2"} {
		dir := copySamples(t)
		dirs = append(dirs, dir)
		rs = append(rs, runReplica(t, ns, name, dir))
	}
	r1, r2 := rs[0], rs[1]
	insert := func(m *Main, id string) (int, map[string]any) {
		return post(t, m.Server.URL()+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":%q,"name":%q}]}`, id, id))
	}
	ready := func(m *Main) (int, string) {
		resp, err := http.Get(m.Server.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, out := insert(r1, "before"); code != 200 {
		t.Fatalf("insert before the restart: %d %v", code, out)
	}

	nats.stop()
	eventually(t, 10*time.Second, func() (bool, string) {
		code, body := ready(r1)
		return code == 503 && strings.Contains(body, "NATS"), fmt.Sprintf("r1's /readyz with NATS down: %d %s", code, body)
	})
	code, out := insert(r1, "while-down")
	if msg, _ := out["errorMessage"].(string); code != 503 || !strings.Contains(msg, "nothing was written") {
		t.Fatalf("a write with NATS down: %d %v, want 503 saying nothing was written", code, out)
	}
	if got := itemName(t, r2, "products", "before"); got != "before" {
		t.Fatalf("a read with NATS down: %q", got)
	}
	// a file edited while NATS is down is committed once it is back
	products := filepath.Join(dirs[0], "products.csv")
	eventually(t, 10*time.Second, func() (bool, string) {
		b, _ := os.ReadFile(products)
		return bytes.Contains(b, []byte("\nbefore,")), "r1's products.csv never held the insert"
	})
	b, _ := os.ReadFile(products)
	writeByRename(t, products, bytes.Replace(b, []byte("\nbefore,"), []byte("\nedited while down,"), 1))
	eventually(t, 10*time.Second, func() (bool, string) {
		logs := r1.Stderr.(*lockedBuffer).String()
		return strings.Contains(logs, "cannot commit the file's change now"), "r1 never tried to commit the edit while NATS was down"
	})

	nats.start()
	for _, m := range rs {
		eventually(t, 15*time.Second, func() (bool, string) {
			code, body := ready(m)
			return code == 200, fmt.Sprintf("%s's /readyz after NATS came back: %d %s", m.Config.Replica, code, body)
		})
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		code, out := insert(r2, "after")
		return code == 200, fmt.Sprintf("a write after NATS came back: %d %v", code, out)
	})
	for _, m := range rs {
		for id, want := range map[string]string{"before": "edited while down", "after": "after"} {
			eventually(t, 10*time.Second, func() (bool, string) {
				got := itemName(t, m, "products", id)
				return got == want, fmt.Sprintf("%s serves %q as %q, want %q", m.Config.Replica, id, got, want)
			})
		}
		if got := itemName(t, m, "products", "while-down"); got != "" {
			t.Errorf("%s serves the write refused while NATS was down", m.Config.Replica)
		}
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		d := folderDifference(dirs...)
		return d == "", d
	})
}

// TestReplicaWaitsForOpenFile: while a file is open in a spreadsheet program on one replica (its
// lock file is there), a write through another replica is acknowledged but not written into that
// copy, which the person's next save would undo; what the person saves is read and shared; once
// the program closes the file, the write goes in, and the copies end the same.
func TestReplicaWaitsForOpenFile(t *testing.T) {
	ns := startNATS(t)
	dirs := []string{copySamples(t), copySamples(t)}
	r1, r2 := runReplica(t, ns, "r1", dirs[0]), runReplica(t, ns, "r2", dirs[1])
	lock := filepath.Join(dirs[0], ".~lock.products.csv#")
	if err := os.WriteFile(lock, []byte("a person,host,...\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := post(t, r2.Server.URL()+"/v3/items/insert", `{"collectionId":"products","items":[{"_id":"while-open","name":"While Open"}]}`); code != 200 {
		t.Fatalf("insert through r2: %d %v", code, out)
	}
	fileHas := func(dir, text string) bool {
		b, _ := os.ReadFile(filepath.Join(dir, "products.csv"))
		return bytes.Contains(b, []byte(text))
	}
	eventually(t, 10*time.Second, func() (bool, string) { return fileHas(dirs[1], ",while-open,"), "r2 never wrote its insert" })
	eventually(t, 10*time.Second, func() (bool, string) {
		return itemName(t, r1, "products", "while-open") == "While Open", "r1 never applied the insert"
	})
	// proving a write does not happen takes a wait: several write-back rounds (10 ms each)
	time.Sleep(300 * time.Millisecond)
	if fileHas(dirs[0], ",while-open,") {
		t.Fatal("r1 wrote into products.csv while it was open in another program")
	}
	// the person saves an edit of another row, from the copy they opened
	path := filepath.Join(dirs[0], "products.csv")
	b, _ := os.ReadFile(path)
	writeByRename(t, path, bytes.Replace(b, []byte("\nOak Dining Table (6 Seater),"), []byte("\nOak Dining Table (saved in the program),"), 1))
	eventually(t, 10*time.Second, func() (bool, string) {
		got := itemName(t, r2, "products", "818dbd63-9eb0-43bd-8440-33980f714d78")
		return got == "Oak Dining Table (saved in the program)", fmt.Sprintf("r2 serves the saved row as %q", got)
	})
	if err := os.Remove(lock); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		return fileHas(dirs[0], ",while-open,"), "r1 never wrote the insert after the program closed the file"
	})
	if got := itemName(t, r1, "products", "while-open"); got != "While Open" {
		t.Fatalf("the insert was lost: r1 serves %q", got)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		d := folderDifference(dirs...)
		return d == "", d
	})
}
