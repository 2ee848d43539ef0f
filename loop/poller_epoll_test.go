//go:build linux

package loop

import (
	"fmt"
	"net"
	"runtime"
	"testing"
)

// BenchmarkEchoPollerWait compares the two ways the Linux loop waits
// (parked in Go's netpoller, or blocked in epoll_wait) in one run.
func BenchmarkEchoPollerWait(b *testing.B) {
	for _, nconns := range []int{1, 100} {
		for _, park := range []bool{true, false} {
			b.Run(fmt.Sprintf("conns=%d/park=%v", nconns, park), func(b *testing.B) {
				old := parkInNetpoller
				parkInNetpoller = park
				addr, stop := startLoopEcho(b, runtime.GOMAXPROCS(0))
				parkInNetpoller = old
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
				b.SetBytes(64)
				b.ReportAllocs()
				b.ResetTimer()
				runEcho(b, conns, 64)
			})
		}
	}
}
