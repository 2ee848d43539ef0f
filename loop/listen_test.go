package loop

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

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

// RemoteAddr is the peer the client sees as its own address, for IPv4 and
// (where the machine has it) IPv6; LocalAddr is the address it dialled.
func TestRemoteAndLocalAddr(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{{"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}} {
		t.Run(tc.network, func(t *testing.T) {
			type seen struct{ remote, local string }
			got := make(chan seen, 1)
			h := &testHandler{open: func(c *Conn) { got <- seen{c.RemoteAddr().String(), c.LocalAddr().String()} }}
			s, err := NewServer(Options{Loops: 1}, h)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop(context.Background())
			a, err := s.Listen(tc.network, tc.addr, nil)
			if err != nil {
				t.Skipf("no %s loopback here: %v", tc.network, err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			c, err := net.Dial(tc.network, a.String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			select {
			case g := <-got:
				if g.remote != c.LocalAddr().String() || g.local != c.RemoteAddr().String() {
					t.Fatalf("server sees remote %s local %s; client is %s dialling %s", g.remote, g.local, c.LocalAddr(), c.RemoteAddr())
				}
			case <-time.After(5 * time.Second):
				t.Fatal("not accepted")
			}
		})
	}
}
