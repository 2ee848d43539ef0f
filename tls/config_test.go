package tls

import (
	stdtls "crypto/tls"
	"crypto/x509"
	"github.com/sol-broker/sol/internal/testcerts"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testCA = testcerts.CA

func newTestCA(t testing.TB) *testCA { return testcerts.New(t) }

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
	certFile, keyFile := ca.Issue(t, dir, "server", 100, true)
	conf, err := Load(Options{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, conf.Config())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	old, serial := dialSerial(t, addr, roots)
	defer old.Close()
	if serial != 100 {
		t.Fatalf("first certificate serial %d, want 100", serial)
	}
	echo(t, old, "before")

	// A new certificate at the same paths, then SIGHUP's Reload.
	c2, k2 := ca.Issue(t, dir, "server2", 200, true)
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
	certFile, keyFile := ca.Issue(t, dir, "server", 7, true)
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
	roots.AddCert(ca.Cert)
	c, serial := dialSerial(t, addr, roots)
	c.Close()
	if serial != 7 {
		t.Fatalf("serial %d after a failed reload, want the old 7", serial)
	}
}

func TestVersionsAndClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := ca.Issue(t, dir, "server", 1, true)
	caFile := filepath.Join(dir, "ca.crt")
	write(t, caFile, ca.PEM)
	conf, err := Load(Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, Versions: []string{"1.3"}, RequireCertificate: true})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, conf.Config())
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

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
	cc, ck := ca.Issue(t, dir, "device-42", 2, false)
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
