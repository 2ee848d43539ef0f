package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// timerSlack is how late a close may come after its deadline on a loaded
// two-core machine under the race detector: the wheel's 10 ms tick plus
// scheduling. The deadlines themselves are never early (checked too).
const timerSlack = 500 * time.Millisecond

// TestIdlePeers: a client that connects and sends nothing is closed at the
// connect timeout; clients that go silent after CONNECT (half-open: the
// peer is gone or stuck, the socket stays up) are closed within 1.5 x keep
// alive of their last packet, 5.0 ones with DISCONNECT 0x8D; a bystander
// is unaffected.
func TestIdlePeers(t *testing.T) {
	const connectTimeout = 300 * time.Millisecond
	addr := tb.Start(t, broker.Options{Loops: 2, ConnectTimeout: connectTimeout})
	by := tb.StartBystander(t, addr, "idle-bystander")

	silent := tb.Dial(t, addr, v311)
	start := time.Now()
	if got := silent.ExpectClosed(connectTimeout + 3*time.Second); len(got) != 0 {
		t.Fatalf("silent socket got %v", got[0].Type)
	}
	if el := time.Since(start); el < connectTimeout || el > connectTimeout+timerSlack {
		t.Fatalf("silent socket closed after %v, want %v (+%v)", el, connectTimeout, timerSlack)
	}

	for _, v := range []byte{v311, v5} {
		for _, ka := range []uint16{1, 2} {
			c := tb.Dial(t, addr, v)
			c.Connect(&mqtt.Connect{ProtocolLevel: v, ClientID: []byte(fmt.Sprintf("half-open-%d-%d", v, ka)), CleanStart: true, KeepAlive: ka})
			// One packet later than CONNECT: the deadline counts from it.
			c.Write(mqtt.AppendPingreq(nil))
			c.Expect(mqtt.PINGRESP)
			last := time.Now()
			limit := time.Duration(ka) * 1500 * time.Millisecond
			got := c.ExpectClosed(limit + 3*time.Second)
			el := time.Since(last)
			if el < limit-50*time.Millisecond || el > limit+timerSlack {
				t.Fatalf("v%d keep alive %ds: closed %v after the last packet, want 1.5 x keep alive = %v (+%v)", v, ka, el, limit, timerSlack)
			}
			if v == v5 && (len(got) != 1 || got[0].Type != mqtt.DISCONNECT || got[0].Disconnect.Reason != mqtt.KeepAliveTimeout) {
				t.Fatalf("v5: want DISCONNECT 0x8D, got %+v", got)
			}
			if v == v311 && len(got) != 0 {
				t.Fatalf("v3.1.1: got %v before the close", got[0].Type)
			}
		}
	}
	by.WaitProgress(t, 1, 5*time.Second)
}

// TestMaxConnectionsPlaces: at MaxConnections the next client is refused
// (5.0: CONNACK 0x97, 3.1.1: 0x03) and counted; when a client leaves its
// place is free again; sockets that have not sent CONNECT take no place.
func TestMaxConnectionsPlaces(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2, MaxConnections: 3})
	// Idle sockets without CONNECT do not count.
	for i := 0; i < 5; i++ {
		tb.Dial(t, addr, v311)
	}
	var in []*tb.Client
	for i := 0; i < 3; i++ {
		in = append(in, tb.ConnectClient(t, addr, []byte{v311, v5}[i%2], fmt.Sprintf("place-%d", i), true))
	}
	c5 := tb.Dial(t, addr, v5)
	if ack := c5.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("over5"), CleanStart: true}); ack.Reason != mqtt.QuotaExceeded {
		t.Fatalf("5.0 over the limit: CONNACK %v, want 0x97", ack.Reason)
	}
	c5.ExpectClosed(3 * time.Second)
	c3 := tb.Dial(t, addr, v311)
	if ack := c3.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("over3"), CleanStart: true}); ack.Reason != mqtt.ServerUnavailable {
		t.Fatalf("3.1.1 over the limit: CONNACK %v, want 0x03", ack.Reason)
	}
	c3.ExpectClosed(3 * time.Second)
	if got := b.Stats().RefusedConnections; got != 2 {
		t.Fatalf("refused connections counted %d, want 2", got)
	}
	// One leaves: its place is free.
	in[0].Write(mqtt.AppendDisconnect(nil, in[0].Version, 0, nil))
	in[0].ExpectClosed(3 * time.Second)
	tb.WaitFor(t, 5*time.Second, func() bool { return b.Stats().Connected == 2 })
	tb.ConnectClient(t, addr, v5, "place-again", true)
	// The ones inside still work.
	in[1].Write(mqtt.AppendPingreq(nil))
	in[1].Expect(mqtt.PINGRESP)
}

// TestMaxMemoryKeepsServing: above MaxMemory new QoS 1 messages are refused
// with 0x97 and QoS 0 dropped, both counted; the connection keeps being
// served (PINGREQ), and once the memory is released publishing works
// again.
func TestMaxMemoryKeepsServing(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 1, MaxMemory: 64 << 10})
	sponge := tb.Dial(t, addr, v5)
	sponge.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("sponge"), Props: mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 60}})
	sub5(t, sponge, 1, 0, mqtt.Subscription{Filter: []byte("mem/#"), QoS: 1})
	sponge.Write(mqtt.AppendDisconnect(nil, v5, 0, nil))
	sponge.ExpectClosed(2 * time.Second)

	p := tb.ConnectClient(t, addr, v5, "mem-pub", true)
	refusedAt := -1
	for i := 0; i < 200 && refusedAt < 0; i++ {
		p.Publish("mem/a", 1, false, uint16(i+1), make([]byte, 1000))
		if rc := p.Expect(mqtt.PUBACK).PubAck.Reason; rc == mqtt.QuotaExceeded {
			refusedAt = i
		}
	}
	if refusedAt < 0 {
		t.Fatal("never refused above max memory")
	}
	if q := b.Stats().QueuedBytes; q > 64<<10+2000 {
		t.Fatalf("queued %d bytes, above MaxMemory 64 KiB plus one message", q)
	}
	p.Publish("mem/a", 0, false, 0, make([]byte, 1000))
	p.Write(mqtt.AppendPingreq(nil))
	p.Expect(mqtt.PINGRESP)
	if d := b.Stats().DroppedMemory; d < 2 {
		t.Fatalf("dropped over max memory counted %d, want the refused QoS 1 and the QoS 0", d)
	}
	// The sponge comes back and drains: memory is released, publishing
	// works again.
	sponge = tb.Dial(t, addr, v5)
	sponge.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("sponge"), CleanStart: true})
	tb.WaitFor(t, 5*time.Second, func() bool { return b.Stats().QueuedBytes == 0 })
	p.Publish("mem/a", 1, false, 999, []byte("x"))
	if rc := p.Expect(mqtt.PUBACK).PubAck.Reason; rc.IsError() {
		t.Fatalf("after the memory was released: PUBACK %v", rc)
	}
}

// emfileChildEnv makes the test binary a broker process whose descriptor
// limit is the value of the variable.
const emfileChildEnv = "SOL_EMFILE_CHILD"

// TestAcceptEMFILE runs a broker in a child process with RLIMIT_NOFILE 64,
// fills its descriptor table with clients, and keeps more clients knocking
// for two seconds: accept fails with EMFILE, and the broker's CPU time over
// that window (utime+stime from /proc/<pid>/stat) must stay far below what
// a loop spinning on a readable listener burns (~100% of a core). Once the
// clients leave, new ones are served again.
func TestAcceptEMFILE(t *testing.T) {
	if os.Getenv(emfileChildEnv) != "" {
		emfileChild(t)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAcceptEMFILE$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=64")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	addr := ""
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "EMFILE-BROKER "); ok {
			addr = a
			break
		}
	}
	if addr == "" {
		t.Fatal("child broker did not report its address")
	}

	// Fill the table: clients connect until CONNACKs stop coming.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	connected := 0
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break
		}
		conns = append(conns, c)
		p := &rawPeer{conn: c}
		if err := p.write(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v311, ClientID: []byte(fmt.Sprintf("fd-%d", i)), CleanStart: true})); err != nil {
			break
		}
		if ack, err := p.read(v311, 300*time.Millisecond); err != nil || ack.Type != mqtt.CONNACK {
			break // not accepted: the broker is out of descriptors
		}
		connected++
	}
	if connected == 0 || connected >= 100 {
		t.Fatalf("%d clients connected under a limit of 64 descriptors", connected)
	}
	// Clients keep knocking (each stays in the accept queue) while the CPU
	// time of the child is measured.
	cpu0 := procCPU(t, cmd.Process.Pid)
	wall0 := time.Now()
	knock := time.Now().Add(2 * time.Second)
	for time.Now().Before(knock) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conns = append(conns, c)
		}
		time.Sleep(20 * time.Millisecond) // pacing the knocks, not synchronisation
	}
	used := procCPU(t, cmd.Process.Pid) - cpu0
	wall := time.Since(wall0)
	t.Logf("%d clients connected at the limit; broker CPU %v over %v of EMFILE (%.1f%%)", connected, used, wall.Round(time.Millisecond), 100*float64(used)/float64(wall))
	if used > wall/4 {
		t.Fatalf("broker used %v of CPU in %v at the descriptor limit: accept is spinning", used, wall)
	}
	// Everyone leaves; a new client is served.
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	tb.WaitFor(t, 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		p := &rawPeer{conn: c}
		if p.write(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v311, ClientID: []byte("fd-after"), CleanStart: true})) != nil {
			return false
		}
		ack, err := p.read(v311, time.Second)
		return err == nil && ack.Type == mqtt.CONNACK && ack.Connack.Reason == 0
	})
}

// procCPU returns the user plus system CPU time of process pid.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name (which may contain spaces) in ")".
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	const clkTck = 100                          // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clkTck
}

// setRlimitCur sets an rlimit field, uint64 on Linux and darwin, int64 on
// FreeBSD.
func setRlimitCur[T int64 | uint64](cur *T, n uint64) { *cur = T(n) }

// emfileChild is the broker process of TestAcceptEMFILE.
func emfileChild(t *testing.T) {
	n, _ := strconv.ParseUint(os.Getenv(emfileChildEnv), 10, 64)
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	setRlimitCur(&rl.Cur, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	addr := tb.Start(t, broker.Options{Loops: 1, ConnectTimeout: time.Minute})
	fmt.Printf("EMFILE-BROKER %s\n", addr)
	io.Copy(io.Discard, os.Stdin)
}
