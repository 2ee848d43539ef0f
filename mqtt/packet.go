package mqtt

// Packet holds one decoded packet of any type: Type says which member is
// meaningful. It is the convenience form for clients, tests and fuzzing; the
// broker's hot path calls the per-type decoders on its own structs. A Packet
// reused across Decode calls reuses every member's slices.
type Packet struct {
	Type        PacketType
	Connect     Connect
	Connack     Connack
	Publish     Publish
	PubAck      PubAck // PUBACK, PUBREC, PUBREL, PUBCOMP
	Subscribe   Subscribe
	Suback      Suback
	Unsubscribe Unsubscribe
	Unsuback    Unsuback
	Disconnect  Disconnect
	Auth        Auth
}

// Decode decodes the whole packet buf (see PacketLength) for a connection at
// protocol level version into the member of p its type names, and sets
// p.Type. CONNECT learns its own version. Views and errors are as for the
// per-type decoders; a reserved type (0, or 15 before 5.0) is
// MalformedPacket.
func Decode(buf []byte, version byte, p *Packet) error {
	if len(buf) == 0 {
		return perr(0, MalformedPacket, "", "empty packet")
	}
	p.Type = PacketType(buf[0] >> 4)
	switch p.Type {
	case CONNECT:
		return DecodeConnect(buf, &p.Connect)
	case CONNACK:
		return DecodeConnack(buf, version, &p.Connack)
	case PUBLISH:
		return DecodePublish(buf, version, &p.Publish)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return DecodePubAck(buf, version, &p.PubAck)
	case SUBSCRIBE:
		return DecodeSubscribe(buf, version, &p.Subscribe)
	case SUBACK:
		return DecodeSuback(buf, version, &p.Suback)
	case UNSUBSCRIBE:
		return DecodeUnsubscribe(buf, version, &p.Unsubscribe)
	case UNSUBACK:
		return DecodeUnsuback(buf, version, &p.Unsuback)
	case PINGREQ:
		return DecodePingreq(buf)
	case PINGRESP:
		return DecodePingresp(buf)
	case DISCONNECT:
		return DecodeDisconnect(buf, version, &p.Disconnect)
	case AUTH:
		return DecodeAuth(buf, version, &p.Auth)
	}
	return perr(p.Type, MalformedPacket, "MQTT-2.1.3-1", "reserved packet type 0") // 5.0 section 2.1.2
}

// Append appends the encoding of p's member named by p.Type at protocol
// level version (CONNECT uses its own ProtocolLevel). An unknown type
// appends nothing.
func Append(dst []byte, version byte, p *Packet) []byte {
	switch p.Type {
	case CONNECT:
		return AppendConnect(dst, &p.Connect)
	case CONNACK:
		return AppendConnack(dst, version, p.Connack.SessionPresent, p.Connack.Reason, &p.Connack.Props)
	case PUBLISH:
		return AppendPublish(dst, version, &p.Publish)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := &p.PubAck
		return AppendPubAck(dst, version, p.Type, a.PacketID, a.Reason, &a.Props)
	case SUBSCRIBE:
		return AppendSubscribe(dst, version, &p.Subscribe)
	case SUBACK:
		return AppendSuback(dst, version, p.Suback.PacketID, p.Suback.Reasons, &p.Suback.Props)
	case UNSUBSCRIBE:
		return AppendUnsubscribe(dst, version, &p.Unsubscribe)
	case UNSUBACK:
		return AppendUnsuback(dst, version, p.Unsuback.PacketID, p.Unsuback.Reasons, &p.Unsuback.Props)
	case PINGREQ:
		return AppendPingreq(dst)
	case PINGRESP:
		return AppendPingresp(dst)
	case DISCONNECT:
		return AppendDisconnect(dst, version, p.Disconnect.Reason, &p.Disconnect.Props)
	case AUTH:
		return AppendAuth(dst, p.Auth.Reason, &p.Auth.Props)
	}
	return dst
}
