package broker_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

const idleClients = 4000

// idleBudget is the Go heap and stack memory a connected, idle MQTT client
// (3.1.1, clean session, no subscriptions) may hold in the broker, with
// margin over the measured value (about 660 bytes; 1,106 before the session
// state, subscription map and addresses became lazy).
const idleBudget = 800

// TestIdleClientMemory measures the Go heap and stack memory the broker holds
// per connected idle MQTT client with 4,000 of them. The clients run in a
// child process (this test binary re-run as TestHelperIdleMQTTClients) so
// that only the broker side is measured.
func TestIdleClientMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 4,000 connections")
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	if lim.Cur < idleClients+200 {
		lim.Cur = min(lim.Max, idleClients+1000)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		if lim.Cur < idleClients+200 {
			t.Skipf("RLIMIT_NOFILE %d is below %d", lim.Cur, idleClients+200)
		}
	}
	_, addr := tb.StartBroker(t, broker.Options{Loops: 2, Logger: quietLogger()})
	// One client first so that per-loop buffers and pools exist before the
	// baseline.
	warm := tb.ConnectClient(t, addr, v311, "warm", true)
	defer warm.Conn.Close()
	before := heapAndStacks()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleMQTTClients$", "-test.v")
	cmd.Env = append(os.Environ(), "SOL_IDLE_ADDR="+addr, "SOL_IDLE_N="+strconv.Itoa(idleClients))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); len(l) > 5 && l[:5] == "IDLE " {
				ready <- l
			}
		}
		close(ready)
	}()
	select {
	case l, ok := <-ready:
		if !ok || l != "IDLE ready" {
			t.Fatalf("client helper: %q", l)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("client helper did not connect in time")
	}
	after := heapAndStacks()
	per := float64(int64(after)-int64(before)) / idleClients
	t.Logf("idle MQTT clients: %d, Go heap+stacks per client: %.0f bytes (before %d, after %d)", idleClients, per, before, after)
	if per > idleBudget {
		t.Fatalf("%.0f bytes per idle client, want <= %d", per, idleBudget)
	}
	if per < 100 {
		t.Fatalf("%.0f bytes per idle client: implausibly low, the measurement is broken", per)
	}
}

func heapAndStacks() uint64 {
	var m runtime.MemStats
	for i := 0; i < 2; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// TestHelperIdleMQTTClients is the client side of TestIdleClientMemory; it
// does nothing unless started by it. It prints "IDLE ready" once every
// client has its CONNACK, and holds them until stdin closes.
func TestHelperIdleMQTTClients(t *testing.T) {
	addr := os.Getenv("SOL_IDLE_ADDR")
	if addr == "" {
		t.Skip("helper process for TestIdleClientMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("SOL_IDLE_N"))
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				c, err := net.DialTimeout("tcp", addr, 20*time.Second)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				pkt := mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: 4, ClientID: []byte(fmt.Sprintf("idle-%d", i)), CleanStart: true, KeepAlive: 60})
				c.SetDeadline(time.Now().Add(30 * time.Second))
				if _, err := c.Write(pkt); err != nil {
					errc <- err
					return
				}
				var ack [4]byte
				if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
					errc <- fmt.Errorf("client %d: CONNACK % x: %v", i, ack, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errc:
		fmt.Println("IDLE error", err)
		return
	default:
	}
	fmt.Println("IDLE ready")
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // parent closes stdin when done
	for _, c := range conns {
		c.Close()
	}
}
