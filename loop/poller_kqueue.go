//go:build darwin || freebsd

package loop

import (
	"os"

	"golang.org/x/sys/unix"
)

// poller is kqueue with an EVFILT_USER event for wake-ups.
type poller struct {
	kq      int
	events  []unix.Kevent_t
	changes []unix.Kevent_t
	trigger [1]unix.Kevent_t
}

const wakeIdent = 0 // EVFILT_USER ident; user events have their own namespace

func newPoller(maxEvents int) (*poller, error) {
	kq, err := unix.Kqueue()
	if err != nil {
		return nil, os.NewSyscallError("kqueue", err)
	}
	unix.CloseOnExec(kq)
	p := &poller{kq: kq, events: make([]unix.Kevent_t, maxEvents), changes: make([]unix.Kevent_t, 0, 2)}
	var ev [1]unix.Kevent_t
	unix.SetKevent(&ev[0], wakeIdent, unix.EVFILT_USER, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(kq, ev[:], nil, nil); err != nil {
		unix.Close(kq)
		return nil, os.NewSyscallError("kevent add user", err)
	}
	unix.SetKevent(&p.trigger[0], wakeIdent, unix.EVFILT_USER, 0)
	p.trigger[0].Fflags = unix.NOTE_TRIGGER
	return p, nil
}

func (p *poller) apply(fd int, old, ev uint8) error {
	p.changes = p.changes[:0]
	var k unix.Kevent_t
	if (old^ev)&evRead != 0 {
		flags := unix.EV_DELETE
		if ev&evRead != 0 {
			flags = unix.EV_ADD
		}
		unix.SetKevent(&k, fd, unix.EVFILT_READ, flags)
		p.changes = append(p.changes, k)
	}
	if (old^ev)&evWrite != 0 {
		flags := unix.EV_DELETE
		if ev&evWrite != 0 {
			flags = unix.EV_ADD
		}
		unix.SetKevent(&k, fd, unix.EVFILT_WRITE, flags)
		p.changes = append(p.changes, k)
	}
	if len(p.changes) == 0 {
		return nil
	}
	if _, err := unix.Kevent(p.kq, p.changes, nil, nil); err != nil {
		return os.NewSyscallError("kevent", err)
	}
	return nil
}

func (p *poller) add(fd int, ev uint8) error      { return p.apply(fd, 0, ev) }
func (p *poller) mod(fd int, old, ev uint8) error { return p.apply(fd, old, ev) }
func (p *poller) del(fd int, old uint8) error     { return p.apply(fd, old, 0) }

func (p *poller) wait(out []ready, timeoutMs int) (int, bool, error) {
	evs := p.events
	if len(out) < len(evs) {
		evs = evs[:len(out)]
	}
	var ts *unix.Timespec
	var t unix.Timespec
	if timeoutMs >= 0 {
		t = unix.NsecToTimespec(int64(timeoutMs) * 1e6)
		ts = &t
	}
	n, err := unix.Kevent(p.kq, nil, evs, ts)
	if err != nil {
		if err == unix.EINTR {
			return 0, false, nil
		}
		return 0, false, os.NewSyscallError("kevent wait", err)
	}
	woken := false
	j := 0
	for i := 0; i < n; i++ {
		e := &evs[i]
		if e.Filter == unix.EVFILT_USER {
			woken = true
			continue
		}
		var f uint8
		switch e.Filter {
		case unix.EVFILT_READ:
			f = rdRead
		case unix.EVFILT_WRITE:
			f = rdWrite
		}
		if e.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0 {
			f |= rdHup
		}
		// A descriptor with both filters ready yields two events; the loop
		// handles them independently.
		out[j] = ready{fd: int32(e.Ident), flags: f}
		j++
	}
	return j, woken, nil
}

func (p *poller) wake() error {
	for {
		_, err := unix.Kevent(p.kq, p.trigger[:], nil, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("kevent trigger", err)
		}
		return nil
	}
}

func (p *poller) close() error {
	if err := unix.Close(p.kq); err != nil {
		return os.NewSyscallError("close kqueue", err)
	}
	return nil
}
