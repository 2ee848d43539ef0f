package loop

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/evio"
	"golang.org/x/sys/unix"
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
	return startLoop(tb, loops, echoHandler{})
}

// startLoop runs our loop with h on 127.0.0.1 and returns its address and a
// stop function.
func startLoop(tb testing.TB, loops int, h Handler) (string, func()) {
	s, err := NewServer(Options{Loops: loops}, h)
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

// The echo clients run in a child process (this test binary re-run as
// TestHelperEchoClients), so that what a benchmark op counts (time, CPU,
// bytes and allocations) is the server's: with in-process clients the
// clients' goroutines, stacks and buffers were charged to every server
// alike (9-18 B/op at 100 connections) and the servers competed with them
// for the same scheduler. The child still shares the machine's CPUs, as a
// real client would.
const (
	envEchoAddr  = "SOL_ECHO_ADDR"
	envEchoConns = "SOL_ECHO_CONNS"
	envEchoSize  = "SOL_ECHO_SIZE"
	envEchoCPU   = "SOL_ECHO_CPU"
	envEchoAck   = "SOL_ECHO_ACK" // "1": framed messages answered by a 1-byte ack (BenchmarkLargeMessages)
)

// echoClients is the parent's handle on a child process holding nconns
// connections to an echo server.
type echoClients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// spawnEchoClients starts the child and returns once its connections are
// open.
func spawnEchoClients(tb testing.TB, addr string, nconns, size, cpu int, env ...string) *echoClients {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEchoClients$")
	cmd.Env = append(os.Environ(), envEchoAddr+"="+addr, envEchoConns+"="+strconv.Itoa(nconns), envEchoSize+"="+strconv.Itoa(size), envEchoCPU+"="+strconv.Itoa(cpu))
	cmd.Env = append(cmd.Env, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ec := &echoClients{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	if l := ec.line(); l != "ECHO ready" {
		ec.close()
		tb.Fatalf("echo client helper: %q", l)
	}
	return ec
}

// line returns the next line the child printed that begins with "ECHO ".
func (ec *echoClients) line() string {
	for ec.out.Scan() {
		if l := ec.out.Text(); strings.HasPrefix(l, "ECHO ") {
			return l
		}
	}
	return "(helper exited)"
}

// run has the child do n round trips spread over its connections, each
// client waiting for its echo before sending again, and waits for them.
func (ec *echoClients) run(tb testing.TB, n int) {
	if _, err := fmt.Fprintf(ec.stdin, "%d\n", n); err != nil {
		tb.Fatal(err)
	}
	if l := ec.line(); l != "ECHO done" {
		tb.Fatalf("echo clients: %q", l)
	}
}

func (ec *echoClients) close() {
	ec.stdin.Close() // the helper closes its connections and exits
	ec.cmd.Wait()
}

// TestHelperEchoClients is the client side of BenchmarkEcho; it does nothing
// unless started by it. It opens the connections, prints "ECHO ready", then
// for every line "n" on stdin does n round trips and prints "ECHO done" (or
// "ECHO error ...").
func TestHelperEchoClients(t *testing.T) {
	addr := os.Getenv(envEchoAddr)
	if addr == "" {
		t.Skip("helper process for BenchmarkEcho")
	}
	nconns, _ := strconv.Atoi(os.Getenv(envEchoConns))
	size, _ := strconv.Atoi(os.Getenv(envEchoSize))
	if cpu, err := strconv.Atoi(os.Getenv(envEchoCPU)); err == nil && cpu >= 0 {
		pinProcess(t, cpu)
	}
	var d echoDriver
	var err error
	if ack := os.Getenv(envEchoAck) == "1"; ack {
		d, err = dialNetEchoClients(addr, nconns, size, true)
	} else {
		d, err = dialEchoClients(addr, nconns, size)
	}
	if err != nil {
		fmt.Println("ECHO error", err)
		return
	}
	defer d.close()
	fmt.Println("ECHO ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		n, err := strconv.Atoi(in.Text())
		if err != nil {
			fmt.Println("ECHO error", err)
			return
		}
		if err := d.run(n); err != nil {
			fmt.Println("ECHO error", err)
			return
		}
		fmt.Println("ECHO done")
	}
}

// echoDriver is the client side of a run: n round trips spread over its
// connections.
type echoDriver interface {
	run(n int) error
	close()
}

// netEchoClients are goroutines over net.Conn, one per connection.
type netEchoClients struct {
	conns []net.Conn
	size  int
	ack   bool
}

func dialNetEchoClients(addr string, nconns, size int, ack bool) (echoDriver, error) {
	nc := &netEchoClients{size: size, ack: ack}
	for i := 0; i < nconns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			nc.close()
			return nil, err
		}
		nc.conns = append(nc.conns, c)
	}
	return nc, nil
}

func (nc *netEchoClients) run(n int) error { return echoRoundTrips(nc.conns, nc.size, n, nc.ack) }

func (nc *netEchoClients) close() {
	for _, c := range nc.conns {
		c.Close()
	}
}

// echoRoundTrips does n round trips of one size-byte message spread over
// conns, one goroutine per connection. With ack the message is framed (a
// 4-byte big-endian length of the rest, see ackHandler) and the answer is
// one byte.
func echoRoundTrips(conns []net.Conn, size, n int, ack bool) error {
	var wg sync.WaitGroup
	per, extra := n/len(conns), n%len(conns)
	var failed atomic.Value
	for i, c := range conns {
		k := per
		if i < extra {
			k++
		}
		wg.Add(1)
		go func(c net.Conn, k int) {
			defer wg.Done()
			msg := make([]byte, size)
			in := make([]byte, size)
			if ack {
				binary.BigEndian.PutUint32(msg, uint32(size-4))
				in = in[:1]
			}
			for j := 0; j < k; j++ {
				if _, err := c.Write(msg); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					failed.Store(err)
					return
				}
			}
		}(c, k)
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEcho runs our loop, evio and a goroutine-per-conn net server side
// by side: 1 and 100 connections, 64-byte and 4 KiB messages, one op = one
// message round trip, the clients in a child process. ns/op is wall time
// per round trip; server-ns/op is the server process's CPU time per round
// trip (user and system: reads, writes, polling, scheduling); B/op and
// allocs/op are the server's alone.
//
// On a machine with two CPUs or more the server process is pinned to CPU 0
// with GOMAXPROCS 1 and one loop, and the clients to CPU 1, as bench.sh
// pins brokers and load: unpinned, a round trip's cost depended on whether
// the scheduler put client and server on the same CPU (on a virtual
// machine, waking an idle CPU costs tens of microseconds), and runs of the
// same server differed by up to 4x.
func BenchmarkEcho(b *testing.B) {
	servers := []struct {
		name  string
		start echoServer
	}{{"loop", startLoopEcho}, {"evio", startEvioEcho}, {"net", startNetEcho}}
	for _, nconns := range []int{1, 100} {
		for _, size := range []int{64, 4096} {
			for _, srv := range servers {
				b.Run(fmt.Sprintf("conns=%d/size=%d/%s", nconns, size, srv.name), func(b *testing.B) {
					loops, clientCPU := runtime.GOMAXPROCS(0), -1
					if restore := pinProcess(b, 0); restore != nil {
						defer restore()
						defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
						loops, clientCPU = 1, 1
					}
					addr, stop := srv.start(b, loops)
					defer stop()
					benchEcho(b, addr, nconns, size, clientCPU)
				})
			}
		}
	}
}

// benchEcho measures b.N round trips of size bytes over nconns connections
// to the echo server at addr, the clients in a child process.
// clientCPU pins the clients (-1: not pinned).
func benchEcho(b *testing.B, addr string, nconns, size, clientCPU int) {
	measureClients(b, spawnEchoClients(b, addr, nconns, size, clientCPU), nconns, size)
}

// measureClients warms ec up, then times b.N round trips of size bytes and
// reports the server's CPU per round trip; it closes ec.
func measureClients(b *testing.B, ec *echoClients, nconns, size int) {
	defer ec.close()
	ec.run(b, 20*nconns) // warm up: buffers, output chunk pools, scheduler
	b.SetBytes(int64(size))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	ec.run(b, b.N)
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "server-ns/op")
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

// ackHandler parses 4-byte length-prefixed messages (the length counts the
// bytes after it), announces incomplete ones with ExpectInput and answers
// each whole one with one byte, touching no body byte: what a broker does
// with a large PUBLISH before copying its payload, minus the copy.
type ackHandler struct{ echoHandler }

var ackByte = []byte{1}

func (ackHandler) Data(c *Conn, in []byte) int {
	done := 0
	for total := nextFrame(c, in); total > 0; total = nextFrame(c, in[done:]) {
		c.Write(ackByte)
		done += total
	}
	return done
}

// largeMessageSize is a 64 KB-payload MQTT PUBLISH at QoS 1 (65,566
// bytes), one read buffer and a little more.
const largeMessageSize = 65566

// BenchmarkLargeMessages sends framed messages of largeMessageSize bytes
// from 10 client connections (a child process, as in BenchmarkEcho), each
// waiting for its one-byte ack before sending the next, into one loop
// running ackHandler: the shape of "10 publishers x 64 KB at QoS 1".
// server-ns/op is the server process's CPU time per message. Pinned like
// BenchmarkEcho.
func BenchmarkLargeMessages(b *testing.B) {
	const nconns = 10
	clientCPU := -1
	if restore := pinProcess(b, 0); restore != nil {
		defer restore()
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
		clientCPU = 1
	}
	addr, stop := startLoop(b, 1, ackHandler{})
	defer stop()
	measureClients(b, spawnEchoClients(b, addr, nconns, largeMessageSize, clientCPU, envEchoAck+"=1"), nconns, largeMessageSize)
}
