//go:build race

package loop

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioSync stands for the kernel in the race detector's happens-before graph,
// as the variable of the same name does in x/sys/unix: a write releases to
// it and a read acquires from it.
var ioSync int64

// raceRead tells the race detector that the kernel wrote p (what a read
// returned).
func raceRead(p []byte) {
	if len(p) > 0 {
		runtime.RaceWriteRange(unsafe.Pointer(&p[0]), len(p))
	}
	runtime.RaceAcquire(unsafe.Pointer(&ioSync))
}

// raceWrite tells the race detector that the kernel reads p.
func raceWrite(p []byte) {
	runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync))
	if len(p) > 0 {
		runtime.RaceReadRange(unsafe.Pointer(&p[0]), len(p))
	}
}

// raceWritev tells the race detector that the kernel reads every buffer
// of v.
func raceWritev(v []unix.Iovec) {
	runtime.RaceReleaseMerge(unsafe.Pointer(&ioSync))
	for i := range v {
		runtime.RaceReadRange(unsafe.Pointer(v[i].Base), int(v[i].Len))
	}
}
