//go:build linux

// Command relay is the raw yardstick for sol's benchmarks: a minimal
// single-threaded epoll byte relay that knows no MQTT beyond where a packet
// ends. Every whole packet read from any connection on -in is copied to every
// connection on -out, so "mqload -raw-sub" drives the same fan-in (or fan-out)
// stream through it that it drives through a broker, and the difference is
// what MQTT handling costs above moving the bytes.
//
//	relay -in 127.0.0.1:19000 -out 127.0.0.1:19001
//
// Protocol: on accepting an output connection the relay writes one '\n' (so a
// reader knows it will miss nothing sent afterwards); bytes read from output
// connections are discarded. Packets read while no output is connected are
// dropped. When an output falls more than -max-pending bytes behind, the relay
// stops reading its inputs until every output is below half of that, so it
// never loses a byte and never grows without bound. Linux only.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// readChunk is how much one read may take from an input: many small packets per syscall.
const readChunk = 64 << 10

// hello is written to each output connection once it is registered.
const hello = '\n'

// relayConn is one accepted connection, owned by the relay's only goroutine.
type relayConn struct {
	fd      int
	input   bool
	partial []byte // input: bytes of a packet not yet whole
	pending []byte // output: bytes not yet written
	waitOut bool   // output: registered for EPOLLOUT
}

// relay is the state of the event loop; every method runs on the one loop goroutine.
type relay struct {
	epfd       int
	inLn       int
	outLn      int
	conns      map[int]*relayConn
	outputs    []*relayConn
	maxPending int
	paused     bool
}

func main() {
	in := flag.String("in", "127.0.0.1:19000", "address publishers connect to")
	out := flag.String("out", "127.0.0.1:19001", "address subscribers connect to")
	maxPending := flag.Int("max-pending", 4<<20, "bytes an output may fall behind before inputs are paused")
	flag.Parse()
	r, err := newRelay(*in, *out, *maxPending)
	if err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "relay: in %s out %s\n", *in, *out)
	if err := r.run(); err != nil {
		fmt.Fprintln(os.Stderr, "relay:", err)
		os.Exit(1)
	}
}

// listen opens a non-blocking IPv4 listening socket on addr.
func listen(addr string) (int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return -1, fmt.Errorf("listen %q: want an IPv4 host:port", addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", addr, os.NewSyscallError("bind", err))
	}
	if err := unix.Listen(fd, 1024); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("listen %s: %w", addr, os.NewSyscallError("listen", err))
	}
	return fd, nil
}

func newRelay(in, out string, maxPending int) (*relay, error) {
	r := &relay{conns: map[int]*relayConn{}, maxPending: maxPending}
	var err error
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if r.inLn, err = listen(in); err != nil {
		return nil, err
	}
	if r.outLn, err = listen(out); err != nil {
		return nil, err
	}
	for _, fd := range []int{r.inLn, r.outLn} {
		if err := r.ctl(unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *relay) ctl(op, fd int, events uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", unix.EpollCtl(r.epfd, op, fd, &ev))
}

// run is the event loop; it returns only on an epoll failure.
func (r *relay) run() error {
	runtime.LockOSThread()
	events := make([]unix.EpollEvent, 256)
	chunk := make([]byte, readChunk)
	for {
		n, err := unix.EpollWait(r.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return os.NewSyscallError("epoll_wait", err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch fd {
			case r.inLn:
				r.accept(fd, true)
				continue
			case r.outLn:
				r.accept(fd, false)
				continue
			}
			c := r.conns[fd]
			if c == nil {
				continue
			}
			if c.input {
				if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
					r.readInput(c, chunk)
				}
				continue
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				// Outputs send nothing we need: discard, and notice a close.
				if m, err := unix.Read(fd, chunk); m == 0 || (err != nil && err != unix.EAGAIN) {
					r.close(c)
					continue
				}
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				r.flush(c)
			}
		}
		for _, c := range r.outputs {
			if len(c.pending) > 0 {
				r.flush(c)
			}
		}
		r.throttle()
	}
}

func (r *relay) accept(ln int, input bool) {
	for {
		fd, _, err := unix.Accept4(ln, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN, or a failed handshake: nothing to do either way
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &relayConn{fd: fd, input: input}
		events := uint32(unix.EPOLLIN)
		if input && r.paused {
			events = 0
		}
		if err := r.ctl(unix.EPOLL_CTL_ADD, fd, events); err != nil {
			unix.Close(fd)
			continue
		}
		r.conns[fd] = c
		if !input {
			c.pending = append(c.pending, hello)
			r.outputs = append(r.outputs, c)
		}
	}
}

// readInput reads once and forwards every whole packet to every output.
func (r *relay) readInput(c *relayConn, chunk []byte) {
	n, err := unix.Read(c.fd, chunk)
	if err == unix.EAGAIN {
		return
	}
	if n <= 0 {
		r.close(c)
		return
	}
	data := chunk[:n]
	if len(c.partial) > 0 {
		c.partial = append(c.partial, data...)
		data = c.partial
	}
	whole := wholePackets(data)
	if whole > 0 {
		for _, o := range r.outputs {
			o.pending = append(o.pending, data[:whole]...)
		}
	}
	if rest := data[whole:]; len(rest) > 0 {
		c.partial = append(c.partial[:0], rest...)
	} else {
		c.partial = c.partial[:0]
	}
}

// wholePackets returns the length of the longest prefix of b made of whole
// MQTT packets (fixed header byte, remaining length, body). A malformed
// length makes the rest count as incomplete; the relay does not judge content.
func wholePackets(b []byte) int {
	off := 0
	for {
		rest := b[off:]
		rl, shift, i := 0, 0, 1
		for ; ; i++ {
			if i >= len(rest) || i > 4 {
				return off
			}
			rl |= int(rest[i]&0x7f) << shift
			if rest[i]&0x80 == 0 {
				break
			}
			shift += 7
		}
		size := i + 1 + rl
		if size > len(rest) {
			return off
		}
		off += size
	}
}

// flush writes what the output has pending, waiting for EPOLLOUT when the socket is full.
func (r *relay) flush(c *relayConn) {
	for len(c.pending) > 0 {
		n, err := unix.Write(c.fd, c.pending)
		if err == unix.EAGAIN {
			if !c.waitOut {
				c.waitOut = true
				r.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN|unix.EPOLLOUT)
			}
			return
		}
		if err != nil {
			r.close(c)
			return
		}
		c.pending = append(c.pending[:0], c.pending[n:]...)
	}
	if c.waitOut {
		c.waitOut = false
		r.ctl(unix.EPOLL_CTL_MOD, c.fd, unix.EPOLLIN)
	}
}

// throttle pauses inputs while an output is more than maxPending behind and
// resumes them when every output is below half.
func (r *relay) throttle() {
	most := 0
	for _, o := range r.outputs {
		most = max(most, len(o.pending))
	}
	switch {
	case !r.paused && most > r.maxPending:
		r.paused = true
	case r.paused && most <= r.maxPending/2:
		r.paused = false
	default:
		return
	}
	events := uint32(unix.EPOLLIN)
	if r.paused {
		events = 0
	}
	for _, c := range r.conns {
		if c.input {
			r.ctl(unix.EPOLL_CTL_MOD, c.fd, events)
		}
	}
}

func (r *relay) close(c *relayConn) {
	unix.Close(c.fd) // also removes it from the epoll set
	delete(r.conns, c.fd)
	if !c.input {
		for i, o := range r.outputs {
			if o == c {
				r.outputs = append(r.outputs[:i], r.outputs[i+1:]...)
				break
			}
		}
	}
}
