//go:build linux || freebsd

package loop

import (
	"os"

	"golang.org/x/sys/unix"
)

// reusePortBalanced: the kernel spreads accepted connections over the
// per-loop listeners of a reuse-port group (sock_linux.go, sock_freebsd.go
// name the option).
const reusePortBalanced = true

func socket(family, typ, proto int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, reusePortOption, 1); err != nil {
		return os.NewSyscallError("setsockopt "+reusePortOptionName, err)
	}
	return nil
}

func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
