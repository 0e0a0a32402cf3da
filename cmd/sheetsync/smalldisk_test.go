//go:build linux

package main

import (
	"strings"
	"syscall"
	"testing"
)

// TestSmallStateDisk: on a state dir whose disk has less room than the change log may take
// (journalBytes, 1 GiB), the embedded NATS server refused to create the log and serve did not
// start. It now starts with a smaller log, says so, and takes writes. It needs a real small
// disk, a tmpfs, which only a process allowed to mount one can make.
func TestSmallStateDisk(t *testing.T) {
	state := t.TempDir()
	if err := syscall.Mount("tmpfs", state, "tmpfs", 0, "size=64m,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v); needs root or CAP_SYS_ADMIN", state, err)
	}
	// registered before the server's Close, so it runs after it
	t.Cleanup(func() {
		if err := syscall.Unmount(state, 0); err != nil {
			t.Errorf("unmount %s: %v", state, err)
			syscall.Unmount(state, syscall.MNT_DETACH)
		}
	})
	m := MustRunMain(t, copySamples(t), func(c *Config) { c.StateDir = state })
	code, out := post(t, m.Server.URL()+"/v3/items/insert", `{"collectionId":"products","items":[{"_id":"small-disk","name":"fits"}]}`)
	if code != 200 {
		t.Fatalf("a write with the state dir on a 64 MiB disk: %d %v", code, out)
	}
	if logs := m.Stderr.(*lockedBuffer).String(); !strings.Contains(logs, "little free disk space for the change log") {
		t.Errorf("no warning about the small change log:\n%s", logs)
	}
}
