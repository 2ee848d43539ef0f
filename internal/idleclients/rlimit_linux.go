package idleclients

import (
	"testing"

	"golang.org/x/sys/unix"
)

// RaiseFDLimit raises RLIMIT_NOFILE so that n connections fit, or skips t.
func RaiseFDLimit(t testing.TB, n int) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip("getrlimit:", err)
	}
	need := uint64(n + 200)
	if lim.Cur >= need {
		return
	}
	lim.Cur = min(lim.Max, uint64(n+1000))
	unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	if lim.Cur < need {
		t.Skipf("RLIMIT_NOFILE %d is below %d; raise the hard limit to run this", lim.Cur, need)
	}
}
