package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// runKeysCmd runs "sheetsync keys args..." as main would.
func runKeysCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), append([]string{"keys"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestKeysWritesPairOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys") // made when missing
	code, out, errOut := runKeysCmd(t, "--out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	priv, pub := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	for _, want := range []string{
		priv, pub,
		"sheetsync serve --dir samples --jwt-public-key " + pub + " --app-id local-test",
		`curl -s http://127.0.0.1:8080/v3/items/query`,
		`"$(sheetsync keys sign --key ` + priv + ` --app-id local-test --body '{"collectionId":"products"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	fi, err := os.Stat(priv)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("private.pem mode %v, want 0600", perm)
	}
	b, _ := os.ReadFile(pub)
	if block, _ := pem.Decode(b); block == nil || block.Type != "PUBLIC KEY" {
		t.Errorf("public.pem: %q", b)
	}
	privBefore, _ := os.ReadFile(priv)

	code, _, errOut = runKeysCmd(t, "--out", dir)
	if code != 1 || !strings.Contains(errOut, priv+" already exists") {
		t.Errorf("second run: exit %d, stderr %q; want 1 and a refusal naming private.pem", code, errOut)
	}
	if b, _ := os.ReadFile(priv); !bytes.Equal(b, privBefore) {
		t.Error("the second run changed private.pem")
	}
	// public.pem alone is not overwritten either, and no private key is left behind
	other := t.TempDir()
	writeCheckFile(t, filepath.Join(other, "public.pem"), "mine")
	code, _, errOut = runKeysCmd(t, "--out", other)
	if _, err := os.Stat(filepath.Join(other, "private.pem")); code != 1 || !strings.Contains(errOut, "public.pem already exists") || err == nil {
		t.Errorf("existing public.pem: exit %d, stderr %q, private.pem: %v", code, errOut, err)
	}
}

func TestKeysSign(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runKeysCmd(t, "--out", dir); code != 0 {
		t.Fatalf("keys: %d %s", code, errOut)
	}
	priv := filepath.Join(dir, "private.pem")
	body := writeCheckFile(t, filepath.Join(dir, "body.json"), `{"collectionId": "products"}`+"\n")
	code, out, errOut := runKeysCmd(t, "sign", "--key", priv, "--app-id", "my-app", "--body", "@"+body)
	if code != 0 {
		t.Fatalf("sign: exit %d: %s", code, errOut)
	}
	// the claims are what serve checks
	var claims struct {
		jwt.RegisteredClaims
		Data struct {
			Request  json.RawMessage `json:"request"`
			Metadata json.RawMessage `json:"metadata"`
		} `json:"data"`
	}
	tok, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(out), &claims)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Method.Alg() != "RS256" || claims.Issuer != "wix.com" || len(claims.Audience) != 1 || claims.Audience[0] != "my-app" ||
		claims.IssuedAt == nil || claims.ExpiresAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != 5*time.Minute ||
		string(claims.Data.Request) != `{"collectionId":"products"}` {
		t.Errorf("token: alg %s, claims %+v, request %s", tok.Method.Alg(), claims.RegisteredClaims, claims.Data.Request)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"NoKey", []string{"--app-id", "a"}, "--key is required"},
		{"NoAppID", []string{"--key", priv}, "--app-id is required"},
		{"MissingKey", []string{"--key", filepath.Join(dir, "nope.pem"), "--app-id", "a"}, "nope.pem"},
		{"PublicKey", []string{"--key", filepath.Join(dir, "public.pem"), "--app-id", "a"}, "not a private key"},
		{"BadJSON", []string{"--key", priv, "--app-id", "a", "--body", "{nope"}, "not valid JSON"},
		{"NotAnObject", []string{"--key", priv, "--app-id", "a", "--body", "[1]"}, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runKeysCmd(t, append([]string{"sign"}, tt.args...)...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// TestKeysServe: a server started with the public key the keys command wrote accepts a request
// that "keys sign" signed, and rejects one that is not signed or signed for another app.
func TestKeysServe(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runKeysCmd(t, "--out", dir); code != 0 {
		t.Fatalf("keys: %d %s", code, errOut)
	}
	priv, pub := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	m := MustRunMain(t, copySamples(t), func(c *Config) {
		c.JWTPublicKey = pub
		c.AppID = "local-test"
	})
	const request = `{"collectionId":"products","query":{"filter":{"sku":"010125"}},"returnTotalCount":true}`
	sign := func(appID string) string {
		t.Helper()
		code, out, errOut := runKeysCmd(t, "sign", "--key", priv, "--app-id", appID, "--body", request)
		if code != 0 {
			t.Fatalf("sign: exit %d: %s", code, errOut)
		}
		return strings.TrimSpace(out)
	}
	url := m.Server.URL() + "/v3/items/query"
	code, out := post(t, url, sign("local-test"))
	if code != 200 || out["pagingMetadata"].(map[string]any)["total"].(float64) != 1 {
		t.Fatalf("signed query: %d %v", code, out)
	}
	if code, out := post(t, url, request); code != 401 || out["errorCode"] != "UNAUTHORIZED" {
		t.Errorf("unsigned query: %d %v", code, out)
	}
	if code, out := post(t, url, sign("other-app")); code != 401 || !strings.Contains(out["errorMessage"].(string), "other-app") {
		t.Errorf("query signed for another app: %d %v", code, out)
	}
}

// TestKeysSignEC: an EC P-256 private key signs ES256, as a per-site connection's key is verified.
func TestKeysSignEC(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ec.pem")
	writeCheckFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	code, out, errOut := runKeysCmd(t, "sign", "--key", path, "--app-id", "a", "--body", `{"collectionId":"x"}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tok, err := jwt.Parse(strings.TrimSpace(out), func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience("a"), jwt.WithIssuer("wix.com"))
	if err != nil || !tok.Valid {
		t.Errorf("ES256 token: %v", err)
	}
}
