//go:build linux

package loop

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// poller is level-triggered epoll plus an eventfd for wake-ups.
//
// The loop never blocks inside epoll_wait: a Go goroutine blocked in a
// syscall keeps its P until sysmon retakes it (20us to 10ms later), which on
// a machine with few cores starves every other goroutine of the process
// (auth workers, handshakes, in-process clients). Instead the epoll
// descriptor itself, which is readable whenever it has events, is handed to
// Go's netpoller through an *os.File, and the loop goroutine parks there
// (RawConn.Read) with a read deadline for the timer wheel's next deadline.
// epoll_wait is then only ever called with a zero timeout.
type poller struct {
	epfd   int
	wakefd int
	events []unix.EpollEvent
	one    [8]byte // eventfd increment, kept here so wake never allocates
	sink   [8]byte // eventfd drain target

	file     *os.File        // owns epfd; registered with Go's netpoller
	rc       syscall.RawConn // parks the loop until epfd is readable
	waitFn   func(fd uintptr) bool
	waitEvs  []unix.EpollEvent
	waitN    int
	waitErr  error
	deadline bool      // a read deadline is set on file
	until    time.Time // that deadline
	out      []ready   // wait's destination, for collect
	park     bool      // park in Go's netpoller (see above) instead of epoll_wait
}

// parkInNetpoller selects how new pollers wait; tests flip it to compare the
// two ways side by side.
var parkInNetpoller = true

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
	p := &poller{epfd: epfd, wakefd: wfd, events: make([]unix.EpollEvent, maxEvents), park: parkInNetpoller}
	*(*uint64)(unsafe.Pointer(&p.one[0])) = 1
	if err := p.add(wfd, evRead); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(wfd)
		unix.Close(epfd)
		return nil, os.NewSyscallError("setnonblock epoll", err)
	}
	p.file = os.NewFile(uintptr(epfd), "epoll")
	rc, err := p.file.SyscallConn()
	if err != nil {
		unix.Close(wfd)
		p.file.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p.rc = rc
	p.waitFn = func(fd uintptr) bool {
		n, err := sysEpollPoll(int(fd), p.waitEvs)
		if err == unix.EINTR {
			n, err = 0, nil
		}
		p.waitN, p.waitErr = n, err
		return n > 0 || err != nil // false: park until epfd is readable
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
	p.out = out
	evs := p.events
	if len(out) < len(evs) {
		evs = evs[:len(out)]
	}
	if !p.park {
		n, err := unix.EpollWait(p.epfd, evs, timeoutMs)
		return p.collect(evs, n, err)
	}
	if timeoutMs == 0 {
		n, err := sysEpollPoll(p.epfd, evs)
		return p.collect(evs, n, err)
	}
	// RawConn.Read runs waitFn (epoll_wait with zero timeout) first and
	// parks only if it reports nothing, so a busy loop pays one syscall.
	if timeoutMs > 0 {
		d := time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
		if !p.deadline || d.Sub(p.until) >= time.Millisecond || p.until.Sub(d) >= time.Millisecond {
			p.file.SetReadDeadline(d)
			p.deadline, p.until = true, d
		}
	} else if p.deadline {
		p.file.SetReadDeadline(time.Time{})
		p.deadline = false
	}
	p.waitEvs = evs
	rerr := p.rc.Read(p.waitFn)
	p.waitEvs = nil
	if rerr != nil {
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			p.deadline = false // expired; the next wait sets a new one
			p.file.SetReadDeadline(time.Time{})
			return 0, false, nil
		}
		return 0, false, fmt.Errorf("epoll wait: %w", rerr)
	}
	n, err := p.waitN, p.waitErr
	return p.collect(evs, n, err)
}

func (p *poller) collect(evs []unix.EpollEvent, n int, err error) (int, bool, error) {
	if err != nil {
		if err == unix.EINTR {
			return 0, false, nil
		}
		return 0, false, os.NewSyscallError("epoll_wait", err)
	}
	woken := false
	j := 0
	out := p.out
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
	err2 := p.file.Close()
	if err1 != nil {
		return os.NewSyscallError("close eventfd", err1)
	}
	if err2 != nil {
		return os.NewSyscallError("close epoll", err2)
	}
	return nil
}
