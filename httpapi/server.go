// Package httpapi serves the two Wix external-database protocols over HTTP with gin: the v3
// service plugin (/v3/..., JWT-signed) and the legacy External Database Collections SPI
// (/provision, /schemas/..., /data/..., secret key), plus the operational routes. It
// authenticates and decodes requests, runs reads through query, validates each write against the
// current snapshot and commits it as one cache.ChangeSet (writes.go), and maps every error to the
// protocol's code and status in one place (errors.go).
//
// Wire types live here and nowhere else; cmd wires a Server to the store and never imports gin.
package httpapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/query"
)

// DefaultMaxBodyBytes bounds a request body. Wix's bulk writes can be large (legacy §15.16
// asks for at least 10 MB); anything beyond this is refused with 413 before it is read.
const DefaultMaxBodyBytes = 16 << 20

// DefaultReadHeaderTimeout bounds how long a client may take to send a request's headers, so
// that slow clients (slowloris) cannot hold connections open.
const DefaultReadHeaderTimeout = 10 * time.Second

// AuthMode says how a protocol checks its callers (DESIGN §2).
type AuthMode uint8

const (
	// AuthOff: no key and not on a loopback address. Every request is refused with 401 and a
	// message naming the flag to set.
	AuthOff AuthMode = iota
	// AuthOpen: no key, on a loopback address or with --allow-unauthenticated. Requests are
	// not checked; v3 also takes the request object as plain JSON so curl can try it.
	AuthOpen
	// AuthKey: requests are checked with the configured key.
	AuthKey
)

// Auth configures one protocol's authentication.
type Auth struct {
	Mode      AuthMode
	PublicKey crypto.PublicKey // v3: verifies the JWT (RSA → RS256, P-256 → ES256)
	AppID     string           // v3: the expected aud
	SecretKey string           // legacy: the expected requestContext.settings.secretKey
}

// Config is what a Server needs to know.
type Config struct {
	Addr         string // listen address, like 127.0.0.1:8080
	V3           Auth
	Legacy       Auth
	MaxBodyBytes int64 // 0 means DefaultMaxBodyBytes
	// ReadHeaderTimeout bounds the time to read a request's headers; 0 means
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// MaxQueries caps the reads (query, count, aggregate, distinct values, find) computed at
	// once; 0 means DefaultMaxQueries(). Answers from the result cache do not count.
	MaxQueries int
	// QueryWait is how long a read waits for a free slot before it is answered 503 "busy"; 0
	// means DefaultQueryWait.
	QueryWait time.Duration
	Version   string // reported by provision and the status page
	Logger    *slog.Logger
	// TLS, when set, makes Open serve HTTPS on Addr with its certificates (TLS 1.2 or later,
	// whatever its MinVersion says); nil serves plain HTTP.
	TLS *tls.Config
	// SaveIndexes keeps the index definitions (query.Indexes.Marshal) after each change, so they
	// outlive a restart; nil keeps them in memory only.
	SaveIndexes func(data []byte) error
	// Files says which collections can be written now; nil means every collection with an _id
	// column can (a bare store, as in tests).
	Files Files
	// Metrics is the Prometheus registry GET /metrics serves; the server adds its own metrics
	// to it. nil gives the server a registry of its own.
	Metrics *prometheus.Registry
	// Status, when set, tells the status page (GET /) what the server cannot know: the files,
	// their problems, the change log and NATS. nil shows the collections in the store only.
	Status func() Status
}

// Store is where the server reads collections and commits writes: *cache.Store, or the
// replicated log that commits through every replica's store (STYLE.md §7).
type Store interface {
	// Snapshot returns the current snapshot of a collection, or cache.ErrCollectionNotFound.
	Snapshot(name string) (*cache.Snapshot, error)
	// Collections returns the current snapshot of every collection, sorted by name.
	Collections() []*cache.Snapshot
	// Commit applies one change whole or not at all and returns the version it made; once it
	// returns, Snapshot shows the change (read-your-writes). Errors: cache.ErrCollectionNotFound,
	// cache.ErrVersionConflict (the change's BaseVersion is stale), cache.ErrItemNotFound,
	// cache.ErrDuplicateID, cache.ErrReadOnly, *cache.ValidationError.
	Commit(ctx context.Context, cs cache.ChangeSet) (uint64, error)
}

// Server is the HTTP front of sheetsync.
type Server struct {
	cfg      Config
	store    Store
	query    *query.Engine
	log      *slog.Logger
	verifier *v3Verifier
	router   *gin.Engine

	ln      net.Listener
	srv     *http.Server
	ctx     context.Context // cancelled by Close: ends in-flight requests
	cancel  context.CancelFunc
	served  chan error
	closeMu sync.Mutex
	closed  bool
	started time.Time
	ready   atomic.Pointer[string] // the reason it is not ready; nil when ready

	writeLocks sync.Map      // collection name -> chan struct{} of capacity one (writes.go)
	queries    chan struct{} // one token per read being computed (busy.go)
	metrics    metrics
}

// NewServer returns a server over store. It does not listen until Open.
func NewServer(cfg Config, store Store, engine *query.Engine) (*Server, error) {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.MaxQueries <= 0 {
		cfg.MaxQueries = DefaultMaxQueries()
	}
	if cfg.QueryWait <= 0 {
		cfg.QueryWait = DefaultQueryWait
	}
	s := &Server{cfg: cfg, store: store, query: engine, log: cfg.Logger, started: time.Now(),
		queries: make(chan struct{}, cfg.MaxQueries)}
	if cfg.V3.Mode == AuthKey {
		v, err := newV3Verifier(cfg.V3.PublicKey, cfg.V3.AppID, DefaultJWTLeeway)
		if err != nil {
			return nil, err
		}
		s.verifier = v
	}
	if cfg.Legacy.Mode == AuthKey && cfg.Legacy.SecretKey == "" {
		return nil, errors.New("legacy protocol: AuthKey needs a secret key")
	}
	s.SetNotReady("starting")
	s.ctx, s.cancel = context.WithCancel(context.Background())
	gin.SetMode(gin.ReleaseMode)
	s.router = gin.New()
	s.router.HandleMethodNotAllowed = true
	s.router.ContextWithFallback = true
	s.initMetrics(cfg.Metrics)
	s.router.Use(s.observe, s.requestID, s.recoverPanics)
	s.routes()
	return s, nil
}

// routes registers every route in one place.
func (s *Server) routes() {
	s.registerOpsRoutes()
	s.registerV3Routes()
	s.registerLegacyRoutes()
	s.router.NoRoute(func(c *gin.Context) {
		s.writeError(c, &apiError{status: http.StatusNotFound, code: codeBadRequest,
			message: fmt.Sprintf("no endpoint %s %s", c.Request.Method, c.Request.URL.Path)}, "")
	})
	s.router.NoMethod(func(c *gin.Context) {
		allow := c.Writer.Header().Get("Allow")
		s.writeError(c, &apiError{status: http.StatusMethodNotAllowed, code: codeBadRequest,
			message: fmt.Sprintf("%s %s: use %s", c.Request.Method, c.Request.URL.Path, allow)}, "")
	})
}

// Open listens on the configured address and serves in the background, over HTTPS when the
// configuration has TLS. A bind error (such as the port being in use) is returned here.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.router,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.served = make(chan error, 1)
	if s.cfg.TLS == nil {
		go func() { s.served <- s.srv.Serve(ln) }()
		return nil
	}
	tc := s.cfg.TLS.Clone()
	tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	s.srv.TLSConfig = tc
	// the certificates are in tc; ServeTLS adds HTTP/2 to what it offers
	go func() { s.served <- s.srv.ServeTLS(ln, "", "") }()
	return nil
}

// Close stops accepting requests, lets in-flight ones finish for a few seconds, then cancels
// them.
func (s *Server) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.srv == nil || s.closed {
		return nil
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.cancel()
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Handler returns the server's routes, for httptest.
func (s *Server) Handler() http.Handler { return s.router }

// Port returns the port the server listens on, once open.
func (s *Server) Port() int {
	if s.ln == nil {
		return 0
	}
	return s.ln.Addr().(*net.TCPAddr).Port
}

// URL returns the server's base URL, once open: https:// when it serves TLS.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	host, _, _ := net.SplitHostPort(s.ln.Addr().String())
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	scheme := "http://"
	if s.cfg.TLS != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(s.Port()))
}

// SetReady marks the server ready: /readyz answers 200.
func (s *Server) SetReady() { s.ready.Store(nil) }

// SetNotReady makes /readyz answer 503 with the reason.
func (s *Server) SetNotReady(reason string) { s.ready.Store(&reason) }

// recoverPanics turns a panic in a handler into the protocol's internal error, logged once
// with its stack.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.Error("panic in handler", withRequest(c, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))...)
			ae := &apiError{status: http.StatusInternalServerError, code: codeUnknown,
				message: "internal error", data: map[string]any{"description": "internal error"}}
			if isV3Path(c.Request.URL.Path) {
				c.Data(ae.status, jsonContentType, v3ErrorBody(ae))
			} else {
				c.Data(ae.status, jsonContentType, legacyErrorBody(ae))
			}
			c.Abort()
		}
	}()
	c.Next()
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readBody reads the request body up to the limit. The returned function gives the buffer back
// once the caller is done with the bytes.
func (s *Server) readBody(c *gin.Context) ([]byte, func(), error) {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	done := func() {
		if buf.Cap() <= 1<<20 {
			bodyPool.Put(buf)
		}
	}
	if c.Request.ContentLength > s.cfg.MaxBodyBytes {
		// refused at once, not after waiting for the first MaxBodyBytes of it
		done()
		return nil, func() {}, &http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxBodyBytes)
	if _, err := buf.ReadFrom(body); err != nil {
		done()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, func() {}, err
		}
		return nil, func() {}, errBadRequest("cannot read the request body: %v", err)
	}
	return buf.Bytes(), done, nil
}

// writeError renders err in the shape of the protocol the path belongs to, and logs it:
// internal errors at error level with the cause, rejected requests at info level with the
// message only (never item data).
func (s *Server) writeError(c *gin.Context, err error, collection string) {
	ae, known := toAPIError(err, collection)
	path := c.Request.URL.Path
	v3 := isV3Path(path)
	status := ae.status
	if !v3 && ae.legacyStatus != 0 {
		status = ae.legacyStatus
	}
	if !known {
		s.log.Error("request failed", withRequest(c, "collection", collection, "err", err)...)
	} else {
		s.log.Info("request rejected", withRequest(c, "status", status, "code", ae.code, "collection", collection, "msg", logMessage(ae))...)
	}
	if v3 {
		c.Data(status, jsonContentType, v3ErrorBody(ae))
		return
	}
	c.Data(status, jsonContentType, legacyErrorBody(ae))
}

func isV3Path(p string) bool { return strings.HasPrefix(p, "/v3/") || p == "/v3" }

const jsonContentType = "application/json; charset=utf-8"
