package broker

import "github.com/sol-broker/sol/metrics"

// Outbound QoS 1/2 states of an inflight entry.
const (
	awaitingAck     = iota // PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2)
	awaitingPubcomp        // PUBREL sent; waiting for PUBCOMP
)

// outEntry is one outbound QoS 1/2 message not yet acknowledged.
type outEntry struct {
	pid   uint16
	state byte
	// held: in flight before a reconnect and not resent yet, because the
	// client's new Receive Maximum is smaller than what was in flight
	// [MQTT-3.3.4-7]; drain resends it when the window allows.
	held bool
	tick uint64 // inflightOut.tick when pid was assigned
	d    delivery
}

// inflightOut is the outbound inflight table of a session: QoS 1/2 messages
// sent (or to resend) and not yet acknowledged, in send order, at most
// receiveMax of them. Its packet identifiers are a space of their own,
// separate from the client's (qos2In) [MQTT-2.2.1-3]. A slice in send order
// keeps resending on reconnect in the original order [MQTT-4.4.0-1].
//
// Acknowledgements mostly arrive in send order, so the table is a window
// (entries) sliding over a backing array (buf): removing the oldest entry
// moves the window's start and copies nothing, a search for an identifier
// starts at the oldest, and the array is compacted or grown only when the
// window reaches its end (amortised O(1), no allocation in steady state).
// With a window of 1,000 messages the former copy-down on every PUBACK was a
// quarter of the broker's CPU time in a QoS 1 fan-in (perf record).
// Owner loop only.
type inflightOut struct {
	// entries is the live window, oldest first: buf[head:head+len(entries)].
	// Code outside this file may read it and may replace it by a filtered
	// prefix of itself (entries[:0] plus appends); reset empties it.
	entries    []outEntry
	buf        []outEntry
	head       int
	receiveMax int           // min(client Receive Maximum, Options.MaxInflight)
	anyHeld    bool          // some entry may be held (see outEntry.held)
	nextPID    uint16        // last identifier handed out
	tick       uint64        // how many times nextPID advanced
	m          *metrics.Loop // the owner loop's counters (Inflight gauge); may be nil
}

// full reports whether the window is used up.
func (f *inflightOut) full() bool { return len(f.entries) >= f.receiveMax }

// add assigns a free packet identifier to d and records it, taking a
// reference to d.m. It returns 0 when the window is full (the caller queues d
// instead).
func (f *inflightOut) add(d delivery) uint16 {
	if f.full() || len(f.entries) >= 65535 {
		return 0
	}
	for {
		f.nextPID++
		f.tick++
		if f.nextPID == 0 { // [MQTT-2.2.1-3] packet identifier 0 is invalid
			f.nextPID = 1
		}
		if !f.inUse(f.nextPID) {
			break
		}
	}
	if len(f.entries) == cap(f.entries) {
		f.grow()
	}
	d.m.ref()
	f.entries = append(f.entries, outEntry{pid: f.nextPID, tick: f.tick, d: d})
	f.m.InflightAdd(1)
	return f.nextPID
}

// inUse reports whether pid, just taken from nextPID, belongs to a live
// entry. Identifiers handed out within 65,535 consecutive ticks are all
// different, and every live entry got its identifier no earlier than the
// oldest one's tick: unless that is 65,535 ticks ago, pid is free without a
// search.
func (f *inflightOut) inUse(pid uint16) bool {
	if len(f.entries) == 0 || f.tick-f.entries[0].tick < 65535 {
		return false
	}
	return f.find(pid) >= 0
}

// grow makes room for one more entry at the end of the window: by moving the
// window to the start of buf when at least half of buf is free in front of
// it, else by doubling buf.
func (f *inflightOut) grow() {
	n := len(f.entries)
	if f.head > 0 && f.head >= n {
		copy(f.buf, f.entries)
		clear(f.buf[n : f.head+n])
		f.head = 0
		f.entries = f.buf[:n]
		return
	}
	nb := make([]outEntry, max(2*n, 8))
	copy(nb, f.entries)
	clear(f.entries) // the old array may live on in a caller's copy; drop its references
	f.buf, f.head = nb, 0
	f.entries = nb[:n]
}

// find returns the index in entries of pid's entry, or -1. Entries are in
// tick order and identifiers follow ticks, so pid's entry, if live, is the
// one whose tick is the oldest's plus pid's distance from the oldest's
// identifier: a binary search finds it. When that guess misses (an
// identifier not in flight, or a table spanning a whole wrap) a linear search
// decides.
func (f *inflightOut) find(pid uint16) int {
	e := f.entries
	if len(e) == 0 {
		return -1
	}
	if e[0].pid == pid {
		return 0
	}
	d := (int(pid) - int(e[0].pid) + 65535) % 65535 // steps from the oldest's identifier
	want := e[0].tick + uint64(d)
	// Ticks strictly increase, so e[i].tick >= e[0].tick+i: the entry is at
	// an index no greater than d.
	lo, hi := 1, min(len(e), d+1)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if e[mid].tick < want {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(e) && e[lo].pid == pid {
		return lo
	}
	for i := range e {
		if e[i].pid == pid {
			return i
		}
	}
	return -1
}

// remove drops pid's entry, freeing the identifier for reuse
// [MQTT-4.3.3-13] and releasing its message, and reports whether it existed.
// The order of the others is kept.
func (f *inflightOut) remove(pid uint16) bool {
	i := f.find(pid)
	if i < 0 {
		return false
	}
	e := f.entries
	e[i].d.m.release()
	if i < len(e)-1-i {
		// Nearer the start: shift the older ones up by one, move the start.
		copy(e[1:i+1], e[:i])
		e[0] = outEntry{}
		f.entries = e[1:]
		f.head++
	} else {
		copy(e[i:], e[i+1:])
		e[len(e)-1] = outEntry{}
		f.entries = e[:len(e)-1]
	}
	if len(f.entries) == 0 && f.buf != nil {
		f.head = 0
		f.entries = f.buf[:0]
	}
	f.m.InflightAdd(-1)
	return true
}

// reset empties the table (the session ended), releasing every message.
func (f *inflightOut) reset() {
	for i := range f.entries {
		f.entries[i].d.m.release()
	}
	clear(f.entries)
	f.entries, f.buf, f.head = nil, nil, 0
}

// pubrec moves a QoS 2 entry to awaitingPubcomp and drops its message
// (after PUBREC the message is the client's; only PUBREL remains to send).
// It reports whether pid was a QoS 2 entry awaiting PUBREC or already past it.
func (f *inflightOut) pubrec(pid uint16) bool {
	i := f.find(pid)
	if i < 0 || f.entries[i].d.qos != 2 {
		return false
	}
	f.entries[i].state = awaitingPubcomp
	return true
}

// qos2In is the set of packet identifiers of QoS 2 messages received from the
// client whose PUBREL has not arrived: a PUBLISH with one of these
// identifiers is a duplicate and is not forwarded again [MQTT-4.3.3-9]. Its
// identifiers are the client's space, separate from inflightOut's. Owner loop
// only.
type qos2In struct {
	pids []uint16
}

// has reports whether pid awaits PUBREL.
func (q *qos2In) has(pid uint16) bool {
	for _, p := range q.pids {
		if p == pid {
			return true
		}
	}
	return false
}

// add records pid; it reports false if it was already there.
func (q *qos2In) add(pid uint16) bool {
	if q.has(pid) {
		return false
	}
	q.pids = append(q.pids, pid)
	return true
}

// release forgets pid (PUBREL received) and reports whether it was known.
func (q *qos2In) release(pid uint16) bool {
	for i, p := range q.pids {
		if p == pid {
			q.pids[i] = q.pids[len(q.pids)-1]
			q.pids = q.pids[:len(q.pids)-1]
			return true
		}
	}
	return false
}

// len returns how many QoS 2 messages from the client await PUBREL.
func (q *qos2In) len() int { return len(q.pids) }
