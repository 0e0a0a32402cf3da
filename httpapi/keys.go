package httpapi

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
)

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
