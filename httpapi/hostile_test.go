package httpapi_test

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sheetsync/sheetsync/cache"
	"github.com/sheetsync/sheetsync/httpapi"
	"github.com/sheetsync/sheetsync/query"
)

// Hostile input (issue 8, item 2) and server limits (item 3): every case is a clear 4xx (or the
// 503 "busy") in the protocol's shape, never a 5xx, costs a bounded amount of memory, and leaves
// the server answering.

// allocated runs f and returns the bytes allocated meanwhile by the whole process (the server
// runs in it): a bound on the work f caused, whatever the garbage collector did.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// checkAlloc fails when f allocates more than limit bytes.
func checkAlloc(t *testing.T, what string, limit uint64, f func()) {
	t.Helper()
	if got := allocated(f); got > limit {
		t.Errorf("%s allocated %d MiB, want at most %d MiB", what, got>>20, limit>>20)
	}
}

// checkAlive fails unless the server still answers a small query on both protocols.
func checkAlive(t *testing.T, s *TestServer) {
	t.Helper()
	if r := s.Post(t, "/v3/items/count", `{"collectionId": "products"}`); r.Status != http.StatusOK {
		t.Fatalf("v3 after the hostile request: %d %s", r.Status, r.Body)
	}
	if r := s.Post(t, "/data/count", `{"collectionName": "products"}`); r.Status != http.StatusOK {
		t.Fatalf("legacy after the hostile request: %d %s", r.Status, r.Body)
	}
}

// zeros is an endless body of spaces (valid JSON padding), n bytes long.
type zeros struct{ left int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), z.left)
	for i := range p[:n] {
		p[i] = ' '
	}
	z.left -= n
	return int(n), nil
}

// TestHostile_BodyOverLimit: a body over the limit is 413 in the protocol's shape, read no
// further than the limit; a body that only declares a huge length is refused at once, before
// any of it arrives.
func TestHostile_BodyOverLimit(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, path := range []string{"/v3/items/query", "/v3/items/insert", "/data/find", "/data/insert"} {
		t.Run("Streamed"+strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			var resp *http.Response
			// a 256 MiB body, chunked: the server may read 16 MiB of it (and the race detector
			// adds its own), never all of it
			checkAlloc(t, "a 256 MiB body", 192<<20, func() { // reading it all would take over 512 MiB
				req, err := http.NewRequest(http.MethodPost, s.URL+path, &zeros{left: 256 << 20})
				if err != nil {
					t.Fatal(err)
				}
				resp, err = s.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
			})
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
			checkBodyLimit(t, path, r)
		})
	}
	t.Run("DeclaredLength", func(t *testing.T) {
		for _, path := range []string{"/v3/items/query", "/data/find"} {
			conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// declares 1 GiB, sends 2 bytes and waits: the answer must come without the rest
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{ ", path, 1<<30)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("%s: no answer to a declared 1 GiB body while its bytes are awaited: %v", path, err)
			}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			checkBodyLimit(t, path, &Response{Status: resp.StatusCode, Header: resp.Header, Body: b})
		}
	})
	checkAlive(t, s)
}

func checkBodyLimit(t *testing.T, path string, r *Response) {
	t.Helper()
	msg := fmt.Sprintf("request body is larger than the %d-byte limit", httpapi.DefaultMaxBodyBytes)
	if strings.HasPrefix(path, "/v3/") {
		v3Error(t, r, http.StatusRequestEntityTooLarge, "BAD_REQUEST", msg)
	} else {
		legacyError(t, r, http.StatusRequestEntityTooLarge, msg)
	}
}

// deepFilter nests $and, $or and $not in turn, n levels deep, around one condition.
func deepFilter(n int) string {
	var open, close strings.Builder
	for i := range n {
		switch i % 3 {
		case 0:
			open.WriteString(`{"$and": [`)
		case 1:
			open.WriteString(`{"$or": [`)
		default:
			open.WriteString(`{"$not": `)
		}
	}
	for i := n - 1; i >= 0; i-- {
		if i%3 == 2 {
			close.WriteString(`}`)
		} else {
			close.WriteString(`]}`)
		}
	}
	return open.String() + `{"price": {"$gt": 1}}` + close.String()
}

// TestHostile_DeepFilter: filters nested far beyond the depth limit, on every endpoint that
// takes a filter, are refused with a message naming the limit.
func TestHostile_DeepFilter(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, depth := range []int{33, 1000, 10_000, 100_000} {
		f := deepFilter(depth)
		if depth < 1000 && !json.Valid([]byte(f)) {
			t.Fatalf("deepFilter(%d) is not JSON", depth)
		}
		for _, c := range []struct{ path, body string }{
			{"/v3/items/query", `{"collectionId": "products", "query": {"filter": ` + f + `}}`},
			{"/v3/items/count", `{"collectionId": "products", "filter": ` + f + `}`},
			{"/v3/items/aggregate", `{"collectionId": "products", "initialFilter": ` + f + `, "aggregation": {"operations": [{"resultFieldName": "n", "itemCount": {}}]}}`},
			{"/data/find", `{"collectionName": "products", "filter": ` + f + `}`},
			{"/data/count", `{"collectionName": "products", "filter": ` + f + `}`},
		} {
			t.Run(fmt.Sprintf("%d%s", depth, strings.ReplaceAll(c.path, "/", "_")), func(t *testing.T) {
				var r *Response
				checkAlloc(t, "a deep filter", 64<<20+uint64(40*len(c.body)), func() { r = s.Post(t, c.path, c.body) })
				// within encoding/json's 10,000 levels the filter decoder's limit speaks;
				// beyond, the request's, naming the filter limit too
				msg := "nested deeper than 32 levels"
				if depth >= 10_000 {
					msg = "nested at most 32 levels deep"
				}
				if strings.HasPrefix(c.path, "/v3/") {
					v3Error(t, r, http.StatusBadRequest, "VALIDATION_ERROR", msg)
				} else {
					legacyError(t, r, http.StatusBadRequest, msg)
				}
			})
		}
	}
	checkAlive(t, s)
}

// hugeList returns {"field": {"op": [n values]}}, numbers or texts.
func hugeList(field, op string, n int, text bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{%q: {%q: [`, field, op)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		if text {
			fmt.Fprintf(&b, `"v%d"`, i)
		} else {
			fmt.Fprint(&b, i)
		}
	}
	b.WriteString("]}}")
	return b.String()
}

// TestHostile_HugeLists: $in, $hasSome and $hasAll with 100,000 values are refused with the
// limit in the message; at the limit they are answered; memory stays bounded either way.
func TestHostile_HugeLists(t *testing.T) {
	s := MustOpenServer(t, openConfig(), nil)
	for _, op := range []string{"$in", "$hasSome", "$hasAll"} {
		for _, text := range []bool{false, true} {
			field := map[bool]string{false: "price", true: "name"}[text]
			t.Run(op+"_"+field, func(t *testing.T) {
				f := hugeList(field, op, 100_000, text)
				var r *Response
				checkAlloc(t, "100,000 values", 128<<20, func() {
					r = s.Post(t, "/v3/items/query", `{"collectionId": "products", "query": {"filter": `+f+`}}`)
				})
				v3Error(t, r, http.StatusBadRequest, "VALIDATION_ERROR", op+" lists at most 10000 values, got 100000")
				legacyError(t, s.Post(t, "/data/find", `{"collectionName": "products", "filter": `+f+`}`), http.StatusBadRequest, "at most 10000 values")

				// at the limit: answered
				f = hugeList(field, op, 10_000, text)
				checkAlloc(t, "10,000 values", 64<<20, func() {
					r = s.Post(t, "/v3/items/query", `{"collectionId": "products", "query": {"filter": `+f+`}}`)
				})
				if r.Status != http.StatusOK {
					t.Fatalf("10,000 values: %d %s", r.Status, r.Body)
				}
			})
		}
	}
	checkAlive(t, s)
}

// bigTextStore is the fixtures plus "texts": rows of long runs of one letter, the haystacks
// that make a backtracking matcher blow up.
func bigTextStore(t *testing.T) *cache.Store {
	store := MustLoadStore(t, fixtureDir)
	rows := make([][]cache.Value, 2000)
	for i := range rows {
		rows[i] = []cache.Value{cache.Text(strings.Repeat("a", 4000) + fmt.Sprint(i))}
	}
	MustAddTable(t, store, "texts", []cache.Field{{Key: "body", Type: cache.TypeText}}, rows)
	return store
}

// TestHostile_PatternOperators: $matches, $contains, $startsWith, $endsWith and $urlized with
// pathological inputs run in linear time (no backtracking: a case a backtracking matcher needs
// 2^n steps for is answered), $regex is refused, and over-long patterns are refused with the
// limit in the message.
func TestHostile_PatternOperators(t *testing.T) {
	s := MustOpenServer(t, openConfig(), bigTextStore(t))
	many := func(seg string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = seg
		}
		return strings.Join(parts, ",")
	}
	ok := []struct{ name, filter string }{
		// (a?){n}a{n}-like: 40 optional-looking anyOf segments then literals, against runs of a
		{"MatchesAnyOf", `{"body": {"$matches": {"ignoreCase": true, "spec": [` + many(`{"type": "anyOf", "value": "aA"}`, 200) + `,{"type": "literal", "value": "b"}]}}}`},
		{"MatchesLiterals", `{"body": {"$matches": {"spec": [` + many(`{"type": "literal", "value": "aaaa"}`, 250) + `]}}}`},
		{"ContainsNearMiss", `{"body": {"$contains": "` + strings.Repeat("a", 1000) + `b"}}`},
		{"ContainsHuge", `{"body": {"$contains": "` + strings.Repeat("a", 1<<20) + `"}}`},
		{"StartsWithNearMiss", `{"body": {"$startsWith": "` + strings.Repeat("a", 3999) + `b"}}`},
		{"EndsWithNearMiss", `{"body": {"$endsWith": "b` + strings.Repeat("a", 3999) + `"}}`},
		{"Urlized", `{"body": {"$urlized": ["` + strings.Repeat("a", 500) + `", "` + strings.Repeat("a", 500) + `"]}}`},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var r *Response
			checkAlloc(t, c.name, 128<<20, func() {
				r = postCtx(t, ctx, s, "/v3/items/count", `{"collectionId": "texts", "filter": `+c.filter+`}`)
			})
			if r.Status != http.StatusOK {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	refused := []struct{ name, filter, msg string }{
		{"Regex", `{"body": {"$regex": "(a+)+$"}}`, "$regex is not supported"},
		{"MatchesTooLong", `{"body": {"$matches": {"spec": [` + many(`{"type": "anyOf", "value": "abcdefgh"}`, 200) + `]}}}`, "$matches pattern longer than 1024 bytes"},
		{"UrlizedTooLong", `{"body": {"$urlized": ["` + strings.Repeat("a", 2000) + `"]}}`, "$urlized longer than 1024 bytes"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			v3Error(t, s.Post(t, "/v3/items/count", `{"collectionId": "texts", "filter": `+c.filter+`}`), http.StatusBadRequest, "VALIDATION_ERROR", c.msg)
			legacyError(t, s.Post(t, "/data/count", `{"collectionName": "texts", "filter": `+c.filter+`}`), http.StatusBadRequest, c.msg)
		})
	}
	checkAlive(t, s)
}

// postCtx posts body with a context, so that a runaway request fails the test instead of
// hanging it.
func postCtx(t *testing.T, ctx context.Context, s *TestServer, path, body string) *Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestHostile_ForgedTokens: every kind of forged or stale v3 token is 401 UNAUTHORIZED with the
// reason, on a read and on a write, and nothing is written.
func TestHostile_ForgedTokens(t *testing.T) {
	store := MustLoadStore(t, fixtureDir)
	s := MustOpenServer(t, httpapi.Config{
		V3:     httpapi.Auth{Mode: httpapi.AuthKey, PublicKey: &rsaKey().PublicKey, AppID: testAppID},
		Legacy: httpapi.Auth{Mode: httpapi.AuthKey, SecretKey: "legacy-secret"},
	}, store)
	insert := []byte(`{"collectionId": "products", "items": [{"_id": "forged", "name": "forged"}]}`)
	now := time.Now()
	sign := func(method jwt.SigningMethod, key any, c jwt.MapClaims) string {
		return string(httpapi.MustMint(t, method, key, c))
	}
	with := func(f func(jwt.MapClaims)) jwt.MapClaims {
		c := wixClaims(insert, now)
		f(c)
		return c
	}
	good := sign(jwt.SigningMethodRS256, rsaKey(), wixClaims(insert, now))
	parts := strings.Split(good, ".")
	hugeHeader := func(n int) string {
		h, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "pad": strings.Repeat("x", n)})
		return base64.RawURLEncoding.EncodeToString(h) + "." + parts[1] + "." + parts[2]
	}
	deepHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","x":`+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000)+`}`)) + "." + parts[1] + "." + parts[2]
	pubPEM := spkiPEMOf(t, &rsaKey().PublicKey)
	for _, tt := range []struct{ name, token, msg string }{
		{"AlgNone", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, wixClaims(insert, now)), `alg is "none"`},
		{"AlgNoneUnsigned", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + ".", `alg is "none"`},
		{"HS256PublicKey", sign(jwt.SigningMethodHS256, pubPEM, wixClaims(insert, now)), `alg is "HS256"`},
		{"OtherKey", sign(jwt.SigningMethodRS256, otherRSAKey(), wixClaims(insert, now)), "signature does not verify"},
		{"Expired", sign(jwt.SigningMethodRS256, rsaKey(), with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-10*time.Minute).Unix()
		})), "expired at"},
		{"FutureIat", sign(jwt.SigningMethodRS256, rsaKey(), with(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix()
		})), "in the future"},
		{"WrongAud", sign(jwt.SigningMethodRS256, rsaKey(), with(func(c jwt.MapClaims) { c["aud"] = "someone-else" })), `aud is "someone-else"`},
		{"HugeHeader", hugeHeader(8 << 20), "signature does not verify"},
		{"DeepHeader", deepHeader, "not a valid JWT"},
		{"TamperedClaims", parts[0] + "." + base64.RawURLEncoding.EncodeToString(must(json.Marshal(with(func(c jwt.MapClaims) { c["aud"] = testAppID })))) + "x." + parts[2], "not a valid JWT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v3/items/insert", "/v3/items/query"} {
				var r *Response
				checkAlloc(t, tt.name, 160<<20, func() { r = s.Post(t, path, tt.token) })
				v3Error(t, r, http.StatusUnauthorized, "UNAUTHORIZED", tt.msg)
			}
		})
	}
	snap, err := store.Snapshot("products")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Len() != 6 {
		t.Fatalf("products has %d rows after forged inserts, want 6", snap.Len())
	}
	// the genuine token still works
	if r := s.Post(t, "/v3/items/count", sign(jwt.SigningMethodRS256, rsaKey(), wixClaims([]byte(`{"collectionId": "products"}`), now))); r.Status != http.StatusOK {
		t.Fatalf("genuine token after forged ones: %d %s", r.Status, r.Body)
	}
	legacyError(t, s.Post(t, "/data/insert", `{"collectionName": "products", "item": {"_id": "forged"}, "requestContext": {"settings": {"secretKey": "guess"}, "role": "OWNER"}}`), http.StatusUnauthorized, "not authorized")
}

// spkiPEMOf is the PEM text of a public key, the secret of the classic key-confusion forgery.
func spkiPEMOf(t *testing.T, pub any) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(pub))})
}

// openServer runs a real listening httpapi.Server (timeouts only apply to one).
func openServer(t *testing.T, cfg httpapi.Config, store httpapi.Store) *httpapi.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	if store == nil {
		store = MustLoadStore(t, fixtureDir)
	}
	api, err := httpapi.NewServer(cfg, store, &query.Engine{})
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return api
}

// TestHostile_Slowloris: a client that sends its headers a byte at a time is cut off once
// ReadHeaderTimeout passes, and meanwhile others are served.
func TestHostile_Slowloris(t *testing.T) {
	cfg := openConfig()
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	api := openServer(t, cfg, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(api.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	header := "POST /v3/items/count HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("y", 1000)
	cut := false
	start := time.Now()
	for i := 0; i < len(header) && time.Since(start) < 20*time.Second; i++ {
		if _, err := conn.Write([]byte{header[i]}); err != nil {
			cut = true
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !cut {
		// the server may have closed without the write failing yet: a read tells
		conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := conn.Read(make([]byte, 1))
		cut = err != nil && !isTimeout(err)
	}
	if !cut {
		t.Fatalf("a client sending its headers slowly for %v was not cut off (ReadHeaderTimeout %v)", time.Since(start).Round(time.Millisecond), cfg.ReadHeaderTimeout)
	}
	r, err := http.Post(api.URL()+"/v3/items/count", "application/json", strings.NewReader(`{"collectionId": "products"}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("after the slow client: %d", r.StatusCode)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// blockingStore holds every Snapshot of "slow" until release is closed.
type blockingStore struct {
	*cache.Store
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// open lets every held and later Snapshot through; it may be called more than once.
func (b *blockingStore) open() { b.once.Do(func() { close(b.release) }) }

func (b *blockingStore) Snapshot(name string) (*cache.Snapshot, error) {
	if name == "slow" {
		b.entered <- struct{}{}
		<-b.release
		name = "products"
	}
	return b.Store.Snapshot(name)
}

// TestHostile_Busy: once MaxQueries queries run, one more waits QueryWait, then is answered
// 503 "busy, try again" in its protocol's shape; cheap routes and cached answers go on; when
// the queries end, queries are served again.
func TestHostile_Busy(t *testing.T) {
	const slots = 3
	store := &blockingStore{Store: MustLoadStore(t, fixtureDir), entered: make(chan struct{}, slots), release: make(chan struct{})}
	cfg := openConfig()
	cfg.MaxQueries = slots
	cfg.QueryWait = 50 * time.Millisecond
	s := MustOpenServer(t, cfg, store)
	t.Cleanup(store.open) // runs before the server's Close, even after a failure
	// an answer in the result cache before the slots fill
	if r := s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`); r.Status != http.StatusOK {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	s.Results.Wait()

	var wg sync.WaitGroup
	slow := make([]*Response, slots)
	for i := range slots {
		wg.Go(func() {
			slow[i] = s.Post(t, "/v3/items/query", fmt.Sprintf(`{"collectionId": "slow", "query": {"paging": {"limit": %d}}}`, i+1))
		})
	}
	for range slots {
		select {
		case <-store.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the slow queries did not start")
		}
	}
	for _, c := range []struct{ path, body string }{
		{"/v3/items/query", `{"collectionId": "products", "query": {}}`},
		{"/v3/items/count", `{"collectionId": "products"}`},
		{"/v3/items/aggregate", `{"collectionId": "products", "aggregation": {"operations": [{"resultFieldName": "n", "itemCount": {}}]}}`},
		{"/v3/items/query-distinct-values", `{"collectionId": "products", "fieldName": "category"}`},
		{"/data/find", `{"collectionName": "products"}`},
		{"/data/count", `{"collectionName": "products"}`},
	} {
		r := s.Post(t, c.path, c.body)
		const msg = "busy"
		if strings.HasPrefix(c.path, "/v3/") {
			m := v3Error(t, r, http.StatusServiceUnavailable, "UNKNOWN_ERROR", msg)
			if got := m["errorMessage"].(string); !strings.Contains(got, "try again") {
				t.Errorf("%s: %q does not say to try again", c.path, got)
			}
		} else {
			legacyError(t, r, http.StatusServiceUnavailable, "try again")
		}
		if ra := r.Header.Get("Retry-After"); ra == "" {
			t.Errorf("%s: no Retry-After header", c.path)
		}
	}
	// cached answers and cheap routes are still served
	if r := s.Post(t, "/v3/items/count", `{"collectionId": "orders"}`); r.Status != http.StatusOK {
		t.Errorf("cached count while busy: %d %s", r.Status, r.Body)
	}
	if r := s.Post(t, "/v3/collections/get", `{}`); r.Status != http.StatusOK {
		t.Errorf("collections/get while busy: %d %s", r.Status, r.Body)
	}
	store.open()
	wg.Wait()
	for i, r := range slow {
		if r.Status != http.StatusOK {
			t.Errorf("slow query %d: %d %s", i, r.Status, r.Body)
		}
	}
	checkAlive(t, s)
}

// TestHostile_BusyWaits: a query that finds every slot taken waits for one to free within
// QueryWait instead of failing at once.
func TestHostile_BusyWaits(t *testing.T) {
	store := &blockingStore{Store: MustLoadStore(t, fixtureDir), entered: make(chan struct{}, 1), release: make(chan struct{})}
	cfg := openConfig()
	cfg.MaxQueries = 1
	cfg.QueryWait = time.Minute
	s := MustOpenServer(t, cfg, store)
	t.Cleanup(store.open)
	done := make(chan *Response, 1)
	go func() { done <- s.Post(t, "/v3/items/query", `{"collectionId": "slow", "query": {}}`) }()
	<-store.entered
	waiting := make(chan *Response, 1)
	go func() { waiting <- s.Post(t, "/v3/items/count", `{"collectionId": "products"}`) }()
	time.Sleep(50 * time.Millisecond)
	store.open()
	for _, ch := range []chan *Response{done, waiting} {
		if r := <-ch; r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
	}
}
