package loop

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// When accept fails for lack of descriptors the loop backs off instead of
// spinning on the still-readable listener, and accepts the rest once
// descriptors are free again.
func TestAcceptEMFILEBacksOffWithoutSpinning(t *testing.T) {
	h := &testHandler{}
	s, err := NewServer(Options{Loops: 1}, h)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	const clients = 6
	var conns []net.Conn
	for i := 0; i < clients; i++ { // complete in the backlog before Start
		conns = append(conns, dial(t, a.String()))
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	saved := lim
	lim.Cur = uint64(openFDs(t) + 2) // room for two accepted connections
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("setrlimit:", err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			unix.Setrlimit(unix.RLIMIT_NOFILE, &saved)
		}
	}
	defer restore()
	s.Start()
	defer s.Stop(t.Context())
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	l := s.Loops()[0]
	waitFor(t, 5*time.Second, "two accepted", func() bool { return h.opened.Load() >= 2 })
	start := l.iterations.Load()
	time.Sleep(300 * time.Millisecond) // an observation window, not synchronisation
	spins := l.iterations.Load() - start
	restore()
	if h.opened.Load() >= clients {
		t.Fatalf("all %d accepted despite the descriptor limit", clients)
	}
	if spins > 50 {
		t.Fatalf("%d loop iterations in 300ms while out of descriptors: spinning", spins)
	}
	waitFor(t, 5*time.Second, "the rest accepted after the limit rose", func() bool { return h.opened.Load() == clients })
	for _, c := range conns {
		c.Close()
	}
}

// StopAccepting refuses new connections on every loop at once while
// established ones keep working; Listen works after Start.
func TestStopAcceptingKeepsOpenConns(t *testing.T) {
	h := &testHandler{}
	s, addr := startServer(t, Options{Loops: 2}, h)
	late, err := s.Listen("tcp4", "127.0.0.1:0", "late")
	if err != nil {
		t.Fatal(err)
	}
	c1, c2 := dial(t, addr), dial(t, late.String())
	defer c1.Close()
	defer c2.Close()
	// connections still in the kernel's accept queue are dropped by
	// StopAccepting; these two must be accepted first
	waitFor(t, 5*time.Second, "both accepted", func() bool { return h.opened.Load() == 2 })
	s.StopAccepting()
	for i := 0; i < 20; i++ {
		for _, a := range []string{addr, late.String()} {
			if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, rerr := c.Read(make([]byte, 1))
				c.Close()
				if rerr == nil || rerr.(net.Error).Timeout() {
					t.Fatalf("connection to %s after StopAccepting is served", a)
				}
			}
		}
	}
	for _, c := range []net.Conn{c1, c2} {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("still here"))
		b := make([]byte, 10)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "still here" {
			t.Fatalf("echo after StopAccepting: %q %v", b, err)
		}
	}
}
