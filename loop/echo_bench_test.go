package loop

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/evio"
)

// echoHandler echoes every byte back.
type echoHandler struct{}

func (echoHandler) Open(*Conn) {}
func (echoHandler) Data(c *Conn, in []byte) int {
	c.Write(in)
	return len(in)
}
func (echoHandler) Writable(*Conn)      {}
func (echoHandler) Closed(*Conn, error) {}
func (echoHandler) Mail(l *Loop, m any) {
	if a, ok := m.(*armTimer); ok {
		l.NewTimer(func() {}).Reset(time.Hour)
		close(a.done)
	}
}

// armTimer asks an echo loop to arm a long timer.
type armTimer struct{ done chan struct{} }

func (echoHandler) Flush(*Loop) {}

// echoServer starts one kind of echo server on 127.0.0.1 and returns its
// address and a stop function.
type echoServer func(tb testing.TB, loops int) (addr string, stop func())

func startLoopEcho(tb testing.TB, loops int) (string, func()) {
	s, err := NewServer(Options{Loops: loops}, echoHandler{})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	return a.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	}
}

// startEvioEcho runs evio v1.0.8 (test-only yardstick) with the same number
// of loops and its zero-copy input option.
func startEvioEcho(tb testing.TB, loops int) (string, func()) {
	var stopping atomic.Bool
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	var ev evio.Events
	ev.NumLoops = loops
	ev.Serving = func(s evio.Server) evio.Action {
		addrc <- s.Addrs[0].String()
		return evio.None
	}
	ev.Opened = func(c evio.Conn) (out []byte, opts evio.Options, action evio.Action) {
		opts.ReuseInputBuffer = true
		return
	}
	ev.Data = func(c evio.Conn, in []byte) (out []byte, action evio.Action) {
		return in, evio.None
	}
	ev.Tick = func() (time.Duration, evio.Action) {
		if stopping.Load() {
			return 0, evio.Shutdown
		}
		return 10 * time.Millisecond, evio.None
	}
	go func() { done <- evio.Serve(ev, "tcp://127.0.0.1:0") }()
	select {
	case a := <-addrc:
		return a, func() {
			stopping.Store(true)
			<-done
		}
	case err := <-done:
		tb.Fatal("evio:", err)
	}
	return "", nil
}

// startNetEcho is the goroutine-per-connection net server.
func startNetEcho(tb testing.TB, _ int) (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}
}

// runEcho does n round trips of one size-byte message spread over conns
// connections, each client waiting for its echo before sending again.
func runEcho(b *testing.B, conns []net.Conn, size int) {
	var wg sync.WaitGroup
	per := b.N / len(conns)
	extra := b.N % len(conns)
	var failed atomic.Value
	for i, c := range conns {
		n := per
		if i < extra {
			n++
		}
		wg.Add(1)
		go func(c net.Conn, n int) {
			defer wg.Done()
			msg := make([]byte, size)
			in := make([]byte, size)
			for j := 0; j < n; j++ {
				if _, err := c.Write(msg); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					failed.Store(err)
					return
				}
			}
		}(c, n)
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEcho runs our loop, evio and a goroutine-per-conn net server side
// by side: 1 and 100 connections, 64-byte and 4 KiB messages, one op = one
// message round trip.
func BenchmarkEcho(b *testing.B) {
	servers := []struct {
		name  string
		start echoServer
	}{{"loop", startLoopEcho}, {"evio", startEvioEcho}, {"net", startNetEcho}}
	for _, nconns := range []int{1, 100} {
		for _, size := range []int{64, 4096} {
			for _, srv := range servers {
				b.Run(fmt.Sprintf("conns=%d/size=%d/%s", nconns, size, srv.name), func(b *testing.B) {
					addr, stop := srv.start(b, runtime.GOMAXPROCS(0))
					defer stop()
					conns := make([]net.Conn, nconns)
					for i := range conns {
						c, err := net.Dial("tcp", addr)
						if err != nil {
							b.Fatal(err)
						}
						defer c.Close()
						conns[i] = c
					}
					b.SetBytes(int64(size))
					b.ReportAllocs()
					b.ResetTimer()
					runEcho(b, conns, size)
				})
			}
		}
	}
}

// TestEchoSteadyStateAllocatesNothing pins the zero-allocation promise for
// the loop's echo path (read, Data, Write, flush), measured process-wide.
func TestEchoSteadyStateAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s, err := NewServer(Options{Loops: 1}, echoHandler{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Stop(context.Background())
	addr := a.String()
	// a broker always has timers armed (keepalive): the wait then carries a
	// deadline, which must not allocate either
	armed := make(chan struct{})
	s.Loops()[0].Post(&armTimer{done: armed})
	<-armed
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, size := range []int{64, 4096, 40000} {
		msg := []byte(strings.Repeat("m", size))
		in := make([]byte, size)
		trip := func() {
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, in); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 50; i++ {
			trip() // warm pools, table and buffers
		}
		if a := testing.AllocsPerRun(200, trip); a != 0 {
			t.Fatalf("%d-byte echo: %v allocations per round trip, want 0", size, a)
		}
	}
}
