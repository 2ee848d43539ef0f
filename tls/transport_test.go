package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a CA, a server configuration and a client root pool.
type testPKI struct {
	ca     *testCA
	dir    string
	conf   *Config
	roots  *x509.CertPool
	caFile string
}

func newPKI(t testing.TB, o Options) *testPKI {
	t.Helper()
	p := &testPKI{ca: newTestCA(t), dir: t.TempDir()}
	o.CertFile, o.KeyFile = p.ca.Issue(t, p.dir, "server", 100, true)
	if o.CAFile == "ca" {
		p.caFile = filepath.Join(p.dir, "ca.crt")
		write(t, p.caFile, p.ca.PEM)
		o.CAFile = p.caFile
	}
	conf, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	p.conf = conf
	p.roots = x509.NewCertPool()
	p.roots.AddCert(p.ca.Cert)
	return p
}

func (p *testPKI) clientConfig(version uint16) *stdtls.Config {
	return &stdtls.Config{RootCAs: p.roots, ServerName: "127.0.0.1", MinVersion: version, MaxVersion: version}
}

// clientCert issues a client certificate with Common Name cn.
func (p *testPKI) clientCert(t testing.TB, cn string) stdtls.Certificate {
	t.Helper()
	cf, kf := p.ca.Issue(t, p.dir, cn, 300, false)
	pair, err := stdtls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// pipeHandshake runs a server Transport's handshake against a crypto/tls
// client over net.Pipe, with this goroutine playing the loop: it feeds the
// ciphertext it reads to the transport and writes the transport's output.
// early is written by the client right after its handshake, before the
// switch, so it sits in the transport's buffers at the switch. It returns
// the established transport, the plaintext drained at the switch, the client
// and the server end of the pipe.
func pipeHandshake(t *testing.T, p *testPKI, version uint16, early []byte) (*Transport, []byte, *stdtls.Conn, net.Conn) {
	t.Helper()
	cliEnd, srvEnd := net.Pipe()
	t.Cleanup(func() { cliEnd.Close(); srvEnd.Close() })
	tr := newTransport(p.conf.Config(), srvEnd.LocalAddr(), srvEnd.RemoteAddr())
	posted := make(chan struct{}, 1)
	tr.raw.post = func() {
		select {
		case posted <- struct{}{}:
		default:
		}
	}
	client := stdtls.Client(cliEnd, p.clientConfig(version))
	clientDone := make(chan error, 1)
	go func() {
		err := client.Handshake()
		if err == nil && len(early) > 0 {
			_, err = client.Write(early)
		}
		clientDone <- err
	}()
	serverDone := make(chan error, 1)
	go func() { serverDone <- tr.tc.Handshake() }()

	// Reader: ciphertext from the client to the transport.
	readerDone := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(readerDone)
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			srvEnd.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := srvEnd.Read(buf)
			if n > 0 {
				tr.raw.feed(buf[:n])
			}
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				return
			}
		}
	}()
	// Writer (this goroutine): the transport's output to the client.
	deadline := time.After(10 * time.Second)
	var cliErr, srvErr error
	cliFinished, srvFinished := false, false
	for !cliFinished || !srvFinished {
		select {
		case <-posted:
		case srvErr = <-serverDone:
			srvFinished = true
		case cliErr = <-clientDone:
			cliFinished = true
		case <-deadline:
			t.Fatal("handshake over the pipe did not finish")
		}
		tr.raw.mu.Lock()
		out := tr.raw.out
		tr.raw.out = nil
		tr.raw.posted = false
		tr.raw.mu.Unlock()
		if len(out) > 0 {
			go srvEnd.Write(out) // net.Pipe blocks until the client reads
		}
	}
	if srvErr != nil || cliErr != nil {
		t.Fatalf("handshake: server %v, client %v", srvErr, cliErr)
	}
	close(stop)
	<-readerDone
	tr.switchToLoop()
	plain, err := tr.drain(nil)
	if err != nil {
		t.Fatalf("drain at the switch: %v", err)
	}
	return tr, append([]byte(nil), plain...), client, srvEnd
}

// TestRecordsFedOneByteAtATime pins the crypto/tls behaviour the Transport
// relies on: a temporary net.Error from the underlying Read leaves a partial
// record buffered, and the next Read resumes it. If a Go release makes that
// error sticky, this fails.
func TestRecordsFedOneByteAtATime(t *testing.T) {
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		t.Run(stdtls.VersionName(v), func(t *testing.T) {
			p := newPKI(t, Options{})
			early := []byte("sent right after Finished")
			tr, plain, client, srvEnd := pipeHandshake(t, p, v, early)
			if !bytes.Equal(plain, early) {
				t.Fatalf("bytes after Finished: got %q, want %q", plain, early)
			}
			if got := tr.ConnectionState().Version; got != v {
				t.Fatalf("version %x, want %x", got, v)
			}
			buf := make([]byte, 64<<10)
			for _, size := range []int{1, 37, 1000, 16384, 16385, 40000} {
				msg := bytes.Repeat([]byte{byte(size)}, size)
				go client.Write(msg)
				var got []byte
				srvEnd.SetReadDeadline(time.Now().Add(5 * time.Second))
				for len(got) < size {
					n, err := srvEnd.Read(buf)
					if err != nil {
						t.Fatalf("size %d: reading ciphertext: %v (got %d plaintext bytes)", size, err, len(got))
					}
					for i := 0; i < n; i++ {
						app, err := tr.Decode(nil, buf[i:i+1])
						if err != nil {
							t.Fatalf("size %d: Decode of byte %d: %v", size, i, err)
						}
						got = append(got, app...)
					}
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("size %d: plaintext differs (len %d)", size, len(got))
				}
			}
		})
	}
}

// TestDecodeRejectsGarbage: a corrupted record is an error, not a panic or
// a silent drop.
func TestDecodeRejectsGarbage(t *testing.T) {
	p := newPKI(t, Options{})
	tr, _, _, _ := pipeHandshake(t, p, stdtls.VersionTLS13, nil)
	_, err := tr.Decode(nil, []byte{23, 3, 3, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	if err == nil {
		t.Fatal("a forged record decoded without error")
	}
	if _, err := tr.Decode(nil, []byte{23, 3, 3, 0, 1, 0}); err == nil {
		t.Fatal("Decode after a record error succeeded")
	}
}
