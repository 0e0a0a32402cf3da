package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzV3Verify feeds the v3 verifier arbitrary bodies. Two good tokens are signed once, RS256
// for an RSA verifier and ES256 for an EC one; the seeds are those tokens, tokens with the wrong
// claims, alg or key, and cut or flipped copies. It must not panic; a rejection is an *authError
// with a reason; and a body is accepted only when, white space aside, it is byte for byte the
// token signed with that verifier's key and the right claims, decoding to its envelope.
func FuzzV3Verify(f *testing.F) {
	rsaKey, ecKey := authRSAKey(), authECKey()
	goodRS := MustMint(f, jwt.SigningMethodRS256, rsaKey, goodClaims())
	goodES := MustMint(f, jwt.SigningMethodES256, ecKey, goodClaims())
	verifiers := []*v3Verifier{MustVerifier(f, &rsaKey.PublicKey), MustVerifier(f, &ecKey.PublicKey)}
	goods := [][]byte{goodRS, goodES}

	seeds := [][]byte{
		goodRS, goodES,
		MustMint(f, jwt.SigningMethodRS256, authRSAKey2(), goodClaims()),
		MustMint(f, jwt.SigningMethodES384, authECKey384(), goodClaims()),
		MustMint(f, jwt.SigningMethodHS256, []byte("secret"), goodClaims()),
		MustMint(f, jwt.SigningMethodRS256, rsaKey, claimsWith(func(c jwt.MapClaims) { c["iss"] = "evil.com" })),
		MustMint(f, jwt.SigningMethodRS256, rsaKey, claimsWith(func(c jwt.MapClaims) { c["aud"] = []string{"x", authAppID} })),
		MustMint(f, jwt.SigningMethodRS256, rsaKey, claimsWith(func(c jwt.MapClaims) { delete(c, "exp") })),
		MustMint(f, jwt.SigningMethodRS256, rsaKey, claimsWith(func(c jwt.MapClaims) { c["data"] = "{}" })),
		MustMint(f, jwt.SigningMethodES256, ecKey, claimsWith(func(c jwt.MapClaims) {
			c["data"] = map[string]any{"request": map[string]any{}, "metadata": []any{}}
		})),
		mintCrit(f),
		[]byte("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJpc3MiOiJ3aXguY29tIn0."),
		[]byte(`{"collectionId": "products"}`),
		[]byte("a.b.c"), []byte(".."), nil,
	}
	// accepted holds, per verifier, the seeds signed with its key and the right claims: the only
	// bodies it may take, and what they decode to.
	accepted := []map[string]*v3Envelope{{}, {}}
	for _, s := range seeds {
		for i, v := range verifiers {
			if env, err := v.verify(s, authNow); err == nil {
				accepted[i][string(s)] = env
			}
		}
		f.Add(s, false)
		f.Add(s, true)
	}
	for i, g := range goods {
		if accepted[i][string(g)] == nil {
			f.Fatalf("the good token %d is refused", i)
		}
	}
	for i, g := range goods {
		ec := i == 1
		f.Add(g[:len(g)-1], ec)
		f.Add(append(append([]byte(" "), g...), '\n'), ec)
		// the same signature spelled with other unused low bits in its last base64 character
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		last := strings.IndexByte(alphabet, g[len(g)-1])
		m := bytes.Clone(g)
		m[len(m)-1] = alphabet[last^1]
		f.Add(m, ec)
		for _, at := range []int{5, len(g) / 2, len(g) - 2} {
			m := bytes.Clone(g)
			m[at] ^= 1
			f.Add(m, ec)
		}
	}

	f.Fuzz(func(t *testing.T, body []byte, ec bool) {
		i := 0
		if ec {
			i = 1
		}
		env, err := verifiers[i].verify(body, authNow)
		if err != nil {
			var ae *authError
			if !errors.As(err, &ae) || ae.reason == "" {
				t.Fatalf("%q: error %T %v, want an *authError with a reason", body, err, err)
			}
			return
		}
		want, ok := accepted[i][string(bytes.TrimSpace(body))]
		if !ok {
			t.Fatalf("accepted a body that is not one of the tokens signed with the right claims:\n%q", body)
		}
		if !reflect.DeepEqual(env, want) {
			t.Fatalf("envelope %+v, want %+v", env, want)
		}
	})
}

// FuzzOpenEnvelope feeds an unauthenticated server's envelope reader arbitrary bodies: it must
// not panic, a refusal is a 400 *apiError or an *authError with a message, and what it accepts
// has a request that decodes, or fails to with a 400.
func FuzzOpenEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"collectionId": "products", "query": {"paging": {"limit": 25}}}`,
		`{"data": {"request": {"collectionId": "products"}, "metadata": {"requestId": "r", "identity": {"identityType": "WIX_USER", "wixUserId": "u"}}}}`,
		`{"data": {"request": null}}`, `{"data": 1}`, `{"data"`,
		"eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "", " ", "[]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := openEnvelope(body)
		if err != nil {
			var ae *apiError
			var au *authError
			switch {
			case errors.As(err, &ae):
				if ae.status != 400 || ae.message == "" {
					t.Fatalf("%q: %d %q", body, ae.status, ae.message)
				}
			case errors.As(err, &au):
				if au.reason == "" {
					t.Fatalf("%q: authError without a reason", body)
				}
			default:
				t.Fatalf("%q: error %T %v", body, err, err)
			}
			return
		}
		if len(bytes.TrimSpace(env.Request)) == 0 {
			t.Fatalf("%q: accepted with request %q", body, env.Request)
		}
		var v struct{}
		if err := decodeRequest(env.Request, &v); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.status != 400 || ae.message == "" {
				t.Fatalf("%q: decodeRequest error %T %v", body, err, err)
			}
		} else if !json.Valid(env.Request) {
			t.Fatalf("%q: decodeRequest accepted invalid JSON %q", body, env.Request)
		}
	})
}
