//go:build !linux

package loop

import "golang.org/x/sys/unix"

// sysRead and sysWrite are the loop's socket reads and writes; raw system
// calls on Linux (sys_linux.go), the ordinary ones elsewhere.
func sysRead(fd int, p []byte) (int, error)  { return unix.Read(fd, p) }
func sysWrite(fd int, p []byte) (int, error) { return unix.Write(fd, p) }
