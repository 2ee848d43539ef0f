package loop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's reads and writes go to non-blocking sockets: they copy and
// return, never sleep waiting for the peer. They are made as raw system
// calls, without telling the Go scheduler that the goroutine entered the
// kernel. A plain syscall that runs longer than 20 µs lets sysmon take the
// loop's P away and keeps sysmon polling every 20 µs: with 64 KiB messages,
// on a broker pinned to one CPU, that was ~1,000 sysmon sleeps and ~2,600
// context switches per 2,000 messages (perf stat). Blocking waits stay
// ordinary (the poller parks in the netpoller), and so do calls that may
// copy more than rawMax bytes: while a raw call runs, its P cannot be taken
// back, so a stop-the-world or the process's other goroutines would wait
// for a copy of several MiB. Under the race detector the raw calls tell it
// what the kernel read and wrote, as unix.Read and unix.Write do
// (sys_linux_race.go).

// rawMax bounds the bytes one raw call may copy, and so how long a
// stop-the-world can wait on one.
const rawMax = 1 << 20

// sysRead is read(2) on a non-blocking descriptor.
func sysRead(fd int, p []byte) (int, error) {
	n, err := call3(unix.SYS_READ, fd, bufPtr(p), len(p), len(p))
	if err == nil {
		raceRead(p[:n])
	}
	return n, err
}

// sysWrite is write(2) on a non-blocking descriptor.
func sysWrite(fd int, p []byte) (int, error) {
	raceWrite(p)
	return call3(unix.SYS_WRITE, fd, bufPtr(p), len(p), len(p))
}

// sysWritev is writev(2) on a non-blocking descriptor of v, which is not
// empty and holds total bytes.
func sysWritev(fd int, v []unix.Iovec, total int) (int, error) {
	raceWritev(v)
	return call3(unix.SYS_WRITEV, fd, unsafe.Pointer(&v[0]), len(v), total)
}

// call3 makes system call trap on fd with ptr and n, copying size bytes: a
// raw call up to rawMax bytes, an ordinary one above. On failure it returns
// -1 and the errno (a small integer: its conversion to error allocates
// nothing).
func call3(trap uintptr, fd int, ptr unsafe.Pointer, n, size int) (int, error) {
	var r uintptr
	var e unix.Errno
	if size <= rawMax {
		r, _, e = unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(n))
	} else {
		r, _, e = unix.Syscall(trap, uintptr(fd), uintptr(ptr), uintptr(n))
	}
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// bufPtr is the address of p's first byte, nil when p is empty.
func bufPtr(p []byte) unsafe.Pointer {
	if len(p) == 0 {
		return nil
	}
	return unsafe.Pointer(&p[0])
}

// sysEpollPoll is epoll_wait(2) with a zero timeout (it never sleeps), as a
// raw system call.
func sysEpollPoll(epfd int, evs []unix.EpollEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
