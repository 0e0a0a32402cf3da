package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sheetsync/sheetsync/cmd/internal/wixsign"
)

const keysUsage = `Usage:
  sheetsync keys [--out DIR]
      make an RSA 2048 key pair for trying v3 authentication locally: DIR/private.pem (0600)
      and DIR/public.pem; existing files are never overwritten
  sheetsync keys sign --key private.pem --app-id ID [--body JSON|@FILE|-] [--ttl 5m]
      print a JWT signed as Wix signs a v3 request (iss "wix.com", aud ID, iat, exp, the
      request object in data.request): the body to POST to a server started with
      --jwt-public-key public.pem --app-id ID

These keys are for testing only: in production Wix signs with its own key, and serve verifies
with the public key Wix shows.
`

// runKeys is the keys command: it returns the exit code.
func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sign" {
		return runKeysSign(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("sheetsync keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	out := fs.String("out", ".", "the folder to write private.pem and public.pem into")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sheetsync keys: unexpected argument %q\n\n%s", fs.Arg(0), keysUsage)
		return 2
	}
	priv, pub, err := writeKeyPair(*out)
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync keys:", err)
		return 1
	}
	fmt.Fprintf(stdout, `Wrote an RSA key pair for local testing:
  %s  the private key: signs test requests; keep it to yourself
  %s   the public key: what serve verifies requests with

Start serve with the public key and any app id:
  sheetsync serve --dir samples --jwt-public-key %s --app-id local-test

Send it a signed v3 request (the token is valid for 5 minutes):
  curl -s http://127.0.0.1:8080/v3/items/query \
    -d "$(sheetsync keys sign --key %s --app-id local-test --body '{"collectionId":"products","query":{"paging":{"limit":2}}}')"

--body also takes @file.json, or - for standard input. Wix signs real requests with its own key.
`, priv, pub, pub, priv)
	return 0
}

// writeKeyPair makes an RSA 2048 key pair and writes it into dir as private.pem (PKCS#8, 0600)
// and public.pem (SPKI). It creates dir when missing and never overwrites a file.
func writeKeyPair(dir string) (privPath, pubPath string, err error) {
	privPath, pubPath = filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("%s already exists; remove it or choose another folder with --out", p)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	if err := writeNewFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNewFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		os.Remove(privPath) // half a pair is no use
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNewFile writes a file that must not exist yet.
func writeNewFile(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists; remove it or choose another folder with --out", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// runKeysSign is "keys sign": it prints a signed v3 request body.
func runKeysSign(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sheetsync keys sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keysUsage) }
	keyPath := fs.String("key", "", "the private key (PEM, RSA or EC P-256) to sign with")
	appID := fs.String("app-id", "", "the app id serve was started with (--app-id): the token's aud")
	body := fs.String("body", "{}", "the v3 request object: JSON, @file holding it, or - for standard input")
	ttl := fs.Duration("ttl", 5*time.Minute, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	switch {
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "sheetsync keys sign: unexpected argument %q\n\n%s", fs.Arg(0), keysUsage)
		return 2
	case *keyPath == "":
		fmt.Fprint(stderr, "sheetsync keys sign: --key is required: the private.pem that \"sheetsync keys\" wrote\n")
		return 2
	case *appID == "":
		fmt.Fprint(stderr, "sheetsync keys sign: --app-id is required: the --app-id serve was started with\n")
		return 2
	case *ttl <= 0:
		fmt.Fprint(stderr, "sheetsync keys sign: --ttl must be positive\n")
		return 2
	}
	key, err := wixsign.ReadPrivateKey(*keyPath)
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync keys sign:", err)
		return 2
	}
	request, err := readRequestBody(*body, os.Stdin)
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync keys sign: --body:", err)
		return 2
	}
	token, err := wixsign.Sign(key, *appID, "local-test", request, time.Now(), *ttl)
	if err != nil {
		fmt.Fprintln(stderr, "sheetsync keys sign:", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// readRequestBody reads --body: JSON text, @file or - for stdin. It must be a JSON object.
func readRequestBody(arg string, stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	var err error
	switch {
	case arg == "-":
		b, err = io.ReadAll(stdin)
	case strings.HasPrefix(arg, "@"):
		b, err = os.ReadFile(arg[1:])
	default:
		b = []byte(arg)
	}
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON; want the request object, like {\"collectionId\":\"products\"}")
	}
	if b[0] != '{' { // valid JSON is never empty
		return nil, errors.New("not a JSON object; want the request object, like {\"collectionId\":\"products\"}")
	}
	return json.RawMessage(b), nil
}
