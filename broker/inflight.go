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
	d     delivery
}

// inflightOut is the outbound inflight table of a session: QoS 1/2 messages
// sent (or to resend) and not yet acknowledged, in send order, at most
// receiveMax of them. Its packet identifiers are a space of their own,
// separate from the client's (qos2In) [MQTT-2.2.1-3]. A slice in send order
// keeps resending on reconnect in the original order [MQTT-4.4.0-1] and costs
// a short linear search per acknowledgement (the window is small). Owner loop
// only.
type inflightOut struct {
	entries    []outEntry
	receiveMax int           // min(client Receive Maximum, Options.MaxInflight)
	nextPID    uint16        // last identifier handed out
	m          *metrics.Loop // the owner loop's counters (Inflight gauge); may be nil
}

// full reports whether the window is used up.
func (f *inflightOut) full() bool { return len(f.entries) >= f.receiveMax }

// add assigns a free packet identifier to d and records it. It returns 0 when
// the window is full (the caller queues d instead).
func (f *inflightOut) add(d delivery) uint16 {
	if f.full() || len(f.entries) >= 65535 {
		return 0
	}
	for {
		f.nextPID++
		if f.nextPID == 0 { // [MQTT-2.2.1-3] packet identifier 0 is invalid
			f.nextPID = 1
		}
		if f.find(f.nextPID) < 0 {
			break
		}
	}
	f.entries = append(f.entries, outEntry{pid: f.nextPID, d: d})
	f.m.InflightAdd(1)
	return f.nextPID
}

// find returns the index of pid's entry, or -1.
func (f *inflightOut) find(pid uint16) int {
	for i := range f.entries {
		if f.entries[i].pid == pid {
			return i
		}
	}
	return -1
}

// remove drops pid's entry, freeing the identifier for reuse
// [MQTT-4.3.3-13], and reports whether it existed.
func (f *inflightOut) remove(pid uint16) bool {
	i := f.find(pid)
	if i < 0 {
		return false
	}
	copy(f.entries[i:], f.entries[i+1:])
	f.entries[len(f.entries)-1] = outEntry{}
	f.entries = f.entries[:len(f.entries)-1]
	f.m.InflightAdd(-1)
	return true
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
