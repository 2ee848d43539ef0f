package broker

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sol-broker/sol/loop"
)

// Msg is one published application message, copied once out of the
// publisher's read buffer (or, when large, kept in it: adoptMsg below) and
// then shared, immutable, by every delivery, queue entry, inflight entry and
// the retained store. Any goroutine may read it; nobody writes it after it
// is built.
//
// A Msg from msgHome.newPooledMsg or adoptMsg (a client's PUBLISH that is not
// retained) is recycled: it counts references, and every holder that keeps
// it beyond the publishing call (a session queue entry, an inflight entry,
// a cross-loop batch entry) takes one with ref and gives it back with
// release; the publisher's own reference is released when routing is done.
// At zero the Msg and its buffer go back for the next PUBLISH of that size
// class (a small one to the free lists of the loop that made it,
// msghome.go; a large one to a shared pool), so the steady state of a
// PUBLISH allocates nothing. Other messages (retained, wills, $SYS) are
// garbage-collected and ref/release do nothing for them: the retained
// store, the admin API and SUBSCRIBE read them without holding a
// reference. A connection's output holds a reference too
// while a large payload is queued in it by reference (send, msgRef). Building
// with -tags soldebug poisons a freed buffer, never reuses it, panics on a
// negative count or on use after free (checkLive), and counts the pooled
// messages alive (liveMsgs) so that tests can check every reference was
// given back.
//
// A large message read into a buffer of its own is adopted, not copied
// (adoptMsg): its buffer is the publisher connection's input buffer, taken
// from the loop (loop.Conn.TakeInput), and holds the whole PUBLISH packet;
// Topic, Payload and the properties point into it. The loop reads large
// messages into buffers of pooled Msgs (Broker.inputBuffer), so buffers go
// round: pool, input buffer, Msg, subscribers' output, pool.
type Msg struct {
	// buf holds topic, payload and the copied properties back to back; the
	// slices below point into it.
	buf []byte

	pooled bool         // from msgHome.newPooledMsg or adoptMsg: counted and recycled
	refs   atomic.Int32 // references held, pooled messages only
	// home is the free list of the loop that made a small pooled Msg
	// (msgHome), where its last release sends it back; nextFree links
	// it there while it is free.
	home     *msgHome
	nextFree *Msg

	Topic   []byte
	Payload []byte
	QoS     byte // as published, before any downgrade
	Retain  bool // as published

	// 5.0 properties forwarded unchanged [MQTT-3.3.2-4] ... [MQTT-3.3.2-20].
	PayloadFormat    byte
	HasPayloadFormat bool
	ContentType      []byte
	ResponseTopic    []byte
	CorrelationData  []byte
	UserProperties   []byte // raw user-property block, order kept

	// Expiry is the absolute Message Expiry deadline; zero means none.
	Expiry time.Time
}

// msgFields are the parts of a PUBLISH that newMsg copies; the slices may
// point into a read buffer that is reused after the call.
type msgFields struct {
	topic, payload                               []byte
	qos                                          byte
	retain                                       bool
	payloadFormat                                byte
	hasPayloadFormat                             bool
	contentType, responseTopic, correlation, ups []byte
	expiry                                       time.Time
}

// newMsg copies f into a Msg with one allocation for all its bytes (plus the
// Msg itself).
func newMsg(f *msgFields) *Msg {
	n := len(f.topic) + len(f.payload) + len(f.contentType) + len(f.responseTopic) + len(f.correlation) + len(f.ups)
	m := &Msg{buf: make([]byte, 0, n)}
	m.fill(f)
	return m
}

// msgClasses are the buffer capacities pooled Msgs come in, up to twice the
// default maximum packet size; bigger messages are allocated each time (and
// still counted, then left to the GC). The free lists keep only what was
// in use in the last few seconds (msgHome), a sync.Pool what was in use at
// the peak between two GCs.
var msgClasses = [...]int{64, 128, 256, 512, 1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10,
	128 << 10, 256 << 10, 512 << 10, 1 << 20, 2 << 20}

// msgPools holds free pooled Msgs of the classes loops do not keep
// (homeClasses and up: adopted input buffers, which inputBuffer takes for
// any connection), one pool per size class.
var msgPools [len(msgClasses)]sync.Pool

// msgClass returns the index of the smallest class holding n bytes, or -1.
func msgClass(n int) int {
	for i, c := range msgClasses {
		if n <= c {
			return i
		}
	}
	return -1
}

// newPooledMsg is newMsg for a recycled, reference-counted Msg holding one
// reference, the caller's (see Msg): a small one comes from, and goes back
// to, the free lists of h's loop; a large one from the shared pools. h's
// loop goroutine.
func (h *msgHome) newPooledMsg(f *msgFields) *Msg {
	n := len(f.topic) + len(f.payload) + len(f.contentType) + len(f.responseTopic) + len(f.correlation) + len(f.ups)
	var m *Msg
	k := msgClass(n)
	switch {
	case k < 0:
		m = &Msg{buf: make([]byte, 0, n)}
	case k < homeClasses:
		m = h.get(k)
	default:
		if v, ok := msgPools[k].Get().(*Msg); ok {
			m = v
		} else {
			m = &Msg{buf: make([]byte, 0, msgClasses[k])}
		}
	}
	m.fill(f)
	m.startPooled()
	return m
}

// startPooled marks m pooled with one reference, the caller's.
func (m *Msg) startPooled() {
	m.pooled = true
	m.refs.Store(1)
	if msgDebug {
		liveMsgs.Add(1)
	}
}

// adoptMin is the least packet size for which onPublish adopts the input
// buffer holding it (adoptMsg) rather than copy the message, and for which
// the loop reads into a buffer of a pooled Msg (inputBuffer). Only a packet
// that did not fit the loop's read buffer whole, or straddled two reads,
// lies in a buffer of its own, so smaller packets rarely qualify anyway.
const adoptMin = 16 << 10

// maxSpareMsgs bounds a loop's spare Msg headers (inputBuffer).
const maxSpareMsgs = 64

// inputBuffer implements loop.Options.InputBuffer: a buffer of n bytes'
// class, the buffer of a free pooled Msg when there is one (whose header
// waits on the loop's spare list for adoptMsg), so that a large message is
// read straight into the memory it will be kept in. nil (the loop allocates)
// below adoptMin or above the largest class. Loop l's goroutine.
func (b *Broker) inputBuffer(l *loop.Loop, n int) []byte {
	k := msgClass(n)
	if n < adoptMin || k < 0 {
		return nil
	}
	v, ok := msgPools[k].Get().(*Msg)
	if !ok {
		return make([]byte, 0, msgClasses[k])
	}
	buf := v.buf[:0]
	v.buf = nil
	if ls := b.loops[l.Index()]; len(ls.spareMsgs) < maxSpareMsgs {
		ls.spareMsgs = append(ls.spareMsgs, v)
	}
	return buf
}

// adoptMsg is msgHome.newPooledMsg for a message whose fields lie in buf,
// the whole input buffer holding its PUBLISH (loop.Conn.TakeInput), which
// the Msg keeps instead of copying them; f.topic may lie elsewhere (a topic
// alias resolved, topicInBuf false) and is then copied behind the packet,
// or apart if the buffer has no room. Loop goroutine.
func (ls *loopState) adoptMsg(buf []byte, f *msgFields, topicInBuf bool) *Msg {
	var m *Msg
	if n := len(ls.spareMsgs); n > 0 {
		m = ls.spareMsgs[n-1]
		ls.spareMsgs[n-1] = nil
		ls.spareMsgs = ls.spareMsgs[:n-1]
	} else {
		m = &Msg{}
	}
	m.buf = buf
	switch {
	case topicInBuf:
		m.Topic = clip(f.topic)
	case cap(buf)-len(buf) >= len(f.topic):
		m.Topic = m.take(f.topic)
	default:
		m.Topic = bytes.Clone(f.topic)
	}
	m.Payload = clip(f.payload)
	m.ContentType = clip(f.contentType)
	m.ResponseTopic = clip(f.responseTopic)
	m.CorrelationData = clip(f.correlation)
	m.UserProperties = clip(f.ups)
	m.setFlags(f)
	m.startPooled()
	return m
}

// clip limits b's capacity to its length (nil stays nil), as take does for
// copies, so that no slice of a Msg reaches past its own bytes.
func clip(b []byte) []byte {
	if b == nil {
		return nil
	}
	return b[:len(b):len(b)]
}

// msgRef is a Msg as the loop.Releaser of an output reference to its
// payload (loop.Conn.WriteRef): the output's reference, given back once the
// payload is written or dropped. A conversion, so passing it allocates
// nothing.
type msgRef Msg

// Release implements loop.Releaser.
func (r *msgRef) Release() { (*Msg)(r).release() }

// fill copies f into m, whose buf is empty and large enough.
func (m *Msg) fill(f *msgFields) {
	m.Topic = m.take(f.topic)
	m.Payload = m.take(f.payload)
	m.ContentType = m.take(f.contentType)
	m.ResponseTopic = m.take(f.responseTopic)
	m.CorrelationData = m.take(f.correlation)
	m.UserProperties = m.take(f.ups)
	m.setFlags(f)
}

// setFlags sets m's fields of f that are not bytes.
func (m *Msg) setFlags(f *msgFields) {
	m.QoS, m.Retain = f.qos, f.retain
	m.PayloadFormat, m.HasPayloadFormat = f.payloadFormat, f.hasPayloadFormat
	m.Expiry = f.expiry
}

// ref takes one more reference to a pooled m. Any goroutine.
func (m *Msg) ref() {
	if m.pooled {
		if m.refs.Add(1) <= 1 {
			m.refs.Add(-1)
			msgRefPanic(m, "ref of a freed message")
		}
	}
}

// release gives back one reference to a pooled m; the last one recycles it.
// The caller must not touch m afterwards. Any goroutine.
func (m *Msg) release() {
	if !m.pooled {
		return
	}
	n := m.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		msgRefPanic(m, "negative reference count")
		return
	}
	if msgDebug {
		liveMsgs.Add(-1)
	}
	k := msgClass(cap(m.buf))
	if k < 0 || msgClasses[k] != cap(m.buf) {
		return // one-off size: the GC takes it
	}
	if msgDebug {
		poison(m)
		return
	}
	m.buf = m.buf[:0]
	m.Topic, m.Payload, m.ContentType, m.ResponseTopic, m.CorrelationData, m.UserProperties = nil, nil, nil, nil, nil, nil
	m.Expiry = time.Time{}
	if h := m.home; h != nil {
		h.put(k, m)
		return
	}
	msgPools[k].Put(m)
}

// checkLive panics, in a soldebug build, if m was freed. It is called where
// a message's bytes are encoded.
func (m *Msg) checkLive() {
	if msgDebug && m.pooled && m.refs.Load() <= 0 {
		msgRefPanic(m, "use of a freed message")
	}
}

// withExpiry returns a garbage-collected copy of m, sharing its bytes, with
// Expiry set to t. m must not be pooled (its bytes would be recycled).
func (m *Msg) withExpiry(t time.Time) *Msg {
	return &Msg{
		buf: m.buf, Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain,
		PayloadFormat: m.PayloadFormat, HasPayloadFormat: m.HasPayloadFormat,
		ContentType: m.ContentType, ResponseTopic: m.ResponseTopic,
		CorrelationData: m.CorrelationData, UserProperties: m.UserProperties,
		Expiry: t,
	}
}

// take appends b to m.buf and returns the copy; nil stays nil so that absent
// properties stay absent.
func (m *Msg) take(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(m.buf)
	m.buf = append(m.buf, b...)
	return m.buf[start:len(m.buf):len(m.buf)]
}

// size is the memory the message accounts for in queue byte limits.
func (m *Msg) size() int { return cap(m.buf) + msgOverhead }

// msgOverhead is the Msg header, for byte accounting.
const msgOverhead = int(unsafe.Sizeof(Msg{}))

// expired reports whether the message's expiry has passed at now
// [MQTT-3.3.2-5].
func (m *Msg) expired(now time.Time) bool {
	return !m.Expiry.IsZero() && !now.Before(m.Expiry)
}

// remainingExpiry is the Message Expiry Interval to send at now, in whole
// seconds, rounded up so a message that has not expired never says 0
// [MQTT-3.3.2-6].
func (m *Msg) remainingExpiry(now time.Time) uint32 {
	d := m.Expiry.Sub(now)
	if d <= 0 {
		return 0
	}
	s := (d + time.Second - 1) / time.Second
	if s > 0xFFFFFFFF {
		return 0xFFFFFFFF
	}
	return uint32(s)
}
