// Package idleclients measures a server's memory per idle connection with the
// clients in a child process, so that only the server side is counted and
// each process stays inside its fd limit. The child is the test binary itself
// re-run as a helper test. Standard library and x/sys only, so loop's tests
// can use it too.
package idleclients

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
)

const (
	envAddr = "SOL_IDLE_ADDR"
	envN    = "SOL_IDLE_N"
	workers = 8
)

// HeapAndStacks returns the Go heap in use plus goroutine stacks, after GC.
func HeapAndStacks() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// Spawn re-runs the test binary as the helper test named helper, which must
// call Serve, and returns once its n clients are connected to addr. The
// clients are closed when t ends.
func Spawn(t testing.TB, helper, addr string, n int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.v")
	cmd.Env = append(os.Environ(), envAddr+"="+addr, envN+"="+strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when stdin closes
		cmd.Wait()
	})
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
}

// Serve is the helper side: unless started by Spawn it skips t. It opens the
// connections with a few workers, runs hello on each (nil: nothing to say),
// prints "IDLE ready", and holds them until stdin closes.
func Serve(t *testing.T, hello func(c net.Conn, i int) error) {
	addr := os.Getenv(envAddr)
	if addr == "" {
		t.Skip("helper process for an idle-connection memory test")
	}
	n, _ := strconv.Atoi(os.Getenv(envN))
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				c, err := net.DialTimeout("tcp", addr, 20*time.Second)
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				if hello != nil {
					if err := hello(c, i); err != nil {
						errc <- fmt.Errorf("client %d: %w", i, err)
						return
					}
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
	os.Stdin.Read(make([]byte, 1))
	for _, c := range conns {
		c.Close()
	}
}
