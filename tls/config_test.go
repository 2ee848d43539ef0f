package tls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA issues certificates for tests, in memory, so they need no openssl.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sol test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for cn (server when server is true) and its key
// into dir, returning their paths.
func (ca *testCA) issue(t testing.TB, dir, cn string, serial int64, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, cn+".crt")
	keyFile = filepath.Join(dir, cn+".key")
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	return certFile, keyFile
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serveOnce accepts TLS connections with cfg and echoes one line back on each.
func serveTLS(t *testing.T, cfg *stdtls.Config) string {
	t.Helper()
	ln, err := stdtls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func dialSerial(t *testing.T, addr string, roots *x509.CertPool, versions ...uint16) (*stdtls.Conn, int64) {
	t.Helper()
	cfg := &stdtls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
	if len(versions) > 0 {
		cfg.MinVersion, cfg.MaxVersion = versions[0], versions[0]
	}
	c, err := stdtls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

func echo(t *testing.T, c *stdtls.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := c.Read(buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, buf, err)
	}
}

func TestReloadSwapsCertificateWithoutDroppingConnections(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 100, true)
	conf, err := Load(Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, conf.Config())
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	old, serial := dialSerial(t, addr, roots)
	defer old.Close()
	if serial != 100 {
		t.Fatalf("first certificate serial %d, want 100", serial)
	}
	echo(t, old, "before")

	// A new certificate at the same paths, then SIGHUP's Reload.
	c2, k2 := ca.issue(t, dir, "server2", 200, true)
	for src, dst := range map[string]string{c2: certFile, k2: keyFile} {
		data, _ := os.ReadFile(src)
		write(t, dst, data)
	}
	if err := conf.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh, serial := dialSerial(t, addr, roots)
	defer fresh.Close()
	if serial != 200 {
		t.Fatalf("after reload serial %d, want 200", serial)
	}
	echo(t, old, "after") // the old connection is still served
	echo(t, fresh, "new")
}

func TestReloadKeepsOldOnBrokenFile(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 7, true)
	conf, err := Load(Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	write(t, certFile, []byte("not a certificate"))
	err = conf.Reload()
	if err == nil || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("Reload of a broken file: %v, want an error naming %s", err, certFile)
	}
	addr := serveTLS(t, conf.Config())
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	c, serial := dialSerial(t, addr, roots)
	c.Close()
	if serial != 7 {
		t.Fatalf("serial %d after a failed reload, want the old 7", serial)
	}
}

func TestVersionsAndClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.issue(t, dir, "server", 1, true)
	caFile := filepath.Join(dir, "ca.crt")
	write(t, caFile, ca.pem)
	conf, err := Load(Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, Versions: []string{"1.3"}, RequireCertificate: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, conf.Config())
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	// No client certificate: refused.
	if c, err := stdtls.Dial("tcp", addr, &stdtls.Config{RootCAs: roots, ServerName: "127.0.0.1"}); err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1)) // TLS 1.3 reports the rejection on first read
		c.Close()
		if err == nil {
			t.Fatal("client without certificate was served")
		}
	}
	// TLS 1.2 only: refused by a 1.3-only listener.
	if c, err := stdtls.Dial("tcp", addr, &stdtls.Config{RootCAs: roots, ServerName: "127.0.0.1", MaxVersion: stdtls.VersionTLS12}); err == nil {
		c.Close()
		t.Fatal("TLS 1.2 accepted by a 1.3-only listener")
	}
	// With a client certificate signed by the CA: served.
	cc, ck := ca.issue(t, dir, "device-42", 2, false)
	pair, err := stdtls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	c, err := stdtls.Dial("tcp", addr, &stdtls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []stdtls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo(t, c, "hello")
	if v := c.ConnectionState().Version; v != stdtls.VersionTLS13 {
		t.Fatalf("version %x, want TLS 1.3", v)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(Options{CertFile: "/nonexistent.crt", KeyFile: "/nonexistent.key"}); err == nil || !strings.Contains(err.Error(), "/nonexistent.crt") {
		t.Fatalf("missing files: %v", err)
	}
	if _, err := Load(Options{Versions: []string{"1.1"}}); err == nil || !strings.Contains(err.Error(), "1.1") {
		t.Fatalf("bad version: %v", err)
	}
}
