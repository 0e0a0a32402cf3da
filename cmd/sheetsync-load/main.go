// Command sheetsync-load drives a running sheetsync with v3 queries and writes and prints the
// throughput and latency percentiles of each kind of request.
//
//	sheetsync-load --url http://127.0.0.1:8080 --mix small,page,distinct,write --requests 20000 --duration 30s
//	sheetsync-load --generate /tmp/big/products.csv --rows 1000000
//
// It talks to loopback only unless --allow-remote is given: it is a tool to measure a server you
// run, not to load someone else's. Writes add and change items with ids "load-..." in the
// collection; point it at a copy of your folder.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/sheetsync/sheetsync/cmd/internal/wixsign"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Kinds of request, in report order. "write" in --mix yields insert and update.
const (
	kindSmall    = "small"    // one small query, repeated byte for byte (served from the result cache)
	kindPage     = "page"     // filter + sort + page 50 + total, repeated
	kindDistinct = "distinct" // the same shape with 1,000 distinct queries cycling
	kindInsert   = "insert"   // a single-item v3 insert
	kindUpdate   = "update"   // a single-item v3 update of an item this run inserted
)

var reportOrder = []string{kindSmall, kindPage, kindDistinct, kindInsert, kindUpdate}

// DefaultDistinct is how many different queries the distinct kind cycles through.
const DefaultDistinct = 1000

// categories are the product categories of samples/products.csv, which --generate also uses.
var categories = []string{"garden", "decor", "kitchen", "lighting", "storage", "furniture", "textiles", "bath"}

// config is what the flags set.
type config struct {
	URL         string
	Collection  string
	Mix         []string // small, page, distinct, write; one entry per weight unit
	Requests    int64
	Duration    time.Duration
	Concurrency int
	AllowRemote bool
	KeyPath     string
	AppID       string
	FreshTokens bool
	Distinct    int64 // queries the distinct kind cycles through
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sheetsync-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var mix, generate string
	var rows int
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "base URL of the sheetsync to load; several replicas comma-separated (each client sticks to one)")
	fs.StringVar(&c.Collection, "collection", "products", "collection to query and write (a products-shaped one: category, price, name, inStock)")
	fs.StringVar(&mix, "mix", "small,page,distinct,write", "kinds of request, comma-separated, with optional weights: small:4,write:1")
	fs.Int64Var(&c.Requests, "requests", 10000, "stop after this many requests (0: no limit)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "stop after this long (0: no limit)")
	fs.IntVar(&c.Concurrency, "concurrency", 16, "requests in flight")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.StringVar(&c.KeyPath, "key", "", "PEM private key to sign v3 requests as Wix does (RS256 for RSA, ES256 for EC P-256)")
	fs.StringVar(&c.AppID, "app-id", "", "app id for the token's aud (with --key)")
	fs.BoolVar(&c.FreshTokens, "fresh-tokens", false, "sign every request anew, as Wix does, instead of reusing a token per distinct body for a minute")
	fs.Int64Var(&c.Distinct, "distinct", DefaultDistinct, "how many different queries the distinct kind cycles through (after one pass they are in the server's result cache; make it larger than --requests to never repeat one)")
	fs.StringVar(&generate, "generate", "", "write a products CSV to this file and exit")
	fs.IntVar(&rows, "rows", 1000000, "rows for --generate")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if generate != "" {
		if err := generateFile(generate, rows); err != nil {
			fmt.Fprintln(stderr, "sheetsync-load:", err)
			return 1
		}
		fmt.Fprintf(stdout, "wrote %d rows to %s\n", rows, generate)
		return 0
	}
	var err error
	if c.Mix, err = parseMix(mix); err != nil {
		fmt.Fprintln(stderr, "sheetsync-load: --mix:", err)
		return 2
	}
	l, err := newLoader(c)
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync-load:", err)
		return 2
	}
	r := l.Run(context.Background())
	r.Print(stdout)
	if r.Failed() > 0 {
		return 1
	}
	return 0
}

// parseMix expands "small:2,write" to [small small write].
func parseMix(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		name, weight, found := strings.Cut(strings.TrimSpace(part), ":")
		w := 1
		if found {
			var err error
			if w, err = strconv.Atoi(weight); err != nil || w < 0 || w > 100 {
				return nil, fmt.Errorf("weight %q of %s: want 0 to 100", weight, name)
			}
		}
		switch name {
		case kindSmall, kindPage, kindDistinct, "write":
		default:
			return nil, fmt.Errorf("unknown kind %q; want small, page, distinct or write", name)
		}
		for range w {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no kinds")
	}
	return out, nil
}

// checkLoopback refuses a URL whose host is not a loopback address, unless allowed.
func checkLoopback(raw string, allowRemote bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("--url %q: want http://host:port", raw)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--url %q is not a loopback address; this tool loads servers you run on this machine (--allow-remote to override)", raw)
}

// loader sends the requests; one per config.
type loader struct {
	c      config
	urls   []string // the replicas' base URLs; client n sends to urls[n % len]
	client *http.Client
	signer *signer // nil: plain JSON
	runID  string
	next   atomic.Int64
}

func newLoader(c config) (*loader, error) {
	var urls []string
	for u := range strings.SplitSeq(c.URL, ",") {
		if u = strings.TrimRight(strings.TrimSpace(u), "/"); u == "" {
			continue
		}
		if err := checkLoopback(u, c.AllowRemote); err != nil {
			return nil, err
		}
		urls = append(urls, u)
	}
	if len(urls) == 0 {
		return nil, errors.New("--url: want at least one http://host:port")
	}
	if c.Requests <= 0 && c.Duration <= 0 {
		return nil, errors.New("--requests and --duration are both unlimited; set one")
	}
	if c.Distinct < 1 {
		return nil, errors.New("--distinct: want at least 1")
	}
	if c.Concurrency < 1 {
		return nil, errors.New("--concurrency: want at least 1")
	}
	l := &loader{
		c:     c,
		runID: strconv.FormatInt(time.Now().UnixNano(), 36),
		client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: c.Concurrency, MaxConnsPerHost: c.Concurrency},
		},
	}
	l.urls = urls
	if (c.KeyPath == "") != (c.AppID == "") {
		return nil, errors.New("--key and --app-id go together")
	}
	if c.KeyPath != "" {
		key, err := wixsign.ReadPrivateKey(c.KeyPath)
		if err != nil {
			return nil, fmt.Errorf("--key: %w", err)
		}
		l.signer = &signer{key: key, appID: c.AppID, fresh: c.FreshTokens, tokens: map[string]cachedToken{}}
	}
	return l, nil
}

// worker state: the id it inserted last and has not updated yet, so an update never races
// its insert.
type worker struct {
	pending string
	n       int
	samples map[string][]time.Duration
	failed  map[string]int
	errs    []string
}

// Run sends requests until --requests or --duration is reached and returns the report.
func (l *loader) Run(ctx context.Context) *Report {
	if l.c.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.c.Duration)
		defer cancel()
	}
	workers := make([]*worker, l.c.Concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range workers {
		w := &worker{n: i, samples: map[string][]time.Duration{}, failed: map[string]int{}}
		workers[i] = w
		wg.Go(func() { l.work(ctx, w) })
	}
	wg.Wait()
	r := &Report{Elapsed: time.Since(start), Kinds: map[string]*KindReport{}}
	for _, w := range workers {
		for kind, s := range w.samples {
			r.kind(kind).Latencies = append(r.kind(kind).Latencies, s...)
		}
		for kind, n := range w.failed {
			r.kind(kind).Failed += n
		}
		for _, e := range w.errs {
			if len(r.Errors) < 10 {
				r.Errors = append(r.Errors, e)
			}
		}
	}
	for _, k := range r.Kinds {
		slices.Sort(k.Latencies)
	}
	return r
}

func (l *loader) work(ctx context.Context, w *worker) {
	for ctx.Err() == nil {
		i := l.next.Add(1) - 1
		if l.c.Requests > 0 && i >= l.c.Requests {
			return
		}
		kind, path, body := l.request(w, i)
		t0 := time.Now()
		// a client sticks to one replica, so the update of an item follows its insert there
		err := l.send(ctx, l.urls[w.n%len(l.urls)], path, body, kind == kindInsert || kind == kindUpdate)
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return // cut off by --duration: neither a sample nor a failure
			}
			w.failed[kind]++
			if len(w.errs) < 3 {
				w.errs = append(w.errs, fmt.Sprintf("%s %s: %v", kind, path, err))
			}
			if kind == kindInsert {
				w.pending = ""
			}
			continue
		}
		w.samples[kind] = append(w.samples[kind], d)
	}
}

// request builds request number i for worker w.
func (l *loader) request(w *worker, i int64) (kind, path string, body []byte) {
	mixKind := l.c.Mix[i%int64(len(l.c.Mix))]
	col := l.c.Collection
	switch mixKind {
	case kindSmall:
		return kindSmall, "/v3/items/query", fmt.Appendf(nil,
			`{"collectionId":%q,"query":{"filter":{"category":"lighting","price":{"$lt":30}},"sort":[{"fieldName":"price","order":"DESC"}],"paging":{"limit":10}},"returnTotalCount":true}`, col)
	case kindPage:
		return kindPage, "/v3/items/query", pageQuery(col, "kitchen", 100, 0)
	case kindDistinct:
		// Query q of --distinct: a category, a price bound from 20 to 999, then further pages.
		q := (i / int64(len(l.c.Mix))) % l.c.Distinct
		r := q / int64(len(categories))
		return kindDistinct, "/v3/items/query", pageQuery(col, categories[q%int64(len(categories))], 20+r%980, 50*(r/980))
	}
	if w.pending == "" {
		w.pending = fmt.Sprintf("load-%s-%d-%d", l.runID, w.n, i)
		return kindInsert, "/v3/items/insert", fmt.Appendf(nil,
			`{"collectionId":%q,"items":[{"_id":%q,"name":"Load test item %d","category":"garden","price":12.5,"inStock":true}]}`, col, w.pending, i)
	}
	id := w.pending
	w.pending = ""
	return kindUpdate, "/v3/items/update", fmt.Appendf(nil,
		`{"collectionId":%q,"items":[{"_id":%q,"name":"Load test item %d (updated)","category":"garden","price":%d.25,"inStock":false}]}`, col, id, i, 1+i%500)
}

// pageQuery is a filter + sort + page 50 + total query.
func pageQuery(col, category string, maxPrice, offset int64) []byte {
	return fmt.Appendf(nil,
		`{"collectionId":%q,"query":{"filter":{"category":%q,"price":{"$lt":%d},"inStock":true},"sort":[{"fieldName":"price","order":"DESC"},{"fieldName":"name","order":"ASC"}],"paging":{"limit":50,"offset":%d}},"returnTotalCount":true}`,
		col, category, maxPrice, offset)
}

// send posts one request and reads the answer; anything but 200 is an error.
func (l *loader) send(ctx context.Context, base, path string, body []byte, write bool) error {
	if l.signer != nil {
		tok, err := l.signer.token(body, write, time.Now())
		if err != nil {
			return err
		}
		body = []byte(tok)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// Report is the outcome of a run.
type Report struct {
	Elapsed time.Duration
	Kinds   map[string]*KindReport
	Errors  []string // the first few failures
}

// KindReport holds one kind's successful latencies, sorted, and its failures.
type KindReport struct {
	Latencies []time.Duration
	Failed    int
}

func (r *Report) kind(k string) *KindReport {
	if r.Kinds[k] == nil {
		r.Kinds[k] = &KindReport{}
	}
	return r.Kinds[k]
}

// OK is the number of successful requests of every kind.
func (r *Report) OK() int {
	n := 0
	for _, k := range r.Kinds {
		n += len(k.Latencies)
	}
	return n
}

// Failed is the number of failed requests of every kind.
func (r *Report) Failed() int {
	n := 0
	for _, k := range r.Kinds {
		n += k.Failed
	}
	return n
}

// Percentile returns the p-th percentile (0 < p <= 1) of sorted latencies, nearest rank.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Print writes the report as a table: requests/s over the whole run for each kind.
func (r *Report) Print(w io.Writer) {
	secs := r.Elapsed.Seconds()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tok\tfailed\treq/s\tp50\tp90\tp99\tmax\t")
	row := func(name string, lat []time.Duration, failed int) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, len(lat), failed, float64(len(lat))/secs,
			fmtDur(Percentile(lat, 0.50)), fmtDur(Percentile(lat, 0.90)), fmtDur(Percentile(lat, 0.99)), fmtDur(Percentile(lat, 1)))
	}
	var all []time.Duration
	for _, name := range reportOrder {
		if k := r.Kinds[name]; k != nil {
			row(name, k.Latencies, k.Failed)
			all = append(all, k.Latencies...)
		}
	}
	slices.Sort(all)
	row("all", all, r.Failed())
	tw.Flush()
	fmt.Fprintf(w, "%d requests in %s\n", r.OK()+r.Failed(), r.Elapsed.Round(time.Millisecond))
	for _, e := range r.Errors {
		fmt.Fprintln(w, "error:", e)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}

// signer signs v3 request objects as Wix does (wixsign.Sign): a JWT whose data.request is the
// object.
type signer struct {
	key   crypto.Signer
	appID string
	fresh bool

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token string
	at    time.Time
}

// tokenTTL is the exp of the tokens; reuse is for a fifth of it, well inside the server's checks.
const tokenTTL = 5 * time.Minute

// maxReusedTokens bounds the tokens kept for reuse: queries that never repeat (--distinct
// larger than the run) would otherwise keep one per request.
const maxReusedTokens = 100_000

// token returns a token for body: a fresh one with --fresh-tokens or for a write (whose bodies
// never repeat), else one reused for a minute. Reusing lets the server answer from its
// verified-token cache and keeps the RSA signing cost (about 1 ms of this tool's CPU) out of a
// query measurement.
func (s *signer) token(body []byte, write bool, now time.Time) (string, error) {
	reuse := !s.fresh && !write
	if reuse {
		s.mu.Lock()
		t, ok := s.tokens[string(body)]
		s.mu.Unlock()
		if ok && now.Sub(t.at) < tokenTTL/5 {
			return t.token, nil
		}
	}
	tok, err := wixsign.Sign(s.key, s.appID, "sheetsync-load", json.RawMessage(body), now, tokenTTL)
	if err != nil {
		return "", err
	}
	if reuse {
		s.mu.Lock()
		if len(s.tokens) >= maxReusedTokens {
			clear(s.tokens)
		}
		s.tokens[string(body)] = cachedToken{tok, now}
		s.mu.Unlock()
	}
	return tok, nil
}

// generateFile writes a products CSV of n rows: _id, name, category, price, inStock,
// launchDate, description. The same n gives the same file.
func generateFile(path string, n int) error {
	if n < 0 {
		return errors.New("--rows: want 0 or more")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := writeProducts(w, n); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var (
	adjectives = []string{"Oak", "Walnut", "Linen", "Copper", "Brass", "Ceramic", "Glass", "Bamboo", "Wool", "Steel", "Rattan", "Marble", "Velvet", "Cotton", "Pine", "Stoneware"}
	nouns      = []string{"Lamp", "Table", "Chair", "Shelf", "Basket", "Vase", "Rug", "Bowl", "Mirror", "Planter", "Cushion", "Jar", "Stool", "Tray", "Lantern", "Towel"}
	colours    = []string{"Sage", "Charcoal", "Sand", "Ivory", "Rust", "Navy", "Olive", "Blush"}
	phrases    = []string{"Made to last, with a matt finish.", "Hand finished; each piece varies slightly.", "Easy to clean with a damp cloth.", "Ships flat, assembles in minutes.", "Sustainably sourced materials.", "A best seller since launch."}
)

func writeProducts(w *bufio.Writer, n int) error {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	w.WriteString("_id,name,category,price,inStock,launchDate,description\n")
	base := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)
	var id [16]byte
	var hexID [36]byte
	for i := range n {
		for j := 0; j < 16; j += 8 {
			v := rng.Uint64()
			for k := range 8 {
				id[j+k] = byte(v >> (8 * k))
			}
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		encodeUUID(hexID[:], id)
		w.Write(hexID[:])
		fmt.Fprintf(w, `,"%s %s %s, %s",%s,%d.%02d,%t,%s,"%s"`+"\n",
			adjectives[rng.IntN(len(adjectives))], nouns[rng.IntN(len(nouns))], strconv.Itoa(i%997), colours[rng.IntN(len(colours))],
			categories[rng.IntN(len(categories))], 1+rng.IntN(999), rng.IntN(100), rng.IntN(10) < 8,
			base.AddDate(0, 0, rng.IntN(3650)).Format(time.DateOnly), phrases[rng.IntN(len(phrases))])
	}
	return nil
}

func encodeUUID(dst []byte, id [16]byte) {
	hex.Encode(dst[0:8], id[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], id[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], id[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], id[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], id[10:])
}
