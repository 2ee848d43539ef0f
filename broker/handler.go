package broker

import (
	"sync/atomic"
	"time"

	"github.com/sol-broker/sol/loop"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
	"github.com/sol-broker/sol/trie"
)

// loopState is the broker's state for one event loop: the sessions it owns
// and scratch space reused by every packet it handles. Only that loop's
// goroutine touches it.
type loopState struct {
	b   *Broker
	l   *loop.Loop
	idx int

	sessions sessionTable // sessions owned by this loop, by client identifier

	// Connect and keep alive deadlines of this loop's connections
	// (keepalive.go).
	deadlines  []deadline
	expired    []*conn
	sweepTimer *loop.Timer
	sweeping   bool

	m     *metrics.Loop // this loop's counters; nil (records nothing) when metrics are off
	mails int           // mail items handled this iteration, for m.Iteration

	// Scratch, reused: decoded packets, the encode buffer, match results.
	connect   mqtt.Connect
	pub       mqtt.Publish
	out       mqtt.Publish
	sub       mqtt.Subscribe
	unsub     mqtt.Unsubscribe
	ack       mqtt.PubAck
	disc      mqtt.Disconnect
	enc       []byte
	codes     []mqtt.ReasonCode
	matches   []trie.Match[*session]
	pending   []delivery       // one publish's deliveries after merging overlaps
	shared311 sharedEncoding   // send's QoS 0 encoding for 3.1/3.1.1 subscribers of one message
	seen      map[*session]int // session -> index in pending, for merging
	avail     func(*session) bool
	exclude   *session // a session avail must refuse (shared redelivery)

	// queuedBytes is the size of the messages in this loop's session
	// queues: written by this loop only, so the atomic Add on every queue
	// push and pop stays in this loop's cache (one broker-wide counter
	// bounced its cache line between loops); Broker.queuedBytes sums them
	// for Options.MaxMemory and Stats. Padded off its neighbours.
	_           [64]byte
	queuedBytes atomic.Int64
	_           [56]byte

	// blocks are this loop's free session queue blocks.
	blocks blockCache

	// spareMsgs are headers of pooled Msgs whose buffers inputBuffer gave
	// the loop to read into, waiting for adoptMsg to wrap them round such a
	// buffer again (at most maxSpareMsgs).
	spareMsgs []*Msg
	// home recycles the small Msgs this loop makes (msghome.go).
	home *msgHome
	// fields is publishFields' scratch.
	fields msgFields

	// Flow control between loops (backpressure.go): inbox counts the
	// deliveries other loops posted here; holding says this loop holds
	// its publishers (held) until a destination's inbox drains;
	// inboxHolds counts how often it started to.
	inbox      inboxState
	holding    bool
	held       []*conn
	inboxHolds uint64

	// queueDrops counts deliveries this loop's session queues refused, so
	// that onPublish can tell whether a publish reached anybody.
	queueDrops uint64

	// Cross-loop batches of deliveries, one open batch per destination loop,
	// posted in Flush.
	batches     []*batch
	dirty       []int
	spares      spareBatches // batches returned by the loops they were posted to
	sparesTrim  *loop.Timer
	sparesArmed bool
}

// batch carries deliveries from one loop to another in one mailbox post.
// The receiving loop hands it back to its sender's free list, so a steady
// flow of messages reuses the same few batches and their grown slices
// (a sync.Pool would drop them at every GC).
type batch struct {
	from *loopState
	ds   []delivery
	cost int64 // bytes counted in the destination's inbox (backpressure.go)
}

// freeBatches is how many spare batches a loop keeps per peer loop, and
// maxFreeBatches how many in all (each holds maxBatch deliveries: 36 KiB).
// A peer's inbox holds up to inboxHigh bytes of batches before this loop's
// publishers are held: at most 92 full batches (36 KiB of slots plus 512
// pooled Msgs of the smallest class, 288 bytes each). With 16 spares (8
// per loop) a loop of two feeding the other at that bound found the list
// empty for most batches and allocated 36 KiB for each (28 MB in a 2-loop
// fan-out of 3M deliveries, half of all it allocated), which kept the GC
// running. Spares that go unused are dropped (spareBatches.trim), so the
// list is only as long as recent traffic needed.
const (
	freeBatches    = int(inboxHigh/(maxBatch*(deliveryCost+smallMsgCost))) + 1
	maxFreeBatches = 4 * freeBatches
)

// smallMsgCost is what a pooled Msg of the smallest size class counts
// (Msg.size). Unpooled ones ($SYS, wills) can count less, but they are
// rare next to client PUBLISHes.
const smallMsgCost = int64(msgOverhead) + 64 // msgClasses[0]

// maxBatch is the most deliveries a batch carries: a full batch is posted at
// once instead of at Flush, so that a burst does not grow batches without
// bound (72 bytes per delivery: 36 KiB per batch).
const maxBatch = 512

// maxBatchCost is the most bytes (batch.cost) a batch gathers before it is
// posted. The destination's inbox counts a batch only once it is posted, so
// an open batch is what a loop can add beyond inboxHigh unseen: 512
// deliveries of 64 KB messages would be 64 MiB; now at most about 1 MiB.
// Batches of small messages stay under it (512 of 64 bytes: 212 KiB).
const maxBatchCost = inboxHigh / 16

func newLoopState(b *Broker, l *loop.Loop) *loopState {
	ls := &loopState{
		b:      b,
		l:      l,
		idx:    l.Index(),
		seen:   make(map[*session]int),
		enc:    make([]byte, 0, 4096),
		spares: spareBatches{ch: make(chan *batch, min(freeBatches*max(b.opts.Loops-1, 1), maxFreeBatches))},
		home:   newMsgHome(l),
	}
	ls.inbox.waiting = make([]atomic.Bool, b.opts.Loops)
	ls.avail = func(s *session) bool { return s != ls.exclude && s.isOnline() }
	return ls
}

// now is the loop's cached time.
func (ls *loopState) now() time.Time { return ls.l.Now() }

// handler implements loop.Handler for the broker. Every method runs on the
// goroutine of the loop that owns the connection or received the mail.
type handler struct{ b *Broker }

// Open is called when a connection is registered on a loop: after accept, or
// after a migration for CONNECT arrived (the conn already has its state).
func (h *handler) Open(c *loop.Conn) {
	ls := h.b.loops[c.Loop().Index()]
	if cs, ok := c.Context().(*conn); ok {
		cs.ls = ls // migrated: the CONNECT follows in Data
		// The deadline table is per loop: the connect timeout starts again
		// here, so a CONNECT that then waits for a password check is still
		// bounded.
		if cs.state != stateConnected && cs.state != stateClosing {
			cs.startConnectTimer()
		}
		return
	}
	h.b.conns.Add(1)
	ls.m.Accepted()
	cs := &conn{c: c, ls: ls}
	c.SetContext(cs)
	if h.b.stopping.Load() {
		c.CloseNow()
		return
	}
	cs.startConnectTimer()
}

// Data handles every whole packet in in and returns the bytes consumed; an
// incomplete packet is left for the next call.
func (h *handler) Data(c *loop.Conn, in []byte) int {
	cs, ok := c.Context().(*conn)
	if !ok {
		return len(in)
	}
	ls := cs.ls // read before data: a migrated conn's ls is the new loop's to change
	n := cs.data(in)
	ls.m.Received(n)
	return n
}

// Writable resumes draining the session queue once output has room.
func (h *handler) Writable(c *loop.Conn) {
	if cs, ok := c.Context().(*conn); ok && cs.s != nil && cs.s.conn == cs {
		cs.ls.drain(cs.s)
	}
}

// Closed runs once per connection: the session goes offline, the will is
// published or scheduled, expiry starts.
func (h *handler) Closed(c *loop.Conn, err error) {
	cs, ok := c.Context().(*conn)
	if !ok {
		return
	}
	h.b.conns.Add(-1)
	m := h.b.loops[c.Loop().Index()].m // the loop running this call, whatever cs.ls says
	m.Closed()
	cs.closed(err)
	// The loop may reap a connection after this iteration's Flush and then
	// sleep: publish the close (and the session's gauges) now.
	m.Flush()
}

// Mail handles one item posted to a loop: deliveries from other loops, auth
// verdicts, shutdown.
func (h *handler) Mail(l *loop.Loop, m any) {
	ls := h.b.loops[l.Index()]
	ls.mails++
	switch m := m.(type) {
	case *batch:
		// A message for several sessions here comes as consecutive
		// entries: share the encoding between them as publishFrom does.
		// Each entry holds a reference, and the batch was complete before
		// it came, so a Msg released below cannot come back as another
		// message later in this batch.
		sh := &ls.shared311
		sh.begin(len(m.ds) > 1)
		for i := range m.ds {
			ls.deliver(&m.ds[i])
			m.ds[i].m.release() // the batch's; queue or inflight took their own
		}
		sh.end()
		ls.handled(m.cost)
		clear(m.ds)
		m.ds = m.ds[:0] // cost is set again when enqueueRemote takes it
		m.from.spares.put(m)
	case *authResult:
		m.cs.authDone(m.ok)
	case *msgWake:
		m.h.armTrim()
	case *inboxResume:
		ls.resumeHeld()
	case *sysStart:
		ls.startSys()
	case *shutdownMsg:
		ls.shutdown()
		close(m.handled[ls.idx])
	case adminRequest:
		m.run(ls)
	}
}

// Flush posts this iteration's batches, one post per destination loop.
func (h *handler) Flush(l *loop.Loop) {
	ls := h.b.loops[l.Index()]
	ls.flushBatches()
	ls.m.Iteration(ls.mails)
	ls.m.Flush() // readers see this iteration's counts from now on
	ls.mails = 0
}

// enqueueRemote appends d to the batch for the loop owning d.s.
func (ls *loopState) enqueueRemote(d *delivery) {
	if ls.batches == nil {
		ls.batches = make([]*batch, len(ls.b.loops))
	}
	to := int(d.s.owner)
	bt := ls.batches[to]
	if bt == nil {
		if bt = ls.spares.get(); bt == nil {
			// Full size at once: growing by append from 64 allocated
			// four times for every batch a burst needed.
			bt = &batch{from: ls, ds: make([]delivery, 0, maxBatch)}
		}
		if !ls.sparesArmed {
			ls.armSpareTrim()
		}
		// The slots count whether used or not: a batch posted with one
		// delivery still holds 36 KiB until its destination handles it.
		bt.cost = int64(cap(bt.ds)) * deliveryCost
		ls.batches[to] = bt
		ls.dirty = append(ls.dirty, to)
	}
	d.m.ref()
	bt.ds = append(bt.ds, *d)
	bt.cost += int64(d.m.size())
	dest := ls.b.loops[to]
	if len(bt.ds) >= maxBatch || bt.cost >= maxBatchCost {
		ls.batches[to] = nil // still listed in dirty; flushBatches skips it
		dest.posted(bt.cost)
		dest.l.Post(bt)
	}
	ls.checkInbox(dest)
}

// flushBatches posts every open batch to its loop.
func (ls *loopState) flushBatches() {
	for _, to := range ls.dirty {
		if bt := ls.batches[to]; bt != nil {
			ls.batches[to] = nil
			ls.b.loops[to].posted(bt.cost)
			ls.b.loops[to].l.Post(bt)
		}
	}
	ls.dirty = ls.dirty[:0]
}

// shutdown tells this loop's 5.0 clients the server is going away and closes
// every connection with flush.
func (ls *loopState) shutdown() {
	var conns []*conn // disconnect may end sessions: not during the iteration
	for s := range ls.sessions.all() {
		if cs := s.conn; cs != nil {
			conns = append(conns, cs)
		}
	}
	for _, cs := range conns {
		cs.disconnect(mqtt.ServerShuttingDown)
	}
}
