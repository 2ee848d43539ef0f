package broker

import (
	"bytes"
	"time"

	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

// sysPrefix starts the broker's own topics; clients cannot publish there.
var sysPrefix = []byte("$SYS")

// onPublish handles a PUBLISH from the client: checks, QoS 2 duplicate
// suppression, topic alias, the copy into a Msg, routing and the
// acknowledgement.
func (cs *conn) onPublish(pkt []byte) error {
	ls, o := cs.ls, &cs.ls.b.opts
	p := &ls.pub
	if err := mqtt.DecodePublish(pkt, cs.version, p); err != nil {
		return err
	}
	ls.m.PublishIn(p.QoS, len(p.Payload))
	if p.QoS > o.MaxQoS {
		return mqtt.QoSNotSupported // [MQTT-3.2.2-11]
	}
	if p.Retain && o.DisableRetain {
		return mqtt.RetainNotSupported // [MQTT-3.2.2-14]
	}
	topicInPkt := len(p.Topic) > 0 // not from a topic alias
	if cs.version == mqtt.Version5 {
		if p.Props.Has(mqtt.PropSubscriptionID) {
			return mqtt.ProtocolError // [MQTT-3.3.4-6] only the server sends them
		}
		if err := cs.resolveAlias(p); err != nil {
			return err
		}
	}
	if len(p.Topic) == 0 {
		return mqtt.ProtocolError // [MQTT-3.3.2-1] no topic and no alias
	}
	if cs.version == mqtt.Version5 && p.Props.Has(mqtt.PropPayloadFormat) {
		// The broker checks what the indicator promises (5.0 section
		// 3.3.2.3.2 lets it): QoS 1/2 get PUBACK/PUBREC 0x99 and the message
		// is not forwarded; QoS 0 has no acknowledgement to carry the code,
		// so the client is disconnected with 0x99.
		if err := mqtt.ValidPayloadFormat(p); err != nil {
			if p.QoS == 0 {
				return err
			}
			cs.ackPublish(p, mqtt.PayloadFormatInvalid)
			return nil
		}
	}

	// QoS 2 received twice before PUBREL: acknowledge, do not forward again
	// [MQTT-4.3.3-9].
	if p.QoS == 2 && cs.s.view().qos2In.has(p.PacketID) {
		cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREC, p.PacketID, mqtt.Success, nil))
		return nil
	}
	if p.QoS == 2 && cs.version == mqtt.Version5 && cs.s.view().qos2In.len() >= o.MaxInflight {
		return mqtt.ReceiveMaximumExceeded // [MQTT-3.3.4-9]
	}
	// 3.1.1 has no Receive Maximum: a client may pipeline QoS 2 freely (as
	// Mosquitto allows); the packet-identifier space bounds qos2In at 65535.

	rc := mqtt.Success
	if max := o.MaxMemory; max > 0 && ls.b.queuedBytes()+ls.b.retained.Bytes() > max {
		// Over the memory bound: QoS 0 is dropped, QoS 1/2 refused with
		// Quota exceeded (3.1.1 cannot be told: acknowledged and dropped).
		ls.m.Drop(metrics.DropMemory)
		switch p.QoS {
		case 1:
			cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBACK, p.PacketID, mqtt.QuotaExceeded, nil))
		case 2:
			cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREC, p.PacketID, mqtt.QuotaExceeded, nil))
		}
		return nil
	}
	allowed := !bytes.HasPrefix(p.Topic, sysPrefix)
	if allowed && o.Auth != nil && !o.Auth.CanPublish(cs.s.clientID, cs.s.username, p.Topic) {
		allowed = false
	}
	if !allowed {
		rc = mqtt.NotAuthorized
		ls.m.Drop(metrics.DropNotAuthorized)
	} else {
		m := ls.publishMsg(cs, p, pkt, topicInPkt)
		dropsBefore := ls.queueDrops
		n := ls.publishFrom(m, cs.s)
		m.release() // the holders took their own references
		switch {
		case cs.version != mqtt.Version5:
		case n == 0:
			rc = mqtt.NoMatchingSubscribers
		case p.QoS > 0 && ls.queueDrops-dropsBefore == uint64(n):
			// Every subscriber matched is on this loop and every one's
			// queue refused the message: nobody will get it, and the
			// publisher is told so (DESIGN.md section 5, "0x97 where it
			// applies"). When some deliveries went to other loops their
			// fate is not known before this acknowledgement, and when some
			// subscriber took it the message was accepted: Success, with
			// the other drops counted.
			rc = mqtt.QuotaExceeded
		}
	}
	cs.ackPublish(p, rc)
	return nil
}

// ackPublish sends PUBACK (QoS 1) or PUBREC (QoS 2) with rc for p; a QoS 2
// message accepted (rc below 0x80) is remembered until PUBREL. Nothing for
// QoS 0.
func (cs *conn) ackPublish(p *mqtt.Publish, rc mqtt.ReasonCode) {
	ls := cs.ls
	switch p.QoS {
	case 1:
		cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBACK, p.PacketID, rc, nil))
	case 2:
		if rc < 0x80 {
			ls.stateOf(cs.s).qos2In.add(p.PacketID)
		}
		cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREC, p.PacketID, rc, nil))
	}
}

// resolveAlias applies a 5.0 Topic Alias from the client: a topic with an
// alias (re)defines it, an empty topic uses it [MQTT-3.3.2-12].
func (cs *conn) resolveAlias(p *mqtt.Publish) error {
	if !p.Props.Has(mqtt.PropTopicAlias) {
		return nil
	}
	a := int(p.Props.TopicAlias)
	if a == 0 || a > cs.ls.b.opts.TopicAliasMaximum {
		return mqtt.TopicAliasInvalid // [MQTT-3.3.2-8] [MQTT-3.3.2-9]
	}
	x := cs.extra()
	if x.aliasIn == nil {
		x.aliasIn = make([][]byte, cs.ls.b.opts.TopicAliasMaximum)
	}
	if len(p.Topic) > 0 {
		x.aliasIn[a-1] = append(x.aliasIn[a-1][:0], p.Topic...)
		return nil
	}
	if len(x.aliasIn[a-1]) == 0 {
		return mqtt.ProtocolError // [MQTT-3.3.4-6] alias never set
	}
	p.Topic = x.aliasIn[a-1]
	return nil
}

// publishMsg returns the Msg for p, decoded from pkt, which is the end of
// the input of the loop's Data call in progress: a large message that lies
// in a buffer of the connection's own is adopted with that buffer (no copy),
// any other copied (copyPublish). topicInPkt is false when p.Topic came from
// a topic alias, outside pkt.
func (ls *loopState) publishMsg(cs *conn, p *mqtt.Publish, pkt []byte, topicInPkt bool) *Msg {
	if len(pkt) < adoptMin || ls.retains(p) {
		return ls.copyPublish(p)
	}
	buf := cs.c.TakeInput(pkt)
	if buf == nil {
		return ls.copyPublish(p)
	}
	return ls.adoptMsg(buf, ls.publishFields(p), topicInPkt)
}

// copyPublish copies a decoded PUBLISH out of the read buffer into a Msg.
func (ls *loopState) copyPublish(p *mqtt.Publish) *Msg {
	f := ls.publishFields(p)
	if ls.retains(p) {
		return newMsg(f) // the retained store keeps it without counting
	}
	return ls.home.newPooledMsg(f)
}

// retains reports whether p goes to the retained store, whose messages are
// not pooled.
func (ls *loopState) retains(p *mqtt.Publish) bool { return p.Retain && !ls.b.opts.DisableRetain }

// publishFields returns the parts of p a Msg keeps, in the loop's scratch
// msgFields (valid until the next call): returned by value, the ~180-byte
// struct was zeroed twice and copied.
func (ls *loopState) publishFields(p *mqtt.Publish) *msgFields {
	f := &ls.fields
	*f = msgFields{topic: p.Topic, payload: p.Payload, qos: p.QoS, retain: p.Retain}
	if f.payload == nil {
		f.payload = []byte{}
	}
	pr := &p.Props
	if pr.Present != 0 {
		f.payloadFormat, f.hasPayloadFormat = pr.PayloadFormat, pr.Has(mqtt.PropPayloadFormat)
		f.contentType = pr.ContentType
		f.responseTopic = pr.ResponseTopic
		f.correlation = pr.CorrelationData
		if pr.Has(mqtt.PropUserProperty) {
			f.ups = pr.User
		}
		if pr.Has(mqtt.PropMessageExpiry) {
			f.expiry = ls.now().Add(time.Duration(pr.MessageExpiry) * time.Second)
		}
	}
	return f
}

// publish routes m: retained store, then one delivery per matching session
// (overlapping subscriptions merged) and one per matching shared group. It
// returns the number of deliveries. Loop goroutine only.
func (ls *loopState) publish(m *Msg) int { return ls.publishFrom(m, nil) }

// publishFrom is publish for a message from session from (nil for wills and
// $SYS), which No Local subscriptions of that session skip. The publisher is
// not kept in the Msg: a retained message would otherwise pin its publisher's
// ended session, queues and all, for as long as it is retained.
func (ls *loopState) publishFrom(m *Msg, from *session) int {
	b := ls.b
	if m.Retain && !b.opts.DisableRetain {
		if len(m.Payload) == 0 {
			b.retained.Delete(string(m.Topic)) // [MQTT-3.3.1-6]
		} else {
			b.retained.Set(string(m.Topic), m, m.size()) // [MQTT-3.3.1-5]
		}
	}
	ls.matches = b.subs.MatchFrom(ls.idx, m.Topic, ls.matches[:0], ls.avail)
	if len(ls.matches) == 0 {
		return 0
	}
	ls.pending = ls.pending[:0]
	merged := false
	for i := range ls.matches {
		mt := &ls.matches[i]
		s, opt := mt.Sub, &mt.Opts
		qos := min(m.QoS, opt.QoS)                  // [MQTT-3.8.4-8] downgrade to the granted QoS
		retain := m.Retain && opt.RetainAsPublished // [MQTT-3.3.1-12] [MQTT-3.3.1-13]
		if mt.Group != "" {
			d := delivery{s: s, m: m, qos: qos, retain: retain, shared: mt.Filter}
			d.addSubID(opt.SubscriptionID)
			ls.pending = append(ls.pending, d)
			continue
		}
		if opt.NoLocal && from == s { // [MQTT-3.8.3-3]
			continue
		}
		if len(ls.matches) > 1 && s.mayMatchTwice() {
			merged = true
			if j, ok := ls.seen[s]; ok {
				d := &ls.pending[j]
				d.qos = max(d.qos, qos)
				d.retain = d.retain || retain
				d.addSubID(opt.SubscriptionID)
				continue
			}
			ls.seen[s] = len(ls.pending)
		}
		d := delivery{s: s, m: m, qos: qos, retain: retain}
		d.addSubID(opt.SubscriptionID)
		ls.pending = append(ls.pending, d)
	}
	if merged {
		clear(ls.seen)
	}
	clear(ls.matches) // drop references for the GC
	n := len(ls.pending)
	sh := &ls.shared311
	sh.begin(n > 1)
	for i := range ls.pending {
		ls.route(&ls.pending[i])
	}
	sh.end() // m may be recycled once routing is done
	clear(ls.pending)
	return n
}

// sharedEncoding is loopState.shared311: the encoding of a QoS 0 PUBLISH
// for 3.1/3.1.1 subscribers, the same bytes for each (no packet identifier,
// no properties), shared by send between the sessions one message goes to
// within one scope: a publishFrom, whose publisher's reference keeps the
// Msg from being recycled, or one batch in Mail, whose entries each hold
// one.
type sharedEncoding struct {
	on      bool // inside a scope that goes to several sessions
	msg     *Msg // the message pkt encodes; nil: none yet
	version byte
	retain  bool
	pkt     []byte
}

// begin opens a scope; on says whether send may share encodings in it. In
// soldebug builds it panics if the scope before did not end: a cache left
// behind could name a Msg recycled since as another message.
func (sh *sharedEncoding) begin(on bool) {
	if msgDebug && sh.msg != nil {
		msgRefPanic(sh.msg, "shared encoding left over from an earlier scope")
	}
	sh.on = on
}

// end closes the scope; the Msg it cached may be recycled from now on.
func (sh *sharedEncoding) end() { sh.on, sh.msg = false, nil }

// route hands d to its session: directly if this loop owns it, else into
// the batch for the owner loop.
func (ls *loopState) route(d *delivery) {
	if int(d.s.owner) == ls.idx {
		ls.deliver(d)
		return
	}
	ls.enqueueRemote(d)
}

// deliver gives d to its session, which this loop owns: sent now if the
// client is connected, the queue is empty, the inflight window has room and
// the output is not congested; queued otherwise (QoS 0 is not queued for an
// offline session).
func (ls *loopState) deliver(d *delivery) {
	s := d.s
	if s.gone {
		return
	}
	if d.m.expired(ls.now()) {
		ls.m.Drop(metrics.DropExpired)
		return
	}
	if a := ls.b.opts.Auth; a != nil && !a.CanRead(s.clientID, s.username, d.m.Topic) {
		ls.m.Drop(metrics.DropNotAuthorized)
		return
	}
	cs := s.conn
	if cs == nil || cs.state != stateConnected {
		if d.qos > 0 {
			ls.enqueue(s, d)
		}
		return
	}
	st := s.view()
	if d.qos > 0 {
		st = ls.stateOf(s) // a QoS 1/2 delivery needs the inflight table
	}
	if st.queue.len() > 0 || cs.c.Congested() || d.qos > 0 && st.inflight.full() {
		ls.enqueue(s, d)
		return
	}
	ls.send(cs, d, 0, false)
}

// enqueue puts d on s's queue, counting a drop when the bounds refuse it.
func (ls *loopState) enqueue(s *session, d *delivery) {
	st := ls.stateOf(s)
	q := &st.queue
	before := q.dropped
	queued := q.push(*d)
	if n := q.dropped - before; n > 0 { // d itself, or QoS 0 evicted for it
		for range n {
			ls.m.Drop(metrics.DropQueueFull)
		}
	}
	if !queued {
		ls.queueDrops++
		st.droppedTotal++
		if st.droppedTotal&(st.droppedTotal-1) == 0 { // log at powers of two
			ls.b.log.Warn("session queue full, dropping messages", "client", s.clientID, "dropped", st.droppedTotal)
		}
	}
}

// drain sends queued deliveries while the client is connected, its output
// has room and the inflight window allows.
func (ls *loopState) drain(s *session) {
	cs := s.conn
	if cs == nil || cs.state != stateConnected {
		return
	}
	st := s.st
	if st == nil {
		return // nothing queued
	}
	if st.inflight.anyHeld && !ls.resendHeld(cs, st) {
		return // held messages go first, in order
	}
	now := ls.now()
	for !cs.c.Congested() {
		d, ok := st.queue.peek()
		if !ok {
			return
		}
		if d.qos > 0 && st.inflight.full() {
			return
		}
		dd, _ := st.queue.pop()
		if dd.m.expired(now) { // [MQTT-3.3.2-5]
			ls.m.Drop(metrics.DropExpired)
			dd.m.release()
			continue
		}
		ls.send(cs, &dd, 0, false) // inflight takes its own reference
		dd.m.release()
	}
}

// resendHeld resends held inflight entries (see outEntry.held), oldest first,
// while the client's Receive Maximum and the output allow. It reports whether
// none is left held.
func (ls *loopState) resendHeld(cs *conn, st *sessionState) bool {
	f := &st.inflight
	live := 0
	for i := range f.entries {
		if !f.entries[i].held {
			live++
		}
	}
	left := false
	for i := 0; i < len(f.entries); i++ {
		e := &f.entries[i]
		if !e.held {
			continue
		}
		if live >= f.receiveMax || cs.c.Congested() {
			left = true
			break
		}
		e.held = false
		live++
		if !ls.send(cs, &e.d, e.pid, true) { // too large for the client now
			f.remove(e.pid)
			live--
			i--
		}
	}
	f.anyHeld = left
	return !left
}

// resend sends again, in order, what was in flight when the client went
// away: PUBLISH with DUP for unacknowledged messages, PUBREL for those past
// PUBREC [MQTT-4.4.0-1].
func (ls *loopState) resend(s *session) {
	cs := s.conn
	st := s.st
	if st == nil {
		return // nothing in flight
	}
	entries := st.inflight.entries
	sent := 0
	for i := 0; i < len(entries); i++ {
		e := &entries[i]
		if e.state == awaitingPubcomp {
			cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREL, e.pid, mqtt.Success, nil))
			sent++
			continue
		}
		if sent >= st.inflight.receiveMax {
			// The client came back with a smaller Receive Maximum: the
			// rest waits for acknowledgements [MQTT-3.3.4-7].
			e.held = true
			st.inflight.anyHeld = true
			continue
		}
		sent++
		if !ls.send(cs, &e.d, e.pid, true) {
			st.inflight.remove(e.pid)
			entries = st.inflight.entries
			i--
		}
	}
}

// send encodes d into the client's output. pid 0 means a new message (an
// identifier is assigned for QoS > 0 and the message recorded in flight);
// otherwise it is a resend of pid. It returns false when the message was
// dropped because it exceeds the client's Maximum Packet Size
// [MQTT-3.1.2-24].
func (ls *loopState) send(cs *conn, d *delivery, pid uint16, dup bool) bool {
	d.m.checkLive()
	if sh := &ls.shared311; sh.on && d.qos == 0 && cs.version < mqtt.Version5 && len(d.m.Payload) < splitPayload {
		if sh.msg != d.m || sh.version != cs.version || sh.retain != d.retain {
			p := &ls.out
			p.Dup, p.QoS, p.Retain, p.PacketID = false, 0, d.retain, 0
			p.Topic, p.Payload = d.m.Topic, d.m.Payload
			sh.pkt = mqtt.AppendPublish(sh.pkt[:0], cs.version, p)
			sh.msg, sh.version, sh.retain = d.m, cs.version, d.retain
		}
		if len(sh.pkt) > int(cs.maxPacketOut) {
			ls.m.Drop(metrics.DropTooLarge)
			return false
		}
		cs.c.Write(sh.pkt)
		ls.m.PacketOut(sh.pkt[0])
		ls.m.Sent(len(sh.pkt))
		ls.m.PublishOut(0, len(d.m.Payload))
		return true
	}
	p := &ls.out
	p.Dup = dup
	p.QoS = d.qos
	p.Retain = d.retain
	p.Topic = d.m.Topic
	p.Payload = d.m.Payload
	p.PacketID = 0
	if d.qos > 0 {
		p.PacketID = max(pid, 1) // placeholder for sizing
	}
	var newAlias uint16
	if cs.version == mqtt.Version5 {
		// Only 5.0 encodes properties. Resetting them (a ~300-byte struct
		// of slices, with write barriers while the GC runs) for every
		// 3.1.1 delivery cost ~6% of sol's CPU per message at fan-out.
		p.Props.Reset()
		ls.fillProps(p, d)
		newAlias = cs.applyAliasOut(p)
	}
	if mqtt.PublishSize(cs.version, p) > int(cs.maxPacketOut) {
		ls.m.Drop(metrics.DropTooLarge)
		return false
	}
	if newAlias != 0 {
		cs.x.aliasOut[string(d.m.Topic)] = newAlias
		cs.x.aliasOutNext = newAlias
	}
	if d.qos > 0 && pid == 0 {
		pid = ls.stateOf(cs.s).inflight.add(*d)
		p.PacketID = pid
	}
	n := 0
	if len(p.Payload) >= splitPayload {
		// Header, then the payload straight from the Msg: one copy of a
		// large payload (into the output chunks) instead of two.
		ls.enc = mqtt.AppendPublishHeader(ls.enc[:0], cs.version, p)
		cs.c.Write(ls.enc)
		if len(p.Payload) >= refPayload {
			// Not even that copy: the output holds a reference to the
			// Msg until the payload is written (a transport copies it).
			d.m.ref()
			cs.c.WriteRef(p.Payload, (*msgRef)(d.m))
		} else {
			cs.c.Write(p.Payload)
		}
		n = len(ls.enc) + len(p.Payload)
	} else {
		ls.enc = mqtt.AppendPublish(ls.enc[:0], cs.version, p)
		cs.c.Write(ls.enc)
		n = len(ls.enc)
	}
	ls.m.PacketOut(ls.enc[0])
	ls.m.Sent(n)
	ls.m.PublishOut(d.qos, len(d.m.Payload))
	ls.enc = ls.enc[:0]
	return true
}

// splitPayload is the payload size from which send queues a PUBLISH as header
// plus payload (two Writes, one copy) rather than encoding the whole packet
// into the loop's encode buffer first (two copies). Below it one Write is
// cheaper, and over TLS one record instead of two.
const splitPayload = 4 << 10

// refPayload is the payload size from which send queues the payload by
// reference (loop.Conn.WriteRef) instead of copying it into the output; a
// reference costs an atomic count each way and an iovec of its own. Chosen
// with adoptMin, not measured at the boundary: at 64 KiB the two together
// took sol from 82 to 71 us of CPU per message.
const refPayload = 16 << 10

// fillProps sets the 5.0 properties of an outbound PUBLISH from the Msg and
// the delivery: forwarded unchanged and in order [MQTT-3.3.2-15]
// [MQTT-3.3.2-17] [MQTT-3.3.2-20], Message Expiry decremented by the time
// waited [MQTT-3.3.2-6], and the matching subscription identifiers
// [MQTT-3.3.4-3].
func (ls *loopState) fillProps(p *mqtt.Publish, d *delivery) {
	m, pr := d.m, &p.Props
	if m.HasPayloadFormat {
		pr.PayloadFormat = m.PayloadFormat
		pr.Set(mqtt.PropPayloadFormat)
	}
	if !m.Expiry.IsZero() {
		pr.MessageExpiry = m.remainingExpiry(ls.now())
		pr.Set(mqtt.PropMessageExpiry)
	}
	if m.ContentType != nil {
		pr.ContentType = m.ContentType
		pr.Set(mqtt.PropContentType)
	}
	if m.ResponseTopic != nil {
		pr.ResponseTopic = m.ResponseTopic
		pr.Set(mqtt.PropResponseTopic)
	}
	if m.CorrelationData != nil {
		pr.CorrelationData = m.CorrelationData
		pr.Set(mqtt.PropCorrelationData)
	}
	if m.UserProperties != nil {
		pr.User = m.UserProperties
		pr.Set(mqtt.PropUserProperty)
	}
	if d.nsub > 0 {
		for i := 0; i < int(d.nsub); i++ {
			pr.SubscriptionIDs = append(pr.SubscriptionIDs, d.subIDs[i])
		}
		pr.SubscriptionIDs = append(pr.SubscriptionIDs, d.more...)
		pr.Set(mqtt.PropSubscriptionID)
	}
}

// applyAliasOut replaces the topic by an alias the client already knows, or
// picks a new alias while the client's Topic Alias Maximum allows
// [MQTT-3.3.2-10]. It returns the new alias to record once the packet is
// known to fit, or 0.
func (cs *conn) applyAliasOut(p *mqtt.Publish) uint16 {
	if cs.aliasMaxOut == 0 {
		return 0
	}
	x := cs.extra()
	if a, ok := x.aliasOut[string(p.Topic)]; ok {
		p.Props.TopicAlias = a
		p.Props.Set(mqtt.PropTopicAlias)
		p.Topic = nil
		return 0
	}
	if x.aliasOutNext >= cs.aliasMaxOut {
		return 0
	}
	if x.aliasOut == nil {
		x.aliasOut = make(map[string]uint16)
	}
	a := x.aliasOutNext + 1
	p.Props.TopicAlias = a
	p.Props.Set(mqtt.PropTopicAlias)
	return a
}

// redistributeShared moves deliveries that came from shared subscriptions
// out of s (going offline or ending) to another member of their group, so a
// member that leaves loses no message. QoS 0 ones are dropped with it. A QoS 2
// message already sent stays: its delivery must be completed to that client
// when it reconnects, and never sent to another [MQTT-4.8.2-4] [MQTT-4.8.2-5];
// QoS 2 messages still queued (never sent) may move.
//
// Without any shared subscription in the broker there is no member to move a
// message to, and the walk over the whole queue on every disconnect is
// skipped (QoS 0 copies from a group left meanwhile then stay queued, which
// is all at-most-once asks).
func (ls *loopState) redistributeShared(s *session) {
	st := s.st
	if ls.b.sharedSubs.Load() == 0 || st == nil {
		return
	}
	keep := st.inflight.entries[:0]
	for _, e := range st.inflight.entries {
		if e.d.shared != "" && e.d.qos == 1 && ls.redeliver(s, &e.d) {
			e.d.m.release() // the new holder took its own
			continue
		}
		keep = append(keep, e)
	}
	clear(st.inflight.entries[len(keep):])
	ls.m.InflightAdd(len(keep) - len(st.inflight.entries))
	st.inflight.entries = keep
	if st.queue.len() == 0 {
		return
	}
	n := st.queue.len()
	for i := 0; i < n; i++ {
		d, _ := st.queue.pop()
		if !(d.shared != "" && (d.qos == 0 || ls.redeliver(s, &d))) {
			st.queue.push(d)
		}
		d.m.release() // pop's reference; push and redeliver took their own
	}
}

// redeliver picks another member of d's shared group and routes d there.
// It reports false when there is none.
func (ls *loopState) redeliver(from *session, d *delivery) bool {
	ls.exclude = from
	ls.matches = ls.b.subs.MatchFrom(ls.idx, d.m.Topic, ls.matches[:0], ls.avail)
	ls.exclude = nil
	for i := range ls.matches {
		mt := &ls.matches[i]
		if mt.Filter == d.shared && mt.Sub != from {
			nd := delivery{s: mt.Sub, m: d.m, qos: min(d.m.QoS, mt.Opts.QoS), retain: d.retain, shared: d.shared}
			nd.addSubID(mt.Opts.SubscriptionID)
			clear(ls.matches)
			ls.route(&nd)
			return true
		}
	}
	clear(ls.matches)
	return false
}
