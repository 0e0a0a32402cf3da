package httpapi

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultJWTLeeway is the clock skew allowed when checking a v3 token's exp, iat and nbf
// (spec v3 §2.2, §13 question 3).
const DefaultJWTLeeway = 60 * time.Second

// wixIssuer is the iss of every token Wix signs (spec v3 §2.2 rule 3).
const wixIssuer = "wix.com"

// authError is a rejected credential. Its message says exactly why and is safe to show the
// caller: it never holds the key or the token.
type authError struct{ reason string }

func (e *authError) Error() string { return e.reason }

func authErrorf(format string, args ...any) *authError {
	return &authError{reason: fmt.Sprintf(format, args...)}
}

// legacySecretOK compares the secret key a legacy request carries
// (requestContext.settings.secretKey, spec legacy §4) with the configured one in constant time:
// comparing SHA-256 digests keeps the length from leaking too. An empty configured key never
// matches.
func legacySecretOK(configured, got string) bool {
	if configured == "" {
		return false
	}
	c, g := sha256.Sum256([]byte(configured)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(c[:], g[:]) == 1
}

// v3Envelope is the verified content of a v3 request (spec v3 §2.1).
// Envelopes may be shared between calls through the token cache: treat them as read-only.
type v3Envelope struct {
	Request  json.RawMessage // data.request
	Metadata v3Metadata      // data.metadata
}

// v3Metadata is data.metadata of a v3 request.
type v3Metadata struct {
	RequestID  string     `json:"requestId"`
	InstanceID string     `json:"instanceId"`
	Identity   v3Identity `json:"identity"`
}

// v3Identity says who caused a v3 request; IdentityType picks which ID is set.
type v3Identity struct {
	IdentityType       string `json:"identityType"` // ANONYMOUS_VISITOR, MEMBER, WIX_USER, APP, UNKNOWN
	AnonymousVisitorID string `json:"anonymousVisitorId,omitempty"`
	MemberID           string `json:"memberId,omitempty"`
	WixUserID          string `json:"wixUserId,omitempty"`
	AppID              string `json:"appId,omitempty"`
}

// v3Claims are the claims of a v3 token. data stays raw so that a wrong shape is reported
// after, not before, the signature is checked.
type v3Claims struct {
	jwt.RegisteredClaims
	Data json.RawMessage `json:"data"`
}

// v3Verifier checks the JWT that is the whole body of a v3 request (spec v3 §2).
type v3Verifier struct {
	key     crypto.PublicKey
	alg     string // the one accepted algorithm, from the key type
	keyName string // "RSA key" or "EC P-256 key", for messages
	appID   string
	leeway  time.Duration
	parser  *jwt.Parser
	cache   *tokenCache
}

// newV3Verifier picks the one algorithm from the key type, RS256 for RSA and ES256 for EC P-256
// (spec v3 §13 question 2), never from the token header, and never none or HS*. appID is the
// expected aud; leeway the allowed clock skew (DefaultJWTLeeway in production).
func newV3Verifier(key crypto.PublicKey, appID string, leeway time.Duration) (*v3Verifier, error) {
	key, err := checkPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("--jwt-public-key: %w", err)
	}
	if appID == "" {
		return nil, errors.New("--app-id: empty; set it to the app ID Wix puts in the token's aud")
	}
	v := &v3Verifier{key: key, appID: appID, leeway: max(leeway, 0), cache: newTokenCache(v3TokenCacheBytes)}
	switch key.(type) {
	case *rsa.PublicKey:
		v.alg, v.keyName = jwt.SigningMethodRS256.Alg(), "RSA key"
	case *ecdsa.PublicKey:
		v.alg, v.keyName = jwt.SigningMethodES256.Alg(), "EC P-256 key"
	}
	// Claims are checked by verify itself, to say precisely what was wrong.
	v.parser = jwt.NewParser(jwt.WithValidMethods([]string{v.alg}), jwt.WithoutClaimsValidation())
	return v, nil
}

// verify checks the signature and alg, iss == "wix.com", that aud holds the app ID, that exp is
// present and not past and iat present and not in the future (both with the leeway), and that
// the claims hold data as a JSON object with a request object. It returns the decoded envelope;
// any rejection is an *authError.
func (v *v3Verifier) verify(token []byte, now time.Time) (*v3Envelope, error) {
	token = bytes.TrimSpace(token)
	if len(token) == 0 {
		return nil, authErrorf("empty body; want the JWT Wix signs for each request")
	}
	sum := sha256.Sum256(token)
	if env, ok := v.cache.get(sum, now); ok {
		return env, nil
	}
	if n := bytes.Count(token, []byte(".")) + 1; n != 3 {
		return nil, authErrorf("body is not a JWT: %d dot-separated segment(s), want 3 (header.claims.signature)", n)
	}

	var c v3Claims
	tok, err := v.parser.ParseWithClaims(string(token), &c, v.keyFunc)
	if err != nil {
		return nil, v.parseError(tok, err)
	}
	from, until, err := v.checkClaims(&c, now)
	if err != nil {
		return nil, err
	}
	env, err := decodeEnvelope(c.Data)
	if err != nil {
		return nil, err
	}
	v.cache.put(sum, env, from, until, now)
	return env, nil
}

// keyFunc hands jwt the configured key, re-checking the alg the parser already restricted.
func (v *v3Verifier) keyFunc(t *jwt.Token) (any, error) {
	if alg := t.Method.Alg(); alg != v.alg {
		return nil, v.algError(alg)
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, authErrorf("JWT header has crit extensions, which are not supported")
	}
	return v.key, nil
}

// parseError turns a jwt parse failure into an authError saying why.
func (v *v3Verifier) parseError(tok *jwt.Token, err error) error {
	var ae *authError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, jwt.ErrTokenMalformed):
		detail := strings.TrimPrefix(err.Error(), jwt.ErrTokenMalformed.Error()+": ")
		return authErrorf("body is not a valid JWT: %s", detail)
	}
	if tok != nil {
		alg, _ := tok.Header["alg"].(string)
		if alg == "" {
			return authErrorf("JWT header has no alg; the --jwt-public-key %s accepts %s only", v.keyName, v.alg)
		}
		if alg != v.alg {
			return v.algError(alg)
		}
	}
	if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		return authErrorf("JWT signature does not verify with the key set by --jwt-public-key")
	}
	return authErrorf("JWT rejected: %v", err)
}

func (v *v3Verifier) algError(alg string) *authError {
	return authErrorf("JWT alg is %q; the --jwt-public-key %s accepts %s only", alg, v.keyName, v.alg)
}

// checkClaims checks iss, aud and the times, and returns the span of instants at which the
// token is good: [from, until).
func (v *v3Verifier) checkClaims(c *v3Claims, now time.Time) (from, until time.Time, err error) {
	switch {
	case c.Issuer == "":
		return from, until, authErrorf("JWT has no iss; want %q", wixIssuer)
	case c.Issuer != wixIssuer:
		return from, until, authErrorf("JWT iss is %q; want %q", c.Issuer, wixIssuer)
	}
	switch {
	case len(c.Audience) == 0:
		return from, until, authErrorf("JWT has no aud; want %q (the --app-id)", v.appID)
	case !slices.Contains(c.Audience, v.appID):
		got := any([]string(c.Audience))
		if len(c.Audience) == 1 {
			got = c.Audience[0]
		}
		return from, until, authErrorf("JWT aud is %q; want %q (check --app-id)", got, v.appID)
	}
	if c.ExpiresAt == nil {
		return from, until, authErrorf("JWT has no exp; Wix tokens always carry an expiry")
	}
	if c.IssuedAt == nil {
		return from, until, authErrorf("JWT has no iat; Wix tokens always carry an issue time")
	}
	exp, iat := c.ExpiresAt.Time, c.IssuedAt.Time
	if !now.Before(exp.Add(v.leeway)) {
		return from, until, authErrorf("JWT expired at %s, %s ago (leeway %s)",
			exp.UTC().Format(time.RFC3339), now.Sub(exp).Round(time.Second), v.leeway)
	}
	if iat.After(now.Add(v.leeway)) {
		return from, until, authErrorf("JWT iat %s is %s in the future (leeway %s); check this server's clock",
			iat.UTC().Format(time.RFC3339), iat.Sub(now).Round(time.Second), v.leeway)
	}
	from = iat
	if c.NotBefore != nil {
		nbf := c.NotBefore.Time
		if nbf.After(now.Add(v.leeway)) {
			return from, until, authErrorf("JWT is not valid before %s (nbf), %s from now (leeway %s)",
				nbf.UTC().Format(time.RFC3339), nbf.Sub(now).Round(time.Second), v.leeway)
		}
		if nbf.After(from) {
			from = nbf
		}
	}
	return from.Add(-v.leeway), exp, nil
}

// decodeEnvelope reads the data claim of a verified token.
func decodeEnvelope(data json.RawMessage) (*v3Envelope, error) {
	switch k := kindOfRaw(data); k {
	case "", "null":
		return nil, authErrorf("JWT claims have no data; want data.request and data.metadata")
	case "string":
		// Webhooks put a JSON string in data; service plugin calls an object (spec v3 §2.1).
		return nil, authErrorf("JWT data is a JSON string, not an object (that is the webhook layout, not a service plugin call)")
	case "object":
	default:
		return nil, authErrorf("JWT data is a JSON %s, not an object", k)
	}
	var d struct {
		Request  json.RawMessage `json:"request"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, authErrorf("JWT data: %v", err)
	}
	switch k := kindOfRaw(d.Request); k {
	case "object":
	case "", "null":
		return nil, authErrorf("JWT data has no request object")
	default:
		return nil, authErrorf("JWT data.request is a JSON %s, not an object", k)
	}
	env := &v3Envelope{Request: d.Request}
	switch k := kindOfRaw(d.Metadata); k {
	case "", "null":
	case "object":
		if err := json.Unmarshal(d.Metadata, &env.Metadata); err != nil {
			return nil, authErrorf("JWT data.metadata: %v", err)
		}
	default:
		return nil, authErrorf("JWT data.metadata is a JSON %s, not an object", k)
	}
	return env, nil
}

// kindOfRaw names the kind of JSON value raw holds, or "" when raw is empty.
func kindOfRaw(raw json.RawMessage) string {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// v3TokenCacheBytes bounds the memory the verified-token cache may hold.
const v3TokenCacheBytes = 16 << 20

// tokenEntryOverhead estimates the bytes an entry costs beyond its variable-length content:
// map slot, key, entry and envelope structs, string headers.
const tokenEntryOverhead = 256

// tokenCache holds verified envelopes keyed by the SHA-256 of their token, each only while
// its token is unexpired, so that a repeated token (a retry, a load test) skips parsing and
// signature checking.
//
// It is a mutex-protected map with a byte cap rather than ristretto: ristretto admits Sets
// asynchronously and may drop them, so a retry arriving right after the first call would often
// miss; its TTLs run on the wall clock while verify takes now as an argument; and its goroutines
// would need a Close that the verifier has no lifecycle for. A lookup here costs well under a
// microsecond against tens of microseconds for a signature check, so one mutex is no bottleneck.
// When full it evicts arbitrary entries (map order is random); expired entries go when looked
// up or evicted.
type tokenCache struct {
	mu      sync.Mutex
	m       map[[sha256.Size]byte]tokenEntry
	cost    int64
	maxCost int64
}

type tokenEntry struct {
	env         *v3Envelope
	from, until time.Time // the entry answers for now in [from, until)
	cost        int64
}

func newTokenCache(maxCost int64) *tokenCache {
	return &tokenCache{m: make(map[[sha256.Size]byte]tokenEntry), maxCost: maxCost}
}

// get returns the envelope cached under key if its token is good at now. A miss sends the
// caller through full verification, which decides with the leeway.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*v3Envelope, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	switch {
	case !ok:
		return nil, false
	case !now.Before(e.until):
		delete(c.m, key)
		c.cost -= e.cost
		return nil, false
	case now.Before(e.from):
		return nil, false
	}
	return e.env, true
}

// put caches env under key for [from, until), if until is still ahead of now.
func (c *tokenCache) put(key [sha256.Size]byte, env *v3Envelope, from, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	md := env.Metadata
	cost := int64(tokenEntryOverhead + len(env.Request) + len(md.RequestID) + len(md.InstanceID) +
		len(md.Identity.IdentityType) + len(md.Identity.AnonymousVisitorID) + len(md.Identity.MemberID) +
		len(md.Identity.WixUserID) + len(md.Identity.AppID))
	if cost > c.maxCost/16 {
		return // one huge request must not flush the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; ok {
		return
	}
	c.m[key] = tokenEntry{env: env, from: from, until: until, cost: cost}
	c.cost += cost
	for k, e := range c.m {
		if c.cost <= c.maxCost {
			break
		}
		if k != key {
			delete(c.m, k)
			c.cost -= e.cost
		}
	}
}

// reset empties the cache (for benchmarks).
func (c *tokenCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
	c.cost = 0
}

// ParsePublicKey reads the v3 verification key the way the --jwt-public-key flag takes it
// (DESIGN §2, spec v3 §2.2): PEM text (SPKI "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or an X.509
// "CERTIFICATE"), a path to a file holding such PEM, or one line of base64 of the PEM or of the
// bare DER SPKI, which is how Wix shows a per-site connection's EC P-256 key (spec v3 §13
// question 2). Only RSA keys of 2048 bits or more and EC P-256 keys are accepted. Errors say what
// was wrong and what to do.
func ParsePublicKey(s string) (crypto.PublicKey, error) {
	const flag = "--jwt-public-key"
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New(flag + ": empty; give PEM text, a file holding it, or one line of base64 of it")
	case isPEM([]byte(s)):
		k, err := parsePEM([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return k, nil
	}
	if fi, err := os.Stat(s); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s: %q is a directory; give a file holding the public key", flag, s)
		}
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		k, err := parseKeyFile(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", flag, s, err)
		}
		return k, nil
	}
	if isOpenSSH([]byte(s)) {
		return nil, errors.New(flag + ": " + errOpenSSH.Error())
	}
	if b, ok := decodeBase64(s); ok {
		k, err := parseKeyBytes(b)
		if !errors.Is(err, errNotAKey) {
			if err != nil {
				return nil, fmt.Errorf("%s: %w", flag, err)
			}
			return k, nil
		}
	}
	what := fmt.Sprintf("%q", s)
	if len(s) > 64 {
		what = fmt.Sprintf("the %d-character value", len(s))
	}
	return nil, fmt.Errorf("%s: %s is not a file, PEM text or base64 of a public key", flag, what)
}

// errNotAKey says bytes are neither PEM nor DER of any key or certificate.
var errNotAKey = errors.New("neither PEM nor a DER public key (SPKI), PKCS#1 RSA key or certificate")

// errOpenSSH says the key is in OpenSSH's one-line format.
var errOpenSSH = errors.New("an OpenSSH public key; convert it to PEM with ssh-keygen -e -m PKCS8 -f FILE")

func isOpenSSH(b []byte) bool {
	return bytes.HasPrefix(b, []byte("ssh-")) || bytes.HasPrefix(b, []byte("ecdsa-sha2-"))
}

// parseKeyFile reads a key file: PEM, base64 of PEM or DER, or raw DER.
func parseKeyFile(b []byte) (crypto.PublicKey, error) {
	switch t := bytes.TrimSpace(b); {
	case isPEM(t):
		return parsePEM(t)
	case isOpenSSH(t):
		return nil, errOpenSSH
	}
	if d, ok := decodeBase64(string(b)); ok {
		if k, err := parseKeyBytes(d); !errors.Is(err, errNotAKey) {
			return k, err
		}
	}
	return parseDER(b)
}

// parseKeyBytes reads PEM text or DER.
func parseKeyBytes(b []byte) (crypto.PublicKey, error) {
	if isPEM(b) {
		return parsePEM(b)
	}
	return parseDER(b)
}

func isPEM(b []byte) bool { return bytes.Contains(b, []byte("-----BEGIN ")) }

// parsePEM reads the first key or certificate in PEM text. It also takes PEM squeezed onto one
// line, as environment variables often carry it: with literal \n or spaces for newlines.
func parsePEM(b []byte) (crypto.PublicKey, error) {
	if !bytes.Contains(b, []byte("\n")) {
		b = bytes.ReplaceAll(b, []byte(`\n`), []byte("\n"))
	}
	block, rest := pem.Decode(b)
	if block == nil {
		if b = repairPEM(b); b != nil {
			block, rest = pem.Decode(b)
		}
		if block == nil {
			return nil, errors.New("PEM text that does not decode; check the BEGIN and END lines and the base64 between them")
		}
	}
	var seen []string
	for ; block != nil; block, rest = pem.Decode(rest) {
		switch t := block.Type; {
		case strings.Contains(t, "PRIVATE KEY"):
			return nil, errors.New("found a PRIVATE key; give the public key")
		case t == "PUBLIC KEY":
			k, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, pemBlockError(t, err)
			}
			return checkPublicKey(k)
		case t == "RSA PUBLIC KEY":
			k, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, pemBlockError(t, err)
			}
			return checkPublicKey(k)
		case t == "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, pemBlockError(t, err)
			}
			return checkPublicKey(cert.PublicKey)
		case t == "EC PARAMETERS":
			// openssl ecparam -genkey writes this ahead of the key
		default:
			seen = append(seen, t)
		}
	}
	return nil, fmt.Errorf(`PEM block %q; want "PUBLIC KEY", "RSA PUBLIC KEY" or "CERTIFICATE"`, seen)
}

// pemBlockError says a PEM block does not parse, keeping the cause only when x509 put it
// plainly (not ASN.1 decoder detail).
func pemBlockError(typ string, err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "x509: ") {
		return fmt.Errorf("PEM %s block does not parse (%s); copy the key again", typ, msg)
	}
	return fmt.Errorf("PEM %s block does not parse; copy the key again", typ)
}

// repairPEM rebuilds PEM whose line breaks were lost, or returns nil.
func repairPEM(b []byte) []byte {
	s := string(b)
	i := strings.Index(s, "-----BEGIN ")
	if i < 0 {
		return nil
	}
	s = s[i+len("-----BEGIN "):]
	typ, body, ok := strings.Cut(s, "-----")
	if !ok {
		return nil
	}
	body, _, ok = strings.Cut(body, "-----END "+typ+"-----")
	if !ok {
		return nil
	}
	body = strings.Join(strings.Fields(body), "")
	return []byte("-----BEGIN " + typ + "-----\n" + body + "\n-----END " + typ + "-----\n")
}

// parseDER reads a DER SPKI public key, PKCS#1 RSA public key or certificate.
func parseDER(der []byte) (crypto.PublicKey, error) {
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		return checkPublicKey(k)
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		return checkPublicKey(k)
	}
	if cert, err := x509.ParseCertificate(der); err == nil {
		return checkPublicKey(cert.PublicKey)
	}
	if isPrivateDER(der) {
		return nil, errors.New("found a PRIVATE key; give the public key")
	}
	return nil, errNotAKey
}

func isPrivateDER(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// decodeBase64 decodes s in any of the usual base64 alphabets, ignoring whitespace.
func decodeBase64(s string) ([]byte, bool) {
	s = strings.Join(strings.Fields(s), "")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, true
		}
	}
	return nil, false
}

// checkPublicKey accepts the keys Wix signs with: RSA of 2048 bits or more (RS256) and EC P-256
// (ES256).
func checkPublicKey(k crypto.PublicKey) (crypto.PublicKey, error) {
	const want = "Wix signs with RS256 (RSA) or ES256 (P-256)"
	switch k := k.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return nil, errors.New("no key")
		}
		if n := k.N.BitLen(); n < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too weak; want 2048 bits or more", n)
		}
		return k, nil
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return nil, errors.New("no key")
		}
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC key on curve %s; %s", k.Curve.Params().Name, want)
		}
		return k, nil
	case ed25519.PublicKey:
		return nil, errors.New("Ed25519 key; " + want)
	case nil:
		return nil, errors.New("no key")
	}
	return nil, fmt.Errorf("%T key; %s", k, want)
}
