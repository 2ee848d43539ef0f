//go:build linux || freebsd

package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeOut writes o's chunks to fd with one write or writev, using the
// loop's reused iovec slice (unix.Writev allocates past 8 buffers).
func writeOut(fd int, o *output, iov *[]unix.Iovec) (int, error) {
	if len(o.chunks) == 1 {
		return unix.Write(fd, o.chunks[0][o.head:])
	}
	v := (*iov)[:0]
	for i, c := range o.chunks {
		if i == maxIovecs {
			break
		}
		if i == 0 {
			c = c[o.head:]
		}
		if len(c) == 0 {
			continue
		}
		var e unix.Iovec
		e.Base = &c[0]
		e.SetLen(len(c))
		v = append(v, e)
	}
	*iov = v
	if len(v) == 0 {
		return 0, nil
	}
	n, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	clear(v) // drop pointers into chunks
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}
