package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysWritev is writev(2) with the loop's reused iovec slice (unix.Writev
// allocates past 8 buffers); v is not empty. Linux makes it a raw system
// call (sys_linux.go).
func sysWritev(fd int, v []unix.Iovec, _ int) (int, error) {
	n, _, e := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}
