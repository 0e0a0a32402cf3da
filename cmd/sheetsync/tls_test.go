package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for localhost and 127.0.0.1, and its key, as PEM
// files named name.crt and name.key in dir. It returns the two paths and a pool trusting the
// certificate.
func writeCert(tb testing.TB, dir, name string) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "sheetsync test " + name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		tb.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := writeCert(t, t.TempDir(), "server")
	m := MustRunMain(t, copySamples(t), func(c *Config) { c.TLSCert, c.TLSKey = certFile, keyFile })
	url := m.Server.URL()
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("URL = %q, want https://127.0.0.1:port", url)
	}
	if logs := m.Stderr.(*lockedBuffer).String(); !strings.Contains(logs, "url="+url) {
		t.Errorf("the serving line does not give %s:\n%s", url, logs)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()

	resp, err := client.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /healthz: %d, TLS %+v", resp.StatusCode, resp.TLS)
	}

	resp, err = client.Post(url+"/v3/items/query", "application/json",
		strings.NewReader(`{"collectionId":"products","query":{"filter":{"sku":"010125"}},"returnTotalCount":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Items          []map[string]any
		PagingMetadata struct{ Total int }
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || out.PagingMetadata.Total != 1 || len(out.Items) != 1 || out.Items[0]["sku"] != "010125" {
		t.Fatalf("v3 query over HTTPS: %d %+v %v", resp.StatusCode, out, err)
	}

	// TLS 1.0 and 1.1 are refused
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("a TLS 1.1 client got %d, want a failed handshake", resp.StatusCode)
	}
	// plain HTTP on the HTTPS port is not served
	if resp, err := http.Get(strings.Replace(url, "https://", "http://", 1) + "/healthz"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on the HTTPS port got 200")
		}
	}
}

func TestServeTLSErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir, "a")
	otherCert, otherKey, _ := writeCert(t, dir, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name      string
		cert, key string
		want      []string // substrings of the error
	}{
		{"CertOnly", certFile, "", []string{"--tls-cert needs --tls-key"}},
		{"KeyOnly", "", keyFile, []string{"--tls-key needs --tls-cert"}},
		{"MissingCert", missing, keyFile, []string{"--tls-cert " + missing, "no such file"}},
		{"MissingKey", certFile, missing, []string{"--tls-key " + missing, "no such file"}},
		{"CertNotPEM", notPEM, keyFile, []string{"--tls-cert " + notPEM, "not a PEM certificate"}},
		{"KeyNotPEM", certFile, notPEM, []string{"--tls-key " + notPEM, "not a PEM private key"}},
		{"Swapped", keyFile, certFile, []string{"--tls-cert " + keyFile, "swapped"}},
		{"KeyMismatch", certFile, otherKey, []string{"--tls-key " + otherKey + " does not match the certificate in --tls-cert " + certFile}},
		{"CertMismatch", otherCert, keyFile, []string{"--tls-key " + keyFile + " does not match the certificate in --tls-cert " + otherCert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMain()
			m.Stderr = io.Discard
			m.Config.Dir = t.TempDir()
			m.Config.Addr = "127.0.0.1:0"
			m.Config.TLSCert, m.Config.TLSKey = tt.cert, tt.key
			err := m.Run(context.Background())
			m.Close()
			if err == nil {
				t.Fatal("Run: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Run: %v, want it to say %q", err, w)
				}
			}
		})
	}
}

func TestParseFlagsTLS(t *testing.T) {
	t.Setenv("SHEETSYNC_TLS_CERT", "/env/cert.pem")
	t.Setenv("SHEETSYNC_TLS_KEY", "/env/key.pem")
	c := NewConfig()
	if err := c.ParseFlags([]string{"--tls-key", "/flag/key.pem"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if c.TLSCert != "/env/cert.pem" || c.TLSKey != "/flag/key.pem" {
		t.Errorf("TLSCert %q, TLSKey %q: want the cert from the environment and the key from the flag", c.TLSCert, c.TLSKey)
	}
	if c := NewConfig(); c.TLSConfig() != nil {
		t.Error("TLSConfig without --tls-cert: want nil (plain HTTP)")
	}
}

// TestLoadTLSCombinedFile: one PEM file holding the key and then the certificate (as some
// tools write them) serves as both --tls-cert and --tls-key.
func TestLoadTLSCombinedFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := writeCert(t, dir, "c")
	certPEM, _ := os.ReadFile(certFile)
	keyPEM, _ := os.ReadFile(keyFile)
	combined := filepath.Join(dir, "combined.pem")
	if err := os.WriteFile(combined, append(keyPEM, certPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	c.TLSCert, c.TLSKey = combined, combined
	if err := c.loadTLS(); err != nil || c.tlsCert == nil {
		t.Fatalf("loadTLS with the key and the certificate in one file: %v", err)
	}
}
