//go:build soldebug

package loop

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFailedLoopIsReported makes loop 1's poller fail. The server must say
// so through Failed, loop 1 must close its connections and exit, loop 0
// must go on serving, and Stop must still return.
func TestFailedLoopIsReported(t *testing.T) {
	var mu sync.Mutex
	onLoop := map[string]int{} // client's local address -> loop index
	h := &testHandler{open: func(c *Conn) {
		mu.Lock()
		onLoop[c.RemoteAddr().String()] = c.Loop().Index()
		mu.Unlock()
	}}
	s, addr := startServer(t, Options{Loops: 2, Logger: slog.New(slog.DiscardHandler)}, h)

	// Dial until each loop has a client.
	var clients [2]net.Conn
	for i := 0; i < 64 && (clients[0] == nil || clients[1] == nil); i++ {
		c := dial(t, addr)
		defer c.Close()
		key := c.LocalAddr().String()
		waitFor(t, 5*time.Second, "the loop to open "+key, func() bool {
			mu.Lock()
			defer mu.Unlock()
			_, ok := onLoop[key]
			return ok
		})
		mu.Lock()
		idx := onLoop[key]
		mu.Unlock()
		if clients[idx] == nil {
			clients[idx] = c
		}
	}
	if clients[0] == nil || clients[1] == nil {
		t.Skip("the kernel put 64 connections on one loop")
	}

	if err := s.Failure(); err != nil {
		t.Fatalf("Failure before any failure: %v", err)
	}
	boom := errors.New("injected poll failure")
	s.Loops()[1].InjectPollFailure(boom)
	select {
	case <-s.Failed():
		if err := s.Failure(); !errors.Is(err, boom) || !strings.Contains(err.Error(), "loop 1") {
			t.Fatalf("Failure is %v, want loop 1's %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Failed not closed 10 s after loop 1's poller failed")
	}
	// Failed is closed after the loop has closed everything it had.
	select {
	case <-s.Loops()[1].Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("loop 1 did not exit")
	}
	select {
	case <-s.Loops()[0].Exited():
		t.Fatal("loop 0 exited with loop 1")
	default:
	}

	clients[1].SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := clients[1].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("loop 1's client read %d bytes, %v: want EOF", n, err)
	}
	clients[0].SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := clients[0].Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(clients[0], got); err != nil || string(got) != "ping" {
		t.Fatalf("loop 0's client got %q, %v: want its echo", got, err)
	}
	// startServer's clean-up checks that Stop returns without error.
}
