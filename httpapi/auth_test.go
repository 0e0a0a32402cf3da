package httpapi

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const authAppID = "app-123"

// authNow is the instant tests verify at; tokens are minted around it.
var authNow = time.Unix(1732700000, 0)

// Keys are generated once per test binary: RSA generation takes a while.
var (
	authRSAKey   = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
	authRSAKey2  = sync.OnceValue(func() *rsa.PrivateKey { return mustKey(rsa.GenerateKey(rand.Reader, 2048)) })
	authECKey    = sync.OnceValue(func() *ecdsa.PrivateKey { return mustKey(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)) })
	authECKey384 = sync.OnceValue(func() *ecdsa.PrivateKey { return mustKey(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)) })
)

func mustKey[K any](k K, err error) K {
	if err != nil {
		panic(err)
	}
	return k
}

// goodClaims returns the claims of a good token, valid at authNow.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": "wix.com",
		"aud": authAppID,
		"iat": authNow.Add(-5 * time.Second).Unix(),
		"exp": authNow.Add(55 * time.Second).Unix(),
		"data": map[string]any{
			"request": map[string]any{
				"collectionId": "products",
				"query":        map[string]any{"paging": map[string]any{"limit": 25}},
			},
			"metadata": map[string]any{
				"requestId":        "req-1",
				"instanceId":       "inst-1",
				"appExtensionType": "EXTERNAL_DATABASE_PROVIDER",
				"identity":         map[string]any{"identityType": "WIX_USER", "wixUserId": "user-1"},
				"languages":        []string{"en-US"},
			},
		},
	}
}

// claimsWith returns goodClaims changed by f.
func claimsWith(f func(c jwt.MapClaims)) jwt.MapClaims {
	c := goodClaims()
	f(c)
	return c
}

// MustMint signs claims with key by method.
func MustMint(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) []byte {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(s)
}

// mintCrit signs a good token whose header names a critical extension.
func mintCrit(tb testing.TB) []byte {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, goodClaims())
	tok.Header["crit"] = []string{"b64"}
	s, err := tok.SignedString(authRSAKey())
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(s)
}

func MustVerifier(tb testing.TB, key crypto.PublicKey) *v3Verifier {
	tb.Helper()
	v, err := newV3Verifier(key, authAppID, DefaultJWTLeeway)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func pemText(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func spkiPEM(tb testing.TB, pub crypto.PublicKey) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return pemText("PUBLIC KEY", der)
}

func TestV3Verify_OK(t *testing.T) {
	wantMeta := v3Metadata{
		RequestID:  "req-1",
		InstanceID: "inst-1",
		Identity:   v3Identity{IdentityType: "WIX_USER", WixUserID: "user-1"},
	}
	for _, tt := range []struct {
		name   string
		method jwt.SigningMethod
		priv   any
		pub    crypto.PublicKey
		claims jwt.MapClaims
	}{
		{"RS256", jwt.SigningMethodRS256, authRSAKey(), &authRSAKey().PublicKey, goodClaims()},
		{"ES256", jwt.SigningMethodES256, authECKey(), &authECKey().PublicKey, goodClaims()},
		{"AudArray", jwt.SigningMethodRS256, authRSAKey(), &authRSAKey().PublicKey,
			claimsWith(func(c jwt.MapClaims) { c["aud"] = []string{"other", authAppID} })},
		{"ExpiredWithinLeeway", jwt.SigningMethodRS256, authRSAKey(), &authRSAKey().PublicKey,
			claimsWith(func(c jwt.MapClaims) { c["exp"] = authNow.Add(-59 * time.Second).Unix() })},
		{"IatFutureWithinLeeway", jwt.SigningMethodES256, authECKey(), &authECKey().PublicKey,
			claimsWith(func(c jwt.MapClaims) { c["iat"] = authNow.Add(59 * time.Second).Unix() })},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := MustVerifier(t, tt.pub)
			tok := MustMint(t, tt.method, tt.priv, tt.claims)
			env, err := v.verify(append(tok, '\n'), authNow)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			var req map[string]any
			if err := json.Unmarshal(env.Request, &req); err != nil {
				t.Fatal(err)
			}
			if got, want := req["collectionId"], "products"; got != want {
				t.Errorf("request.collectionId = %v, want %v", got, want)
			}
			if got := env.Metadata; got != wantMeta {
				t.Errorf("metadata = %+v, want %+v", got, wantMeta)
			}
		})
	}
}

func TestV3Verify_Err(t *testing.T) {
	rsaPub, ecPub := &authRSAKey().PublicKey, &authECKey().PublicKey
	rsaV, ecV := MustVerifier(t, rsaPub), MustVerifier(t, ecPub)
	rs := func(c jwt.MapClaims) []byte { return MustMint(t, jwt.SigningMethodRS256, authRSAKey(), c) }
	good := string(rs(goodClaims()))
	parts := strings.Split(good, ".")
	// tampered keeps the header and signature of good but swaps in other claims.
	tampered := func(c jwt.MapClaims) []byte {
		b, _ := json.Marshal(c)
		return []byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2])
	}
	const future = 61 * time.Second

	for _, tt := range []struct {
		name  string
		v     *v3Verifier
		token []byte
		want  []string // substrings of the message
	}{
		{"ErrEmptyBody", rsaV, nil, []string{"empty body"}},
		{"ErrBlankBody", rsaV, []byte(" \r\n"), []string{"empty body"}},
		{"ErrGarbage", rsaV, []byte("hello, world"), []string{"not a JWT", "1 dot-separated segment(s), want 3"}},
		{"ErrTwoSegments", rsaV, []byte(parts[0] + "." + parts[1]), []string{"not a JWT", "2 dot-separated"}},
		{"ErrFourSegments", rsaV, []byte(good + ".x"), []string{"not a JWT", "4 dot-separated"}},
		{"ErrBadBase64Header", rsaV, []byte("ey!!." + parts[1] + "." + parts[2]), []string{"not a valid JWT", "base64 decode header"}},
		{"ErrBadBase64Claims", rsaV, []byte(parts[0] + ".%%%." + parts[2]), []string{"not a valid JWT", "base64 decode claim"}},
		{"ErrBadBase64Signature", rsaV, []byte(parts[0] + "." + parts[1] + ".*"), []string{"not a valid JWT", "base64 decode signature"}},
		{"ErrHeaderNotJSON", rsaV, []byte(base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]),
			[]string{"not a valid JWT", "JSON decode header"}},
		{"ErrOtherKey", rsaV, MustMint(t, jwt.SigningMethodRS256, authRSAKey2(), goodClaims()),
			[]string{"signature does not verify"}},
		{"ErrTamperedClaims", rsaV, tampered(claimsWith(func(c jwt.MapClaims) { c["aud"] = "evil" })),
			[]string{"signature does not verify"}},
		{"ErrAlgNone", rsaV, MustMint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, goodClaims()),
			[]string{`alg is "none"`, "accepts RS256 only"}},
		{"ErrNoAlg", rsaV, []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT"}`)) + "." + parts[1] + "." + parts[2]),
			[]string{"no alg", "RS256"}},
		{"ErrUnknownAlg", rsaV, []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"XY9"}`)) + "." + parts[1] + "." + parts[2]),
			[]string{`alg is "XY9"`}},
		// The classic key confusion: HMAC keyed with the public key's bytes.
		{"ErrHS256WithPublicKey", rsaV, MustMint(t, jwt.SigningMethodHS256, []byte(spkiPEM(t, rsaPub)), goodClaims()),
			[]string{`alg is "HS256"`, "RSA key accepts RS256 only"}},
		{"ErrHS256WithECPublicKey", ecV, MustMint(t, jwt.SigningMethodHS256, []byte(spkiPEM(t, ecPub)), goodClaims()),
			[]string{`alg is "HS256"`, "EC P-256 key accepts ES256 only"}},
		{"ErrRS256AgainstEC", ecV, rs(goodClaims()), []string{`alg is "RS256"`, "EC P-256 key accepts ES256 only"}},
		{"ErrES256AgainstRSA", rsaV, MustMint(t, jwt.SigningMethodES256, authECKey(), goodClaims()),
			[]string{`alg is "ES256"`, "RSA key accepts RS256 only"}},
		{"ErrCritHeader", rsaV, mintCrit(t), []string{"crit extensions"}},
		{"ErrRS384", rsaV, MustMint(t, jwt.SigningMethodRS384, authRSAKey(), goodClaims()), []string{`alg is "RS384"`}},
		{"ErrWrongIss", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["iss"] = "evil.com" })),
			[]string{`iss is "evil.com"; want "wix.com"`}},
		{"ErrMissingIss", rsaV, rs(claimsWith(func(c jwt.MapClaims) { delete(c, "iss") })), []string{`no iss; want "wix.com"`}},
		{"ErrWrongAud", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["aud"] = "other-app" })),
			[]string{`aud is "other-app"; want "app-123"`, "--app-id"}},
		{"ErrWrongAudArray", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["aud"] = []string{"a1", "a2"} })),
			[]string{`aud is ["a1" "a2"]; want "app-123"`}},
		{"ErrMissingAud", rsaV, rs(claimsWith(func(c jwt.MapClaims) { delete(c, "aud") })), []string{`no aud; want "app-123"`}},
		{"ErrMissingExp", rsaV, rs(claimsWith(func(c jwt.MapClaims) { delete(c, "exp") })), []string{"no exp"}},
		{"ErrExpired", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["exp"] = authNow.Add(-future).Unix() })),
			[]string{"expired at 2024-11-27T09:32:19Z, 1m1s ago (leeway 1m0s)"}},
		{"ErrMissingIat", rsaV, rs(claimsWith(func(c jwt.MapClaims) { delete(c, "iat") })), []string{"no iat"}},
		{"ErrIatFuture", rsaV, rs(claimsWith(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = authNow.Add(future).Unix(), authNow.Add(2*future).Unix()
		})), []string{"iat 2024-11-27T09:34:21Z is 1m1s in the future (leeway 1m0s)", "clock"}},
		{"ErrNotBefore", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["nbf"] = authNow.Add(future).Unix() })),
			[]string{"not valid before", "(nbf)"}},
		{"ErrMissingData", rsaV, rs(claimsWith(func(c jwt.MapClaims) { delete(c, "data") })), []string{"no data"}},
		{"ErrNullData", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = nil })), []string{"no data"}},
		{"ErrDataString", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = `{"request":{}}` })),
			[]string{"data is a JSON string, not an object", "webhook"}},
		{"ErrDataArray", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = []int{1} })), []string{"data is a JSON array"}},
		{"ErrDataWithoutRequest", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = map[string]any{"metadata": map[string]any{}} })),
			[]string{"data has no request object"}},
		{"ErrRequestString", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = map[string]any{"request": "x"} })),
			[]string{"data.request is a JSON string"}},
		{"ErrMetadataString", rsaV, rs(claimsWith(func(c jwt.MapClaims) { c["data"] = map[string]any{"request": map[string]any{}, "metadata": "x"} })),
			[]string{"data.metadata is a JSON string"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for try := range 2 { // the second try must not be answered from the cache
				env, err := tt.v.verify(tt.token, authNow)
				var ae *authError
				if !errors.As(err, &ae) {
					t.Fatalf("try %d: verify = %v, %v; want an *authError", try, env, err)
				}
				msg := ae.Error()
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("try %d: error %q does not say %q", try, msg, w)
					}
				}
				for _, seg := range strings.Split(string(tt.token), ".") {
					if len(seg) >= 16 && strings.Contains(msg, seg) {
						t.Errorf("error %q holds a token segment", msg)
					}
				}
			}
		})
	}
}

func TestV3Verify_Cache(t *testing.T) {
	v := MustVerifier(t, &authRSAKey().PublicKey)
	tok := MustMint(t, jwt.SigningMethodRS256, authRSAKey(), goodClaims())
	exp := authNow.Add(55 * time.Second)

	first, err := v.verify(tok, authNow)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.verify(tok, authNow.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("second verify returned a new envelope %p, want the cached %p", second, first)
	}

	// Past exp but within the leeway: the cache no longer answers, full verification accepts.
	third, err := v.verify(tok, exp.Add(30*time.Second))
	if err != nil {
		t.Fatalf("verify within leeway after exp: %v", err)
	}
	if third == first {
		t.Error("verify after exp was answered from the cache")
	}
	if !reflect.DeepEqual(third, first) {
		t.Errorf("envelope after exp = %+v, want %+v", third, first)
	}
	if n := len(v.cache.m); n != 0 {
		t.Errorf("cache holds %d entries after exp, want 0", n)
	}

	// Cached again (verify at an earlier now), then asked beyond exp + leeway: rejected.
	if _, err := v.verify(tok, authNow); err != nil {
		t.Fatal(err)
	}
	_, err = v.verify(tok, exp.Add(DefaultJWTLeeway+time.Second))
	if ae := (*authError)(nil); !errors.As(err, &ae) || !strings.Contains(ae.reason, "expired") {
		t.Errorf("verify beyond exp+leeway = %v, want expired", err)
	}
}

func TestV3Verify_CacheBound(t *testing.T) {
	c := newTokenCache(64 * tokenEntryOverhead)
	env := &v3Envelope{Request: json.RawMessage(`{}`)}
	until := authNow.Add(time.Minute)
	for i := range 1000 {
		var key [32]byte
		key[0], key[1] = byte(i), byte(i>>8)
		c.put(key, env, authNow, until, authNow)
		if _, ok := c.get(key, authNow); !ok {
			t.Fatalf("entry %d missing right after put", i)
		}
	}
	if c.cost > c.maxCost {
		t.Errorf("cache cost %d, want at most %d", c.cost, c.maxCost)
	}
	var sum int64
	for _, e := range c.m {
		sum += e.cost
	}
	if sum != c.cost {
		t.Errorf("cache cost %d, but entries add to %d", c.cost, sum)
	}
}

func TestAuthNewV3Verifier(t *testing.T) {
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	for _, tt := range []struct {
		name  string
		key   crypto.PublicKey
		appID string
		want  string
	}{
		{"ErrEmptyAppID", &authRSAKey().PublicKey, "", "--app-id: empty"},
		{"ErrNilKey", nil, authAppID, "--jwt-public-key: no key"},
		{"ErrP384", &authECKey384().PublicKey, authAppID, "EC key on curve P-384"},
		{"ErrEd25519", edPub, authAppID, "Ed25519 key"},
		{"ErrPrivateKey", authRSAKey(), authAppID, "*rsa.PrivateKey key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newV3Verifier(tt.key, tt.appID, DefaultJWTLeeway)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("newV3Verifier = %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestParsePublicKey_OK(t *testing.T) {
	rsaPub, ecPub := &authRSAKey().PublicKey, &authECKey().PublicKey
	ecDER, err := x509.MarshalPKIXPublicKey(ecPub)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	ecB64 := base64.StdEncoding.EncodeToString(ecDER)
	if len(ecB64) != 124 {
		t.Fatalf("base64 of an EC P-256 SPKI is %d characters, want 124 as Wix shows it", len(ecB64))
	}
	rsaPEM := spkiPEM(t, rsaPub)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	for _, tt := range []struct {
		name string
		in   string
		want crypto.PublicKey
	}{
		{"PEMText", rsaPEM, rsaPub},
		{"PEMTextEC", spkiPEM(t, ecPub), ecPub},
		{"PEMTextPadded", "\n  " + rsaPEM + "\n\n", rsaPub},
		{"PEMEscapedNewlines", strings.ReplaceAll(rsaPEM, "\n", `\n`), rsaPub},
		{"PEMOneLine", strings.ReplaceAll(rsaPEM, "\n", " "), rsaPub},
		{"FilePath", file("pub.pem", rsaPEM), rsaPub},
		{"FileBase64DER", file("pub.b64", ecB64+"\n"), ecPub},
		{"FileRawDER", file("pub.der", string(rsaDER)), rsaPub},
		{"Base64OfPEM", base64.StdEncoding.EncodeToString([]byte(rsaPEM)), rsaPub},
		{"Base64DERSPKIEC", ecB64, ecPub},
		{"Base64DERSPKIRSA", base64.StdEncoding.EncodeToString(rsaDER), rsaPub},
		{"Base64URLNoPadding", base64.RawURLEncoding.EncodeToString(ecDER), ecPub},
		{"PKCS1RSA", pemText("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(rsaPub)), rsaPub},
		{"Certificate", pemText("CERTIFICATE", selfSignedDER(t, authRSAKey())), rsaPub},
		{"CertificateEC", pemText("CERTIFICATE", selfSignedDER(t, authECKey())), ecPub},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKey(tt.in)
			if err != nil {
				t.Fatalf("ParsePublicKey: %v", err)
			}
			if k, ok := got.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(tt.want) {
				t.Errorf("ParsePublicKey = %T, not the wanted %T", got, tt.want)
			}
		})
	}
}

func TestParsePublicKey_Err(t *testing.T) {
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	ecPrivDER, err := x509.MarshalECPrivateKey(authECKey())
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	privFile := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(privFile, []byte(pemText("PRIVATE KEY", pkcs8(authRSAKey()))), 0o600); err != nil {
		t.Fatal(err)
	}
	const private = "--jwt-public-key: found a PRIVATE key; give the public key"

	for _, tt := range []struct {
		name string
		in   string
		want string // the message, or a part of it when partial
		part bool
	}{
		{"ErrEmpty", "", "--jwt-public-key: empty; give PEM text, a file holding it, or one line of base64 of it", false},
		{"ErrBlank", " \n", "--jwt-public-key: empty", true},
		{"ErrNoSuchFile", "x.pem", `--jwt-public-key: "x.pem" is not a file, PEM text or base64 of a public key`, false},
		{"ErrGarbage", "not a key!", `--jwt-public-key: "not a key!" is not a file, PEM text or base64 of a public key`, false},
		{"ErrBase64Garbage", "abcdabcd", `"abcdabcd" is not a file, PEM text or base64`, true},
		{"ErrLongGarbage", strings.Repeat("z", 100) + "!", "the 101-character value is not a file", true},
		{"ErrDirectory", dir, "is a directory", true},
		{"ErrPrivatePKCS8", pemText("PRIVATE KEY", pkcs8(authRSAKey())), private, false},
		{"ErrPrivatePKCS1", pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(authRSAKey())), private, false},
		{"ErrPrivateEC", pemText("EC PRIVATE KEY", ecPrivDER), private, false},
		{"ErrPrivateBase64DER", base64.StdEncoding.EncodeToString(pkcs8(authECKey())), private, false},
		{"ErrPrivateFile", privFile, "found a PRIVATE key; give the public key", true},
		{"ErrP384", spkiPEM(t, &authECKey384().PublicKey),
			"--jwt-public-key: EC key on curve P-384; Wix signs with RS256 (RSA) or ES256 (P-256)", false},
		{"ErrRSA1024", spkiPEM(t, &rsa1024.PublicKey),
			"--jwt-public-key: RSA key of 1024 bits is too weak; want 2048 bits or more", false},
		{"ErrEd25519", spkiPEM(t, edPub), "--jwt-public-key: Ed25519 key; Wix signs with RS256 (RSA) or ES256 (P-256)", false},
		{"ErrOtherPEMBlock", pemText("CERTIFICATE REQUEST", []byte("x")), `PEM block ["CERTIFICATE REQUEST"]; want "PUBLIC KEY"`, true},
		{"ErrBrokenPEM", "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n", "PEM text that does not decode", true},
		{"ErrBadSPKI", pemText("PUBLIC KEY", []byte("not der")), "--jwt-public-key: PEM PUBLIC KEY block does not parse; copy the key again", false},
		{"ErrOpenSSH", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ user@host", "OpenSSH public key; convert it", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.in)
			if err == nil {
				t.Fatalf("ParsePublicKey = %T, want an error", k)
			}
			if got := err.Error(); tt.part && !strings.Contains(got, tt.want) || !tt.part && got != tt.want {
				t.Errorf("error %q, want %q", got, tt.want)
			}
		})
	}
}

// selfSignedDER returns a self-signed certificate for key.
func selfSignedDER(tb testing.TB, key crypto.Signer) []byte {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sheetsync test"},
		NotBefore:    authNow.Add(-time.Hour),
		NotAfter:     authNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func TestLegacySecretOK(t *testing.T) {
	for _, tt := range []struct {
		configured, got string
		want            bool
	}{
		{"s3cr3t", "s3cr3t", true},
		{"s3cr3t", "s3cr3T", false},
		{"s3cr3t", "s3cr3t-longer", false},
		{"s3cr3t", "", false},
		{"", "", false},
		{"", "anything", false},
	} {
		if got := legacySecretOK(tt.configured, tt.got); got != tt.want {
			t.Errorf("legacySecretOK(%q, %q) = %v, want %v", tt.configured, tt.got, got, tt.want)
		}
	}
}

// benchmarkVerifyDistinct verifies distinct tokens, so every call does the full work: a pool of
// them is minted up front, and the cache is emptied whenever the pool comes round again.
func benchmarkVerifyDistinct(b *testing.B, method jwt.SigningMethod, priv any, pub crypto.PublicKey) {
	v := MustVerifier(b, pub)
	toks := make([][]byte, 256)
	for i := range toks {
		toks[i] = MustMint(b, method, priv, claimsWith(func(c jwt.MapClaims) { c["jti"] = fmt.Sprint(i) }))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(toks) == 0 && i > 0 {
			b.StopTimer()
			v.cache.reset()
			b.StartTimer()
		}
		if _, err := v.verify(toks[i%len(toks)], authNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV3VerifyRS256(b *testing.B) {
	benchmarkVerifyDistinct(b, jwt.SigningMethodRS256, authRSAKey(), &authRSAKey().PublicKey)
}

func BenchmarkV3VerifyES256(b *testing.B) {
	benchmarkVerifyDistinct(b, jwt.SigningMethodES256, authECKey(), &authECKey().PublicKey)
}

func BenchmarkV3VerifyCached(b *testing.B) {
	v := MustVerifier(b, &authRSAKey().PublicKey)
	tok := MustMint(b, jwt.SigningMethodRS256, authRSAKey(), goodClaims())
	if _, err := v.verify(tok, authNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := v.verify(tok, authNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkV3VerifyCachedParallel(b *testing.B) {
	v := MustVerifier(b, &authRSAKey().PublicKey)
	tok := MustMint(b, jwt.SigningMethodRS256, authRSAKey(), goodClaims())
	if _, err := v.verify(tok, authNow); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.verify(tok, authNow); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestV3Verify_ES256Twin pins a property of ECDSA that sheetsync accepts on purpose: a signature
// (r, s) has a twin (r, n-s) that verifies the same header and claims. Signers do not normalise s
// (Go's crypto/ecdsa does not), so refusing the "high" one would refuse good tokens at random;
// the twin carries exactly the claims Wix signed, and nothing in sheetsync trusts a token's
// bytes to be unique (docs/SECURITY.md). What must hold: the twin gives the same envelope, and a
// twin over changed claims is refused.
func TestV3Verify_ES256Twin(t *testing.T) {
	v := MustVerifier(t, &authECKey().PublicKey)
	tok := MustMint(t, jwt.SigningMethodES256, authECKey(), goodClaims())
	parts := strings.Split(string(tok), ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("an ES256 signature of %d bytes: %v", len(sig), err)
	}
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	twinSig := append(sig[:32:32], new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
	twin := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(twinSig)
	if twin == string(tok) {
		t.Fatal("the twin is the token itself")
	}
	want, err := v.verify(tok, authNow)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.verify([]byte(twin), authNow)
	if err != nil {
		t.Fatalf("the twin signature (r, n-s) of a good token: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the twin gives %+v, the token %+v", got, want)
	}
	other := claimsWith(func(c jwt.MapClaims) { c["data"] = `{"request":{"collectionId":"secrets"},"metadata":{}}` })
	forged := MustMint(t, jwt.SigningMethodES256, authECKey(), other)
	forgedParts := strings.Split(string(forged), ".")
	if _, err := v.verify([]byte(parts[0]+"."+forgedParts[1]+"."+base64.RawURLEncoding.EncodeToString(twinSig)), authNow); err == nil {
		t.Error("the twin signature over other claims verifies")
	}
}
