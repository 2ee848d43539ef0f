//go:build linux

package loop

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// rawEchoClients are the benchmark's clients on Linux: non-blocking sockets
// driven by one epoll loop with raw read and write calls, about two
// syscalls per round trip and no goroutine scheduling, so that the client
// process is cheaper than any of the servers measured and the wall time
// per round trip shows the server's speed rather than the client's.
type rawEchoClients struct {
	epfd   int
	fds    []int
	events []unix.EpollEvent
	msg    []byte
	buf    []byte
	left   map[int32]*rawEcho // by fd
}

// rawEcho is one connection's progress in a run.
type rawEcho struct {
	trips int // round trips still to do
	got   int // bytes of the current echo received
}

func dialEchoClients(addr string, nconns, size int) (echoDriver, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, err
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	rc := &rawEchoClients{epfd: epfd, events: make([]unix.EpollEvent, 256), msg: make([]byte, size), buf: make([]byte, 64<<10), left: map[int32]*rawEcho{}}
	sa := &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	for i := 0; i < nconns; i++ {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("socket: %w", err)
		}
		rc.fds = append(rc.fds, fd)
		if err := unix.Connect(fd, sa); err != nil {
			rc.close()
			return nil, fmt.Errorf("connect %s: %w", addr, err)
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetNonblock(fd, true)
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			rc.close()
			return nil, fmt.Errorf("epoll_ctl: %w", err)
		}
		rc.left[int32(fd)] = &rawEcho{}
	}
	return rc, nil
}

// run does n round trips spread over the connections, each waiting for
// its echo before sending again.
func (rc *rawEchoClients) run(n int) error {
	per, extra := n/len(rc.fds), n%len(rc.fds)
	active := 0
	for i, fd := range rc.fds {
		e := rc.left[int32(fd)]
		e.trips, e.got = per, 0
		if i < extra {
			e.trips++
		}
		if e.trips > 0 {
			active++
			if err := rc.send(fd); err != nil {
				return err
			}
		}
	}
	for active > 0 {
		k, err := unix.EpollWait(rc.epfd, rc.events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range rc.events[:k] {
			fd := int(ev.Fd)
			e := rc.left[ev.Fd]
			r, err := unix.Read(fd, rc.buf)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil || r == 0 {
				return fmt.Errorf("read: %d, %v", r, err)
			}
			e.got += r
			if e.got > len(rc.msg) || e.trips == 0 {
				return fmt.Errorf("echo longer than sent")
			}
			if e.got < len(rc.msg) {
				continue
			}
			e.got = 0
			e.trips--
			if e.trips == 0 {
				active--
				continue
			}
			if err := rc.send(fd); err != nil {
				return err
			}
		}
	}
	return nil
}

// send writes one message; the socket's buffer is empty (the previous
// message came back), so it takes it whole.
func (rc *rawEchoClients) send(fd int) error {
	w, err := unix.Write(fd, rc.msg)
	if err != nil || w != len(rc.msg) {
		return fmt.Errorf("write: %d of %d, %v", w, len(rc.msg), err)
	}
	return nil
}

func (rc *rawEchoClients) close() {
	for _, fd := range rc.fds {
		unix.Close(fd)
	}
	unix.Close(rc.epfd)
}
