package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// indexNames lists the indexes a replica answers for products, by name.
func indexNames(t *testing.T, m *Main) string {
	t.Helper()
	code, out := post(t, m.Server.URL()+"/v3/indexes/list", `{"collectionId":"products"}`)
	if code != 200 {
		t.Fatalf("list indexes on %s: %d %v", m.Config.Replica, code, out)
	}
	var names []string
	for _, ix := range out["indexes"].([]any) {
		names = append(names, ix.(map[string]any)["name"].(string))
	}
	return strings.Join(names, ",")
}

// TestReplicasShareIndexes: an index created through one replica is listed by every replica and,
// unique, refuses a repeated key written through another; one removed through another replica is
// gone from all; a replica that joins later, or that was away when an index was removed, holds
// the cluster's indexes, not those its state dir kept.
func TestReplicasShareIndexes(t *testing.T) {
	ns := startNATS(t)
	r1 := runReplica(t, ns, "r1", copySamples(t))
	r2 := runReplica(t, ns, "r2", copySamples(t))

	code, out := post(t, r1.Server.URL()+"/v3/indexes/create", `{"collectionId":"products","index":{"name":"by_sku","fields":[{"path":"sku"}],"unique":true}}`)
	if code != 200 {
		t.Fatalf("create an index on r1: %d %v", code, out)
	}
	code, out = post(t, r1.Server.URL()+"/v3/indexes/create", `{"collectionId":"products","index":{"name":"by_price","fields":[{"path":"price","order":"DESC"}]}}`)
	if code != 200 {
		t.Fatalf("create a second index on r1: %d %v", code, out)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		got := indexNames(t, r2)
		return got == "_id_,by_sku,by_price", fmt.Sprintf("r2 lists %s", got)
	})
	// the unique index holds on r2: a sku the samples have is refused there
	_, out = post(t, r2.Server.URL()+"/v3/items/query", `{"collectionId":"products","query":{"paging":{"limit":1}}}`)
	sku := out["items"].([]any)[0].(map[string]any)["sku"]
	code, out = post(t, r2.Server.URL()+"/v3/items/insert", fmt.Sprintf(`{"collectionId":"products","items":[{"_id":"dup-sku","name":"dup","sku":%q}]}`, sku))
	if !strings.Contains(fmt.Sprint(out), `unique index "by_sku"`) || itemName(t, r2, "products", "dup-sku") != "" {
		t.Errorf("a repeated sku through r2 under r1's unique index: %d %v", code, out)
	}

	// r3 joins later and takes them
	r3 := runReplica(t, ns, "r3", copySamples(t))
	if got := indexNames(t, r3); got != "_id_,by_sku,by_price" {
		t.Errorf("r3, joining later, lists %s", got)
	}
	// r3 goes away; an index is removed through r2 meanwhile; r3 comes back on its state dir
	state3 := r3.Config.StateDir
	dir3 := r3.Config.Dir
	if err := r3.Close(); err != nil {
		t.Fatal(err)
	}
	if code, out := post(t, r2.Server.URL()+"/v3/indexes/remove", `{"collectionId":"products","indexName":"by_price"}`); code != 200 {
		t.Fatalf("remove an index on r2: %d %v", code, out)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		got := indexNames(t, r1)
		return got == "_id_,by_sku", fmt.Sprintf("r1 lists %s after the removal on r2", got)
	})
	back := MustRunMain(t, dir3, func(c *Config) {
		c.NATS, c.Replica, c.StateDir = ns.URL(), "r3", state3
		c.Debounce = 20 * time.Millisecond
	})
	if got := indexNames(t, back); got != "_id_,by_sku" {
		t.Errorf("r3, back after the removal, lists %s", got)
	}
}
