//go:build !race

package loop

import "golang.org/x/sys/unix"

// Without the race detector the raw calls' annotations (sys_linux_race.go)
// are no-ops.
func raceRead([]byte)         {}
func raceWrite([]byte)        {}
func raceWritev([]unix.Iovec) {}
