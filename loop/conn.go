package loop

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// ErrStopped is the error Handler.Closed receives for connections closed by
// Server.Stop.
var ErrStopped = errors.New("loop: server stopped")

// Conn is one accepted connection. It belongs to exactly one loop at a time
// (Loop()); unless a method says otherwise, call it only on that loop's
// goroutine, typically from a Handler callback, a Timer or Mail. None of its
// methods block.
//
// A Conn is 96 bytes: what only a busy, migrating, closing or TLS
// connection needs lives in io and x, allocated when first needed, so an
// idle plain connection holds neither (TestConnSize pins this).
type Conn struct {
	l     *Loop                // owner; read and written only by the owner loop
	owner atomic.Pointer[Loop] // owner for other goroutines (Shutdown)
	ln    *Listener
	ctx   any
	io    *connIO  // pending input and queued output; nil while both are empty
	x     *connExt // transport, migration, close state; nil until one is needed

	// The TCP peer, recorded at accept; a net.Addr is built only when asked
	// for (RemoteAddr). IPv4 is stored IPv4-mapped. Zero for unix sockets.
	remoteIP   [16]byte
	fd         int32
	remoteZone uint32 // IPv6 scope id
	remotePort uint16

	events     uint8 // interest registered with the poller
	registered bool
	dirty      bool // queued on the loop's dirty list
	wantWrite  bool // a write hit EAGAIN: EPOLLOUT armed while output pending
	paused     bool // PauseRead
	congested  bool
	closing    bool // graceful close in progress
	shutWr     bool // write side shut down
	eof        bool // peer closed its side; stop reading
	redeliver  bool // queued to have pending input delivered again
	closed     atomic.Bool
}

// connIO is a connection's input and output while it has any: a Conn takes
// one from its loop's free list when input stays pending or output is
// queued, and gives it back once both are empty again.
type connIO struct {
	pending []byte // unconsumed input; nil unless a message is incomplete
	want    int    // announced size of the message pending begins with (ExpectInput); 0: unknown
	out     output
}

// connExt is what only some connections need: a transport (TLS), a
// destination while migrating, and the state of a graceful close. It is
// small because a migration (most connections, with several loops) leaves
// it behind as garbage.
type connExt struct {
	tr        Transport
	migrateTo *Loop
	cl        *closeState // set by a graceful close; nil before
}

// closeState is what only a connection being closed gracefully needs.
type closeState struct {
	timer Timer // Options.CloseTimeout
	err   error // for Handler.Closed
}

// ext returns c's connExt, allocating it on first use.
func (c *Conn) ext() *connExt {
	if c.x == nil {
		c.x = &connExt{}
	}
	return c.x
}

// transport is c's transport or nil.
func (c *Conn) transport() Transport {
	if c.x == nil {
		return nil
	}
	return c.x.tr
}

// migrating is the loop c is being handed to, or nil.
func (c *Conn) migrating() *Loop {
	if c.x == nil {
		return nil
	}
	return c.x.migrateTo
}

// pending is c's unconsumed input (nil if none).
func (c *Conn) pending() []byte {
	if c.io == nil {
		return nil
	}
	return c.io.pending
}

// setPending keeps b as c's unconsumed input; nil drops it (and gives the
// connIO back when no output is queued either).
func (c *Conn) setPending(b []byte) {
	if b != nil {
		c.useIO().pending = b
		return
	}
	if c.io != nil {
		c.io.pending, c.io.want = nil, 0
		c.l.releaseIO(c)
	}
}

// outSize is the number of output bytes queued.
func (c *Conn) outSize() int {
	if c.io == nil {
		return 0
	}
	return c.io.out.size
}

// useIO returns c's connIO, taking one from the loop's free list if c has
// none.
func (c *Conn) useIO() *connIO {
	if c.io == nil {
		c.io = c.l.ioFree.get()
	}
	return c.io
}

// releaseIO gives c's connIO back to l once it holds neither input nor
// output (an empty chunk left by Reserve goes back to the chunk pool).
func (l *Loop) releaseIO(c *Conn) {
	io := c.io
	if io == nil || io.out.size > 0 || io.pending != nil {
		return
	}
	c.io = nil
	io.out.release(&l.chunks)
	l.ioFree.put(io)
}

// ioPool is a loop's free list of connIOs. Loop goroutine only.
type ioPool struct{ free []*connIO }

// maxFreeIO bounds each loop's free list of connIOs (96 bytes each).
const maxFreeIO = 4096

func (p *ioPool) get() *connIO {
	if n := len(p.free); n > 0 {
		io := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return io
	}
	return &connIO{}
}

// put keeps an empty connIO (its chunks already released), with its chunk
// list if that is small.
func (p *ioPool) put(io *connIO) {
	if cap(io.out.chunks) > 4 {
		io.out.chunks = nil
	}
	if cap(io.out.refs) > 4 {
		io.out.refs = nil
	}
	io.want = 0
	if len(p.free) < maxFreeIO {
		p.free = append(p.free, io)
	}
}

// Loop returns the loop that owns c. Owner loop goroutine only (the owner
// changes on Migrate).
func (c *Conn) Loop() *Loop { return c.l }

// Listener returns the listener that accepted c. Any goroutine.
func (c *Conn) Listener() *Listener { return c.ln }

// RemoteAddr returns the peer address: a *net.TCPAddr built from the address
// recorded at accept (each call allocates a new one, which the caller may
// keep), or an unnamed *net.UnixAddr for unix sockets. Any goroutine.
func (c *Conn) RemoteAddr() net.Addr {
	if !c.isTCP() {
		return &net.UnixAddr{Net: "unix"}
	}
	ip := net.IP(make([]byte, net.IPv6len))
	copy(ip, c.remoteIP[:])
	a := &net.TCPAddr{IP: ip, Port: int(c.remotePort)}
	if v4 := ip.To4(); v4 != nil {
		a.IP = v4
	} else if c.remoteZone != 0 {
		a.Zone = strconv.FormatUint(uint64(c.remoteZone), 10)
	}
	return a
}

// isTCP reports whether c came from a TCP listener (not a unix socket).
func (c *Conn) isTCP() bool { return c.ln.network != "unix" }

// peerAddr is the TCP peer of an accepted connection, as accept reports it.
type peerAddr struct {
	ip   [16]byte // IPv4 IPv4-mapped
	port uint16
	zone uint32 // IPv6 scope id
}

// setSockaddr records sa (from the unix package's accept) in p.
func (p *peerAddr) setSockaddr(sa unix.Sockaddr) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		p.ip = netip.AddrFrom4(a.Addr).As16()
		p.port = uint16(a.Port)
	case *unix.SockaddrInet6:
		p.ip = a.Addr
		p.port = uint16(a.Port)
		p.zone = a.ZoneId
	}
}

// LocalAddr returns the local address. For a listener bound to a specific
// address it is the listener's address; for one bound to the unspecified
// address it is asked of the socket (getsockname, allocating) so that idle
// connections do not each hold one, falling back to the listener's address
// once the socket is closed. Owner loop only.
func (c *Conn) LocalAddr() net.Addr {
	if c.isTCP() && !c.closed.Load() {
		if ta, ok := c.ln.Addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			if sa, err := unix.Getsockname(int(c.fd)); err == nil {
				if a := sockaddrToAddr(sa, "tcp"); a != nil {
					return a
				}
			}
		}
	}
	return c.ln.Addr
}

// Context returns the value set with SetContext. Owner loop only.
func (c *Conn) Context() any { return c.ctx }

// SetContext stores per-connection handler state. Owner loop only.
func (c *Conn) SetContext(v any) { c.ctx = v }

// Closed reports whether c is closed (Handler.Closed has run or is about to
// run). Any goroutine.
func (c *Conn) Closed() bool { return c.closed.Load() }

// Write queues b (copied; b may be reused at once) for output, through the
// transport if one is set. It never blocks and never drops: the bytes go out
// with one write/writev per connection at the end of the loop iteration.
// Writes to a closed or closing connection are discarded. Owner loop only.
func (c *Conn) Write(b []byte) {
	if c.closing || c.closed.Load() || len(b) == 0 {
		return
	}
	if tr := c.transport(); tr != nil {
		if err := tr.Encode(c, b); err != nil {
			c.l.finalClose(c, err)
		}
		return
	}
	c.writeRaw(b)
}

// WriteRaw queues b for output bypassing the transport; it is what a
// Transport's Encode and Closing use. Writes after the connection closed are
// discarded. Owner loop only.
func (c *Conn) WriteRaw(b []byte) {
	if c.closed.Load() || c.shutWr || len(b) == 0 {
		return
	}
	c.writeRaw(b)
}

// WriteRef queues b for output by reference, without copying it, and calls
// r.Release (if r is not nil) once the output no longer needs b: when its
// last byte has been written to the socket, or when the connection closes
// with it still queued (then during the close, on the loop that owns c at
// that time). Until then b must not change. It is for large immutable
// buffers (a message's payload shared by many subscribers), whose copy into
// output chunks would cost more than the reference; writev sends it from
// where it lies. With a transport b is copied (encoded) at once and r
// released before WriteRef returns, as it is when c is closing or closed
// (b is then discarded, as Write does). Owner loop only.
func (c *Conn) WriteRef(b []byte, r Releaser) {
	if c.transport() != nil || c.closing || c.closed.Load() || len(b) == 0 {
		c.Write(b)
		if r != nil {
			r.Release()
		}
		return
	}
	if r == nil {
		r = noRelease{}
	}
	c.useIO().out.writeRef(b, r)
	c.afterWrite()
}

func (c *Conn) writeRaw(b []byte) {
	c.useIO().out.write(&c.l.chunks, b)
	c.afterWrite()
}

func (c *Conn) afterWrite() {
	if c.io.out.size >= c.l.s.opts.HighWatermark {
		c.congested = true
	}
	if !c.dirty {
		c.dirty = true
		c.l.dirty = append(c.l.dirty, c)
	}
}

// Reserve returns a buffer of at least n bytes (len >= n) into which the
// caller encodes output directly, then calls Commit with the number of bytes
// written; nothing is queued until Commit. Without a transport the buffer is
// the tail of the connection's output (no intermediate copy); with one it is
// a loop scratch buffer that Commit passes to the transport. The buffer is
// valid until Commit or the next call on any Conn of this loop. Owner loop
// only.
func (c *Conn) Reserve(n int) []byte {
	if c.transport() != nil || c.closing || c.closed.Load() {
		if cap(c.l.scratch) < n {
			c.l.scratch = make([]byte, n)
		}
		return c.l.scratch[:cap(c.l.scratch)]
	}
	return c.useIO().out.reserve(&c.l.chunks, n)
}

// Commit queues the first k bytes of the buffer returned by the preceding
// Reserve. Owner loop only.
func (c *Conn) Commit(k int) {
	if k <= 0 {
		if c.io != nil {
			c.l.releaseIO(c)
		}
		return
	}
	if c.transport() != nil {
		c.Write(c.l.scratch[:k])
		return
	}
	if c.closing || c.closed.Load() {
		return
	}
	c.io.out.commit(k)
	c.afterWrite()
}

// ExpectInput tells the loop, from inside Handler.Data, that the input Data
// leaves unconsumed begins with a message of n bytes in all that has not
// fully arrived. The loop then keeps that input in a buffer sized for the
// message (growing it with the bytes that actually arrive, so an announced
// length costs nothing until it is sent) and, without a transport, reads the
// rest of the message straight into it: one copy fewer than appending each
// read to pending input. A message larger than the read buffer (up to four
// of them) also makes the loop read the connection's next input, once
// nothing is pending, straight into a buffer of that size, so a stream of
// equal large messages takes one read and no copy each; a delivery of
// anything else ends that. It is a hint, for the Data call in progress
// only; without it input is still kept whole. Owner loop, during
// Handler.Data.
func (c *Conn) ExpectInput(n int) { c.l.want = n }

// TakeInput hands the caller the buffer that holds the input of the
// Handler.Data call in progress, so that it can keep a large message where
// it was read instead of copying it out. pkt must be the end of that input
// (a slice of in reaching its last byte); the loop then gives the buffer
// up: it returns it (from its start to the end of pkt, with the buffer's
// capacity), the caller owns it from then on, Data counts as having consumed
// all of in, and the connection's next input is read into another buffer
// (Options.InputBuffer). It returns nil, and changes nothing, when pkt is
// not the end of the input or the input lies in memory the loop shares (its
// read buffer, a transport's). Only a message that did not fit the read
// buffer whole, or straddled two reads, lies in a buffer of its own. Owner
// loop, during Handler.Data.
func (c *Conn) TakeInput(pkt []byte) []byte {
	l := c.l
	in := l.dataIn
	if l.dataConn != c || l.dataBuf == nil || l.taken || len(pkt) == 0 || len(pkt) > len(in) ||
		&pkt[0] != &in[len(in)-len(pkt)] {
		return nil
	}
	l.taken = true
	return l.dataBuf
}

// Buffered returns the number of output bytes not yet written to the socket.
// Owner loop only.
func (c *Conn) Buffered() int { return c.outSize() }

// Congested reports whether Buffered() >= Options.HighWatermark. The handler
// should stop producing for c until Handler.Writable. Owner loop only.
func (c *Conn) Congested() bool { return c.outSize() >= c.l.s.opts.HighWatermark }

// PauseRead stops reading from c (for example while a password is checked
// off the loop). Input already pending stays pending. Owner loop only.
func (c *Conn) PauseRead() {
	if c.paused {
		return
	}
	c.paused = true
	c.l.updateInterest(c)
}

// ResumeRead restarts reading; pending input, if any, is delivered to
// Handler.Data again within the current iteration (after the current
// callback returns). Owner loop only.
func (c *Conn) ResumeRead() {
	if !c.paused {
		return
	}
	c.paused = false
	l := c.l
	if !c.registered && !c.closed.Load() && c.migrating() == nil {
		l.register(c) // deregistered after a hang-up while paused
	} else {
		l.updateInterest(c)
	}
	if len(c.pending()) > 0 && !c.redeliver {
		c.redeliver = true
		l.redeliver = append(l.redeliver, c)
	}
}

// Close closes c gracefully: pending output (and the transport's closing
// record) is flushed, the write side is shut down, input is read and
// discarded until the peer closes, and then the socket is closed, all within
// Options.CloseTimeout, after which it is closed at once. Handler.Closed(c,
// nil) runs when the socket is closed. Later writes are discarded. Owner loop
// only; from elsewhere use Shutdown.
func (c *Conn) Close() { c.l.closeGraceful(c, nil) }

// CloseNow closes the socket at once, discarding pending output. Handler.Closed
// (c, nil) runs after the current callback returns. Owner loop only.
func (c *Conn) CloseNow() { c.l.finalClose(c, nil) }

// Shutdown asks c's owner loop to Close c. Any goroutine; it posts to the
// owner's mailbox (and is forwarded if c migrated meanwhile), so it returns
// before the close happens. It does not allocate.
func (c *Conn) Shutdown() {
	if c.closed.Load() {
		return
	}
	if l := c.owner.Load(); l != nil {
		l.Post(closeReq{c})
	}
}

// closeErr is the error a graceful close was started with (nil if none).
func (c *Conn) closeErr() error {
	if c.x != nil && c.x.cl != nil {
		return c.x.cl.err
	}
	return nil
}

// closeReq asks the owner loop to close a connection gracefully.
type closeReq struct{ c *Conn }
