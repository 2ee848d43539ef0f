//go:build linux

package loop

import (
	"fmt"
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
				benchEcho(b, addr, nconns, 64, -1)
			})
		}
	}
}
