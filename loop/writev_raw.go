//go:build linux || freebsd

package loop

import "golang.org/x/sys/unix"

// writeOut writes o's chunks to fd with one write or writev, using the
// loop's reused iovec slice (unix.Writev allocates past 8 buffers).
func writeOut(fd int, o *output, iov *[]unix.Iovec) (int, error) {
	if len(o.chunks) == 1 {
		return sysWrite(fd, o.chunks[0][o.head:])
	}
	v := (*iov)[:0]
	total := 0
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
		total += len(c)
	}
	*iov = v
	if len(v) == 0 {
		return 0, nil
	}
	n, err := sysWritev(fd, v, total)
	clear(v) // drop pointers into chunks
	if err != nil {
		return 0, err
	}
	return n, nil
}
