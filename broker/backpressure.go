package broker

import (
	"sync/atomic"
	"unsafe"
)

// Flow control between loops.
//
// A PUBLISH read on loop A for sessions owned by loop B travels as batch
// mail (enqueueRemote). Routing is cheap next to delivering (B encodes and
// writes every copy), so a publisher on A whose topic has many subscribers
// on B could post deliveries faster than B works through them, and B's
// mailbox grew without bound: 200 subscribers on one loop and one QoS 0
// publisher on the other took the heap past 1 GB in 3 seconds. Session
// queue limits did not help, since the deliveries had not reached a queue.
// With one loop the publisher's TCP connection slows it down instead.
//
// So every loop counts what is posted to it and not yet handled (inbox),
// in bytes: each batch's slots (72 bytes each, 36 KiB, used or not: a
// batch posted with one delivery holds them all) plus the size of the
// message each delivery holds (counted again for every copy of one
// message, so the count is at most too high), from the moment the batch is
// posted (batches are posted at maxBatchCost bytes, so little goes
// unseen). When a loop routing a PUBLISH finds a destination's inbox above
// inboxHigh, it stops reading PUBLISH packets: each connection that brings
// one next is paused (held) with that packet left unread, and TCP slows
// its client. The loop registers as waiting on that destination, which
// mails it (inboxResume) once its inbox has fallen below inboxLow; the
// loop then resumes every connection it held. Packets read before that
// PUBLISH still go through (the rest wait behind it), a holding loop keeps
// handling its own mail, so two loops holding for each other both drain,
// and a held client is not timed out for keep alive (sweep): the broker,
// not the client, stopped reading.
const (
	// inboxHigh is the most bytes of deliveries a loop's inbox takes
	// before publishers feeding it are held: about 40,000 deliveries of
	// 64-byte messages (424 bytes each: a 72-byte slot, a 224-byte Msg and
	// its 128-byte buffer), or about 120 of 64 KB ones (128 KiB buffers).
	inboxHigh = 16 << 20
	// inboxLow is where held publishers are resumed.
	inboxLow = inboxHigh / 2
)

// deliveryCost is what a delivery in a batch costs besides its message.
const deliveryCost = int64(unsafe.Sizeof(delivery{}))

// inboxState is the destination side, on each loopState: written by every
// loop that posts to it, so it has cache lines of its own.
type inboxState struct {
	_ [64]byte
	// n counts the bytes of batches posted to this loop and not yet
	// handled (batch.cost: its slots plus each delivery's message).
	n atomic.Int64
	// anyWaiting is set when some loop waits for n to fall (waiting).
	anyWaiting atomic.Bool
	_          [64 - 12]byte
	// waiting has one flag per loop: that loop holds its publishers until
	// this one mails it inboxResume.
	waiting []atomic.Bool
}

// inboxResume is the mail that tells a loop it may read its held
// publishers again.
type inboxResume struct{}

// resumeMail is posted as a pointer, so posting allocates nothing.
var resumeMail = &inboxResume{}

// posted counts a batch of cost bytes just posted to ls. Any loop.
func (ls *loopState) posted(cost int64) { ls.inbox.n.Add(cost) }

// handled counts a batch of cost bytes of ls's inbox as handled and, below
// inboxLow, resumes the loops that wait. ls's goroutine.
func (ls *loopState) handled(cost int64) {
	left := ls.inbox.n.Add(-cost)
	if left >= inboxLow || !ls.inbox.anyWaiting.Load() {
		return
	}
	ls.inbox.anyWaiting.Store(false)
	for i := range ls.inbox.waiting {
		if ls.inbox.waiting[i].CompareAndSwap(true, false) {
			ls.b.loops[i].l.Post(resumeMail)
		}
	}
}

// checkInbox is called by enqueueRemote for destination to: with its inbox
// above inboxHigh, ls holds its publishers (holding) until to resumes it.
// ls's goroutine.
func (ls *loopState) checkInbox(to *loopState) {
	if ls.holding || to.inbox.n.Load() < inboxHigh {
		return
	}
	afterInboxLoad()
	ls.holding = true
	ls.inboxHolds++
	to.inbox.waiting[ls.idx].Store(true)
	to.inbox.anyWaiting.Store(true)
	// to may have drained below inboxLow between the load above and the
	// stores, and then saw nobody waiting: look again. Only the side whose
	// CompareAndSwap clears the flag resumes ls, this one or to's mail.
	if to.inbox.n.Load() < inboxLow && to.inbox.waiting[ls.idx].CompareAndSwap(true, false) {
		ls.resumeHeld()
	}
}

// hold pauses reading from cs, whose next packet is a PUBLISH that must
// wait while ls is holding. ls's goroutine.
func (ls *loopState) hold(cs *conn) {
	if !cs.held {
		cs.held = true
		cs.c.PauseRead()
		ls.held = append(ls.held, cs)
	}
}

// resumeHeld reads the held connections again (on inboxResume). ls's
// goroutine.
func (ls *loopState) resumeHeld() {
	ls.holding = false
	held := ls.held
	ls.held = ls.held[:0]
	for i, cs := range held {
		held[i] = nil
		if cs.held {
			cs.held = false
			if cs.state != stateClosing {
				cs.c.ResumeRead()
			}
		}
	}
}
