package loop

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is one event loop: a goroutine with its own poller, read buffer,
// connection table, mailbox and timer wheel. Methods are for the loop's own
// goroutine unless their comment says otherwise.
type Loop struct {
	s   *Server
	idx int
	h   Handler
	p   *poller
	mb  mailbox
	// wakeMu keeps the poller open while another goroutine writes a
	// wake-up to it: wake holds it for reading, closePoller for writing
	// while it sets noWake, before it closes the poller.
	wakeMu sync.RWMutex
	noWake bool

	conns  []*Conn // indexed by fd
	nconns int
	socks  []*lsock // listening sockets served by this loop

	buf     []byte              // read buffer, shared by all connections of this loop
	peer    peerAddr            // the peer of the connection accept took last
	rsa     unix.RawSockaddrAny // accept's address buffer (sock_*.go)
	want    int                 // Conn.ExpectInput from the Data call in progress
	bigFree [][]byte            // pending buffers for large messages, for reuse (maxBigFree)
	// smallFree holds pending buffers of the start of a small message cut
	// by a read, by power-of-two capacity from minSmallPending to
	// maxSmallPending (smallClass), at most maxSmallFree of each.
	smallFree [smallClasses][][]byte
	hints     []int32 // per fd: size of the large message read last (readHinted); grown only when one is set
	readyEv   []ready
	iov       []unix.Iovec
	chunks    chunkPool
	ioFree    ioPool
	scratch   []byte
	wheel     wheel
	now       time.Time
	ctx       any

	// The Data call in progress, for Conn.TakeInput: its connection, its
	// input, and the connection's own buffer that input lies in (nil when
	// it lies in the read buffer or a transport's); taken once given up.
	dataConn *Conn
	dataIn   []byte
	dataBuf  []byte
	taken    bool

	dirty      []*Conn  // written to this iteration
	reap       []reaped // closed, Handler.Closed not yet called
	migrations []*Conn  // Migrate called this iteration
	redeliver  []*Conn  // ResumeRead with pending input
	earlyClose []*Conn  // Shutdown arrived before the migrating conn did

	stopping bool
	forced   bool
	done     chan struct{}

	iterations atomic.Uint64 // loop iterations, for tests and metrics
	fault      faultHook     // soldebug builds: a poll failure a test injects
}

func newLoop(s *Server, idx int) (*Loop, error) {
	p, err := newPoller(s.opts.ReadBudget)
	if err != nil {
		return nil, err
	}
	l := &Loop{
		s:       s,
		idx:     idx,
		h:       s.h,
		p:       p,
		buf:     make([]byte, s.opts.ReadBufferSize),
		readyEv: make([]ready, s.opts.ReadBudget),
		iov:     make([]unix.Iovec, 0, maxIovecs),
		done:    make(chan struct{}),
	}
	l.now = time.Now()
	l.wheel.init(l.now, s.opts.TimerTick)
	return l, nil
}

// Index returns the loop's position in Server.Loops(). Any goroutine.
func (l *Loop) Index() int { return l.idx }

// Server returns the server l belongs to. Any goroutine.
func (l *Loop) Server() *Server { return l.s }

// Context returns the value set with SetContext. Loop goroutine only.
func (l *Loop) Context() any { return l.ctx }

// SetContext stores per-loop handler state. Loop goroutine only.
func (l *Loop) SetContext(v any) { l.ctx = v }

// Now returns the time cached at the start of the current iteration. Loop
// goroutine only.
func (l *Loop) Now() time.Time { return l.now }

// Conns returns the number of connections registered on l. Loop goroutine
// only.
func (l *Loop) Conns() int { return l.nconns }

// Exited is closed once l's goroutine has exited, its connections and
// sockets closed: after Server.Stop, or when its poller failed
// (Server.Failed). Any goroutine.
func (l *Loop) Exited() <-chan struct{} { return l.done }

// Post queues m for Handler.Mail on l's goroutine. Any goroutine, including
// l's own. Items from one poster arrive in post order. A burst of posts wakes
// the loop with one eventfd write. Posting a pointer (or a struct holding
// exactly one pointer) does not allocate; other values are boxed by the
// conversion to any, so post pointers. Items posted after the loop exited
// (Server.Stop) are dropped.
func (l *Loop) Post(m any) {
	wake, ok := l.mb.post(m)
	if ok && wake {
		if err := l.wake(); err != nil {
			l.s.opts.Logger.Error("loop: wake failed", "loop", l.idx, "err", err)
		}
	}
}

// internal mail
type (
	migrateMsg    struct{ c *Conn }
	listenMsg     struct{ ls *lsock }
	stopListenMsg struct{}
	stopMsg       struct{}
	forceMsg      struct{}
	resumeSockMsg struct{ ls *lsock }
)

func (l *Loop) run() {
	defer close(l.done)
	s := l.s
	var failure error
	for {
		timeout := l.wheel.timeoutMs(l.now)
		if l.mb.backlog() || len(l.redeliver) > 0 {
			timeout = 0
		}
		n, _, err := l.p.wait(l.readyEv, timeout)
		l.now = time.Now()
		l.iterations.Add(1)
		if err == nil {
			err = l.fault.take()
		}
		if err != nil {
			s.opts.Logger.Error("loop: poll failed; loop exits", "loop", l.idx, "err", err)
			failure = fmt.Errorf("loop %d: %w", l.idx, err)
			break
		}
		for i := 0; i < n; i++ {
			l.dispatch(l.readyEv[i])
			l.reapClosed()
		}
		l.mb.take()
		for k := 0; k < s.opts.MailBudget; k++ {
			m, ok := l.mb.pop()
			if !ok {
				break
			}
			l.mail(m)
			l.reapClosed()
		}
		l.wheel.advance(l.now)
		l.reapClosed()
		for i := 0; i < len(l.redeliver); i++ {
			c := l.redeliver[i]
			l.redeliver[i] = nil
			c.redeliver = false
			if c.l == l && !c.closed.Load() && !c.closing && !c.paused && c.migrating() == nil && len(c.pending()) > 0 {
				l.deliver(c, nil, nil)
			}
			l.reapClosed()
		}
		l.redeliver = l.redeliver[:0]
		l.h.Flush(l)
		l.reapClosed()
		l.flushDirty()
		l.reapClosed()
		l.postMigrations()
		if l.stopping && s.live.Load() == 0 {
			break
		}
	}
	l.exit()
	if failure != nil {
		s.fail(failure)
	}
}

func (l *Loop) dispatch(ev ready) {
	fd := int(ev.fd)
	if fd < len(l.conns) {
		if c := l.conns[fd]; c != nil {
			l.connEvent(c, ev.flags)
			return
		}
	}
	for _, ls := range l.socks {
		if ls.fd == fd {
			l.accept(ls)
			return
		}
	}
}

func (l *Loop) connEvent(c *Conn, f uint8) {
	if c.migrating() != nil {
		return
	}
	if f&rdWrite != 0 && c.outSize() > 0 {
		l.flush(c)
		if c.closed.Load() {
			return
		}
	}
	if c.events&evRead != 0 && f&(rdRead|rdHup) != 0 {
		l.read(c)
		return
	}
	if f&rdHup != 0 && c.events&evRead == 0 {
		// Hang-up without read interest: epoll keeps reporting it.
		if c.paused && !c.closing {
			l.deregister(c) // ResumeRead registers again and reads the EOF
			return
		}
		l.finalClose(c, c.closeErrOr(io.EOF))
	}
}

func (c *Conn) closeErrOr(err error) error {
	if c.closing {
		return c.closeErr()
	}
	return err
}

func (l *Loop) read(c *Conn) {
	pending := c.pending()
	tr := c.transport()
	if tr == nil && len(pending) == 0 {
		if size := l.hint(c); size > 0 {
			l.readHinted(c, size)
			return
		}
	}
	// An incomplete message with room left in its pending buffer (sized by
	// Conn.ExpectInput) is read straight into that buffer: no copy from the
	// loop's read buffer, no growth.
	buf := l.buf
	spare := cap(pending) - len(pending)
	direct := tr == nil && len(pending) > 0 && spare > 0 && (spare >= minDirectRead || cap(pending) >= len(l.buf))
	if direct {
		// Up to the end of the announced message, not beyond: a message
		// that ends its buffer can be handed over whole (Conn.TakeInput).
		end := cap(pending)
		if w := c.io.want; w > len(pending) && w < end {
			end = w
		}
		buf = pending[len(pending):end]
	}
	n, err := sysRead(int(c.fd), buf)
	if !l.readInput(c, n, err) {
		return
	}
	if direct {
		c.io.pending = pending[:len(pending)+n]
		l.deliver(c, nil, nil)
		return
	}
	in := l.buf[:n]
	if tr != nil {
		app, err := tr.Decode(c, in)
		if err != nil {
			l.finalClose(c, err)
			return
		}
		in = app
	}
	l.deliver(c, in, nil)
}

// readInput deals with what a read of c returned other than input (EAGAIN,
// an error, EOF) and with input while closing (discarded), and reports
// whether n bytes of input are to be delivered.
func (l *Loop) readInput(c *Conn, n int, err error) bool {
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR {
			return false
		}
		l.finalClose(c, c.closeErrOr(os.NewSyscallError("read", err)))
		return false
	}
	if n == 0 {
		if !c.closing {
			l.closeGraceful(c, io.EOF)
		}
		c.eof = true
		if c.outSize() == 0 || c.closed.Load() {
			l.finalClose(c, c.closeErr())
			return false
		}
		l.updateInterest(c) // stop reading; flush then close
		return false
	}
	return !c.closing // draining after Close: input is discarded
}

// readHinted reads c, which has no pending input and whose last large
// message was size bytes, straight into a buffer of that size rather than
// the loop's read buffer: a message of the same size then arrives whole in
// one read, with no copy (through the read buffer it took two reads and a
// copy of the first read buffer's worth into a pending buffer). What is
// left unconsumed stays in that buffer if it fits it (deliver), so a
// message of another size costs what it costs without the hint.
func (l *Loop) readHinted(c *Conn, size int) {
	own := l.takeBuf(size)
	n, err := sysRead(int(c.fd), own[:size])
	if !l.readInput(c, n, err) {
		l.recycle(own)
		return
	}
	l.deliver(c, own[:n], own)
}

// maxHintBufs bounds the messages readHinted reads into their own buffer,
// in read buffers: larger ones would not be recycled (recycle), so each
// would cost an allocation.
const maxHintBufs = 4

// hint is the size of the large message c read last, or 0 (see
// readHinted).
func (l *Loop) hint(c *Conn) int {
	if int(c.fd) < len(l.hints) {
		return int(l.hints[c.fd])
	}
	return 0
}

// setHint records n (0: none) as c's hint. The table grows only when a
// hint is set, to the size of the connection table.
func (l *Loop) setHint(c *Conn, n int) {
	fd := int(c.fd)
	if fd >= len(l.hints) {
		if n == 0 {
			return
		}
		t := make([]int32, max(len(l.conns), fd+1))
		copy(t, l.hints)
		l.hints = t
	}
	l.hints[fd] = int32(n)
}

// updateHint keeps c's hint after a delivery of in bytes of which rest
// were left, want announced by ExpectInput: a message larger than the read
// buffer (and no larger than maxHintBufs of them) that has not fully
// arrived sets it to that message's size; a delivery that consumed all of
// at least that many bytes keeps it; anything else (small messages, a
// message of unannounced length) clears it, so a peer that switches to
// small messages is read through the loop's read buffer again at once.
func (l *Loop) updateHint(c *Conn, want, in, rest int) {
	h := l.hint(c)
	switch {
	case want > rest && want > len(l.buf) && want <= maxHintBufs*len(l.buf):
		h = want
	case want > rest:
		h = 0
	case rest == 0 && in >= h:
	default:
		h = 0
	}
	if h != l.hint(c) {
		l.setHint(c, h)
	}
}

// deliver hands pending input followed by b to Handler.Data, again as long
// as Data consumes something and bytes remain, and keeps what is left. own,
// if not nil, is a buffer from takeBuf that b begins (readHinted), with no
// pending input before it: deliver recycles it or keeps it as the pending
// buffer.
func (l *Loop) deliver(c *Conn, b, own []byte) {
	in := b
	pending := c.pending()
	fromPending := false
	var mine []byte // the connection's own buffer in lies in (TakeInput)
	if len(pending) > 0 {
		if len(b) > 0 {
			if len(pending)+len(b) > cap(pending) {
				// A message straddled the last read: move its start to a
				// buffer that takes this read too, from the loop's free
				// lists rather than grown by append (which allocated
				// ~64 KiB per straddle).
				pending = l.pendingBuf(pending, len(pending)+len(b), pending)
			}
			pending = append(pending, b...)
			c.io.pending = pending
		}
		in = pending
		fromPending = true
		mine = in
	} else if own != nil {
		mine = in
	}
	off := 0
	want := 0
	for off < len(in) {
		l.want = 0
		l.dataConn, l.dataIn, l.dataBuf = c, in[off:], mine
		k := l.h.Data(c, in[off:])
		l.dataConn, l.dataIn, l.dataBuf = nil, nil, nil
		want, l.want = l.want, 0
		if l.taken {
			// The handler owns the buffer now: all of it is consumed, and
			// nothing here may touch it again.
			l.taken = false
			off = len(in)
			fromPending, pending, own = false, nil, nil
			break
		}
		if k <= 0 {
			break
		}
		off += min(k, len(in)-off)
		if c.closed.Load() || c.closing || c.paused || c.migrating() != nil {
			break
		}
	}
	if c.closed.Load() || c.closing {
		c.setPending(nil)
		if own != nil {
			l.recycle(own)
		}
		return
	}
	rest := in[off:]
	if c.transport() == nil {
		l.updateHint(c, want, len(in), len(rest))
	}
	switch {
	case len(rest) == 0:
		if fromPending {
			l.recycle(pending)
		}
		if own != nil {
			l.recycle(own)
		}
		c.setPending(nil)
	case fromPending:
		need := max(want, len(rest))
		if !fits(cap(pending), l.pendingSize(len(rest), need)) {
			// Too small for the announced message, or far larger than
			// what is left (a large message was followed by the start of
			// a small one): move to a buffer of the right size.
			c.setPending(l.pendingBuf(rest, need, pending))
		} else if off > 0 {
			m := copy(pending, rest)
			c.setPending(pending[:m])
		}
	case own != nil:
		// Keep the buffer read into if what is left is all of it and it
		// is the size pendingBuf would choose (a message of the hinted
		// size, or close to it, has not fully arrived yet).
		need := max(want, len(rest))
		if off == 0 && fits(cap(own), l.pendingSize(len(rest), need)) {
			c.setPending(own[:len(rest)])
		} else {
			c.setPending(l.pendingBuf(rest, need, own))
		}
	default:
		// only when a message straddles reads
		c.setPending(l.pendingBuf(rest, max(want, len(rest)), nil)) // rest aliases l.buf or the transport's
	}
	if len(rest) > 0 {
		c.io.want = want
	}
}

// fits reports whether a buffer of capacity c is the right size for n
// bytes: at least n, at most twice n (or the smallest small pending size).
func fits(c, n int) bool { return n <= c && c <= max(2*n, minSmallPending) }

// minDirectRead is the least room in a small pending buffer for which the
// loop reads into it directly rather than into the loop's read buffer. A
// buffer of a read buffer's size or more was sized for a large message
// (ExpectInput), and its room, however small, is what that message lacks.
const minDirectRead = 4 << 10

// maxBigFree is how many pending buffers a loop keeps for reuse.
const maxBigFree = 8

// Pending buffers for small messages (the start of one cut by a read) come
// in power-of-two sizes
// from minSmallPending to maxSmallPending, so that they can be reused: at
// most twice what the message needs, as pendingSize allows. A loop keeps up
// to maxSmallFree of each size (under 256 KiB in all).
const (
	minSmallPending = 64
	maxSmallPending = 4 << 10
	smallClasses    = 7 // 64 B to 4 KiB
	maxSmallFree    = 32
)

// smallClass is the index of the smallest small pending size that holds n
// bytes, or -1 when n is over maxSmallPending.
func smallClass(n int) int {
	if n > maxSmallPending {
		return -1
	}
	k := 0
	for minSmallPending<<k < n {
		k++
	}
	return k
}

// pendingBuf returns a buffer holding have, with room for a message of want
// bytes in all: its capacity is want, but at most twice what has arrived
// plus one read buffer, so that an announced length costs memory only as
// its bytes actually come (a peer announcing 1 MiB and sending 10 bytes
// gets no 1 MiB buffer). Reuses a recycled buffer when one fits. old is the
// connection's previous pending buffer (have may lie in it), recycled after
// the copy; nil when have belongs to someone else (the read buffer, a
// transport).
func (l *Loop) pendingBuf(have []byte, want int, old []byte) []byte {
	nb := l.takeBuf(l.pendingSize(len(have), want))[:len(have)]
	copy(nb, have)
	if old != nil {
		l.recycle(old)
	}
	return nb
}

// takeBuf returns an empty buffer of capacity size to 2*size: for sizes up
// to maxSmallPending one of the power-of-two small sizes, recycled or new;
// for larger ones recycled if one fits, else from Options.InputBuffer if set
// and it supplies one, else new.
func (l *Loop) takeBuf(size int) []byte {
	if k := smallClass(size); k >= 0 {
		return pop(&l.smallFree[k], minSmallPending<<k)
	}
	for i, f := range l.bigFree {
		if fits(cap(f), size) {
			last := len(l.bigFree) - 1
			l.bigFree[i] = l.bigFree[last]
			l.bigFree[last] = nil
			l.bigFree = l.bigFree[:last]
			return f
		}
	}
	if get := l.s.opts.InputBuffer; get != nil {
		if b := get(l, size); fits(cap(b), size) {
			return b[:0]
		}
	}
	return make([]byte, 0, size)
}

// pendingSize is the capacity pendingBuf gives have bytes of a message of
// want bytes (a recycled buffer may have up to twice as much).
func (l *Loop) pendingSize(have, want int) int {
	return max(have, min(want, max(2*have, have+len(l.buf))))
}

// recycle keeps a pending buffer that is no longer used for a later
// message (takeBuf), if it is of the sizes worth keeping and there is room.
func (l *Loop) recycle(b []byte) {
	if k := smallClass(cap(b)); k >= 0 && cap(b) == minSmallPending<<k {
		if len(l.smallFree[k]) < maxSmallFree {
			l.smallFree[k] = append(l.smallFree[k], b[:0])
		}
		return
	}
	if cap(b) < len(l.buf) || cap(b) > 4*len(l.buf) || len(l.bigFree) >= maxBigFree {
		return
	}
	l.bigFree = append(l.bigFree, b[:0])
}

func (l *Loop) flushDirty() {
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		l.dirty[i] = nil
		c.dirty = false
		if c.closed.Load() || c.migrating() != nil || c.l != l {
			continue
		}
		l.flush(c)
	}
	l.dirty = l.dirty[:0]
}

// flush writes c's output with one write/writev (more only when the output
// holds more chunks than one writev takes) and arms write interest while
// output remains.
func (l *Loop) flush(c *Conn) {
	for c.outSize() > 0 {
		out := &c.io.out
		full := len(out.chunks) <= maxIovecs
		n, err := writeOut(int(c.fd), out, &l.iov)
		if n > 0 {
			out.consume(&l.chunks, n)
		}
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				break
			}
			l.finalClose(c, c.closeErrOr(os.NewSyscallError("write", err)))
			return
		}
		if full || n == 0 {
			break // one syscall per connection per iteration
		}
	}
	size := c.outSize()
	if size == 0 {
		l.releaseIO(c)
	}
	c.wantWrite = size > 0
	l.updateInterest(c)
	if c.congested && size < l.s.opts.LowWatermark {
		c.congested = false
		if !c.closing {
			l.h.Writable(c)
		}
	}
	if c.closing && c.outSize() == 0 && !c.closed.Load() {
		if c.eof {
			l.finalClose(c, c.closeErr())
		} else if !c.shutWr {
			l.shutWrite(c)
		}
	}
}

func (c *Conn) want() uint8 {
	var ev uint8
	if (!c.paused || c.closing) && !c.eof {
		ev |= evRead
	}
	if c.wantWrite && c.outSize() > 0 {
		ev |= evWrite
	}
	return ev
}

func (l *Loop) updateInterest(c *Conn) {
	if !c.registered || c.closed.Load() {
		return
	}
	w := c.want()
	if w == c.events {
		return
	}
	if err := l.p.mod(int(c.fd), c.events, w); err != nil {
		l.finalClose(c, err)
		return
	}
	c.events = w
}

// register puts c in l's table and poller.
func (l *Loop) register(c *Conn) error {
	fd := int(c.fd)
	if fd >= len(l.conns) {
		n := 2 * len(l.conns)
		if n <= fd {
			n = fd + 1
		}
		if n < 64 {
			n = 64
		}
		t := make([]*Conn, n)
		copy(t, l.conns)
		l.conns = t
	}
	if l.conns[fd] != c {
		l.conns[fd] = c
		l.nconns++
	}
	w := c.want()
	if err := l.p.add(fd, w); err != nil {
		return err
	}
	c.events = w
	c.registered = true
	return nil
}

// deregister removes c from the poller but keeps it in the table.
func (l *Loop) deregister(c *Conn) {
	if !c.registered {
		return
	}
	l.p.del(int(c.fd), c.events)
	c.registered = false
	c.events = 0
}

func (l *Loop) untable(c *Conn) {
	if int(c.fd) < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
		l.nconns--
	}
}

// closeGraceful starts a graceful close (see Conn.Close).
func (l *Loop) closeGraceful(c *Conn, err error) {
	if c.closing || c.closed.Load() {
		return
	}
	c.closing = true
	l.setHint(c, 0) // input is now drained and discarded: no large read buffers for it
	x := c.ext()
	if x.cl == nil {
		x.cl = &closeState{}
		x.cl.timer = Timer{l: l, fn: func() { l.finalClose(c, c.closeErr()) }}
	}
	x.cl.err = err
	x.migrateTo = nil
	c.setPending(nil)
	if x.tr != nil {
		x.tr.Closing(c)
	}
	x.cl.timer.Reset(l.s.opts.CloseTimeout)
	l.updateInterest(c) // reading again if paused, to see the peer's close
	if c.outSize() == 0 {
		l.shutWrite(c)
	} else if !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
}

func (l *Loop) shutWrite(c *Conn) {
	c.shutWr = true
	if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
		l.finalClose(c, c.closeErr())
	}
}

// finalClose closes the socket now and queues Handler.Closed.
func (l *Loop) finalClose(c *Conn, err error) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	l.deregister(c)
	l.untable(c)
	unix.Close(int(c.fd)) // c.fd stays as it was: other loops compare it (closeReq)
	l.setHint(c, 0)       // the descriptor's next connection starts without one
	if c.io != nil {
		c.io.pending, c.io.out.size = nil, 0 // discarded: releaseIO frees the chunks
		l.releaseIO(c)
	}
	if x := c.x; x != nil {
		x.migrateTo = nil
		if x.cl != nil {
			x.cl.timer.Stop()
		}
	}
	l.reap = append(l.reap, reaped{c, err})
	if l.s.live.Add(-1) == 0 && l.s.stopping.Load() {
		l.s.wakeAll()
	}
}

// reaped is a closed connection waiting for Handler.Closed, with its error.
type reaped struct {
	c   *Conn
	err error
}

func (l *Loop) reapClosed() {
	for i := 0; i < len(l.reap); i++ {
		r := l.reap[i]
		l.reap[i] = reaped{}
		l.h.Closed(r.c, r.err)
	}
	l.reap = l.reap[:0]
}

func (l *Loop) mail(m any) {
	switch m := m.(type) {
	case migrateMsg:
		l.adopt(m.c)
	case closeReq:
		c := m.c
		if c.closed.Load() {
			return
		}
		if o := c.owner.Load(); o != l {
			o.Post(m) // migrated meanwhile: forward
			return
		}
		if int(c.fd) < len(l.conns) && l.conns[c.fd] == c {
			l.closeGraceful(c, nil)
			return
		}
		// c is on its way here and must not be touched until it arrives.
		l.earlyClose = append(l.earlyClose, c)
	case listenMsg:
		l.addSock(m.ls)
	case resumeSockMsg:
		l.resumeSock(m.ls)
	case stopListenMsg:
		l.closeSocks()
	case stopMsg:
		l.stopping = true
		l.closeSocks()
		for _, c := range l.conns {
			if c != nil {
				l.closeGraceful(c, ErrStopped)
			}
		}
	case forceMsg:
		l.stopping = true
		l.forced = true
		for _, c := range l.conns {
			if c != nil {
				l.finalClose(c, ErrStopped)
			}
		}
	default:
		l.h.Mail(l, m)
	}
}

// adopt registers a connection arriving from an acceptor or a Migrate and
// hands it to the handler.
func (l *Loop) adopt(c *Conn) {
	c.l = l
	if x := c.x; x != nil {
		x.migrateTo = nil
		if x.tr == nil && x.cl == nil {
			c.x = nil // only the migration needed it
		}
	}
	c.dirty = false
	c.events = 0
	c.registered = false
	if err := l.register(c); err != nil {
		l.finalClose(c, err)
		return
	}
	if l.forced {
		l.finalClose(c, ErrStopped)
		return
	}
	if l.stopping {
		l.closeGraceful(c, ErrStopped)
		return
	}
	l.h.Open(c)
	for i, x := range l.earlyClose {
		if x == c {
			l.earlyClose = append(l.earlyClose[:i], l.earlyClose[i+1:]...)
			l.closeGraceful(c, nil)
			break
		}
	}
	if c.closed.Load() || c.closing || c.migrating() != nil {
		return
	}
	if c.outSize() > 0 && !c.dirty {
		c.dirty = true
		l.dirty = append(l.dirty, c)
	}
	if len(c.pending()) > 0 && !c.paused && !c.closing {
		l.deliver(c, nil, nil)
	}
}

func (l *Loop) exit() {
	for _, c := range l.conns {
		if c != nil {
			l.finalClose(c, ErrStopped)
		}
	}
	l.reapClosed()
	for _, m := range l.mb.shut() {
		if mm, ok := m.(migrateMsg); ok { // only after a fatal poll error
			mm.c.l = l
			l.finalClose(mm.c, ErrStopped)
		}
	}
	l.reapClosed()
	l.closeSocks()
	l.closePoller()
}

// wake wakes l's goroutine, unless l has closed its poller: a poster whose
// item got in just before the mailbox shut would otherwise write to a
// closed descriptor, or to whatever file had taken its number since. Any
// goroutine.
func (l *Loop) wake() error {
	l.wakeMu.RLock()
	defer l.wakeMu.RUnlock()
	if l.noWake {
		return nil
	}
	return l.p.wake()
}

// closePoller closes l's poller once no wake-up is being written to it.
func (l *Loop) closePoller() {
	l.wakeMu.Lock()
	l.noWake = true
	l.wakeMu.Unlock()
	l.p.close()
}
