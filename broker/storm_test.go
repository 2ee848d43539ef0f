package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// stormChildEnv makes the test binary a storm client process:
// "addr,source-ip,count,id-prefix".
const stormChildEnv = "SOL_STORM_CHILD"

// stormClients is the connection storm of issue 9. The full count runs
// under the race detector too (about 7 s on two cores), so there is no
// smaller race-mode count.
const stormClients = 20000

// stormSources are the loopback source addresses the clients bind, one
// child process each (each process holds count/len(stormSources) sockets,
// which keeps every process within its own descriptor limit).
var stormSources = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}

// raiseNoFile raises the soft RLIMIT_NOFILE to the hard limit and returns
// it.
func raiseNoFile(t *testing.T) uint64 {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur < rl.Max {
		old := rl.Cur
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: old, Max: rl.Max}) })
	}
	return uint64(rl.Cur) // int64 on FreeBSD
}

// TestConnectionStorm: stormClients (20,000) clients connect at once from four 127.0.0.x source addresses, from four
// child processes, to an in-process broker. Every one gets a CONNACK: a
// success, or, beyond MaxConnections, a clean refusal (5.0: 0x97, 3.1.1:
// 0x03). None hangs. When the descriptor hard limit cannot hold every
// client on the broker side, MaxConnections is set below it and the excess
// must be refused; otherwise every client must succeed.
func TestConnectionStorm(t *testing.T) {
	if os.Getenv(stormChildEnv) != "" {
		stormChild(t)
		return
	}
	if testing.Short() {
		t.Skip("short")
	}
	limit := raiseNoFile(t)
	const reserve = 600 // broker's own descriptors plus refused sockets in flight
	if limit < 2000 {
		t.Skipf("RLIMIT_NOFILE hard limit %d is too low for a storm of %d", limit, stormClients)
	}
	maxConns := 0
	if uint64(stormClients)+reserve > limit {
		maxConns = int(limit) - reserve
		t.Logf("descriptor hard limit %d < %d clients + %d: max_connections %d, the other %d must be refused",
			limit, stormClients, reserve, maxConns, stormClients-maxConns)
	}
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2, MaxConnections: maxConns, ConnectTimeout: 30 * time.Second})

	start := time.Now()
	type result struct{ ok, refused, failed int }
	results := make(chan result, len(stormSources))
	var children []*exec.Cmd
	var stdins []io.Closer
	per := stormClients / len(stormSources)
	for i, src := range stormSources {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConnectionStorm$", "-test.timeout=120s")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s,%s,%d,s%d-", stormChildEnv, addr, src, per, i))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, cmd)
		stdins = append(stdins, stdin)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var r result
				if _, err := fmt.Sscanf(sc.Text(), "STORM ok=%d refused=%d failed=%d", &r.ok, &r.refused, &r.failed); err == nil {
					results <- r
					return
				}
			}
			results <- result{failed: -1}
		}()
	}
	t.Cleanup(func() {
		for i, c := range children {
			stdins[i].Close()
			done := make(chan struct{})
			go func() { c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				c.Process.Kill()
				<-done
			}
		}
	})
	var total result
	for range stormSources {
		select {
		case r := <-results:
			if r.failed < 0 {
				t.Fatal("a storm child exited without a result")
			}
			total.ok += r.ok
			total.refused += r.refused
			total.failed += r.failed
		case <-time.After(90 * time.Second):
			t.Fatal("storm children did not report within 90s: some clients hang")
		}
	}
	elapsed := time.Since(start)
	st := b.Stats()
	t.Logf("storm of %d: %d connected, %d refused, %d failed in %v; broker: %d connected, %d refused",
		per*len(stormSources), total.ok, total.refused, total.failed, elapsed.Round(time.Millisecond), st.Connected, st.RefusedConnections)
	if total.failed != 0 {
		t.Fatalf("%d clients failed (no CONNACK, reset or timeout)", total.failed)
	}
	want := per * len(stormSources)
	if maxConns > 0 && maxConns < want {
		want = maxConns
	}
	if total.ok != want || total.ok+total.refused != per*len(stormSources) {
		t.Fatalf("%d connected and %d refused, want %d connected and the rest refused", total.ok, total.refused, want)
	}
	if st.Connected != int64(total.ok) || st.RefusedConnections != uint64(total.refused) {
		t.Fatalf("broker counts %d connected and %d refused, clients %d and %d", st.Connected, st.RefusedConnections, total.ok, total.refused)
	}
	// The broker still serves after the storm.
	if maxConns == 0 {
		p := tb.ConnectClient(t, addr, v5, "after-storm", true)
		p.Write(mqtt.AppendPingreq(nil))
		p.Expect(mqtt.PINGRESP)
	}
}

// stormChild is the body of a storm client process: it connects count
// clients at once from its source address, keeps the successful ones open,
// prints one STORM line and waits for stdin to close.
func stormChild(t *testing.T) {
	parts := strings.Split(os.Getenv(stormChildEnv), ",")
	if len(parts) != 4 {
		t.Fatalf("bad %s", stormChildEnv)
	}
	addr, src, prefix := parts[0], parts[1], parts[3]
	count, _ := strconv.Atoi(parts[2])
	raiseNoFile(t)
	var ok, refused, failed atomic.Int64
	var mu sync.Mutex
	var keep []net.Conn
	var firstErr atomic.Value
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	for i := 0; i < count; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := v311
			if i%2 == 1 {
				v = v5
			}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			p := &rawPeer{conn: c}
			err = p.write(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v,
				ClientID: []byte(fmt.Sprintf("%s%d", prefix, i)), CleanStart: true}))
			var ack *mqtt.Packet
			if err == nil {
				ack, err = p.read(v, 45*time.Second)
			}
			switch {
			case err != nil:
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				c.Close()
			case ack.Type == mqtt.CONNACK && ack.Connack.Reason == mqtt.Success:
				ok.Add(1)
				mu.Lock()
				keep = append(keep, c)
				mu.Unlock()
			case ack.Type == mqtt.CONNACK && (ack.Connack.Reason == mqtt.QuotaExceeded || ack.Connack.Reason == mqtt.ServerUnavailable):
				refused.Add(1)
				c.Close()
			default:
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("got %v %v", ack.Type, ack.Connack.Reason))
				c.Close()
			}
		}()
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "storm child %s: first failure: %v\n", src, e)
	}
	fmt.Printf("STORM ok=%d refused=%d failed=%d\n", ok.Load(), refused.Load(), failed.Load())
	io.Copy(io.Discard, os.Stdin)
	for _, c := range keep {
		c.Close()
	}
}
