package replica

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// leaseTTL keeps the lease tests fast: a dead holder's lease moves on after about 1.5 TTL.
const leaseTTL = 600 * time.Millisecond

// leaseGroup is a set of leases campaigning for one key, watched for the one failure a lease
// exists to prevent: two replicas holding it at once.
type leaseGroup struct {
	t      *testing.T
	url    string
	active atomic.Int32 // OnAcquire minus OnLose, over every lease of the group
	most   atomic.Int32 // the highest active has been

	mu     sync.Mutex
	leases []*testLease
}

// testLease is a lease on its own connection, with the times of its callbacks.
type testLease struct {
	*Lease
	name string
	nc   *nats.Conn
	logs *syncBuffer

	mu       sync.Mutex
	acquired time.Time // the last OnAcquire
	lost     time.Time // the last OnLose
}

func (tl *testLease) times() (acquired, lost time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return tl.acquired, tl.lost
}

// newLeaseGroup starts checking, every millisecond until the test ends, that no two leases of
// the group report Held at once.
func newLeaseGroup(t *testing.T, url string) *leaseGroup {
	g := &leaseGroup{t: t, url: url}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if held := g.held(); len(held) > 1 {
				t.Errorf("%d leases held at once: %s", len(held), names(held))
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-stopped
		if n := g.most.Load(); n > 1 {
			t.Errorf("OnAcquire and OnLose counted %d holders at once", n)
		}
	})
	return g
}

// open starts a lease named name on a connection of its own, which reconnects for ever.
func (g *leaseGroup) open(name string) *testLease {
	t := g.t
	t.Helper()
	nc, err := nats.Connect(g.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	tl := &testLease{name: name, nc: nc, logs: &syncBuffer{}}
	l, err := OpenLease(context.Background(), nc, LeaseOptions{
		Holder: name,
		TTL:    leaseTTL,
		OnAcquire: func() {
			n := g.active.Add(1)
			for m := g.most.Load(); n > m && !g.most.CompareAndSwap(m, n); m = g.most.Load() {
			}
			tl.mu.Lock()
			tl.acquired = time.Now()
			tl.mu.Unlock()
		},
		OnLose: func() {
			g.active.Add(-1)
			tl.mu.Lock()
			tl.lost = time.Now()
			tl.mu.Unlock()
		},
		Logger: slog.New(slog.NewTextHandler(tl.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close) // before nc.Close: cleanups run last first
	tl.Lease = l
	g.mu.Lock()
	g.leases = append(g.leases, tl)
	g.mu.Unlock()
	return tl
}

// held returns the leases that report Held now.
func (g *leaseGroup) held() []*testLease {
	g.mu.Lock()
	defer g.mu.Unlock()
	var held []*testLease
	for _, tl := range g.leases {
		if tl.Held() {
			held = append(held, tl)
		}
	}
	return held
}

// waitHolder waits for one lease among those given to hold, its OnAcquire done, and returns it.
func (g *leaseGroup) waitHolder(among ...*testLease) *testLease {
	g.t.Helper()
	var holder *testLease
	waitFor(g.t, "a lease is held", func() bool {
		for _, tl := range among {
			acquired, lost := tl.times()
			if tl.Held() && !acquired.IsZero() && !acquired.Before(lost) {
				holder = tl
				return true
			}
		}
		return false
	})
	return holder
}

func names(leases []*testLease) string {
	var s []string
	for _, tl := range leases {
		s = append(s, tl.name)
	}
	return strings.Join(s, ", ")
}

func without(leases []*testLease, gone *testLease) []*testLease {
	var rest []*testLease
	for _, tl := range leases {
		if tl != gone {
			rest = append(rest, tl)
		}
	}
	return rest
}

// syncBuffer collects a lease's log lines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) count(substr string) int { return strings.Count(b.String(), substr) }

// TestLeaseOneHolder: of two or three replicas, exactly one holds the lease, keeps it while it
// renews, and every replica names it.
func TestLeaseOneHolder(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := startServer(t)
			g := newLeaseGroup(t, e.URL())
			var leases []*testLease
			for i := range n {
				leases = append(leases, g.open(fmt.Sprintf("r%d", i)))
			}
			holder := g.waitHolder(leases...)
			waitFor(t, "every replica names the holder", func() bool {
				for _, tl := range leases {
					if tl.Holder() != holder.name {
						return false
					}
				}
				return true
			})
			// Sleep only to show that nothing changes over several renewals.
			time.Sleep(2 * leaseTTL)
			if held := g.held(); len(held) != 1 || held[0] != holder {
				t.Fatalf("held by %q after renewals, want only %s", names(held), holder.name)
			}
			if acquired, lost := holder.times(); !lost.IsZero() || acquired.IsZero() {
				t.Errorf("holder %s: acquired %v, lost %v; want acquired and never lost", holder.name, acquired, lost)
			}
			if got := g.active.Load(); got != 1 {
				t.Errorf("OnAcquire minus OnLose is %d, want 1", got)
			}
		})
	}
}

// TestLeaseCloseHandsOver: a holder that closes calls OnLose and frees the key, so another
// replica holds within a fraction of the TTL instead of waiting for the entry to expire.
func TestLeaseCloseHandsOver(t *testing.T) {
	e := startServer(t)
	g := newLeaseGroup(t, e.URL())
	leases := []*testLease{g.open("a"), g.open("b"), g.open("c")}
	for len(leases) > 1 {
		holder := g.waitHolder(leases...)
		leases = without(leases, holder)
		start := time.Now()
		holder.Close()
		next := g.waitHolder(leases...)
		took := time.Since(start)
		t.Logf("%s closed, %s holds after %v", holder.name, next.name, took)
		if took > leaseTTL/2 {
			t.Errorf("handover after Close took %v, want under %v", took, leaseTTL/2)
		}
		_, lost := holder.times()
		acquired, _ := next.times()
		if lost.IsZero() || !lost.Before(acquired) {
			t.Errorf("%s lost at %v, %s acquired at %v: want OnLose first", holder.name, lost, next.name, acquired)
		}
		if holder.Held() || holder.Holder() == holder.name {
			t.Errorf("closed lease: Held %v, Holder %q", holder.Held(), holder.Holder())
		}
	}
}

// TestLeaseHolderDies: a holder cut off from NATS without Close (as by SIGKILL, or a network
// split) calls OnLose before its entry can expire, and another replica holds once it has.
func TestLeaseHolderDies(t *testing.T) {
	e := startServer(t)
	g := newLeaseGroup(t, e.URL())
	leases := []*testLease{g.open("a"), g.open("b"), g.open("c")}
	for range 2 {
		holder := g.waitHolder(leases...)
		leases = without(leases, holder)
		start := time.Now()
		holder.nc.Close()
		next := g.waitHolder(leases...)
		took := time.Since(start)
		_, lost := holder.times()
		acquired, _ := next.times()
		t.Logf("%s cut off; it lost the lease after %v, %s holds after %v", holder.name, lost.Sub(start), next.name, took)
		if lost.IsZero() || !lost.Before(acquired) {
			t.Fatalf("%s lost at %v, %s acquired at %v: want OnLose first", holder.name, lost, next.name, acquired)
		}
		if d := lost.Sub(start); d > leaseTTL-leaseTTL/3+100*time.Millisecond {
			t.Errorf("the cut-off holder called OnLose after %v, want by %v", d, leaseTTL-leaseTTL/3)
		}
		if took > 2*leaseTTL {
			t.Errorf("failover took %v, want about %v", took, leaseTTL+leaseTTL/3)
		}
		if n := holder.logs.count("level=WARN"); n != 1 {
			t.Errorf("the cut-off holder logged %d warnings, want 1:\n%s", n, holder.logs.String())
		}
	}
}

// TestLeaseServerRestart: while the NATS server is down the holder gives the lease up, and once
// the server is back on the same store one replica holds it again.
func TestLeaseServerRestart(t *testing.T) {
	dir := t.TempDir()
	start := func(port int) *Embedded {
		e, err := StartEmbedded(EmbeddedOptions{StoreDir: dir, Listen: true, Host: "127.0.0.1", Port: port})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown) // a no-op once shut down
		return e
	}
	e := start(-1)
	url := e.URL()
	var port int
	if _, err := fmt.Sscanf(url[strings.LastIndex(url, ":")+1:], "%d", &port); err != nil {
		t.Fatal(err)
	}
	g := newLeaseGroup(t, url)
	leases := []*testLease{g.open("a"), g.open("b")}
	holder := g.waitHolder(leases...)

	e.Shutdown()
	down := time.Now()
	waitFor(t, "the holder gives the lease up", func() bool { return g.active.Load() == 0 && len(g.held()) == 0 })
	_, lost := holder.times()
	t.Logf("server down; %s lost the lease after %v", holder.name, lost.Sub(down))

	e = start(port)
	up := time.Now()
	next := g.waitHolder(leases...)
	t.Logf("server up; %s holds after %v", next.name, time.Since(up))
	waitFor(t, "OnAcquire counted the holder", func() bool { return g.active.Load() == 1 })
	for _, tl := range leases {
		if n := tl.logs.count("level=WARN"); n > 1 {
			t.Errorf("%s logged %d warnings for one outage, want at most 1:\n%s", tl.name, n, tl.logs.String())
		}
	}

	// Close does not wait on a server that is gone.
	e.Shutdown()
	for _, tl := range leases {
		start := time.Now()
		tl.Close()
		if took := time.Since(start); took > leaseTTL {
			t.Errorf("%s: Close with the server down took %v", tl.name, took)
		}
	}
	if got := g.active.Load(); got != 0 {
		t.Errorf("OnAcquire minus OnLose is %d after Close, want 0", got)
	}
}

// TestLeaseBucketDeleted: when the bucket goes (deleted by hand, or a NATS server with a new
// store), the holder gives the lease up, creates the bucket again and takes the lease there.
func TestLeaseBucketDeleted(t *testing.T) {
	e := startServer(t)
	g := newLeaseGroup(t, e.URL())
	a := g.waitHolder(g.open("a"))
	js, err := jetstream.New(a.nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteKeyValue(context.Background(), DefaultLeaseBucket); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the holder gives the lease up", func() bool { _, lost := a.times(); return !lost.IsZero() })
	g.waitHolder(a)
}

// TestLeaseChurn: replicas closing and dying one after another, with new ones joining, never
// leave two holders, and the lease always moves on.
func TestLeaseChurn(t *testing.T) {
	if testing.Short() {
		t.Skip("several TTLs")
	}
	e := startServer(t)
	g := newLeaseGroup(t, e.URL())
	leases := []*testLease{g.open("r0"), g.open("r1"), g.open("r2")}
	for i := range 4 {
		holder := g.waitHolder(leases...)
		leases = append(without(leases, holder), g.open(fmt.Sprintf("r%d", i+3)))
		if i%2 == 0 {
			holder.Close()
		} else {
			holder.nc.Close()
		}
	}
	g.waitHolder(leases...)
}

// TestLeaseOptions: defaults create the bucket with a 10 s TTL; bad options fail to open.
func TestLeaseOptions(t *testing.T) {
	e := startServer(t)
	nc, err := e.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		l, err := OpenLease(ctx, nc, LeaseOptions{Holder: "a", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		kv, err := js.KeyValue(ctx, DefaultLeaseBucket)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != DefaultLeaseTTL {
			t.Errorf("bucket TTL %v, want %v", st.TTL(), DefaultLeaseTTL)
		}
		waitFor(t, "the only replica holds", l.Held)
		entry, err := kv.Get(ctx, DefaultLeaseKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := entryHolder(entry.Value()); got != "a" {
			t.Errorf("entry names %q, want a", got)
		}
	})
	for _, tc := range []struct {
		name string
		o    LeaseOptions
	}{
		{"ErrNoHolder", LeaseOptions{}},
		{"ErrShortTTL", LeaseOptions{Holder: "a", TTL: 100 * time.Millisecond}},
		{"ErrKey", LeaseOptions{Holder: "a", Key: "a b"}},
		{"ErrBucket", LeaseOptions{Holder: "a", Bucket: "a.b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Logger = slog.New(slog.DiscardHandler)
			if l, err := OpenLease(ctx, nc, tc.o); err == nil {
				l.Close()
				t.Fatal("opened")
			}
		})
	}
}
