package broker

import (
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

// sessionQueue is a session's bounded FIFO of deliveries waiting for the
// inflight window, for output room, or for the client to come back. The
// bounds are Options.MaxQueuedMessages and MaxQueuedBytes (0: unbounded).
// When full (DESIGN.md section 5): an incoming QoS 0 message is dropped; an
// incoming QoS 1/2 message first evicts the oldest queued QoS 0 message, and
// is itself dropped (the newest) when none is left. Every drop is counted.
// Owner loop only.
type sessionQueue struct {
	items    []delivery
	head     int
	bytes    int64
	maxMsgs  int
	maxBytes int64
	dropped  uint64
	mem      *atomic.Int64 // broker-wide bytes queued, for Options.MaxMemory; may be nil
	m        *metrics.Loop // the owner loop's counters (Queued gauges); may be nil
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
func (q *sessionQueue) len() int { return len(q.items) - q.head }

// full reports whether one more message of size n would break a bound.
func (q *sessionQueue) full(n int) bool {
	if q.maxMsgs > 0 && q.len() >= q.maxMsgs {
		return true
	}
	return q.maxBytes > 0 && q.bytes+int64(n) > q.maxBytes && q.len() > 0
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
	q.items = append(q.items, d)
	q.account(1, int64(n))
	return true
}

// pushFront puts d back at the head (an inflight message being requeued),
// ignoring the bounds: it was admitted once already. The queue takes over the
// caller's reference to d.m.
func (q *sessionQueue) pushFront(d delivery) {
	if q.head > 0 {
		q.head--
		q.items[q.head] = d
	} else {
		q.items = append(q.items, delivery{})
		copy(q.items[1:], q.items)
		q.items[0] = d
	}
	q.account(1, int64(d.m.size()))
}

// evictQoS0 drops the oldest queued QoS 0 delivery and reports whether there
// was one.
func (q *sessionQueue) evictQoS0() bool {
	for i := q.head; i < len(q.items); i++ {
		if q.items[i].qos == 0 {
			q.account(-1, -int64(q.items[i].m.size()))
			q.items[i].m.release()
			copy(q.items[i:], q.items[i+1:])
			q.items[len(q.items)-1] = delivery{}
			q.items = q.items[:len(q.items)-1]
			q.dropped++
			return true
		}
	}
	return false
}

// peek returns the oldest delivery without removing it; ok is false when the
// queue is empty.
func (q *sessionQueue) peek() (d *delivery, ok bool) {
	if q.head == len(q.items) {
		return nil, false
	}
	return &q.items[q.head], true
}

// pop removes and returns the oldest delivery, with the queue's reference to
// its Msg: the caller releases it (or hands it on).
func (q *sessionQueue) pop() (delivery, bool) {
	if q.head == len(q.items) {
		return delivery{}, false
	}
	d := q.items[q.head]
	q.items[q.head] = delivery{} // let the Msg go
	q.head++
	q.account(-1, -int64(d.m.size()))
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head >= 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return d, true
}

// clear empties the queue, keeping the drop count and releasing every
// message.
func (q *sessionQueue) clear() {
	q.account(-q.len(), -q.bytes)
	for i := q.head; i < len(q.items); i++ {
		q.items[i].m.release()
	}
	clear(q.items)
	q.items, q.head = q.items[:0], 0
}
