package broker

import (
	"log/slog"
	"time"

	"github.com/sol-broker/sol/loop"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

// Connection states.
const (
	stateNew       = iota // waiting for CONNECT
	stateAuth             // CONNECT read; password check running off the loop
	stateConnected        // CONNACK sent
	stateClosing          // a final CONNACK or DISCONNECT sent; input is discarded
)

// conn is the broker's state for one network connection, owned by the loop
// holding it (its session's loop once CONNECT has been read).
type conn struct {
	c    *loop.Conn
	ls   *loopState
	s    *session
	will *will
	x    *connExtra // nil until a password check or a topic alias needs it

	maxPacketOut  int32  // client's Maximum Packet Size (at most 268,435,455)
	sessionExpiry uint32 // as connected, for the DISCONNECT rule [MQTT-3.14.2-2]
	dl            int32  // 1 + index in ls.deadlines (keepalive.go); 0: none
	keepAlive     uint16 // seconds, as connected
	aliasMaxOut   uint16 // client's Topic Alias Maximum (5.0)

	state            uint8
	version          byte
	admitted         bool // holds one of Options.MaxConnections places (admit)
	normalDisconnect bool // DISCONNECT 0x00 received: no will [MQTT-3.1.2-10]
	problemInfo      bool // Request Problem Information
	bridge           bool // a Mosquitto bridge (protocol level with the top bit set)
	held             bool // reading paused until another loop's inbox drains (backpressure.go)
}

// connExtra is what only some connections need, allocated on first use
// (extra): an idle 3.1.1 client holds none.
type connExtra struct {
	connectPkt []byte // CONNECT kept while the password is checked

	// 5.0 topic aliases in both directions.
	aliasOut     map[string]uint16
	aliasIn      [][]byte // our Topic Alias Maximum, index alias-1
	aliasOutNext uint16
}

// listenerOpts returns the options of the listener cs came through (nil
// for a listener the broker was not given options for).
func (cs *conn) listenerOpts() *ListenerOptions {
	lo, _ := cs.c.Listener().Tag.(*ListenerOptions)
	return lo
}

// extra returns cs's connExtra, allocating it on first use.
func (cs *conn) extra() *connExtra {
	if cs.x == nil {
		cs.x = &connExtra{}
	}
	return cs.x
}

// sinceStart is the loop's current time as time since Broker.startTime.
func (ls *loopState) sinceStart() time.Duration { return ls.now().Sub(ls.b.startTime) }

// data handles the whole packets in in; see handler.Data.
func (cs *conn) data(in []byte) int {
	if cs.state == stateClosing {
		return len(in)
	}
	if cs.state == stateNew && len(in) > 0 && mqtt.PacketType(in[0]>>4) != mqtt.CONNECT {
		// Known from the first byte: no need to wait for the rest of a
		// packet that may never come [MQTT-3.1.0-1].
		cs.ls.m.Refuse(metrics.RefuseMalformed)
		cs.closeNow("first packet is not CONNECT")
		return len(in)
	}
	consumed := 0
	for consumed < len(in) {
		n, err := mqtt.PacketLength(in[consumed:], cs.ls.b.opts.MaxPacketSize)
		if err != nil {
			cs.fail(err)
			return len(in)
		}
		if n == 0 {
			// Incomplete: let the loop size its pending input for the
			// whole packet and read the rest straight into it.
			if h, ok, _ := mqtt.DecodeFixedHeader(in[consumed:]); ok {
				cs.c.ExpectInput(h.Len())
			}
			break
		}
		// Keep alive counts whole control packets, not bytes: a peer that
		// trickles a packet one byte at a time is still idle [MQTT-3.1.2-22].
		cs.ls.touch(cs, cs.ls.sinceStart())
		if cs.ls.holding && cs.state == stateConnected && mqtt.PacketType(in[consumed]>>4) == mqtt.PUBLISH {
			cs.ls.hold(cs) // another loop's inbox is full: this PUBLISH waits
			break
		}
		if !cs.packet(in[consumed : consumed+n]) {
			break // migrated or paused: the rest waits
		}
		consumed += n
		if cs.state == stateClosing {
			return len(in)
		}
		if cs.state == stateAuth {
			break
		}
	}
	return consumed
}

// packet handles one whole packet. It returns false when the packet was not
// consumed (the connection moved to another loop, which reads it again).
func (cs *conn) packet(pkt []byte) bool {
	t := mqtt.PacketType(pkt[0] >> 4)
	cs.ls.m.PacketIn(pkt[0])
	if cs.state == stateNew {
		if t != mqtt.CONNECT { // [MQTT-3.1.0-1]
			cs.ls.m.Refuse(metrics.RefuseMalformed)
			cs.closeNow("first packet is not CONNECT")
			return true
		}
		return cs.onConnect(pkt)
	}
	var err error
	switch t {
	case mqtt.PUBLISH:
		err = cs.onPublish(pkt)
	case mqtt.PUBACK, mqtt.PUBREC, mqtt.PUBREL, mqtt.PUBCOMP:
		err = cs.onAck(pkt)
	case mqtt.SUBSCRIBE:
		err = cs.onSubscribe(pkt)
	case mqtt.UNSUBSCRIBE:
		err = cs.onUnsubscribe(pkt)
	case mqtt.PINGREQ:
		if len(pkt) != 2 || pkt[0]&0x0F != 0 {
			err = mqtt.MalformedPacket
			break
		}
		cs.write(mqtt.AppendPingresp(cs.ls.enc[:0]))
	case mqtt.DISCONNECT:
		err = cs.onDisconnect(pkt)
	case mqtt.AUTH:
		// We announce no authentication method, so AUTH is unexpected
		// [MQTT-4.12.0-1] (a client must not send AUTH without one).
		err = mqtt.ProtocolError
	case mqtt.CONNECT:
		err = mqtt.ProtocolError // [MQTT-3.1.0-2] a second CONNECT
	default: // reserved type 0, or a server-to-client packet
		err = mqtt.MalformedPacket
		if t != 0 {
			err = mqtt.ProtocolError
		}
	}
	if err != nil {
		cs.fail(err)
	}
	return true
}

// write copies b into the connection's output.
func (cs *conn) write(b []byte) {
	cs.c.Write(b)
	cs.ls.enc = b[:0]
	if len(b) > 0 {
		cs.ls.m.PacketOut(b[0])
		cs.ls.m.Sent(len(b))
	}
}

// fail answers a packet the client should not have sent: 5.0 clients get
// DISCONNECT with the reason code the error carries, 3.1.1 clients are
// disconnected; the will is published. Never panics on peer input.
func (cs *conn) fail(err error) {
	rc := mqtt.ReasonOf(err)
	if rc < 0x80 {
		rc = mqtt.UnspecifiedError
	}
	cs.ls.b.log.Debug("client error", "client", cs.clientID(), "remote", remote(cs.c), "reason", rc, "err", err)
	if cs.state == stateNew || cs.state == stateAuth {
		if cs.version == mqtt.Version5 || rc == mqtt.UnsupportedProtocolVersion || rc == mqtt.ClientIdentifierNotValid {
			cs.refuse(rc)
			return
		}
		cs.ls.m.Refuse(metrics.RefuseMalformed)
		cs.closeNow("malformed CONNECT")
		return
	}
	cs.disconnectWith(rc, err.Error())
}

// disconnect closes the connection with flush, sending DISCONNECT rc first to
// a connected 5.0 client. Server-initiated closes publish the will.
func (cs *conn) disconnect(rc mqtt.ReasonCode) { cs.disconnectWith(rc, "") }

// disconnectWith is disconnect with a Reason String for the client, sent
// unless the client asked for no problem information [MQTT-3.1.2-29] (a
// DISCONNECT may carry one either way; we honour the wish).
func (cs *conn) disconnectWith(rc mqtt.ReasonCode, reason string) {
	if cs.state == stateClosing {
		return
	}
	if cs.version == mqtt.Version5 && cs.state == stateConnected {
		var props *mqtt.Properties
		if reason != "" && cs.problemInfo {
			props = &mqtt.Properties{ReasonString: []byte(reason)}
			props.Set(mqtt.PropReasonString)
			if cs.maxPacketOut > 0 && mqtt.DisconnectSize(mqtt.Version5, rc, props) > int(cs.maxPacketOut) {
				props = nil // [MQTT-3.14.2-3] the reason string goes first
			}
		}
		cs.write(mqtt.AppendDisconnect(cs.ls.enc[:0], mqtt.Version5, rc, props))
	}
	cs.state = stateClosing
	cs.c.Close()
	cs.release()
}

// release separates the session from a connection that is closing: the
// session goes offline now rather than when the close completes (which may
// wait for the peer), so that a reconnect finds it offline.
func (cs *conn) release() {
	cs.unadmit()
	if s := cs.s; s != nil && s.conn == cs {
		cs.ls.b.connected.Add(-1)
		cs.ls.detach(cs)
		cs.ls.sessionOffline(s)
		cs.ls.m.SessionOffline(!s.gone)
	}
}

// unadmit gives back the connection's Options.MaxConnections place, if it
// holds one: when the client leaves, not when the socket finally closes
// (which may wait up to the loop's CloseTimeout for the peer), so that a
// client reconnecting at once finds its place free.
func (cs *conn) unadmit() {
	if cs.admitted {
		cs.admitted = false
		cs.ls.b.admitted.Add(-1)
	}
}

// closeNow closes without a word (3.1.1 has no DISCONNECT from the server).
func (cs *conn) closeNow(why string) {
	cs.ls.b.log.Debug("closing connection", "remote", remote(cs.c), "reason", why)
	cs.state = stateClosing
	cs.c.Close()
	cs.release()
}

// clientID is the session's client identifier, "" before CONNECT.
func (cs *conn) clientID() string {
	if cs.s != nil {
		return cs.s.clientID
	}
	return ""
}

// closed runs when the loop reports the connection gone.
func (cs *conn) closed(err error) {
	cs.ls.clearDeadline(cs)
	cs.unadmit()
	cs.state = stateClosing
	s := cs.s
	if s == nil || s.conn != cs {
		return
	}
	ls := cs.ls
	if err != nil && !cs.normalDisconnect {
		ls.b.log.Debug("client connection lost", "client", s.clientID, "err", err)
	} else {
		ls.b.log.Debug("client disconnected", "client", s.clientID)
	}
	cs.release()
}

// remoteAddr is a connection's peer address for a log line, formatted only
// if the line is written: slog evaluates its arguments at the call, and
// RemoteAddr allocates, so a debug line on every connect cost an allocation
// per connection with debug logging off.
type remoteAddr loop.Conn

// LogValue implements slog.LogValuer.
func (r *remoteAddr) LogValue() slog.Value {
	return slog.StringValue((*loop.Conn)(r).RemoteAddr().String())
}

// remote returns c's peer address for logging (see remoteAddr).
func remote(c *loop.Conn) *remoteAddr { return (*remoteAddr)(c) }
