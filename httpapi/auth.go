package httpapi

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	// Strict base64 decoding: a segment with unused low bits set is refused, so a token is not
	// respelled into many cache entries. An ES256 signature still has a twin, (r, n-s), which
	// is accepted: signers do not normalise s, and the twin carries the claims Wix signed
	// (TestV3Verify_ES256Twin); nothing here trusts a token's bytes to be unique.
	v.parser = jwt.NewParser(jwt.WithValidMethods([]string{v.alg}), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())
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
