//go:build darwin

package loop

import "golang.org/x/sys/unix"

// writeOut writes o's chunks to fd with one write or writev. darwin has no
// raw SYS_WRITEV entry point in x/sys (calls go through libSystem), so it
// uses unix.Writev, which allocates past 8 buffers.
func writeOut(fd int, o *output, _ *[]unix.Iovec) (int, error) {
	if len(o.chunks) == 1 {
		return unix.Write(fd, o.chunks[0][o.head:])
	}
	bufs := make([][]byte, 0, 8)
	for i, c := range o.chunks {
		if i == maxIovecs {
			break
		}
		if i == 0 {
			c = c[o.head:]
		}
		bufs = append(bufs, c)
	}
	return unix.Writev(fd, bufs)
}
