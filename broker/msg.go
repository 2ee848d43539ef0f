package broker

import "time"

// Msg is one published application message, copied once out of the
// publisher's read buffer and then shared, immutable, by every delivery,
// queue entry, inflight entry and the retained store. Any goroutine may read
// it; nobody writes it after newMsg returns.
type Msg struct {
	// buf holds topic, payload and the copied properties back to back; the
	// slices below point into it.
	buf []byte

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
	m.Topic = m.take(f.topic)
	m.Payload = m.take(f.payload)
	m.ContentType = m.take(f.contentType)
	m.ResponseTopic = m.take(f.responseTopic)
	m.CorrelationData = m.take(f.correlation)
	m.UserProperties = m.take(f.ups)
	m.QoS, m.Retain = f.qos, f.retain
	m.PayloadFormat, m.HasPayloadFormat = f.payloadFormat, f.hasPayloadFormat
	m.Expiry = f.expiry
	return m
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

// msgOverhead approximates the Msg header for byte accounting.
const msgOverhead = 160

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
