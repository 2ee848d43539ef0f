package broker

import "github.com/sol-broker/sol/mqtt"

// onAck handles PUBACK, PUBREC, PUBREL and PUBCOMP. PUBACK, PUBREC and
// PUBCOMP acknowledge our outbound messages (inflightOut); PUBREL releases an
// inbound QoS 2 message (qos2In). The two directions have separate packet
// identifier spaces.
func (cs *conn) onAck(pkt []byte) error {
	ls, s := cs.ls, cs.s
	// Read-only &noState when s has no delivery state: every find then
	// fails, so nothing below writes through it.
	st := s.view()
	a := &ls.ack
	if err := mqtt.DecodePubAck(pkt, cs.version, a); err != nil {
		return err
	}
	switch a.Type {
	case mqtt.PUBACK:
		if i := st.inflight.find(a.PacketID); i >= 0 && st.inflight.entries[i].d.qos == 1 {
			st.inflight.remove(a.PacketID)
			ls.drain(s)
		}
		// An unknown identifier is ignored, as Mosquitto does.
	case mqtt.PUBREC:
		i := st.inflight.find(a.PacketID)
		if i < 0 || st.inflight.entries[i].d.qos != 2 {
			if cs.version == mqtt.Version5 {
				cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREL, a.PacketID, mqtt.PacketIdentifierNotFound, nil))
			}
			return nil
		}
		if a.Reason.IsError() { // 5.0: the flow ends here [MQTT-4.3.3-4]
			st.inflight.remove(a.PacketID)
			ls.drain(s)
			return nil
		}
		st.inflight.pubrec(a.PacketID)
		cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBREL, a.PacketID, mqtt.Success, nil)) // [MQTT-4.3.3-4]
	case mqtt.PUBCOMP:
		if i := st.inflight.find(a.PacketID); i >= 0 && st.inflight.entries[i].state == awaitingPubcomp {
			st.inflight.remove(a.PacketID) // the identifier is free again [MQTT-4.3.3-13]
			ls.drain(s)
		}
	case mqtt.PUBREL:
		rc := mqtt.Success
		if !st.qos2In.release(a.PacketID) {
			rc = mqtt.PacketIdentifierNotFound
		}
		cs.write(mqtt.AppendPubAck(ls.enc[:0], cs.version, mqtt.PUBCOMP, a.PacketID, rc, nil)) // [MQTT-4.3.3-11]
	}
	return nil
}
