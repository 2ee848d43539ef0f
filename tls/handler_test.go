package tls

import (
	"bytes"
	"context"
	stdtls "crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sol-broker/sol/loop"
)

// echoHandler echoes everything. It records opens, closes and the peer CN
// seen at Open; a line "migrate\n" moves the conn to the next loop first,
// and "hop\n" does so without consuming anything (as the broker does with a
// CONNECT on the wrong loop).
type echoHandler struct {
	opened, closed atomic.Int64
	mu             sync.Mutex
	cns            []string
	openLoops      []int
}

func (e *echoHandler) Open(c *loop.Conn) {
	e.opened.Add(1)
	cn, ok := PeerCommonName(c)
	if !ok {
		cn = "-"
	}
	e.mu.Lock()
	e.cns = append(e.cns, cn)
	e.openLoops = append(e.openLoops, c.Loop().Index())
	e.mu.Unlock()
}

func (e *echoHandler) Data(c *loop.Conn, in []byte) int {
	if bytes.HasPrefix(in, []byte("hop\n")) {
		// As the broker does for CONNECT on the wrong loop: migrate with
		// nothing consumed, and read it again on the other loop.
		if c.Context() == nil {
			c.SetContext(c.Loop().Index())
			loops := c.Loop().Server().Loops()
			c.Migrate(loops[(c.Loop().Index()+1)%len(loops)])
			return 0
		}
		if c.Context() != c.Loop().Index() {
			c.Write([]byte("hopped\n"))
		}
		c.Write(in[len("hop\n"):]) // like the broker: everything whole in one call
		return len(in)
	}
	if bytes.HasPrefix(in, []byte("migrate\n")) {
		loops := c.Loop().Server().Loops()
		c.Write([]byte("migrating\n"))
		c.Migrate(loops[(c.Loop().Index()+1)%len(loops)])
		return len("migrate\n")
	}
	c.Write(in)
	return len(in)
}

func (e *echoHandler) Writable(c *loop.Conn)          {}
func (e *echoHandler) Closed(c *loop.Conn, err error) { e.closed.Add(1) }
func (e *echoHandler) Mail(l *loop.Loop, m any)       {}
func (e *echoHandler) Flush(l *loop.Loop)             {}

func (e *echoHandler) commonNames() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.cns...)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// server is a loop.Server with the echo handler behind Wrap, listening on
// 127.0.0.1 with TLS (tag *Config) and plain TCP (tag nil).
type server struct {
	s        *loop.Server
	h        *Handler
	echo     *echoHandler
	tlsAddr  string
	tcpAddr  string
	pki      *testPKI
	fdsStart int
}

func startServer(t testing.TB, p *testPKI, o WrapOptions) *server {
	t.Helper()
	srv := &server{echo: &echoHandler{}, pki: p}
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	srv.h = Wrap(srv.echo, o)
	s, err := loop.NewServer(loop.Options{Loops: 2, Logger: quietLogger()}, srv.h)
	if err != nil {
		t.Fatal(err)
	}
	srv.s = s
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0", p.conf)
	if err != nil {
		t.Fatal(err)
	}
	srv.tlsAddr = a.String()
	a, err = s.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.tcpAddr = a.String()
	return srv
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dialTLS(t testing.TB, addr string, cfg *stdtls.Config) *stdtls.Conn {
	t.Helper()
	c, err := stdtls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads len(msg) bytes back, writing and reading
// concurrently so that messages larger than the socket buffers pass.
func roundTrip(t testing.TB, c net.Conn, msg []byte) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	werr := make(chan error, 1)
	go func() { _, err := c.Write(msg); werr <- err }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading %d-byte echo: %v", len(msg), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("writing %d bytes: %v", len(msg), err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("%d-byte echo differs", len(msg))
	}
}

func TestEchoOverTLS(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	sizes := []int{1, 2, 100, 1000, 4096, 16383, 16384, 16385, 50000, 64 << 10}
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		t.Run(stdtls.VersionName(v), func(t *testing.T) {
			c := dialTLS(t, srv.tlsAddr, p.clientConfig(v))
			if got := c.ConnectionState().Version; got != v {
				t.Fatalf("version %x, want %x", got, v)
			}
			for round := 0; round < 5; round++ {
				for _, size := range sizes {
					msg := bytes.Repeat([]byte{byte(size + round)}, size)
					msg[0] = byte(round)
					roundTrip(t, c, msg)
				}
			}
		})
	}
	// Several clients at once, each writing right after its handshake.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := uint16(stdtls.VersionTLS12 + i%2)
			c := dialTLS(t, srv.tlsAddr, p.clientConfig(v))
			for _, size := range []int{10, 3000, 20000} {
				roundTrip(t, c, bytes.Repeat([]byte{byte(i)}, size))
			}
		}()
	}
	wg.Wait()
	// The plain listener of the same server is not TLS.
	c, err := net.Dial("tcp", srv.tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip(t, c, []byte("plain"))
	if st := srv.h.Stats(); st.Completed != 10 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 10 completed", st)
	}
}

// TestBytesRightAfterFinished: data the client sends in the same flight as
// its Finished reaches the handler and is answered, with no more input.
func TestBytesRightAfterFinished(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		for i := 0; i < 10; i++ {
			raw, err := net.Dial("tcp", srv.tlsAddr)
			if err != nil {
				t.Fatal(err)
			}
			c := stdtls.Client(raw, p.clientConfig(v))
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("hello")); err != nil { // handshakes, then writes at once
				t.Fatal(err)
			}
			got := make([]byte, 5)
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
				t.Fatalf("%s: echo of data sent after Finished: %q, %v", stdtls.VersionName(v), got, err)
			}
			c.Close()
		}
	}
}

func TestClientCertificates(t *testing.T) {
	t.Run("required", func(t *testing.T) {
		p := newPKI(t, Options{CAFile: "ca", RequireCertificate: true})
		srv := startServer(t, p, WrapOptions{})
		for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
			// Without a certificate: refused, and the handler never hears of it.
			c, err := stdtls.Dial("tcp", srv.tlsAddr, p.clientConfig(v))
			if err == nil {
				c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Read(make([]byte, 1)) // TLS 1.3 reports it on first read
				c.Close()
			}
			if err == nil {
				t.Fatalf("%s: client without certificate was served", stdtls.VersionName(v))
			}
			cfg := p.clientConfig(v)
			cfg.Certificates = []stdtls.Certificate{p.clientCert(t, "device-42")}
			roundTrip(t, dialTLS(t, srv.tlsAddr, cfg), []byte("with certificate"))
		}
		waitFor(t, 5*time.Second, "two failed handshakes", func() bool { return srv.h.Stats().Failed == 2 })
		if n := srv.echo.opened.Load(); n != 2 {
			t.Fatalf("inner Open ran %d times, want 2 (only clients with certificates)", n)
		}
		if cns := srv.echo.commonNames(); len(cns) != 2 || cns[0] != "device-42" || cns[1] != "device-42" {
			t.Fatalf("PeerCommonName at Open: %q", cns)
		}
	})
	t.Run("optional", func(t *testing.T) {
		p := newPKI(t, Options{CAFile: "ca"})
		srv := startServer(t, p, WrapOptions{})
		roundTrip(t, dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13)), []byte("anonymous"))
		cfg := p.clientConfig(stdtls.VersionTLS13)
		cfg.Certificates = []stdtls.Certificate{p.clientCert(t, "sensor-7")}
		roundTrip(t, dialTLS(t, srv.tlsAddr, cfg), []byte("identified"))
		if cns := srv.echo.commonNames(); len(cns) != 2 || cns[0] != "-" || cns[1] != "sensor-7" {
			t.Fatalf("PeerCommonName at Open: %q, want [- sensor-7]", cns)
		}
		// A certificate from another CA is refused even when optional.
		other := newPKI(t, Options{})
		cfg = p.clientConfig(stdtls.VersionTLS13)
		cfg.Certificates = []stdtls.Certificate{other.clientCert(t, "intruder")}
		c, err := stdtls.Dial("tcp", srv.tlsAddr, cfg)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(make([]byte, 1))
			c.Close()
		}
		if err == nil {
			t.Fatal("certificate from an unknown CA was accepted")
		}
	})
}

// openFDs counts this process's open descriptors (Linux).
func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// expectClosedByServer reads from c until the server closes it.
func expectClosedByServer(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("server did not close the connection within %v", within)
		}
		return // EOF or reset
	}
}

func TestSilentClientCutAtDeadline(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{HandshakeTimeout: 300 * time.Millisecond})
	baseG := runtime.NumGoroutine()
	baseFD := openFDs(t)

	c, err := net.Dial("tcp", srv.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 5*time.Second, "handshake in progress", func() bool { return srv.h.Stats().InProgress == 1 })
	// A half ClientHello, then nothing.
	if _, err := c.Write([]byte{22, 3, 1, 0, 200, 1, 0}); err != nil {
		t.Fatal(err)
	}
	expectClosedByServer(t, c, 5*time.Second)
	c.Close()
	st := srv.h.Stats()
	if st.TimedOut != 1 || st.Completed != 0 {
		t.Fatalf("stats %+v, want one timeout", st)
	}
	waitFor(t, 5*time.Second, "handshake goroutines gone", func() bool {
		return srv.h.Stats().InProgress == 0 && runtime.NumGoroutine() <= baseG
	})
	waitFor(t, 5*time.Second, "descriptors back to baseline", func() bool { return openFDs(t) <= baseFD })
	if srv.echo.opened.Load() != 0 || srv.echo.closed.Load() != 0 {
		t.Fatalf("inner handler saw the failed connection: open %d closed %d", srv.echo.opened.Load(), srv.echo.closed.Load())
	}
}

func TestClientLeavingDuringHandshake(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	baseG := runtime.NumGoroutine()
	for i := 0; i < 20; i++ {
		c, err := net.Dial("tcp", srv.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{22, 3, 1, 0, 200, 1, 0})
		c.Close()
	}
	waitFor(t, 5*time.Second, "abandoned handshakes to end", func() bool {
		return srv.h.Stats().InProgress == 0 && runtime.NumGoroutine() <= baseG
	})
	if srv.echo.opened.Load() != 0 || srv.echo.closed.Load() != 0 {
		t.Fatal("inner handler saw connections that never completed a handshake")
	}
	roundTrip(t, dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13)), []byte("still serving"))
}

func TestHandshakePoolBound(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{MaxHandshakes: 3, HandshakeTimeout: 2 * time.Second})
	var silent []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", srv.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	waitFor(t, 5*time.Second, "three handshakes in progress", func() bool { return srv.h.Stats().InProgress == 3 })
	// The pool is full: the next connection is closed at once.
	extra, err := net.Dial("tcp", srv.tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	expectClosedByServer(t, extra, time.Second) // well before the 2 s handshake deadline
	if st := srv.h.Stats(); st.Refused != 1 || st.InProgress != 3 {
		t.Fatalf("stats %+v, want 1 refused and 3 in progress", st)
	}
	// Freeing one slot admits a client again.
	silent[0].Close()
	waitFor(t, 5*time.Second, "a slot to free", func() bool { return srv.h.Stats().InProgress == 2 })
	roundTrip(t, dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13)), []byte("admitted"))
	if srv.echo.opened.Load() != 1 {
		t.Fatalf("inner Open ran %d times, want 1", srv.echo.opened.Load())
	}
}

func TestReloadWhileConnected(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	old := dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13))
	if s := old.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); s != 100 {
		t.Fatalf("serial %d, want 100", s)
	}
	roundTrip(t, old, []byte("before reload"))

	c2, k2 := p.ca.Issue(t, p.dir, "server2", 200, true)
	for src, dst := range map[string]string{c2: p.dir + "/server.crt", k2: p.dir + "/server.key"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		write(t, dst, data)
	}
	if err := p.conf.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh := dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS12))
	if s := fresh.ConnectionState().PeerCertificates[0].SerialNumber.Int64(); s != 200 {
		t.Fatalf("after Reload serial %d, want 200", s)
	}
	roundTrip(t, old, []byte("old client after reload"))
	roundTrip(t, fresh, []byte("new client"))
}

func TestMigrationCarriesTransport(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		c := dialTLS(t, srv.tlsAddr, p.clientConfig(v))
		roundTrip(t, c, []byte("on the first loop"))
		// "migrate\n" and the data after it in one record: the rest is
		// pending input that travels with the conn.
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("migrate\nafter")); err != nil {
			t.Fatal(err)
		}
		want := "migrating\nafter"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
			t.Fatalf("across migration: %q, %v", got, err)
		}
		for _, size := range []int{1, 20000, 64 << 10} {
			roundTrip(t, c, bytes.Repeat([]byte{'m'}, size))
		}
	}
	srv.echo.mu.Lock()
	loops := append([]int(nil), srv.echo.openLoops...)
	srv.echo.mu.Unlock()
	if len(loops) != 4 || loops[0] == loops[1] || loops[2] == loops[3] {
		t.Fatalf("inner Open ran on loops %v, want two per conn on different loops", loops)
	}
}

// TestMigrationOfBytesAfterFinished: the handler migrates the conn without
// consuming the bytes sent right after Finished; they are read again on the
// destination loop.
func TestMigrationOfBytesAfterFinished(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		for i := 0; i < 5; i++ {
			raw, err := net.Dial("tcp", srv.tlsAddr)
			if err != nil {
				t.Fatal(err)
			}
			c := stdtls.Client(raw, p.clientConfig(v))
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("hop\nthen echo")); err != nil {
				t.Fatal(err)
			}
			want := "hopped\nthen echo"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
				t.Fatalf("%s: %q, %v", stdtls.VersionName(v), got, err)
			}
			roundTrip(t, c, bytes.Repeat([]byte{'z'}, 30000))
			c.Close()
		}
	}
}

// TestNoGoroutinePerConnection: 50 established TLS clients cost no
// goroutine on the server.
func TestNoGoroutinePerConnection(t *testing.T) {
	p := newPKI(t, Options{})
	srv := startServer(t, p, WrapOptions{})
	base := runtime.NumGoroutine()
	const n = 50
	conns := make([]*stdtls.Conn, 0, n)
	for i := 0; i < n; i++ {
		c := dialTLS(t, srv.tlsAddr, p.clientConfig(uint16(stdtls.VersionTLS12+i%2)))
		conns = append(conns, c)
	}
	for _, c := range conns {
		roundTrip(t, c, []byte("ping"))
	}
	waitFor(t, 5*time.Second, "handshake goroutines to exit", func() bool {
		return srv.h.Stats().InProgress == 0 && runtime.NumGoroutine() <= base
	})
	if got := srv.echo.opened.Load(); got != n {
		t.Fatalf("%d conns opened, want %d", got, n)
	}
	for _, c := range conns {
		roundTrip(t, c, []byte("still there"))
	}
}

// TestStopDuringHandshakes: stopping the server with handshakes in progress
// ends them and leaves no goroutine behind.
func TestStopDuringHandshakes(t *testing.T) {
	p := newPKI(t, Options{})
	base := runtime.NumGoroutine()
	srv := startServer(t, p, WrapOptions{})
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", srv.tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	established := dialTLS(t, srv.tlsAddr, p.clientConfig(stdtls.VersionTLS13))
	roundTrip(t, established, []byte("x"))
	waitFor(t, 5*time.Second, "five handshakes in progress", func() bool { return srv.h.Stats().InProgress == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "goroutines back to baseline", func() bool {
		return srv.h.Stats().InProgress == 0 && runtime.NumGoroutine() <= base
	})
	if srv.echo.opened.Load() != 1 || srv.echo.closed.Load() != 1 {
		t.Fatalf("inner open %d closed %d, want 1 and 1", srv.echo.opened.Load(), srv.echo.closed.Load())
	}
}
