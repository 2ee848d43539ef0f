//go:build !linux

package loop

import "testing"

// pinProcess is not supported here: the echo benchmark runs unpinned.
func pinProcess(tb testing.TB, cpu int) (restore func()) { return nil }
