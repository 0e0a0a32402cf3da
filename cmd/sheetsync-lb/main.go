// Command sheetsync-lb is the round-robin load balancer of the local demo cluster (docs/deploy/cluster.sh,
// docs/deploy.md): it spreads requests over the sheetsync replicas that answer GET /readyz, so
// the demo needs nothing installed. A real deployment puts nginx or HAProxy there instead.
//
//	sheetsync-lb -listen 127.0.0.1:8080 -backends http://127.0.0.1:8081,http://127.0.0.1:8082
//
// A request goes to the next ready backend. When a backend refuses the connection (it was
// killed since the last check), the request goes to the next one: nothing reached the dead
// backend, so even a write is safe to send again. Any other error is answered 502 and not
// retried, since the backend may have done the write; with no ready backend the answer is 503.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxBody is sheetsync's own request limit (httpapi.DefaultMaxBodyBytes): a request is read
// whole before it is sent, so that it can go to another backend when the first refuses it.
const maxBody = 16 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	backends := flag.String("backends", "", "comma-separated backend URLs, like http://127.0.0.1:8081,http://127.0.0.1:8082")
	interval := flag.Duration("interval", time.Second, "how often each backend's GET /readyz is checked")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := newBalancer(*backends, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lb:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, b, *listen, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "lb:", err)
		os.Exit(1)
	}
}

// run checks the backends once, serves until ctx ends, then shuts down.
func run(ctx context.Context, b *balancer, listen string, interval time.Duration) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("-listen %s: %w", listen, err)
	}
	b.checkAll(ctx, interval)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.checkAll(ctx, interval)
			}
		}
	})
	srv := &http.Server{Handler: b, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	b.log.Info("balancing", "url", "http://"+ln.Addr().String(), "backends", len(b.backends))
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	wg.Wait()
	return err
}

type backend struct {
	url     *url.URL
	ready   atomic.Bool
	checked atomic.Bool // once: the first check is logged whatever it finds
}

// balancer is the proxy: ServeHTTP reads the request, and RoundTrip (its proxy's transport)
// picks the backend.
type balancer struct {
	backends []*backend
	next     atomic.Uint64
	proxy    *httputil.ReverseProxy
	client   *http.Client    // health checks
	inner    *http.Transport // requests
	log      *slog.Logger
}

func newBalancer(list string, log *slog.Logger) (*balancer, error) {
	b := &balancer{log: log, client: &http.Client{}}
	for s := range strings.SplitSeq(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("-backends: %q is not a URL like http://127.0.0.1:8081", s)
		}
		b.backends = append(b.backends, &backend{url: u})
	}
	if len(b.backends) == 0 {
		return nil, errors.New("-backends: give at least one backend URL")
	}
	b.inner = &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: 32}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetXForwarded()
			r.Out.Host = r.In.Host // the backend's status page names the address the client used
		},
		Transport: b,
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set("X-Backend", resp.Request.URL.Host) // which replica answered
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			b.log.Warn("request failed", "path", r.URL.Path, "err", err)
			status := http.StatusBadGateway
			if errors.Is(err, errNoBackend) {
				status = http.StatusServiceUnavailable
			}
			http.Error(w, "lb: "+err.Error(), status)
		},
	}
	return b, nil
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "lb: reading the request: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	b.proxy.ServeHTTP(w, r)
}

var errNoBackend = errors.New("no backend is ready (none answers GET /readyz with 200)")

// RoundTrip sends req to the ready backends in turn, starting with the next in the round, and
// moves on only when a backend refuses the connection.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	var ready []*backend
	for _, be := range b.backends {
		if be.ready.Load() {
			ready = append(ready, be)
		}
	}
	if len(ready) == 0 {
		return nil, errNoBackend
	}
	start := b.next.Add(1)
	for i := range ready {
		be := ready[(start+uint64(i))%uint64(len(ready))]
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host = be.url.Scheme, be.url.Host
		if req.GetBody != nil {
			out.Body, _ = req.GetBody()
		}
		resp, err := b.inner.RoundTrip(out)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" {
			return resp, err
		}
		if be.ready.CompareAndSwap(true, false) {
			b.log.Warn("backend down", "backend", be.url.String(), "err", err)
		}
	}
	return nil, fmt.Errorf("every ready backend refused the connection (%d tried)", len(ready))
}

// checkAll asks every backend's GET /readyz at once, each within timeout, and logs the changes.
func (b *balancer) checkAll(ctx context.Context, timeout time.Duration) {
	var wg sync.WaitGroup
	for _, be := range b.backends {
		wg.Go(func() {
			ready, why := b.check(ctx, be, timeout)
			if ctx.Err() != nil {
				return
			}
			first := !be.checked.Swap(true)
			if was := be.ready.Swap(ready); first || was != ready {
				if ready {
					b.log.Info("backend ready", "backend", be.url.String())
				} else {
					b.log.Warn("backend not ready", "backend", be.url.String(), "why", why)
				}
			}
		})
	}
	wg.Wait()
}

func (b *balancer) check(ctx context.Context, be *backend, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, be.url.JoinPath("/readyz").String(), nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s %s", resp.Status, bytes.TrimSpace(msg))
}
