//go:build !linux

package idleclients

import "testing"

// RaiseFDLimit skips t: the idle-connection measurements run on Linux only.
func RaiseFDLimit(t testing.TB, n int) {
	t.Skip("idle-connection memory is measured on Linux only")
}
