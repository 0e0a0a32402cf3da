package replica

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/sheetsync/sheetsync/cache"
)

// cutAfterPublish is a loopback TCP proxy to a NATS server that, once armed, cuts the client's
// connection right after passing on the next publish of a change: the server stores the change,
// and its acknowledgement never reaches the client, as when a connection breaks at the worst
// moment. Later connections pass untouched.
type cutAfterPublish struct {
	ln     net.Listener
	target string
	armed  atomic.Bool
	cut    atomic.Bool
	wg     sync.WaitGroup
}

func newCutAfterPublish(t *testing.T, target string) *cutAfterPublish {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutAfterPublish{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutAfterPublish) url() string { return "nats://" + p.ln.Addr().String() }

func (p *cutAfterPublish) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		closeBoth := sync.OnceFunc(func() { client.Close(); server.Close() })
		var mute atomic.Bool // set once the publish passed: nothing more reaches the client
		p.wg.Go(func() {
			defer closeBoth()
			buf := make([]byte, 64<<10)
			for {
				n, err := server.Read(buf)
				if n > 0 && !mute.Load() {
					if _, werr := client.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		p.wg.Go(func() {
			defer closeBoth()
			buf := make([]byte, 64<<10)
			for {
				n, err := client.Read(buf)
				if n > 0 {
					if _, werr := server.Write(buf[:n]); werr != nil {
						return
					}
					if bytes.Contains(buf[:n], []byte("PUB "+subjectPrefix)) && p.armed.CompareAndSwap(true, false) {
						// the server stores the change and answers; the answer is dropped, and
						// the connection goes once the server has had time to store it
						mute.Store(true)
						p.cut.Store(true)
						time.Sleep(100 * time.Millisecond)
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// TestLogCommitAnswerLost: the connection breaks after a change is published and before its
// acknowledgement arrives. The change is in the log, so the commit must not say that nothing was
// written (the caller would write it again): it finds its change in the log once reconnected and
// answers as any commit does, with the change applied.
func TestLogCommitAnswerLost(t *testing.T) {
	e := startServer(t)
	proxy := newCutAfterPublish(t, e.ns.Addr().String())
	nc, err := nats.Connect(proxy.url(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	store := cache.NewStore()
	l, err := OpenLog(context.Background(), nc, store, LogOptions{Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	table := counterTable(t)
	if _, err := l.Commit(ctx, cache.ChangeSet{Collection: "counter", Replace: &table}); err != nil {
		t.Fatal(err)
	}

	proxy.armed.Store(true)
	pubCtx, pubCancel := context.WithTimeout(ctx, 3*time.Second) // the request's own bound
	defer pubCancel()
	v, err := l.Commit(pubCtx, cache.ChangeSet{Collection: "counter", Update: []cache.Item{{cache.FieldID: cache.Text("c"), "n": cache.Number(4)}}})
	if !proxy.cut.Load() {
		t.Fatal("the proxy never cut the connection after the publish")
	}
	if err != nil {
		t.Fatalf("a commit whose acknowledgement was lost, though the log holds it: %v", err)
	}
	snap, _ := store.Snapshot("counter")
	if counterOf(store) != 4 || snap.Version() != v {
		t.Errorf("after the commit: n %v, version %d (commit said %d)", counterOf(store), snap.Version(), v)
	}
	// and the log holds it once: a second store following the log from the start agrees
	other, _ := replicaOn(t, e, LogOptions{Replica: "b"})
	waitFor(t, "b applies the whole log", func() bool { return counterOf(other) == 4 })
}
