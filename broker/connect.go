package broker

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/sol-broker/sol/mqtt"
	soltls "github.com/sol-broker/sol/tls"
)

// authResult is a password verdict posted back to the connection's loop.
type authResult struct {
	cs *conn
	ok bool
}

// onConnect handles CONNECT. It returns false when the connection was
// migrated to the loop owning its client identifier, which reads the CONNECT
// again.
func (cs *conn) onConnect(pkt []byte) bool {
	ls := cs.ls
	p := &ls.connect
	if err := mqtt.DecodeConnect(pkt, p); err != nil {
		cs.version = p.ProtocolLevel
		if cs.version != mqtt.Version5 && mqtt.ReasonOf(err) == mqtt.UnsupportedProtocolVersion {
			cs.version = mqtt.Version311 // [MQTT-3.1.2-2] answer 0x01 in a 3.1.1 CONNACK
		}
		cs.fail(err)
		return true
	}
	cs.version = p.ProtocolLevel
	if len(p.ClientID) > 0 {
		if owner := ls.b.ownerOf(p.ClientID); owner != ls.idx {
			ls.clearDeadline(cs) // the table is this loop's
			cs.c.Migrate(ls.b.loops[owner].l)
			return false
		}
	}
	if ls.b.stopping.Load() {
		cs.refuse(mqtt.ServerUnavailable)
		return true
	}
	if p.Props.Has(mqtt.PropAuthMethod) { // enhanced authentication: no method supported
		cs.refuse(mqtt.BadAuthenticationMethod)
		return true
	}
	if !cs.admit() {
		cs.refuse(mqtt.QuotaExceeded) // 3.1.1: Server unavailable
		return true
	}
	lo := cs.listenerOpts()
	if lo != nil && lo.UseIdentityAsUsername {
		// The verified client certificate is the identity, as in Mosquitto's
		// use_identity_as_username: no password check.
		cn, ok := soltls.PeerCommonName(cs.c)
		if !ok || cn == "" {
			cs.refuse(mqtt.NotAuthorized)
			return true
		}
		p.Username, p.UsernameFlag = []byte(cn), true
		return cs.accept(p)
	}
	// Authentication.
	auth := ls.b.opts.Auth
	anonymousOK := lo == nil || lo.AllowAnonymous
	if !p.UsernameFlag {
		if !anonymousOK {
			cs.refuse(mqtt.NotAuthorized)
			return true
		}
		return cs.accept(p)
	}
	if auth == nil || !auth.HasPasswords() {
		if !anonymousOK {
			cs.refuse(mqtt.NotAuthorized)
			return true
		}
		return cs.accept(p)
	}
	// The check runs off the loop: keep the CONNECT, pause reads.
	x := cs.extra()
	x.connectPkt = append([]byte(nil), pkt...)
	cs.state = stateAuth
	cs.c.PauseRead()
	var q mqtt.Connect
	if err := mqtt.DecodeConnect(x.connectPkt, &q); err != nil {
		cs.fail(err)
		return true
	}
	l := ls.l
	if !auth.CheckPassword(q.Username, q.Password, func(ok bool) { l.Post(&authResult{cs: cs, ok: ok}) }) {
		cs.c.ResumeRead()
		cs.refuse(mqtt.ServerBusy)
	}
	return true
}

// admit reserves one of Options.MaxConnections places for cs, which keeps
// it until the connection closes. It reports false when none is left. The
// count is of clients past CONNECT, not of open sockets: in a connection
// storm thousands of sockets are open before their CONNECT is read, and
// counting those would refuse everybody. Sockets that never send CONNECT are
// bounded by the connect timeout instead. A single atomic add, so loops
// admitting at the same moment cannot overshoot.
func (cs *conn) admit() bool {
	if cs.admitted {
		return true // the CONNECT came back after a migration
	}
	max := cs.ls.b.opts.MaxConnections
	if max <= 0 {
		return true
	}
	if cs.ls.b.admitted.Add(1) > int64(max) {
		cs.ls.b.admitted.Add(-1)
		return false
	}
	cs.admitted = true
	return true
}

// authDone finishes a CONNECT whose password check came back.
func (cs *conn) authDone(ok bool) {
	if cs.state != stateAuth || cs.c.Closed() {
		return
	}
	pkt := cs.x.connectPkt
	cs.x.connectPkt = nil
	cs.c.ResumeRead()
	if !ok {
		cs.ls.b.log.Info("authentication failed", "remote", remote(cs.c))
		cs.ls.m.AuthFailed()
		cs.refuse(mqtt.BadUserNameOrPassword)
		return
	}
	p := &cs.ls.connect
	if err := mqtt.DecodeConnect(pkt, p); err != nil {
		cs.fail(err)
		return
	}
	cs.accept(p)
}

// refuse sends a CONNACK with a failure code (mapped for 3.1.1) and closes.
// The session is not touched.
func (cs *conn) refuse(rc mqtt.ReasonCode) {
	v := cs.version
	if v == 0 {
		v = mqtt.Version311
	}
	cs.write(mqtt.AppendConnack(cs.ls.enc[:0], v, false, rc, nil))
	cs.ls.m.Refuse(refuseReason(rc))
	cs.ls.b.log.Debug("connection refused", "remote", remote(cs.c), "reason", rc)
	cs.state = stateClosing
	cs.c.Close()
}

// accept admits the client: session lookup or creation, takeover, CONNACK,
// resend. It always consumes the CONNECT.
func (cs *conn) accept(p *mqtt.Connect) bool {
	ls, o := cs.ls, &cs.ls.b.opts
	v := p.ProtocolLevel
	var props mqtt.Properties

	// Client identifier.
	var id string
	if len(p.ClientID) == 0 {
		if v < mqtt.Version5 && !p.CleanStart || v == mqtt.Version31 { // [MQTT-3.1.3-8]
			cs.refuse(mqtt.ClientIdentifierNotValid)
			return true
		}
		id = ls.assignClientID()
		if v == mqtt.Version5 {
			props.AssignedClientID = []byte(id) // [MQTT-3.2.2-16]
			props.Set(mqtt.PropAssignedClientID)
		}
	} else {
		id = string(p.ClientID)
	}
	if v == mqtt.Version5 && p.Props.Has(mqtt.PropRequestResponseInfo) && p.Props.RequestResponseInfo == 1 {
		// The client asks for a base for its response topics [MQTT-3.1.2-28]:
		// one under its own client identifier, so two clients never collide.
		props.ResponseInfo = []byte("response/" + id)
		props.Set(mqtt.PropResponseInfo)
	}

	// Keep alive.
	ka := int(p.KeepAlive)
	if ka > o.MaxKeepalive || ka == 0 && o.MaxKeepalive < 65535 {
		if v < mqtt.Version5 {
			if ka > o.MaxKeepalive { // Mosquitto's answer: 3.1.1 cannot be told
				cs.refuse(mqtt.ClientIdentifierNotValid)
				return true
			}
		} else {
			ka = o.MaxKeepalive
			props.ServerKeepAlive = uint16(ka) // [MQTT-3.1.2-21]
			props.Set(mqtt.PropServerKeepAlive)
		}
	}

	// Will.
	var w *will
	if p.WillFlag {
		if p.WillQoS > o.MaxQoS {
			cs.refuse(mqtt.QoSNotSupported) // [MQTT-3.2.2-12]
			return true
		}
		if p.WillRetain && o.DisableRetain {
			cs.refuse(mqtt.RetainNotSupported) // [MQTT-3.2.2-13]
			return true
		}
		// A will the client may not publish is dropped, as is one for $SYS.
		if !bytes.HasPrefix(p.WillTopic, sysPrefix) && (o.Auth == nil || o.Auth.CanPublish(id, string(p.Username), p.WillTopic)) {
			w = newWill(p)
		}
	}

	// Session expiry.
	var expiry uint32
	switch {
	case v == mqtt.Version5:
		expiry = p.Props.SessionExpiry
	case !p.CleanStart:
		expiry = neverExpires
	}
	if max := o.MaxSessionExpiry; max > 0 && time.Duration(expiry)*time.Second > max {
		expiry = uint32(max / time.Second)
		if v == mqtt.Version5 {
			props.SessionExpiry = expiry
			props.Set(mqtt.PropSessionExpiry)
		}
	}

	// Session: takeover, clean start, resume.
	s := ls.sessions.get(id)
	present := false
	if s != nil {
		if old := s.conn; old != nil {
			ls.b.log.Debug("session taken over", "client", id)
			if !p.CleanStart && s.expiry != 0 {
				// The client is back, resuming its session, before the old
				// connection's will was due: the will would announce a
				// device as gone that is online. Mosquitto clears it too;
				// [MQTT-3.1.3-9]'s rule for a will delay, applied to delay 0.
				old.will = nil
			}
			old.disconnect(mqtt.SessionTakenOver) // [MQTT-3.1.4-3]; the session goes offline
			s = ls.sessions.get(id)               // nil if it ended (expiry 0)
		}
	}
	wasOffline := s != nil // counted as disconnected until now (takeover included)
	if s != nil {
		if p.CleanStart {
			ls.endSession(s)
			s = nil
		} else {
			present = true
			s.stopTimers() // no expiry, no delayed will [MQTT-3.1.3-9]
		}
	}
	if s == nil {
		s = ls.newSession(id)
		ls.sessions.put(s)
	}
	s.expiry = expiry
	s.cleanStart = p.CleanStart
	s.username = string(p.Username)
	s.version = v
	s.conn = cs
	s.flags.Or(flagOnline)
	ls.b.connected.Add(1)
	ls.m.SessionOnline(wasOffline)
	cs.s = s
	cs.will = w
	cs.sessionExpiry = expiry
	cs.keepAlive = uint16(ka) // at most 65535: p.KeepAlive or a lower MaxKeepalive

	// 5.0 limits of the client.
	cs.maxPacketOut = int32(o.MaxPacketSize) // at most mqtt.MaxPacketSize
	receiveMax := 65535
	if v == mqtt.Version5 {
		if p.Props.Has(mqtt.PropMaximumPacketSize) {
			cs.maxPacketOut = int32(min(uint32(cs.maxPacketOut), p.Props.MaximumPacketSize))
		}
		if p.Props.Has(mqtt.PropReceiveMaximum) {
			receiveMax = int(p.Props.ReceiveMaximum)
		}
		cs.aliasMaxOut = p.Props.TopicAliasMaximum
		cs.problemInfo = !p.Props.Has(mqtt.PropRequestProblemInfo) || p.Props.RequestProblemInfo == 1
	}
	s.receiveMax = uint16(min(receiveMax, o.MaxInflight))
	if s.st != nil {
		s.st.inflight.receiveMax = int(s.receiveMax)
	}
	cs.bridge = p.Bridge && v < mqtt.Version5

	// CONNACK.
	if v == mqtt.Version5 {
		ls.b.connackProps(&props)
	}
	cs.write(mqtt.AppendConnack(ls.enc[:0], v, present, mqtt.Success, &props))
	cs.state = stateConnected
	cs.startKeepAlive()
	ls.b.log.Debug("client connected", "client", id, "remote", remote(cs.c), "version", v, "session_present", present)

	// Resend what was in flight [MQTT-4.4.0-1], then the queue.
	if present {
		ls.resend(s)
	}
	ls.drain(s)
	return true
}

// connackProps adds the broker-wide 5.0 CONNACK properties.
func (b *Broker) connackProps(p *mqtt.Properties) {
	o := &b.opts
	if o.MaxInflight < 65535 {
		p.ReceiveMaximum = uint16(o.MaxInflight)
		p.Set(mqtt.PropReceiveMaximum)
	}
	if o.MaxQoS < 2 {
		p.MaximumQoS = o.MaxQoS
		p.Set(mqtt.PropMaximumQoS)
	}
	if o.DisableRetain {
		p.RetainAvailable = 0
		p.Set(mqtt.PropRetainAvailable)
	}
	p.MaximumPacketSize = uint32(o.MaxPacketSize)
	p.Set(mqtt.PropMaximumPacketSize)
	if o.TopicAliasMaximum > 0 {
		p.TopicAliasMaximum = uint16(o.TopicAliasMaximum)
		p.Set(mqtt.PropTopicAliasMaximum)
	}
	if o.DisableWildcardSubscriptions {
		p.WildcardSubAvailable = 0
		p.Set(mqtt.PropWildcardSubAvailable)
	}
	if o.DisableSubscriptionIdentifiers {
		p.SubIDAvailable = 0
		p.Set(mqtt.PropSubIDAvailable)
	}
	if o.DisableSharedSubscriptions {
		p.SharedSubAvailable = 0
		p.Set(mqtt.PropSharedSubAvailable)
	}
}

// assignClientID returns a fresh client identifier that hashes to this loop,
// so the connection need not move [MQTT-3.1.3-6].
func (ls *loopState) assignClientID() string {
	var raw [8]byte
	buf := make([]byte, 0, 5+16)
	for {
		rand.Read(raw[:])
		buf = append(buf[:0], "auto-"...)
		buf = hex.AppendEncode(buf, raw[:])
		if ls.b.ownerOf(buf) == ls.idx {
			if ls.sessions.getBytes(buf) == nil {
				return string(buf)
			}
		}
	}
}

// onDisconnect handles DISCONNECT: a normal one suppresses the will, 0x04
// (Disconnect with Will Message) keeps it; 5.0 may update the session expiry.
func (cs *conn) onDisconnect(pkt []byte) error {
	d := &cs.ls.disc
	if err := mqtt.DecodeDisconnect(pkt, cs.version, d); err != nil {
		return err
	}
	if cs.version == mqtt.Version5 && d.Props.Has(mqtt.PropSessionExpiry) {
		if cs.sessionExpiry == 0 && d.Props.SessionExpiry != 0 {
			return mqtt.ProtocolError // [MQTT-3.14.2-2]
		}
		cs.s.expiry = d.Props.SessionExpiry
		if max := cs.ls.b.opts.MaxSessionExpiry; max > 0 && time.Duration(cs.s.expiry)*time.Second > max {
			cs.s.expiry = uint32(max / time.Second)
		}
	}
	if d.Reason != mqtt.DisconnectWithWill {
		cs.normalDisconnect = true // [MQTT-3.1.2-10] the will is discarded
		cs.will = nil
	}
	cs.state = stateClosing
	cs.c.Close()
	cs.release()
	return nil
}
