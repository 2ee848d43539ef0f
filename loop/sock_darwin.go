//go:build darwin

package loop

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortBalanced: darwin wakes only one socket of a SO_REUSEPORT group,
// so TCP uses one acceptor socket that hands connections to the loops.
const reusePortBalanced = false

func socket(family, typ, proto int) (int, error) {
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(family, typ, proto)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return fd, nil
}

func setReusePort(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return os.NewSyscallError("setsockopt SO_REUSEPORT", err)
	}
	return nil
}

// acceptOne accepts one connection from the listening socket fd,
// non-blocking and close-on-exec, and records its peer in l.peer. Loop
// goroutine only.
func (l *Loop) acceptOne(fd int) (int, error) {
	nfd, sa, err := accept(fd)
	if err != nil {
		return -1, err
	}
	l.peer = peerAddr{}
	l.peer.setSockaddr(sa)
	return nfd, nil
}

func accept(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}
