package broker

import (
	"sync"
	"sync/atomic"

	"github.com/sol-broker/sol/metrics"
)

// delivery is one message on its way to one session: the shared Msg plus what
// is particular to this subscriber. It is a value type so that batches,
// queues and inflight tables hold it without allocating.
type delivery struct {
	s      *session // target; used in cross-loop batches
	m      *Msg
	qos    byte // granted: min(published, subscription)
	retain bool // RETAIN flag to send
	// Subscription identifiers of the matching subscriptions: the first two
	// inline, the rest (rare) in more.
	nsub   uint8
	subIDs [2]uint32
	more   []uint32
	// shared is the "$share/..." filter a delivery came through ("" for an
	// ordinary subscription), so
	// that an unacknowledged copy can move to another member on disconnect.
	shared string
}

// addSubID records a matching subscription identifier (0 means none).
func (d *delivery) addSubID(id uint32) {
	if id == 0 {
		return
	}
	if int(d.nsub) < len(d.subIDs) {
		d.subIDs[d.nsub] = id
		d.nsub++
		return
	}
	d.more = append(d.more, id)
}

// eachSubID calls fn for every subscription identifier, in order.
func (d *delivery) eachSubID(fn func(uint32)) {
	for i := 0; i < int(d.nsub); i++ {
		fn(d.subIDs[i])
	}
	for _, id := range d.more {
		fn(id)
	}
}

// blockSizes are the sizes of a sessionQueue's blocks, in deliveries: a
// queue starts with a block of one, and each block added at the tail is the
// next size up, to the largest (about 4.5 KiB). A session with one message
// waiting costs one small block; a deep backlog costs whole 4.5 KiB blocks.
var blockSizes = [...]int{1, 4, 16, 64}

// queueBlock is one piece of a sessionQueue; len(items) is one of blockSizes.
type queueBlock struct {
	next  *queueBlock
	items []delivery
	class uint8 // index into blockSizes
}

// queueBlocks holds free blocks beyond what the loops keep (blockCache),
// one pool per size.
var queueBlocks [len(blockSizes)]sync.Pool

// blockCacheMax bounds the free blocks of each size a loop keeps for itself:
// at most 16 x 85 deliveries, about 100 KiB per loop, which a loop keeps
// after a burst. (64 of each, 400 KiB, showed as +0.8 MiB of peak live
// heap with 2 loops in TestSlowConsumer.)
const blockCacheMax = 16

// blockCache is a loop's own lists of free queue blocks, one per size. A
// session's state stays on the loop that owns its client identifier
// (connections move to it, never the state), so its queue always takes and
// gives back blocks on that loop and the lists need no lock. Beyond
// blockCacheMax, blocks go to queueBlocks.
type blockCache struct {
	free [len(blockSizes)]*queueBlock
	n    [len(blockSizes)]int
}

// get returns an empty block of blockSizes[class]; c may be nil (no cache:
// the pool).
func (c *blockCache) get(class uint8) *queueBlock {
	if c == nil || c.free[class] == nil {
		if b, _ := queueBlocks[class].Get().(*queueBlock); b != nil {
			return b
		}
		return &queueBlock{items: make([]delivery, blockSizes[class]), class: class}
	}
	b := c.free[class]
	c.free[class], b.next = b.next, nil
	c.n[class]--
	return b
}

// put takes back an empty block; c may be nil.
func (c *blockCache) put(b *queueBlock) {
	if c == nil || c.n[b.class] >= blockCacheMax {
		b.next = nil
		queueBlocks[b.class].Put(b)
		return
	}
	b.next = c.free[b.class]
	c.free[b.class] = b
	c.n[b.class]++
}

// sessionQueue is a session's bounded FIFO of deliveries waiting for the
// inflight window, for output room, or for the client to come back. The
// bounds are Options.MaxQueuedMessages and MaxQueuedBytes (0: unbounded).
// When full (DESIGN.md section 5): an incoming QoS 0 message is dropped; an
// incoming QoS 1/2 message first evicts the oldest queued QoS 0 message, and
// is itself dropped (the newest) when none is left. Every drop is counted.
// Owner loop only.
//
// The queue is a chain of recycled blocks rather than one slice: a backlog
// of a million messages grows without copying what is queued or holding old
// and new arrays at once, and its memory goes back as the client catches up
// instead of staying with the session.
type sessionQueue struct {
	head, tail *queueBlock // nil when empty
	hi, ti     int         // index of the oldest item in head; next free slot in tail
	n          int         // queued deliveries
	n0         int         // of which QoS 0, so a queue of QoS 1/2 is not searched for one
	bytes      int64
	maxMsgs    int
	maxBytes   int64
	dropped    uint64
	mem        *atomic.Int64 // broker-wide bytes queued, for Options.MaxMemory; may be nil
	m          *metrics.Loop // the owner loop's counters (Queued gauges); may be nil
	blocks     *blockCache   // the owner loop's free blocks; may be nil
}

// account adds msgs messages of n bytes (negative when they leave) to the
// queue's and the broker's totals.
func (q *sessionQueue) account(msgs int, n int64) {
	q.bytes += n
	if q.mem != nil {
		q.mem.Add(n)
	}
	q.m.QueueAdd(msgs, int(n))
}

// len returns the number of queued deliveries.
func (q *sessionQueue) len() int { return q.n }

// full reports whether one more message of size n would break a bound.
func (q *sessionQueue) full(n int) bool {
	if q.maxMsgs > 0 && q.n >= q.maxMsgs {
		return true
	}
	return q.maxBytes > 0 && q.bytes+int64(n) > q.maxBytes && q.n > 0
}

// push appends d, applying the drop policy, and takes a reference to d.m when
// queued. It reports whether d was queued; false means d itself was dropped
// (and counted).
func (q *sessionQueue) push(d delivery) bool {
	n := d.m.size()
	for q.full(n) {
		if d.qos == 0 || !q.evictQoS0() {
			q.dropped++
			return false
		}
	}
	d.m.ref()
	switch {
	case q.tail == nil:
		b := q.blocks.get(0)
		q.head, q.tail, q.hi, q.ti = b, b, 0, 0
	case q.ti == len(q.tail.items):
		b := q.blocks.get(min(q.tail.class+1, uint8(len(blockSizes)-1)))
		q.tail.next, q.tail, q.ti = b, b, 0
	}
	q.tail.items[q.ti] = d
	q.ti++
	q.n++
	if d.qos == 0 {
		q.n0++
	}
	q.account(1, int64(n))
	return true
}

// evictQoS0 drops the oldest queued QoS 0 delivery and reports whether there
// was one. What follows it moves up one place, keeping the order.
func (q *sessionQueue) evictQoS0() bool {
	if q.n0 == 0 {
		return false
	}
	var prev *queueBlock // the block before b
	b, i := q.head, q.hi
	for b.items[i].qos != 0 {
		if i++; i == len(b.items) {
			prev, b, i = b, b.next, 0
		}
	}
	d := &b.items[i]
	q.account(-1, -int64(d.m.size()))
	d.m.release()
	q.dropped++
	q.n0--
	// Shift every later delivery one place towards the head.
	for {
		nb, ni := b, i+1
		if ni == len(b.items) {
			nb, ni = b.next, 0
		}
		if nb == nil || nb == q.tail && ni == q.ti {
			break
		}
		b.items[i] = nb.items[ni]
		if nb != b {
			prev = b
		}
		b, i = nb, ni
	}
	b.items[i] = delivery{}
	q.n--
	q.ti = i
	if q.n == 0 {
		q.release()
	} else if q.ti == 0 && q.tail != q.head {
		// The tail block emptied: its predecessor is the new tail.
		q.blocks.put(q.tail)
		prev.next, q.tail, q.ti = nil, prev, len(prev.items)
	}
	return true
}

// peek returns the oldest delivery without removing it; ok is false when the
// queue is empty.
func (q *sessionQueue) peek() (d *delivery, ok bool) {
	if q.n == 0 {
		return nil, false
	}
	return &q.head.items[q.hi], true
}

// pop removes and returns the oldest delivery, with the queue's reference to
// its Msg: the caller releases it (or hands it on).
func (q *sessionQueue) pop() (delivery, bool) {
	if q.n == 0 {
		return delivery{}, false
	}
	d := q.head.items[q.hi]
	q.head.items[q.hi] = delivery{} // let the Msg go
	q.hi++
	q.n--
	if d.qos == 0 {
		q.n0--
	}
	q.account(-1, -int64(d.m.size()))
	if q.n == 0 {
		q.release()
	} else if q.hi == len(q.head.items) {
		b := q.head
		q.head, q.hi = b.next, 0
		q.blocks.put(b)
	}
	return d, true
}

// release gives back the blocks of an empty queue. Their items are already
// cleared.
func (q *sessionQueue) release() {
	for b := q.head; b != nil; {
		next := b.next
		q.blocks.put(b)
		b = next
	}
	q.head, q.tail, q.hi, q.ti = nil, nil, 0, 0
}

// clear empties the queue, keeping the drop count and releasing every
// message.
func (q *sessionQueue) clear() {
	q.account(-q.n, -q.bytes)
	for b, i := q.head, q.hi; q.n > 0; q.n-- {
		if i == len(b.items) {
			b, i = b.next, 0
		}
		b.items[i].m.release()
		b.items[i] = delivery{}
		i++
	}
	q.n0 = 0
	q.release()
}
