//go:build freebsd

package loop

import (
	"os"

	"golang.org/x/sys/unix"
)

// reusePortBalanced: FreeBSD balances with SO_REUSEPORT_LB.
const reusePortBalanced = true

func socket(family, typ, proto int) (int, error) {
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	return fd, nil
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT_LB, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_REUSEPORT_LB", err)
	}
	return nil
}

func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}
