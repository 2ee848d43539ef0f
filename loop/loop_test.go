package loop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestEcho1000Clients(t *testing.T) {
	h := &testHandler{}
	_, addr := startServer(t, Options{Loops: 2}, h)
	const clients = 1000
	const rounds = 5
	conns := make([]net.Conn, clients)
	for i := range conns {
		conns[i] = dial(t, addr)
		defer conns[i].Close()
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			buf := make([]byte, 256)
			for r := 0; r < rounds; r++ {
				msg := []byte(fmt.Sprintf("client %d round %d %s", i, r, bytes.Repeat([]byte{'x'}, i%100)))
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
					errs <- fmt.Errorf("client %d: %w", i, err)
					return
				}
				if !bytes.Equal(buf[:len(msg)], msg) {
					errs <- fmt.Errorf("client %d got %q want %q", i, buf[:len(msg)], msg)
					return
				}
			}
		}(i, c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := h.opened.Load(); got != clients {
		t.Fatalf("Open called %d times, want %d", got, clients)
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 5*time.Second, "Closed for every client", func() bool { return h.closedN.Load() == clients })
	for _, err := range h.errs() {
		if err != io.EOF {
			t.Fatalf("Closed err = %v, want io.EOF", err)
		}
	}
}

// A peer with a small receive buffer that reads slowly gets every byte in
// order, and the writer sees Congested and then Writable.
func TestSlowReaderBackpressure(t *testing.T) {
	const total = 8 << 20
	var congestedSeen, writableCalls atomic.Int64
	var produce func(c *Conn)
	sent := 0
	produce = func(c *Conn) {
		chunk := make([]byte, 1000)
		for sent < total && !c.Congested() {
			n := min(len(chunk), total-sent)
			for i := 0; i < n; i++ {
				chunk[i] = byte((sent + i) % 251)
			}
			c.Write(chunk[:n])
			sent += n
		}
		if c.Congested() {
			congestedSeen.Add(1)
		}
		if c.Buffered() > c.Loop().Server().Options().HighWatermark+len(chunk) {
			t.Errorf("buffered %d above high watermark plus one write", c.Buffered())
		}
	}
	h := &testHandler{
		open:     produce,
		writable: func(c *Conn) { writableCalls.Add(1); produce(c) },
		data:     func(c *Conn, in []byte) int { return len(in) },
	}
	_, addr := startServer(t, Options{Loops: 1, HighWatermark: 64 << 10, LowWatermark: 16 << 10}, h)
	c := dialSmallWindow(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 700) // small reads
	got := 0
	for got < total {
		n, err := c.Read(buf)
		for i := 0; i < n; i++ {
			if buf[i] != byte((got+i)%251) {
				t.Fatalf("byte %d = %d, want %d", got+i, buf[i], byte((got+i)%251))
			}
		}
		got += n
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
	}
	if congestedSeen.Load() == 0 || writableCalls.Load() == 0 {
		t.Fatalf("congested seen %d times, Writable %d times; want both > 0", congestedSeen.Load(), writableCalls.Load())
	}
}

type mailItem struct {
	sender, seq int
}

func TestMailExactlyOnceInPosterOrder(t *testing.T) {
	const senders = 16
	const perSender = 5000
	var mu sync.Mutex
	last := map[[2]int]int{} // (loop, sender) -> last seq
	var got atomic.Int64
	var bad atomic.Value
	h := &testHandler{mail: func(l *Loop, m any) {
		it := m.(*mailItem)
		k := [2]int{l.Index(), it.sender}
		mu.Lock()
		prev, ok := last[k]
		if (!ok && it.seq != 0) || (ok && it.seq != prev+1) {
			bad.Store(fmt.Sprintf("loop %d sender %d: seq %d after %d", l.Index(), it.sender, it.seq, prev))
		}
		last[k] = it.seq
		mu.Unlock()
		got.Add(1)
	}}
	s, _ := startServer(t, Options{Loops: 2, MailBudget: 100}, h)
	var wg sync.WaitGroup
	for snd := 0; snd < senders; snd++ {
		wg.Add(1)
		go func(snd int) {
			defer wg.Done()
			seqs := [2]int{}
			for i := 0; i < perSender; i++ {
				li := (snd + i) % 2
				s.Post(li, &mailItem{sender: snd, seq: seqs[li]})
				seqs[li]++
			}
		}(snd)
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "all mail", func() bool { return got.Load() >= senders*perSender })
	if v := bad.Load(); v != nil {
		t.Fatal(v)
	}
	// nothing more arrives: count stays exact
	s.Post(0, &mailItem{sender: -1})
	waitFor(t, 5*time.Second, "marker", func() bool { return got.Load() == senders*perSender+1 })
}

func TestTimersFireAtDeadlineAndCancel(t *testing.T) {
	type result struct {
		name  string
		armed time.Time
		fired time.Time
		want  time.Duration
	}
	results := make(chan result, 16)
	cancelledFired := make(chan string, 4)
	h := &testHandler{mail: func(l *Loop, m any) {
		if *(m.(*string)) != "arm" {
			return
		}
		for _, d := range []time.Duration{5 * time.Millisecond, 30 * time.Millisecond, 120 * time.Millisecond, 6 * time.Second} {
			d := d
			var armed time.Time
			tm := l.NewTimer(func() { results <- result{fmt.Sprint(d), armed, time.Now(), d} })
			armed = time.Now()
			tm.Reset(d)
		}
		c := l.NewTimer(func() { cancelledFired <- "stopped timer fired" })
		c.Reset(50 * time.Millisecond)
		if !c.Stop() {
			t.Error("Stop of an armed timer returned false")
		}
		if c.Stop() {
			t.Error("second Stop returned true")
		}
		r := l.NewTimer(func() { results <- result{"reset", time.Time{}, time.Now(), 0} })
		r.Reset(10 * time.Millisecond)
		r.Reset(80 * time.Millisecond) // re-arm: fires once, later
		_ = r
	}}
	opts := Options{Loops: 1, TimerTick: 5 * time.Millisecond}
	s, _ := startServer(t, opts, h)
	arm := "arm"
	start := time.Now()
	s.Post(0, &arm)
	seen := map[string]int{}
	for len(seen) < 5 {
		select {
		case r := <-results:
			seen[r.name]++
			if r.name == "reset" {
				if el := r.fired.Sub(start); el < 80*time.Millisecond {
					t.Fatalf("re-armed timer fired after %v, want >= 80ms", el)
				}
				continue
			}
			el := r.fired.Sub(r.armed)
			if el < r.want {
				t.Fatalf("timer %s fired early, after %v", r.name, el)
			}
			if el > r.want+2*time.Second {
				t.Fatalf("timer %s fired %v late", r.name, el-r.want)
			}
		case msg := <-cancelledFired:
			t.Fatal(msg)
		case <-time.After(20 * time.Second):
			t.Fatalf("timers seen %v", seen)
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Fatalf("timer %s fired %d times", name, n)
		}
	}
	select {
	case msg := <-cancelledFired:
		t.Fatal(msg)
	default:
	}
}

// A connection migrated on every message, with messages straddling reads,
// loses and reorders no byte.
func TestMigrateKeepsEveryByteInOrder(t *testing.T) {
	const frame = 7
	var migrations atomic.Int64
	h := &testHandler{}
	h.data = func(c *Conn, in []byte) int {
		n := len(in) / frame * frame
		if n == 0 {
			return 0
		}
		// echo one frame per call, then move; the rest travels as pending
		c.Write(in[:frame])
		loops := c.Loop().Server().Loops()
		c.Migrate(loops[(c.Loop().Index()+1)%len(loops)])
		migrations.Add(1)
		return frame
	}
	_, addr := startServer(t, Options{Loops: 3}, h)
	if err := echoRandom(t, addr, frame*3000, 1, 1, 50); err != nil {
		t.Fatalf("after %d migrations: %v", migrations.Load(), err)
	}
	if migrations.Load() < 100 {
		t.Fatalf("only %d migrations", migrations.Load())
	}
	if h.opened.Load() < migrations.Load() {
		t.Fatalf("Open called %d times for %d migrations", h.opened.Load(), migrations.Load())
	}
}

// echoRandom dials an echo server at addr, sends total random bytes (from
// seed) in writes of minChunk to minChunk+spread-1 bytes while it reads, and
// reports an error unless the echo is the same bytes in the same order.
func echoRandom(t *testing.T, addr string, total int, seed int64, minChunk, spread int) error {
	c := dial(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	src := make([]byte, total)
	rnd := rand.New(rand.NewSource(seed))
	rnd.Read(src)
	go func() {
		for off := 0; off < total; {
			n := min(minChunk+rnd.Intn(spread), total-off)
			if _, err := c.Write(src[off : off+n]); err != nil {
				return
			}
			off += n
		}
	}()
	got := make([]byte, total)
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(got, src) {
		return errors.New("echo differs from input")
	}
	return nil
}

func TestStopLeavesNoGoroutineOrFD(t *testing.T) {
	fdsBefore := openFDs(t)
	h := &testHandler{}
	s, err := NewServer(Options{Loops: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "sol.sock")
	if _, err := s.Listen("unix", sock, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var clients []net.Conn
	for i := 0; i < 20; i++ {
		clients = append(clients, dial(t, addr.String()))
		uc, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, uc)
	}
	waitFor(t, 5*time.Second, "all opened", func() bool { return h.opened.Load() == 40 })
	if loopGoroutines() != 2 {
		t.Fatalf("%d loop goroutines, want 2", loopGoroutines())
	}
	// closing clients: the server's graceful close sees their FIN
	go func() {
		for _, c := range clients {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if h.closedN.Load() != 40 {
		t.Fatalf("Closed called %d times, want 40", h.closedN.Load())
	}
	for _, err := range h.errs() {
		if err != ErrStopped {
			t.Fatalf("Closed err %v, want ErrStopped", err)
		}
	}
	waitFor(t, 2*time.Second, "loop goroutines to end", func() bool { return loopGoroutines() == 0 })
	for _, c := range clients {
		c.Close()
	}
	waitFor(t, 5*time.Second, "descriptors back to the count before NewServer", func() bool { return openFDs(t) <= fdsBefore })
	if _, err := net.Dial("tcp", addr.String()); err == nil {
		t.Fatal("dial after Stop succeeded")
	}
}

func TestListenOnBusyPortFailsWithEADDRINUSE(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	s, err := NewServer(Options{Loops: 2}, &testHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	if _, err := s.Listen("tcp", held.Addr().String(), nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on a held port: %v, want EADDRINUSE", err)
	}
	// a second sol on our port fails too
	_, addr := startServer(t, Options{Loops: 2}, &testHandler{})
	if _, err := s.Listen("tcp", addr, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second server on our port: %v, want EADDRINUSE", err)
	}
}

func TestListenIPv6AndPortShared(t *testing.T) {
	s, err := NewServer(Options{Loops: 2}, &testHandler{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	a, err := s.Listen("tcp6", "[::1]:0", "v6")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		c := dial(t, a.String())
		c.Write([]byte("ping"))
		b := make([]byte, 4)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
			t.Fatalf("echo over IPv6: %q %v", b, err)
		}
		c.Close()
	}
}

func TestUnixSocketAcceptorSpreadsOverLoops(t *testing.T) {
	var perLoop [2]atomic.Int64
	h := &testHandler{open: func(c *Conn) {
		perLoop[c.Loop().Index()].Add(1)
		if c.Listener().Tag != "unix" {
			t.Errorf("tag %v", c.Listener().Tag)
		}
	}}
	s, err := NewServer(Options{Loops: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	sock := filepath.Join(t.TempDir(), "s")
	if _, err := s.Listen("unix", sock, "unix"); err != nil {
		t.Fatal(err)
	}
	s.Start()
	for i := 0; i < 10; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("hello"))
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
			t.Fatalf("echo: %q %v", b, err)
		}
		c.Close()
	}
	if perLoop[0].Load() != 5 || perLoop[1].Load() != 5 {
		t.Fatalf("per loop %d/%d, want 5/5", perLoop[0].Load(), perLoop[1].Load())
	}
	// (the probe connects to the live socket, which the server then accepts)
	if _, err := s.Listen("unix", sock, "unix"); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second listen on a live socket: %v, want EADDRINUSE", err)
	}
}

// Close flushes a large reply and the peer reads all of it and then EOF, not
// a reset, even though it sent input the server did not read.
func TestCloseFlushesThenEOF(t *testing.T) {
	reply := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	h := &testHandler{data: func(c *Conn, in []byte) int {
		c.Write(reply)
		c.Close()
		c.Write([]byte("after close")) // discarded
		return 0                       // leave input unread
	}}
	_, addr := startServer(t, Options{Loops: 1}, h)
	c := dial(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("request and some more bytes the server never reads"))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after %d bytes: %v", len(got), err)
	}
	if !bytes.Equal(got, reply) {
		t.Fatalf("got %d bytes, want %d", len(got), len(reply))
	}
	waitFor(t, 5*time.Second, "Closed", func() bool { return h.closedN.Load() == 1 })
	if h.errs()[0] != nil {
		t.Fatalf("Closed err %v, want nil", h.errs()[0])
	}
}

func TestShutdownFromAnotherGoroutine(t *testing.T) {
	conns := make(chan *Conn, 1)
	h := &testHandler{open: func(c *Conn) { conns <- c }}
	_, addr := startServer(t, Options{Loops: 2}, h)
	c := dial(t, addr)
	defer c.Close()
	sc := <-conns
	sc.Shutdown()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after Shutdown: %v, want EOF", err)
	}
	c.Close()
	waitFor(t, 5*time.Second, "Closed", func() bool { return sc.Closed() })
}

// PauseRead keeps input pending; ResumeRead (from mail, as an auth worker
// would trigger) delivers it again.
func TestPauseResumeRedeliversPending(t *testing.T) {
	var paused atomic.Pointer[Conn]
	h := &testHandler{}
	h.data = func(c *Conn, in []byte) int {
		if c.Context() == nil {
			c.SetContext("paused")
			c.PauseRead()
			paused.Store(c)
			return 0
		}
		c.Write(in)
		return len(in)
	}
	h.mail = func(l *Loop, m any) { m.(*Conn).ResumeRead() }
	s, addr := startServer(t, Options{Loops: 1}, h)
	c := dial(t, addr)
	defer c.Close()
	c.Write([]byte("first"))
	waitFor(t, 5*time.Second, "pause", func() bool { return paused.Load() != nil })
	s.Post(0, paused.Load())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 5)
	if _, err := io.ReadFull(c, b); err != nil || string(b) != "first" {
		t.Fatalf("got %q %v", b, err)
	}
}

func TestStopContextExpiryClosesAtOnce(t *testing.T) {
	h := &testHandler{open: func(c *Conn) { c.Write(bytes.Repeat([]byte{1}, 8<<20)) }}
	s, err := NewServer(Options{Loops: 1, CloseTimeout: time.Minute}, h)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.Listen("tcp", "127.0.0.1:0", nil)
	s.Start()
	c := dial(t, a.String()) // never reads: the flush cannot finish
	defer c.Close()
	waitFor(t, 5*time.Second, "open", func() bool { return h.opened.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Stop: %v, want DeadlineExceeded", err)
	}
	if h.closedN.Load() != 1 {
		t.Fatalf("closed %d, want 1", h.closedN.Load())
	}
	// run's deferred close(done) releases Stop a moment before the goroutine ends
	waitFor(t, 2*time.Second, "loop goroutines to end", func() bool { return loopGoroutines() == 0 })
}

// A connection paused with input pending, then resumed and migrated in the
// same Flush, loses and reorders no byte, and its old loop does not touch it
// after the handover (the race detector watches).
func TestResumeThenMigrateInFlush(t *testing.T) {
	const frame = 7
	const loopsN = 3
	var held [loopsN][]*Conn // per loop, touched only by that loop
	var moved atomic.Int64
	h := &testHandler{}
	h.data = func(c *Conn, in []byte) int {
		if len(in) < frame {
			return 0
		}
		c.Write(in[:frame])
		if len(in) > frame { // more pending: hold it until Flush
			c.PauseRead()
			i := c.Loop().Index()
			held[i] = append(held[i], c)
		}
		return frame
	}
	h.flush = func(l *Loop) {
		i := l.Index()
		for _, c := range held[i] {
			c.ResumeRead()
			loops := l.Server().Loops()
			c.Migrate(loops[(i+1)%len(loops)])
			moved.Add(1)
		}
		clear(held[i])
		held[i] = held[i][:0]
	}
	_, addr := startServer(t, Options{Loops: loopsN}, h)
	if err := echoRandom(t, addr, frame*3000, 2, frame, 60); err != nil {
		t.Fatalf("after %d handovers: %v", moved.Load(), err)
	}
	if moved.Load() < 50 {
		t.Fatalf("only %d resume-then-migrate handovers", moved.Load())
	}
}

// A connection migrated from Handler.Closed of another connection, when that
// close came from a failed write in the iteration's final flush, is not
// touched again by its old loop (the race detector watches), and what was
// written to it before the move arrives.
func TestMigrateFromClosedAfterFlush(t *testing.T) {
	type loopState struct {
		conns []*Conn // hello received, in order
		fired bool
	}
	var st [2]loopState // per loop, touched only by that loop
	var moved atomic.Int64
	h := &testHandler{}
	h.data = func(c *Conn, in []byte) int {
		s := &st[c.Loop().Index()]
		s.conns = append(s.conns, c)
		return len(in)
	}
	h.flush = func(l *Loop) {
		s := &st[l.Index()]
		if s.fired || len(s.conns) < 2 {
			return
		}
		s.fired = true
		x := s.conns[0]
		x.Write([]byte("bye"))
		// Its write in this iteration's flush now fails (EPIPE): x closes
		// after the flush, and Closed moves the second connection.
		syscall.Shutdown(int(x.fd), syscall.SHUT_WR)
	}
	h.closed = func(c *Conn, err error) {
		s := &st[c.Loop().Index()]
		if !s.fired || len(s.conns) < 2 || c != s.conns[0] {
			return
		}
		y := s.conns[1]
		y.Write([]byte("moved"))
		loops := y.Loop().Server().Loops()
		y.Migrate(loops[(y.Loop().Index()+1)%len(loops)])
		moved.Add(1)
	}
	_, addr := startServer(t, Options{Loops: 2}, h)
	// Enough clients that some loop has two; each says hello once.
	var clients []net.Conn
	for i := 0; i < 8; i++ {
		c := dial(t, addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		time.Sleep(5 * time.Millisecond) // hellos in dial order per loop
	}
	waitFor(t, 10*time.Second, "a migration from Closed", func() bool { return moved.Load() > 0 })
	// Every client hears "moved" if it was moved, and nothing else but
	// "bye" or EOF otherwise; read what each got until quiet.
	got := 0
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b, _ := io.ReadAll(c)
		if string(b) == "moved" {
			got++
		} else if len(b) > 0 && string(b) != "bye" {
			t.Fatalf("client read %q", b)
		}
	}
	if int64(got) != moved.Load() {
		t.Fatalf("%d clients got their bytes after the move, %d moved", got, moved.Load())
	}
	time.Sleep(50 * time.Millisecond) // a few more iterations of the old loop
}

// Pending buffers for small messages come in power-of-two sizes, at most
// twice what was asked, and a recycled one is taken again.
func TestSmallPendingBuffersReused(t *testing.T) {
	for _, c := range []struct{ n, class int }{{0, 0}, {1, 0}, {64, 0}, {65, 1}, {1000, 4}, {4096, 6}, {4097, -1}} {
		if k := smallClass(c.n); k != c.class {
			t.Errorf("smallClass(%d) = %d, want %d", c.n, k, c.class)
		}
	}
	l := &Loop{buf: make([]byte, 64<<10)}
	for _, n := range []int{1, 70, 130, 3000, 4096} {
		b := l.takeBuf(n)
		if cap(b) < n || cap(b) > max(2*n, minSmallPending) {
			t.Fatalf("takeBuf(%d): capacity %d", n, cap(b))
		}
		b = append(b, 'x')
		l.recycle(b)
		again := l.takeBuf(n)
		if len(again) != 0 || &again[:1][0] != &b[0] {
			t.Fatalf("takeBuf(%d) after recycle: not the recycled buffer", n)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { l.recycle(l.takeBuf(100)) }); allocs != 0 {
		t.Fatalf("%v allocations per small take and recycle", allocs)
	}
}
