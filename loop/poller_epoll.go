//go:build linux

package loop

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is level-triggered epoll plus an eventfd for wake-ups.
type poller struct {
	epfd   int
	wakefd int
	events []unix.EpollEvent
	one    [8]byte // eventfd increment, kept here so wake never allocates
	sink   [8]byte // eventfd drain target
}

func newPoller(maxEvents int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &poller{epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, maxEvents)}
	*(*uint64)(unsafe.Pointer(&p.one[0])) = 1
	if err := p.add(wfd, evRead); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, err
	}
	return p, nil
}

func epollBits(ev uint8) uint32 {
	var e uint32
	if ev&evRead != 0 {
		e |= unix.EPOLLIN
	}
	if ev&evWrite != 0 {
		e |= unix.EPOLLOUT
	}
	return e
}

func (p *poller) add(fd int, ev uint8) error {
	e := unix.EpollEvent{Events: epollBits(ev), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl add", err)
	}
	return nil
}

func (p *poller) mod(fd int, _, ev uint8) error {
	e := unix.EpollEvent{Events: epollBits(ev), Fd: int32(fd)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &e); err != nil {
		return os.NewSyscallError("epoll_ctl mod", err)
	}
	return nil
}

func (p *poller) del(fd int, _ uint8) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return os.NewSyscallError("epoll_ctl del", err)
	}
	return nil
}

func (p *poller) wait(out []ready, timeoutMs int) (int, bool, error) {
	evs := p.events
	if len(out) < len(evs) {
		evs = evs[:len(out)]
	}
	n, err := unix.EpollWait(p.epfd, evs, timeoutMs)
	if err != nil {
		if err == unix.EINTR {
			return 0, false, nil
		}
		return 0, false, os.NewSyscallError("epoll_wait", err)
	}
	woken := false
	j := 0
	for i := 0; i < n; i++ {
		e := &evs[i]
		if int(e.Fd) == p.wakefd {
			woken = true
			unix.Read(p.wakefd, p.sink[:])
			continue
		}
		var f uint8
		if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
			f |= rdRead
		}
		if e.Events&unix.EPOLLOUT != 0 {
			f |= rdWrite
		}
		if e.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			f |= rdHup
		}
		out[j] = ready{fd: e.Fd, flags: f}
		j++
	}
	return j, woken, nil
}

func (p *poller) wake() error {
	for {
		_, err := unix.Write(p.wakefd, p.one[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil && err != unix.EAGAIN { // EAGAIN: counter saturated, a wake is pending anyway
			return os.NewSyscallError("eventfd write", err)
		}
		return nil
	}
}

func (p *poller) close() error {
	err1 := unix.Close(p.wakefd)
	err2 := unix.Close(p.epfd)
	if err1 != nil {
		return os.NewSyscallError("close eventfd", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close epoll", err2)
	}
	return nil
}
