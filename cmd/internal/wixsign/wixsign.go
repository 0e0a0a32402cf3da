// Package wixsign reads a private key and signs v3 requests as Wix does, for the commands that
// call sheetsync with real signatures: sheetsync keys sign and sheetsync-load.
package wixsign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// ReadPrivateKey reads a PEM private key: PKCS#8, PKCS#1 RSA or SEC 1 EC.
func ReadPrivateKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block; want the private.pem that \"sheetsync keys\" wrote", path)
	}
	var key any
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: a %q, not a private key; give the private key, not the public one", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%s: an EC key on %s; v3 takes EC P-256 (ES256) or RSA (RS256)", path, k.Curve.Params().Name)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%s: a %T; v3 takes RSA (RS256) or EC P-256 (ES256) keys", path, key)
}

// Sign returns a token shaped as Wix signs a v3 service plugin call: iss "wix.com", aud the app
// id, iat now, exp now+ttl, and data holding the request and metadata (an app identity, with
// instanceID naming who sent it).
// RSA keys sign RS256, EC P-256 keys ES256, as serve expects for each key type.
func Sign(key crypto.Signer, appID, instanceID string, request json.RawMessage, now time.Time, ttl time.Duration) (string, error) {
	method := jwt.SigningMethod(jwt.SigningMethodRS256)
	if _, ok := key.(*ecdsa.PrivateKey); ok {
		method = jwt.SigningMethodES256
	}
	claims := jwt.MapClaims{
		"iss": "wix.com",
		"aud": appID,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
		"data": map[string]any{
			"request": request,
			"metadata": map[string]any{
				"requestId":  uuid.NewString(),
				"instanceId": instanceID,
				"identity":   map[string]any{"identityType": "APP", "appId": appID},
			},
		},
	}
	return jwt.NewWithClaims(method, claims).SignedString(key)
}
