package loop

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const idleConns = 10000

// TestIdleConnMemory measures the Go heap and stack memory the loop holds per
// idle connection with 10,000 connections open. The clients live in a child
// process (this test binary re-run as TestHelperIdleClients), so only the
// server side is measured and each process stays inside its fd limit.
func TestIdleConnMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	if lim.Cur < idleConns+200 {
		lim.Cur = min(lim.Max, idleConns+1000)
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
		unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
		if lim.Cur < idleConns+200 {
			t.Skipf("RLIMIT_NOFILE %d is below %d; raise the hard limit to run this", lim.Cur, idleConns+200)
		}
	}
	h := &testHandler{}
	s, addr := startServer(t, Options{Loops: 2}, h)
	_ = s
	before := heapAndStacks()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperIdleClients$", "-test.v")
	cmd.Env = append(os.Environ(), "SOL_LOOP_IDLE_ADDR="+addr, "SOL_LOOP_IDLE_N="+strconv.Itoa(idleConns))
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
	waitFor(t, 30*time.Second, "10,000 connections opened", func() bool { return h.opened.Load() == idleConns })
	after := heapAndStacks()
	per := float64(after-before) / idleConns
	t.Logf("idle connections: %d, Go heap+stacks per connection: %.0f bytes (before %d, after %d)", idleConns, per, before, after)
	if per >= 1024 {
		t.Fatalf("%.0f bytes per idle connection, want < 1024", per)
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

// TestHelperIdleClients is the client side of TestIdleConnMemory; it does
// nothing unless started by it.
func TestHelperIdleClients(t *testing.T) {
	addr := os.Getenv("SOL_LOOP_IDLE_ADDR")
	if addr == "" {
		t.Skip("helper process for TestIdleConnMemory")
	}
	n, _ := strconv.Atoi(os.Getenv("SOL_LOOP_IDLE_N"))
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
