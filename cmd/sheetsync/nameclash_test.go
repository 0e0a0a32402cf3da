package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReplicaNameClashEndsElsewhere: on r1, a_b.csv waits for its collection name, which a.b.csv
// holds; when a.b.csv is removed on another replica, r1 lets a_b.csv have the name, as it does
// when a.b.csv is removed in its own folder, and every replica then serves a_b.csv.
func TestReplicaNameClashEndsElsewhere(t *testing.T) {
	ns := startNATS(t)
	dir1, dir2 := copySamples(t), copySamples(t)
	for name, data := range map[string]string{"a.b.csv": "_id,name\np1,from a.b\n", "a_b.csv": "_id,name\nq1,from a_b\n"} {
		if err := os.WriteFile(filepath.Join(dir1, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r1 := runReplica(t, ns, "r1", dir1)
	r2 := runReplica(t, ns, "r2", dir2)
	eventually(t, 10*time.Second, func() (bool, string) {
		return itemName(t, r2, "a_b", "p1") == "from a.b", "r2 never served a.b.csv from r1"
	})
	if err := os.Remove(filepath.Join(dir2, "a.b.csv")); err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Main{r1, r2} {
		eventually(t, 10*time.Second, func() (bool, string) {
			got := itemName(t, m, "a_b", "q1")
			return got == "from a_b", fmt.Sprintf("%s serves q1 of a_b as %q, want a_b.csv's row once a.b.csv is gone", m.Config.Replica, got)
		})
	}
}
