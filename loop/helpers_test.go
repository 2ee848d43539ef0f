package loop

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testHandler is a Handler whose behaviour is set per test; nil funcs do the
// obvious thing (Data echoes everything).
type testHandler struct {
	open     func(c *Conn)
	data     func(c *Conn, in []byte) int
	writable func(c *Conn)
	closed   func(c *Conn, err error)
	mail     func(l *Loop, m any)
	flush    func(l *Loop)

	opened   atomic.Int64
	closedN  atomic.Int64
	mu       sync.Mutex
	closeErr []error
}

func (h *testHandler) Open(c *Conn) {
	h.opened.Add(1)
	if h.open != nil {
		h.open(c)
	}
}

func (h *testHandler) Data(c *Conn, in []byte) int {
	if h.data != nil {
		return h.data(c, in)
	}
	c.Write(in)
	return len(in)
}

// errs returns the errors Closed received so far.
func (h *testHandler) errs() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.closeErr...)
}

func (h *testHandler) Writable(c *Conn) {
	if h.writable != nil {
		h.writable(c)
	}
}

func (h *testHandler) Closed(c *Conn, err error) {
	h.closedN.Add(1)
	h.mu.Lock()
	h.closeErr = append(h.closeErr, err)
	h.mu.Unlock()
	if h.closed != nil {
		h.closed(c, err)
	}
}

func (h *testHandler) Mail(l *Loop, m any) {
	if h.mail != nil {
		h.mail(l, m)
	}
}

func (h *testHandler) Flush(l *Loop) {
	if h.flush != nil {
		h.flush(l)
	}
}

// startServer starts a server listening on 127.0.0.1:0 and stops it at the
// end of the test.
func startServer(t testing.TB, opts Options, h Handler) (*Server, string) {
	t.Helper()
	s, err := NewServer(opts, h)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen("tcp", "127.0.0.1:0", "test")
	if err != nil {
		s.Stop(context.Background())
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s, addr.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openFDs counts this process's open descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

// loopGoroutines counts goroutines running a loop.
func loopGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "loop.(*Loop).run(")
}

// writeChunks writes b to c in writes of step bytes from a goroutine of its
// own and then sends the first error, or nil, on the channel it returns.
func writeChunks(c net.Conn, b []byte, step int) <-chan error {
	errc := make(chan error, 1)
	go func() {
		var err error
		for off := 0; off < len(b) && err == nil; off += step {
			_, err = c.Write(b[off:min(off+step, len(b))])
		}
		errc <- err
	}()
	return errc
}
