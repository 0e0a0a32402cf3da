package main

import (
	"time"

	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sheetsync/sheetsync/cache/replica"
	"github.com/sheetsync/sheetsync/ingest"
)

// Config is the serve command's configuration: flags, each with an environment variable
// (DESIGN §2, a contract that the README and the tests rely on).
type Config struct {
	Dir                  string
	Addr                 string
	StateDir             string
	Replica              string
	NATS                 string // URLs of an existing NATS cluster; "" runs an embedded server
	NATSCreds            string // a NATS credentials file (JWT and NKey seed)
	NATSCA               string // a CA certificate file for tls:// NATS URLs signed by a private CA
	SharedDir            bool   // every replica sees the same folder; the lease holder watches and writes it
	LeaseTTL             time.Duration
	JWTPublicKey         string
	AppID                string
	SecretKey            string
	AllowUnauthenticated bool
	ReadOnly             bool
	Debounce             time.Duration
	Rescan               time.Duration
	LogFormat            string
	TLSCert              string // a PEM certificate file (with its chain); with TLSKey, serve HTTPS
	TLSKey               string // the PEM private key file of TLSCert

	tlsCert *tls.Certificate // TLSCert and TLSKey, loaded by Validate
}

// Defaults of the serve command.
const (
	DefaultDir       = "."
	DefaultAddr      = "127.0.0.1:8080"
	DefaultLogFormat = "text"
)

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{Dir: DefaultDir, Addr: DefaultAddr, LogFormat: DefaultLogFormat,
		Debounce: ingest.DefaultDebounce, Rescan: ingest.DefaultRescan, LeaseTTL: replica.DefaultLeaseTTL}
}

// ParseFlags reads the environment, then the flags (which win), into c.
func (c *Config) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sheetsync serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var envErr error
	str := func(p *string, name, env, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" (env "+env+")")
	}
	boolean := func(p *bool, name, env, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			b, err := strconv.ParseBool(v)
			if err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: want true or false", env, v)
			}
			*p = b
		}
		fs.BoolVar(p, name, *p, usage+" (env "+env+")")
	}
	str(&c.Dir, "dir", "SHEETSYNC_DIR", "the folder of spreadsheets to serve")
	str(&c.Addr, "addr", "SHEETSYNC_ADDR", "HTTP listen address")
	str(&c.StateDir, "state-dir", "SHEETSYNC_STATE_DIR", "private state (default <dir>/.sheetsync)")
	str(&c.Replica, "replica", "SHEETSYNC_REPLICA", "this replica's name, unique per replica (default the host name)")
	str(&c.NATS, "nats", "SHEETSYNC_NATS", "NATS URL(s) of an existing cluster, comma-separated; empty runs an embedded NATS server in the state dir")
	str(&c.NATSCreds, "nats-creds", "SHEETSYNC_NATS_CREDS", "NATS credentials file (user JWT and NKey seed) for --nats")
	str(&c.NATSCA, "nats-ca", "SHEETSYNC_NATS_CA", "CA certificate (PEM file) that signed the NATS servers' TLS certificates, for --nats")
	str(&c.JWTPublicKey, "jwt-public-key", "SHEETSYNC_JWT_PUBLIC_KEY", "v3: Wix's public key: PEM text, a file holding it, or one-line base64")
	str(&c.AppID, "app-id", "SHEETSYNC_APP_ID", "v3: your Wix app id, the expected aud of Wix's tokens")
	str(&c.SecretKey, "secret-key", "SHEETSYNC_SECRET_KEY", "legacy: the secretKey in the collection's configuration in Wix")
	boolean(&c.SharedDir, "shared-dir", "SHEETSYNC_SHARED_DIR", "every replica sees the same folder (a network share): only the replica holding the lease watches and writes it")
	boolean(&c.AllowUnauthenticated, "allow-unauthenticated", "SHEETSYNC_ALLOW_UNAUTHENTICATED", "serve a protocol without its key on a non-loopback address")
	boolean(&c.ReadOnly, "read-only", "SHEETSYNC_READ_ONLY", "never write files; every collection is read-only")
	duration := func(p *time.Duration, name, env, usage string) {
		if v, ok := os.LookupEnv(env); ok {
			d, err := time.ParseDuration(v)
			if err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: want a duration like 100ms or 30s", env, v)
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, usage+" (env "+env+")")
	}
	duration(&c.Debounce, "debounce", "SHEETSYNC_DEBOUNCE", "quiet time after a file's last change before it is read again")
	duration(&c.LeaseTTL, "lease-ttl", "SHEETSYNC_LEASE_TTL", "--shared-dir: how long a dead holder keeps the folder before another replica takes it over")
	duration(&c.Rescan, "rescan", "SHEETSYNC_RESCAN", "full rescan of the folder for file systems that miss events; 0 turns it off")
	str(&c.LogFormat, "log-format", "SHEETSYNC_LOG_FORMAT", "log format: text or json")
	str(&c.TLSCert, "tls-cert", "SHEETSYNC_TLS_CERT", "serve HTTPS with this certificate (PEM file, chain after the certificate); needs --tls-key")
	str(&c.TLSKey, "tls-key", "SHEETSYNC_TLS_KEY", "the private key (PEM file) of --tls-cert")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: serve takes only flags (see sheetsync serve -h)", fs.Arg(0))
	}
	return envErr
}

// Validate checks the configuration and fills derived defaults. Its errors name the flag and
// say what to do.
func (c *Config) Validate() error {
	fi, err := os.Stat(c.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("--dir %s: no such folder; create it or point --dir at your spreadsheets", c.Dir)
	case err != nil:
		return fmt.Errorf("--dir %s: %w", c.Dir, err)
	case !fi.IsDir():
		return fmt.Errorf("--dir %s: not a folder; give the folder that holds the spreadsheets", c.Dir)
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join(c.Dir, ".sheetsync")
	}
	if c.Replica == "" {
		c.Replica, _ = os.Hostname()
	}
	if c.Replica == "" || strings.ContainsAny(c.Replica, " \t\r\n") {
		return fmt.Errorf("--replica %q: want a name without spaces, unique per replica", c.Replica)
	}
	if c.SharedDir && c.NATS == "" {
		return errors.New("--shared-dir needs --nats: the replicas sharing the folder elect the one that writes it through their NATS cluster")
	}
	if c.SharedDir && c.LeaseTTL < replica.MinLeaseTTL {
		return fmt.Errorf("--lease-ttl %s: want at least %s", c.LeaseTTL, replica.MinLeaseTTL)
	}
	if c.NATS == "" && (c.NATSCreds != "" || c.NATSCA != "") {
		return errors.New("--nats-creds and --nats-ca are for --nats: without it sheetsync runs its own NATS server")
	}
	for _, f := range []struct{ flag, path string }{{"--nats-creds", c.NATSCreds}, {"--nats-ca", c.NATSCA}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("%s %s: %w", f.flag, f.path, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("--addr %s: want host:port, like 127.0.0.1:8080 or :8080", c.Addr)
	}
	if c.Debounce <= 0 {
		return fmt.Errorf("--debounce %s: want a positive duration, like 100ms", c.Debounce)
	}
	if c.Rescan < 0 {
		return fmt.Errorf("--rescan %s: want a duration, or 0 to turn the rescan off", c.Rescan)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format %s: want text or json", c.LogFormat)
	}
	if c.JWTPublicKey != "" && c.AppID == "" {
		return errors.New("--jwt-public-key needs --app-id: the app id Wix puts in every token's aud (app dashboard, \"View ID & keys\")")
	}
	if c.AppID != "" && c.JWTPublicKey == "" {
		return errors.New("--app-id needs --jwt-public-key: the public key Wix signs requests with (app dashboard, \"View ID & keys\")")
	}
	if err := c.loadTLS(); err != nil {
		return err
	}
	if !c.Loopback() && !c.AllowUnauthenticated && c.JWTPublicKey == "" && c.SecretKey == "" {
		return fmt.Errorf("refusing to serve %s without authentication: set --jwt-public-key and --app-id (v3) and/or --secret-key (legacy), or --allow-unauthenticated if something in front of sheetsync checks callers", c.Addr)
	}
	return nil
}

// Loopback reports whether the listen address only accepts connections from this machine.
func (c *Config) Loopback() bool {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// TLSConfig returns the HTTPS configuration of the server, or nil to serve plain HTTP. It is
// set once Validate has loaded --tls-cert and --tls-key.
func (c *Config) TLSConfig() *tls.Config {
	if c.tlsCert == nil {
		return nil
	}
	return &tls.Config{Certificates: []tls.Certificate{*c.tlsCert}, MinVersion: tls.VersionTLS12}
}

// loadTLS checks that --tls-cert and --tls-key come together and hold a certificate and its
// key, and keeps the pair for TLSConfig. Its errors name the file at fault and why.
func (c *Config) loadTLS() error {
	c.tlsCert = nil
	switch {
	case c.TLSCert == "" && c.TLSKey == "":
		return nil
	case c.TLSKey == "":
		return errors.New("--tls-cert needs --tls-key: the private key (PEM file) of the certificate")
	case c.TLSCert == "":
		return errors.New("--tls-key needs --tls-cert: the certificate (PEM file) of the key")
	}
	certPEM, err := readTLSFile("--tls-cert", c.TLSCert)
	if err != nil {
		return err
	}
	keyPEM, err := readTLSFile("--tls-key", c.TLSKey)
	if err != nil {
		return err
	}
	certs, keys := pemTypes(certPEM)
	switch {
	case certs == 0 && keys > 0:
		return fmt.Errorf("--tls-cert %s: holds a private key, not a certificate; are --tls-cert and --tls-key swapped?", c.TLSCert)
	case certs == 0:
		return fmt.Errorf("--tls-cert %s: not a PEM certificate (want -----BEGIN CERTIFICATE-----)", c.TLSCert)
	}
	certs, keys = pemTypes(keyPEM)
	switch {
	case keys == 0 && certs > 0:
		return fmt.Errorf("--tls-key %s: holds a certificate, not a private key; are --tls-cert and --tls-key swapped?", c.TLSKey)
	case keys == 0:
		return fmt.Errorf("--tls-key %s: not a PEM private key (want -----BEGIN PRIVATE KEY-----, or an RSA or EC one)", c.TLSKey)
	}
	block, rest := pem.Decode(certPEM) // pemTypes counted a certificate: the loop finds it
	for block.Type != "CERTIFICATE" {
		block, rest = pem.Decode(rest)
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("--tls-cert %s: %w", c.TLSCert, err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-key %s: %w", c.TLSKey, err)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(leaf.PublicKey) {
		return fmt.Errorf("--tls-key %s does not match the certificate in --tls-cert %s: give the key the certificate was issued for", c.TLSKey, c.TLSCert)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
	}
	c.tlsCert = &pair
	return nil
}

// readTLSFile reads one of the TLS files, with an error naming its flag.
func readTLSFile(flag, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s %s: no such file", flag, path)
	case errors.As(err, &pe):
		return nil, fmt.Errorf("%s %s: %w", flag, path, pe.Err)
	case err != nil:
		return nil, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return b, nil
}

// pemTypes counts the certificates and the private keys among the PEM blocks of b.
func pemTypes(b []byte) (certs, keys int) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return certs, keys
		}
		switch {
		case block.Type == "CERTIFICATE":
			certs++
		case strings.HasSuffix(block.Type, "PRIVATE KEY"):
			keys++
		}
	}
}

// parsePrivateKey reads the first private key of b in the encodings crypto/tls accepts:
// PKCS #8, PKCS #1 (RSA) and SEC 1 (EC).
func parsePrivateKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no private key in it")
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] != "" {
			return nil, errors.New("the private key is encrypted; give it unencrypted (openssl pkey -in KEY -out KEY.plain)")
		}
		if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			if s, ok := k.(crypto.Signer); ok {
				return s, nil
			}
			return nil, fmt.Errorf("unsupported private key type %T", k)
		}
		if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return k, nil
		}
		return nil, errors.New("cannot parse the private key (want PKCS #8, PKCS #1 RSA or SEC 1 EC)")
	}
}
