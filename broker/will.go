package broker

import (
	"time"

	"github.com/sol-broker/sol/mqtt"
)

// will is a client's Will Message, copied out of CONNECT.
type will struct {
	m         *Msg
	delay     uint32 // Will Delay Interval, seconds (5.0)
	expiry    uint32 // Message Expiry Interval, seconds, counted from publication
	hasExpiry bool
}

// newWill copies the will of CONNECT p into a Msg; the 5.0 will properties
// travel with it [MQTT-3.1.3-10]; Message Expiry counts from publication.
func newWill(p *mqtt.Connect) *will {
	f := msgFields{topic: p.WillTopic, payload: p.WillPayload, qos: p.WillQoS, retain: p.WillRetain}
	if f.payload == nil {
		f.payload = []byte{}
	}
	w := &will{}
	if p.ProtocolLevel == mqtt.Version5 {
		wp := &p.WillProps
		f.payloadFormat, f.hasPayloadFormat = wp.PayloadFormat, wp.Has(mqtt.PropPayloadFormat)
		f.contentType = wp.ContentType
		f.responseTopic = wp.ResponseTopic
		f.correlation = wp.CorrelationData
		f.ups = wp.User
		w.expiry, w.hasExpiry = wp.MessageExpiry, wp.Has(mqtt.PropMessageExpiry)
		w.delay = wp.WillDelay
	}
	w.m = newMsg(&f)
	return w
}

// willDue publishes a delayed will whose delay has passed.
func (ls *loopState) willDue(s *session) {
	if t := s.off; t != nil && t.pendingWill != nil && s.conn == nil {
		w := t.pendingWill
		t.pendingWill = nil
		ls.publishWill(w)
	}
}

// publishWill routes a will like any PUBLISH, retained if it says so, after
// checking the ACL of the client it belongs to.
func (ls *loopState) publishWill(w *will) {
	if ls.b.stopping.Load() {
		return
	}
	m := w.m
	if w.hasExpiry {
		m = m.withExpiry(ls.now().Add(time.Duration(w.expiry) * time.Second))
	}
	ls.publish(m)
}
