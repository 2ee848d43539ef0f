package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's reads and writes go to non-blocking sockets: they copy and
// return, never sleep waiting for the peer. They are made as raw system
// calls, without telling the Go scheduler that the goroutine entered the
// kernel. A plain syscall that takes longer than 20 µs (a 64 KiB read or a
// writev of a few hundred KiB does) lets sysmon take the loop's P away and
// keeps sysmon polling every 20 µs: on a broker pinned to one CPU that was
// ~1,000 sysmon wake-ups and ~2,600 context switches per 2,000 messages of
// 64 KiB. Blocking waits stay ordinary (the poller parks in the netpoller),
// and so do calls that may copy more than rawMax bytes: while a raw call
// runs, its P cannot be taken back, so a stop-the-world or the process's
// other goroutines would wait for a copy of several MiB. Under the race
// detector the raw calls tell it what the kernel read and wrote, as
// unix.Read and unix.Write do (sys_linux_race.go).

// rawMax bounds the bytes one raw call may copy (a few hundred
// microseconds at loopback speeds).
const rawMax = 1 << 20

// errnoErr turns a raw call's errno into its error, nil for 0. unix.Errno
// values are small integers, so the conversion does not allocate.
func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// sysRead is read(2) on a non-blocking descriptor, as a raw system call.
func sysRead(fd int, p []byte) (int, error) { return rawIO(unix.SYS_READ, fd, p) }

// sysWrite is write(2) on a non-blocking descriptor, as a raw system call.
func sysWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

// rawIO makes the read or write system call trap on fd with p.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	if trap == unix.SYS_WRITE {
		raceWrite(p)
	}
	var n uintptr
	var e unix.Errno
	if len(p) <= rawMax {
		n, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	} else {
		n, _, e = unix.Syscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	}
	if e != 0 {
		return -1, errnoErr(e)
	}
	if trap == unix.SYS_READ {
		raceRead(p[:n])
	}
	return int(n), nil
}

// sysWritev is writev(2) on a non-blocking descriptor of v, which is not
// empty and holds total bytes; a raw system call up to rawMax bytes.
func sysWritev(fd int, v []unix.Iovec, total int) (int, error) {
	raceWritev(v)
	var n uintptr
	var e unix.Errno
	if total <= rawMax {
		n, _, e = unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	} else {
		n, _, e = unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&v[0])), uintptr(len(v)))
	}
	if e != 0 {
		return -1, errnoErr(e)
	}
	return int(n), nil
}

// sysEpollPoll is epoll_wait(2) with a zero timeout (it never sleeps), as a
// raw system call.
func sysEpollPoll(epfd int, evs []unix.EpollEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}
