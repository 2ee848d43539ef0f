package loop

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// acceptBackoff is how long a loop stops accepting on a listener after
// accept failed for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM), instead of spinning on a level-triggered readable listener.
const acceptBackoff = 100 * time.Millisecond

// Listener is one address the server listens on, served by one socket per
// loop (SO_REUSEPORT) or by one acceptor socket that hands connections to
// the loops in turn (unix sockets; darwin).
type Listener struct {
	// Tag is the value given to Server.Listen, for the handler to tell
	// listeners apart. Read-only.
	Tag any
	// Addr is the bound address (with the port chosen when 0 was asked).
	// Read-only.
	Addr net.Addr

	network  string
	unixPath string // unlinked on stop
	socks    []*lsock
	mu       sync.Mutex
	shut     bool
}

// lsock is one listening socket, owned by one loop.
type lsock struct {
	fd      int
	ln      *Listener
	l       *Loop
	handoff bool // acceptor: spread accepted conns over all loops
	events  uint8
	backoff *Timer
	dead    bool
}

// Listen binds network ("tcp", "tcp4", "tcp6", "unix") address and serves it
// on the loops; tag is returned by Conn.Listener().Tag. TCP gets one
// SO_REUSEPORT socket per loop where the kernel balances them (Linux;
// FreeBSD with SO_REUSEPORT_LB), else one acceptor. Before binding the
// group, the address is bound once without SO_REUSEPORT, so a port another
// process holds fails with EADDRINUSE instead of being shared. Port 0 picks
// one port for all loops. "tcp" with no host listens on IPv6 and IPv4 where
// possible. A unix socket path left by a dead process is removed; one with a
// live listener fails with EADDRINUSE. Any goroutine, before or after Start.
func (s *Server) Listen(network, address string, tag any) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || !s.accepting {
		return nil, fmt.Errorf("loop: listen %s %s: server stopping", network, address)
	}
	ln := &Listener{Tag: tag, network: network}
	var err error
	switch network {
	case "tcp", "tcp4", "tcp6":
		err = s.listenTCP(ln, network, address)
	case "unix":
		err = s.listenUnix(ln, address)
	default:
		err = fmt.Errorf("unsupported network %q", network)
	}
	if err != nil {
		return nil, fmt.Errorf("loop: listen %s %s: %w", network, address, err)
	}
	s.listeners = append(s.listeners, ln)
	for _, ls := range ln.socks {
		ls.l.Post(listenMsg{ls})
	}
	return ln.Addr, nil
}

func (s *Server) listenTCP(ln *Listener, network, address string) error {
	ta, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return err
	}
	family, v6only := unix.AF_INET6, false
	switch {
	case network == "tcp4":
		family = unix.AF_INET
	case network == "tcp6":
		v6only = true
	case ta.IP != nil && ta.IP.To4() != nil:
		family = unix.AF_INET
	}
	if family == unix.AF_INET && ta.IP != nil && ta.IP.To4() == nil {
		return errors.New("not an IPv4 address")
	}
	sa, err := tcpSockaddr(family, ta)
	if err != nil {
		return err
	}
	// Probe: bind without SO_REUSEPORT so a port held by anyone fails.
	probe, err := tcpSocket(family, v6only, false)
	if err != nil && family == unix.AF_INET6 && network == "tcp" && ta.IP == nil {
		family = unix.AF_INET // no IPv6 on this host
		if sa, err = tcpSockaddr(family, ta); err != nil {
			return err
		}
		probe, err = tcpSocket(family, false, false)
	}
	if err != nil {
		return err
	}
	if err := unix.Bind(probe, sa); err != nil {
		unix.Close(probe)
		return os.NewSyscallError("bind", err)
	}
	bound, err := unix.Getsockname(probe)
	if err != nil {
		unix.Close(probe)
		return os.NewSyscallError("getsockname", err)
	}
	ln.Addr = sockaddrToAddr(bound, "tcp")
	n := len(s.loops)
	if !reusePortBalanced || n == 1 {
		if err := unix.Listen(probe, s.opts.Backlog); err != nil {
			unix.Close(probe)
			return os.NewSyscallError("listen", err)
		}
		ln.socks = []*lsock{{fd: probe, ln: ln, l: s.loops[0], handoff: n > 1}}
		return nil
	}
	unix.Close(probe)
	for i := 0; i < n; i++ {
		fd, err := tcpSocket(family, v6only, true)
		if err == nil {
			if err = unix.Bind(fd, bound); err != nil {
				err = os.NewSyscallError("bind", err)
			} else if err = unix.Listen(fd, s.opts.Backlog); err != nil {
				err = os.NewSyscallError("listen", err)
			}
			if err != nil {
				unix.Close(fd)
			}
		}
		if err != nil {
			ln.closeAll()
			return err
		}
		ln.socks = append(ln.socks, &lsock{fd: fd, ln: ln, l: s.loops[i]})
	}
	return nil
}

func tcpSocket(family int, v6only, reuseport bool) (int, error) {
	fd, err := socket(family, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("setsockopt SO_REUSEADDR", err)
	}
	if family == unix.AF_INET6 {
		v := 0
		if v6only {
			v = 1
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v); err != nil {
			unix.Close(fd)
			return -1, os.NewSyscallError("setsockopt IPV6_V6ONLY", err)
		}
	}
	if reuseport {
		if err := setReusePort(fd); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

func tcpSockaddr(family int, ta *net.TCPAddr) (unix.Sockaddr, error) {
	if family == unix.AF_INET {
		sa := &unix.SockaddrInet4{Port: ta.Port}
		if ta.IP != nil {
			copy(sa.Addr[:], ta.IP.To4())
		}
		return sa, nil
	}
	sa := &unix.SockaddrInet6{Port: ta.Port}
	if ta.IP != nil {
		copy(sa.Addr[:], ta.IP.To16())
	}
	if ta.Zone != "" {
		ifi, err := net.InterfaceByName(ta.Zone)
		if err != nil {
			if n, perr := strconv.Atoi(ta.Zone); perr == nil {
				sa.ZoneId = uint32(n)
			} else {
				return nil, err
			}
		} else {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, nil
}

func (s *Server) listenUnix(ln *Listener, path string) error {
	if path == "" {
		return errors.New("empty unix socket path")
	}
	abstract := path[0] == '@'
	if !abstract {
		if _, err := os.Lstat(path); err == nil {
			if err := removeStaleSocket(path); err != nil {
				return err
			}
		}
	}
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return os.NewSyscallError("bind", err)
	}
	if err := unix.Listen(fd, s.opts.Backlog); err != nil {
		unix.Close(fd)
		if !abstract {
			os.Remove(path)
		}
		return os.NewSyscallError("listen", err)
	}
	if !abstract {
		ln.unixPath = path
	}
	ln.Addr = &net.UnixAddr{Name: path, Net: "unix"}
	ln.socks = []*lsock{{fd: fd, ln: ln, l: s.loops[0], handoff: len(s.loops) > 1}}
	return nil
}

// removeStaleSocket removes a unix socket file nobody listens on, and fails
// with EADDRINUSE if someone does.
func removeStaleSocket(path string) error {
	fd, err := socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
	switch err {
	case nil, unix.EAGAIN, unix.EINPROGRESS:
		return os.NewSyscallError("bind", unix.EADDRINUSE)
	case unix.ECONNREFUSED:
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("removing stale socket: %w", err)
		}
		return nil
	default:
		return os.NewSyscallError("connect (probing existing socket)", err)
	}
}

func sockaddrToAddr(sa unix.Sockaddr, network string) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]).To4(), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		var zone string
		if a.ZoneId != 0 {
			zone = strconv.Itoa(int(a.ZoneId))
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

// shutdown stops the kernel from completing connections on every socket of
// ln (the loops close the descriptors) and removes a unix socket's path.
// Called with the server mutex held.
func (ln *Listener) shutdown() {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.shut {
		return
	}
	ln.shut = true
	for _, ls := range ln.socks {
		// A socket closed already (by a loop that failed) has given
		// its number back, maybe to a client's connection by now.
		if !ls.dead {
			unix.Shutdown(ls.fd, unix.SHUT_RDWR) // accept then fails with EINVAL
		}
	}
	if ln.unixPath != "" {
		os.Remove(ln.unixPath)
	}
}

// closeAll closes every socket of ln; only when no loop serves them.
func (ln *Listener) closeAll() {
	for _, ls := range ln.socks {
		ls.close()
	}
}

// close closes ls's descriptor once. It holds ln.mu, under which shutdown
// skips closed sockets, so shutdown never acts on a number that has been
// given to another file meanwhile.
func (ls *lsock) close() {
	ls.ln.mu.Lock()
	defer ls.ln.mu.Unlock()
	if !ls.dead {
		ls.dead = true
		unix.Close(ls.fd)
	}
}

// addSock starts serving ls on l. Loop goroutine.
func (l *Loop) addSock(ls *lsock) {
	ls.ln.mu.Lock()
	shut := ls.ln.shut
	ls.ln.mu.Unlock()
	if shut || l.stopping {
		ls.close()
		return
	}
	if err := l.p.add(ls.fd, evRead); err != nil {
		l.s.opts.Logger.Error("loop: cannot serve listener", "loop", l.idx, "listener", ls.ln.Addr.String(), "err", err)
		ls.close()
		return
	}
	ls.events = evRead
	l.socks = append(l.socks, ls)
}

// closeSocks closes all of l's listening sockets. Loop goroutine.
func (l *Loop) closeSocks() {
	for _, ls := range l.socks {
		if ls.backoff != nil {
			ls.backoff.Stop()
		}
		if ls.events != 0 {
			l.p.del(ls.fd, ls.events)
		}
		ls.close()
	}
	clear(l.socks)
	l.socks = l.socks[:0]
}

func (l *Loop) resumeSock(ls *lsock) {
	if ls.dead || ls.events != 0 {
		return
	}
	if err := l.p.mod(ls.fd, 0, evRead); err == nil {
		ls.events = evRead
	}
}

// accept takes up to AcceptBudget connections from ls. Loop goroutine.
func (l *Loop) accept(ls *lsock) {
	s := l.s
	for k := 0; k < s.opts.AcceptBudget; k++ {
		nfd, err := l.acceptOne(ls.fd)
		if err != nil {
			switch err {
			case unix.EAGAIN:
			case unix.EINTR, unix.ECONNABORTED:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				s.opts.Logger.Warn("loop: accept backing off", "loop", l.idx, "listener", ls.ln.Addr.String(), "err", err, "for", acceptBackoff)
				l.p.mod(ls.fd, ls.events, 0)
				ls.events = 0
				if ls.backoff == nil {
					ls.backoff = l.NewTimer(func() { l.resumeSock(ls) })
				}
				ls.backoff.Reset(acceptBackoff)
			case unix.EINVAL, unix.EBADF:
				// shut down by StopAccepting: stop watching it
				if ls.events != 0 {
					l.p.del(ls.fd, ls.events)
					ls.events = 0
				}
			default:
				s.opts.Logger.Error("loop: accept failed", "loop", l.idx, "listener", ls.ln.Addr.String(), "err", os.NewSyscallError("accept", err))
			}
			return
		}
		if s.stopping.Load() {
			unix.Close(nfd)
			continue
		}
		c := &Conn{fd: int32(nfd), ln: ls.ln}
		if ls.ln.network != "unix" {
			c.remoteIP, c.remotePort, c.remoteZone = l.peer.ip, l.peer.port, l.peer.zone
			unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		}
		s.live.Add(1)
		to := l
		if ls.handoff {
			to = s.loops[int(s.rr.Add(1)-1)%len(s.loops)]
		}
		c.owner.Store(to)
		if to == l {
			l.adopt(c)
			l.reapClosed()
			continue
		}
		c.l = l
		if wake, ok := to.mb.post(migrateMsg{c}); !ok {
			c.owner.Store(l)
			unix.Close(nfd)
			s.live.Add(-1)
		} else if wake {
			to.wake()
		}
	}
}
