//go:build linux || freebsd

package loop

import (
	"net/netip"
	"os"
	"unsafe"

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

// acceptOne accepts one connection from the listening socket fd,
// non-blocking and close-on-exec, and records its peer in l.peer. It calls
// accept4 directly with the loop's own address buffer: unix.Accept4
// allocates a RawSockaddrAny and a Sockaddr (about 190 bytes) per accept,
// garbage that a connection storm turns into resident memory. Loop
// goroutine only.
func (l *Loop) acceptOne(fd int) (int, error) {
	l.peer = peerAddr{}
	l.rsa.Addr.Family = 0 // an address left from the last accept is not this peer's
	addrlen := uint32(unix.SizeofSockaddrAny)
	nfd, _, errno := unix.Syscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(&l.rsa)), uintptr(unsafe.Pointer(&addrlen)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	if errno == unix.ENOSYS {
		// 32-bit Linux before 4.3 has accept4 only through socketcall,
		// which unix.Accept4 uses: take the allocating path there.
		nfd, sa, err := unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return -1, err
		}
		l.peer.setSockaddr(sa)
		return nfd, nil
	}
	if errno != 0 {
		return -1, errno
	}
	switch l.rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&l.rsa))
		l.peer.ip = netip.AddrFrom4(a.Addr).As16()
		l.peer.port = netPort(&a.Port)
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&l.rsa))
		l.peer.ip = a.Addr
		l.peer.port = netPort(&a.Port)
		l.peer.zone = a.Scope_id
	}
	return int(nfd), nil
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
