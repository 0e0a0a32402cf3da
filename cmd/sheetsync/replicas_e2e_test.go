package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sheetsync/sheetsync/cache/replica"
)

// replicaBound bounds every wait for a change to reach a replica, its API or its files; DESIGN
// §6 asks for milliseconds, and a restart after SIGKILL takes a second or two.
const replicaBound = 10 * time.Second

// TestReplicaProcesses runs three sheetsync processes, each on its own copy of the samples with
// its own state dir, all committing through one NATS server (DESIGN §4: by default each replica
// writes every change into its own folder). Every change, written through any replica's API or
// saved by hand into any replica's file, must reach every replica's API and files; a replica
// killed with SIGKILL must catch up when it starts again; and the folders must end byte for
// byte identical, with every acknowledged item on every replica.
func TestReplicaProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ns, err := replica.StartEmbedded(replica.EmbeddedOptions{StoreDir: t.TempDir(), Listen: true, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown) // after the processes are killed: cleanups run last first
	var rs []*replicaNode
	for _, name := range []string{"r1", "r2", "r3"} {
		r := &replicaNode{name: name, dir: copySamples(t), state: t.TempDir(), nats: ns.URL()}
		r.start(t)
		rs = append(rs, r)
	}
	r1, r2, r3 := rs[0], rs[1], rs[2]
	mustUseStream(t, ns, rs)
	want := map[string]string{} // "collection/_id" of every acknowledged write: its name, "" once removed

	// an insert through r1 reaches r2 and r3, in a CSV and in a workbook's second sheet
	r1.write(t, "insert", `{"collectionId":"products","items":[{"_id":"e2e-rake","name":"Garden Rake","category":"garden","price":12.5,"inStock":true}]}`)
	r1.write(t, "insert", `{"collectionId":"stores-Staff","items":[{"_id":"e2e-staff","name":"New Hire","store":"Harbour Street","role":"sales","hourlyRate":15,"fullTime":false}]}`)
	want["products/e2e-rake"], want["stores-Staff/e2e-staff"] = "Garden Rake", "New Hire"
	for _, r := range []*replicaNode{r2, r3} {
		r.waitItem(t, "products", "e2e-rake", "Garden Rake", "inserted through r1")
		r.waitItem(t, "stores-Staff", "e2e-staff", "New Hire", "inserted through r1")
	}

	// an update through r2 and removals through r3 reach the others
	r2.write(t, "update", `{"collectionId":"products","items":[{"_id":"e2e-rake","name":"Garden Rake XL","category":"garden","price":14,"inStock":true}]}`)
	want["products/e2e-rake"] = "Garden Rake XL"
	const bedside, caoimhe = "2b6f4e58-8aec-4e2e-87da-6d332ee0447d", "d6e3bbf5-8e4d-4109-90bc-65440f3d205c"
	r3.write(t, "remove", `{"collectionId":"products","itemIds":["`+bedside+`"]}`)
	r3.write(t, "remove", `{"collectionId":"stores-Staff","itemIds":["`+caoimhe+`"]}`)
	want["products/"+bedside], want["stores-Staff/"+caoimhe] = "", ""
	for _, r := range rs {
		r.waitItem(t, "products", "e2e-rake", "Garden Rake XL", "updated through r2")
		r.waitItem(t, "products", bedside, "", "removed through r3")
		r.waitItem(t, "stores-Staff", caoimhe, "", "removed through r3")
	}

	// a cell saved by hand in r2's file (a temporary file renamed over it, as editors save)
	// reaches r1's API and r1's and r3's files. r2's file must hold the writes above first, or
	// the save would undo them.
	r2.waitFile(t, "products.csv", "\nGarden Rake XL,garden,14,", "the update through r2")
	r2.waitFile(t, "products.csv", "!"+bedside, "the removal through r3")
	const oak, edited = "818dbd63-9eb0-43bd-8440-33980f714d78", "Oak Dining Table (edited in r2)"
	r2.editFile(t, "products.csv", "\nOak Dining Table (6 Seater),", "\n"+edited+",")
	want["products/"+oak] = edited
	r1.waitItem(t, "products", oak, edited, "saved by hand in r2's products.csv")
	r1.waitFile(t, "products.csv", "\n"+edited+",", "the hand edit in r2's products.csv")
	r3.waitFile(t, "products.csv", "\n"+edited+",", "the hand edit in r2's products.csv")

	// r3 killed without a chance to shut down misses writes through r1, and gets them when it
	// starts again on the same folder and state dir
	if err := r3.p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r3.p.wait()
	r1.write(t, "insert", `{"collectionId":"products","items":[{"_id":"e2e-while-down","name":"Written While r3 Was Down","category":"garden","price":3,"inStock":false}]}`)
	r1.write(t, "insert", `{"collectionId":"stores-Staff","items":[{"_id":"e2e-staff-2","name":"Second Hire","store":"Shop Street","role":"sales","hourlyRate":16,"fullTime":true}]}`)
	want["products/e2e-while-down"], want["stores-Staff/e2e-staff-2"] = "Written While r3 Was Down", "Second Hire"
	r3.start(t)
	r3.waitItem(t, "products", "e2e-while-down", "Written While r3 Was Down", "inserted through r1 while r3 was down")
	r3.waitItem(t, "stores-Staff", "e2e-staff-2", "Second Hire", "inserted through r1 while r3 was down")
	r3.waitFile(t, "products.csv", ",e2e-while-down,", "the insert through r1 while r3 was down")

	// in the end the folders are the same, byte for byte, and every replica serves every
	// acknowledged write
	names := strings.NewReplacer(r1.dir, r1.name, r2.dir, r2.name, r3.dir, r3.name)
	eventually(t, replicaBound, func() (bool, string) {
		d := folderDifference(r1.dir, r2.dir, r3.dir)
		logs := ""
		for _, r := range rs {
			logs += "\n" + r.name + "'s log:\n" + r.p.logged()
		}
		return d == "", names.Replace(d) + logs
	})
	for _, r := range rs {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			coll, id, _ := strings.Cut(k, "/")
			if got, found := r.item(t, coll, id); got != want[k] || found != (want[k] != "") {
				t.Errorf("%s: %s item %s has name %q (found %t), want %q", r.name, coll, id, got, found, want[k])
			}
		}
		for coll, n := range map[string]float64{"products": 301, "stores-Staff": 31} {
			if code, out := post(t, r.p.url+"/v3/items/count", `{"collectionId":"`+coll+`"}`); code != 200 || out["totalCount"] != n {
				t.Errorf("%s: %s count: %d %v, want %v (the samples, 2 inserts, 1 removal)", r.name, coll, code, out, n)
			}
		}
	}
}

// replicaNode is one sheetsync process of TestReplicaProcesses, with its folder and state dir.
type replicaNode struct {
	name, dir, state, nats string
	p                      *process
}

// start runs the replica, or runs it again after it stopped, and waits until it is ready.
// startProcess passes this process's environment on, so the settings it has no flag for go
// there (DESIGN §2 gives every flag an environment variable).
func (r *replicaNode) start(t *testing.T) {
	t.Helper()
	t.Setenv("SHEETSYNC_REPLICA", r.name)
	t.Setenv("SHEETSYNC_STATE_DIR", r.state)
	t.Setenv("SHEETSYNC_NATS", r.nats)
	r.p = startProcess(t, r.dir)
	eventually(t, replicaBound, func() (bool, string) {
		resp, err := http.Get(r.p.url + "/readyz")
		if err != nil {
			return false, fmt.Sprintf("%s: GET /readyz: %v", r.name, err)
		}
		defer resp.Body.Close()
		return resp.StatusCode == 200, fmt.Sprintf("%s: GET /readyz: %s; its log:\n%s", r.name, resp.Status, r.p.logged())
	})
}

// mustUseStream fails the test unless the replicas created the change log on the NATS server
// they were given, instead of each running its own.
func mustUseStream(t *testing.T, ns *replica.Embedded, rs []*replicaNode) {
	t.Helper()
	js := jetStreamOf(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, replica.DefaultStream); err != nil {
		t.Fatalf("%s, %s and %s are ready, but the NATS server they were given (SHEETSYNC_NATS=%s) has no stream %s: "+
			"they do not commit through it (%v). r1's log:\n%s", rs[0].name, rs[1].name, rs[2].name, ns.URL(), replica.DefaultStream, err, rs[0].p.logged())
	}
}

// write sends a v3 item write (insert, update, remove) and fails unless every item succeeded.
func (r *replicaNode) write(t *testing.T, op, body string) {
	t.Helper()
	code, out := post(t, r.p.url+"/v3/items/"+op, body)
	results, _ := out["results"].([]any)
	ok := code == 200 && len(results) > 0
	for _, res := range results {
		if m, _ := res.(map[string]any); m["item"] == nil {
			ok = false
		}
	}
	if !ok {
		t.Fatalf("%s: %s %s: %d %v", r.name, op, body, code, out)
	}
}

// logTail returns the last lines the replica logged, for a failure message.
func (r *replicaNode) logTail() string {
	lines := strings.SplitAfter(strings.TrimSuffix(r.p.logged(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "")
}

// item returns the name of a collection's item as the replica serves it, and whether it is there.
func (r *replicaNode) item(t *testing.T, coll, id string) (string, bool) {
	t.Helper()
	code, out := post(t, r.p.url+"/v3/items/query", fmt.Sprintf(`{"collectionId":%q,"query":{"filter":{"_id":%q}}}`, coll, id))
	items, _ := out["items"].([]any)
	if code != 200 || len(items) == 0 {
		return "", false
	}
	name, _ := items[0].(map[string]any)["name"].(string)
	return name, true
}

// waitItem waits until the replica serves the item with that name, or no such item when name
// is "".
func (r *replicaNode) waitItem(t *testing.T, coll, id, name, what string) {
	t.Helper()
	eventually(t, replicaBound, func() (bool, string) {
		got, found := r.item(t, coll, id)
		if name == "" {
			return !found, fmt.Sprintf("%s still serves %s item %s (%s), named %q; its log ends:\n%s", r.name, coll, id, what, got, r.logTail())
		}
		return got == name, fmt.Sprintf("%s serves %s item %s (%s) named %q (found %t), want %q; its log ends:\n%s",
			r.name, coll, id, what, got, found, name, r.logTail())
	})
}

// waitFile waits until the replica's file holds text, or, for "!text", no longer holds text.
func (r *replicaNode) waitFile(t *testing.T, file, text, what string) {
	t.Helper()
	text, absent := strings.CutPrefix(text, "!")
	path := filepath.Join(r.dir, file)
	eventually(t, replicaBound, func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
		}
		if absent {
			return !bytes.Contains(b, []byte(text)), fmt.Sprintf("%s's %s (%s) still holds %q: %s has not reached it; its log ends:\n%s",
				r.name, file, path, text, what, r.logTail())
		}
		return bytes.Contains(b, []byte(text)), fmt.Sprintf("%s's %s (%s) does not hold %q: %s has not reached it; its log ends:\n%s",
			r.name, file, path, text, what, r.logTail())
	})
}

// editFile replaces old with new in the replica's file, saving it as editors do.
func (r *replicaNode) editFile(t *testing.T, file, old, new string) {
	t.Helper()
	path := filepath.Join(r.dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not hold %q to edit", path, old)
	}
	writeByRename(t, path, bytes.Replace(b, []byte(old), []byte(new), 1))
}

// firstDifference describes where two versions of a file part: the byte, the line, and that
// line in each (the text around the byte when the line is long, or the file binary).
func firstDifference(a, b []byte) string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	around := func(x []byte) []byte {
		start := bytes.LastIndexByte(x[:n], '\n') + 1
		end := len(x)
		if i := bytes.IndexByte(x[n:], '\n'); i >= 0 {
			end = n + i
		}
		if end-start > 300 {
			start, end = max(start, n-100), min(end, n+100)
		}
		return x[start:end]
	}
	return fmt.Sprintf("%d and %d bytes, first difference at byte %d (line %d):\n\t%q\n\t%q",
		len(a), len(b), n, bytes.Count(a[:n], []byte("\n"))+1, around(a), around(b))
}

// eventually polls cond every few milliseconds until it holds, and fails the test with cond's
// last message when it does not hold within the bound.
func eventually(t testing.TB, within time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
