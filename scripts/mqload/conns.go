//go:build linux

package main

// Idle connections: C clients connect from several 127.0.0.x source addresses
// (each address has its own ephemeral port range), then the broker's RSS is
// read and every client is pinged to prove it is still served.

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// connsConfig describes one idle-connection run.
type connsConfig struct {
	addr    string
	conns   int
	sources []string // local IPs to bind, used round robin
	workers int      // handshakes in progress at once (keeps the broker's accept queue short)
	pid     int      // broker process for RSS; 0: not measured
	timeout time.Duration
}

// parseSources accepts "a,b,c" and ranges "127.0.0.2-127.0.0.17" (last octet only).
func parseSources(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(lo)
		if err != nil || !first.Is4() {
			return nil, fmt.Errorf("source address %q: not an IPv4 address", lo)
		}
		if !isRange {
			out = append(out, first.String())
			continue
		}
		last, err := netip.ParseAddr(hi)
		f4, l4 := first.As4(), last.As4()
		if err != nil || !last.Is4() || last.Less(first) || [3]byte(f4[:3]) != [3]byte(l4[:3]) {
			return nil, fmt.Errorf("source range %q: want a.b.c.x-a.b.c.y with x <= y", part)
		}
		for a := first; ; a = a.Next() {
			out = append(out, a.String())
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no source address in %q", s)
	}
	return out, nil
}

// bindNoPort lets the kernel choose the source port at connect time, per
// destination, so one source address serves more than one broker's worth of ports.
func bindNoPort(network, address string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// runConns connects cfg.conns idle clients, reads RSS, pings them all, and
// closes them with a reset (no TIME_WAIT left behind to exhaust ports).
func runConns(cfg connsConfig, res *result) error {
	res.Conns = cfg.conns
	deadline := time.Now().Add(cfg.timeout)
	clients := make([]*client, cfg.conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				if tc, ok := c.conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				c.conn.Close()
			}
		}
	}()
	prefix := randomPrefix()[7:]
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	work := func(do func(i int) error) {
		next.Store(0)
		var wg sync.WaitGroup
		for w := 0; w < cfg.workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= cfg.conns {
						return
					}
					if err := do(i); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		wg.Wait()
	}
	work(func(i int) error {
		src := cfg.sources[i%len(cfg.sources)]
		d := net.Dialer{
			Deadline:  deadline,
			LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)},
			Control:   bindNoPort,
		}
		conn, err := d.Dial("tcp", cfg.addr)
		if err != nil {
			return fmt.Errorf("dial %s from %s: %w", cfg.addr, src, err)
		}
		c := newIdleClient(conn)
		if err := c.handshake(fmt.Sprintf("%s-c%d", prefix, i), deadline); err != nil {
			conn.Close()
			return err
		}
		clients[i] = c
		return nil
	})
	elapsed := time.Since(start)
	res.Connected = cfg.conns - int(failed.Load())
	res.ElapsedS = elapsed.Seconds()
	res.ConnectPerS = float64(res.Connected) / elapsed.Seconds()
	if cfg.pid > 0 {
		kb, err := settledRSS(cfg.pid, deadline)
		if err != nil {
			return err
		}
		res.RSSKB = kb
		if res.Connected > 0 && res.RSSStartKB > 0 {
			res.BytesPerConn = float64(kb-res.RSSStartKB) * 1024 / float64(res.Connected)
		}
	}
	var alive atomic.Int64
	work(func(i int) error {
		c := clients[i]
		if c == nil {
			return nil
		}
		c.conn.SetDeadline(deadline)
		c.buf = append(c.buf[:0], typePingreq<<4, 0)
		if _, err := c.conn.Write(c.buf); err != nil {
			return fmt.Errorf("client %d PINGREQ: %w", i, err)
		}
		first, _, err := c.rd.next()
		if err != nil || first>>4 != typePingresp {
			return fmt.Errorf("client %d: no PINGRESP (type %d, %v)", i, first>>4, err)
		}
		alive.Add(1)
		return nil
	})
	res.Alive = int(alive.Load())
	if res.Alive != cfg.conns {
		e, _ := firstErr.Load().(error)
		return fmt.Errorf("%d of %d clients connected, %d answered PINGREQ; first error: %v", res.Connected, cfg.conns, res.Alive, e)
	}
	return nil
}

// newIdleClient is a client with small buffers: idle clients only handshake and ping.
func newIdleClient(conn net.Conn) *client { return newClientSize(conn, idleBufferSize) }

// idleBufferSize holds CONNECT, CONNACK and PINGRESP: 50,000 idle clients cost the generator little.
const idleBufferSize = 128

// settledRSS reads the broker's RSS until two reads 100 ms apart agree within
// 1% (the broker may still be finishing the last handshakes), or the deadline.
func settledRSS(pid int, deadline time.Time) (int64, error) {
	prev, err := readRSS(pid)
	if err != nil {
		return 0, err
	}
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // sampling interval
		cur, err := readRSS(pid)
		if err != nil {
			return 0, err
		}
		if d := cur - prev; d*100 <= prev && -d*100 <= prev {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}
