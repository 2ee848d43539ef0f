//go:build linux

package loop

import (
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
