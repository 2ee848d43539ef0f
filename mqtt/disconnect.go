package mqtt

// Disconnect is a DISCONNECT packet. In 3.1/3.1.1 it has no body and Reason
// is NormalDisconnection.
type Disconnect struct {
	Reason ReasonCode
	Props  Properties
}

// DecodeDisconnect decodes the whole DISCONNECT packet buf into p in place.
// 3.1/3.1.1: remaining length 0. 5.0: an absent reason code is Normal
// disconnection, absent properties are none (section 3.14.2); a reason code
// DISCONNECT may not carry is a Protocol Error.
func DecodeDisconnect(buf []byte, version byte, p *Disconnect) error {
	return decodeReasonOnly(buf, version, DISCONNECT, &p.Reason, &p.Props)
}

// decodeReasonOnly decodes DISCONNECT and AUTH, which are a reason code and
// properties, both optional.
func decodeReasonOnly(buf []byte, version byte, t PacketType, reason *ReasonCode, props *Properties) error {
	_, r, err := body(buf, t) // [MQTT-2.1.3-1] (5.0) [MQTT-2.2.2-1] (3.1.1)
	if err != nil {
		return err
	}
	*reason = Success
	props.Reset()
	if version < Version5 {
		if r.left() != 0 {
			return perr(t, MalformedPacket, "", "remaining length is not 0")
		}
		return nil
	}
	if r.left() == 0 {
		return nil
	}
	c, _ := r.byte1()
	*reason = ReasonCode(c)
	if !validReason(t, *reason) {
		return perr(t, ProtocolError, "", "reason code 0x"+hex2(c)+" not valid in "+t.String())
	}
	if r.left() == 0 {
		return nil
	}
	if err := decodeProperties(&r, t, props); err != nil {
		return err
	}
	if r.left() != 0 {
		return perr(t, MalformedPacket, "", "bytes after the properties")
	}
	return nil
}

func reasonOnlyRemaining(version byte, t PacketType, reason ReasonCode, props *Properties) (remaining, propLen int) {
	if version < Version5 {
		return 0, 0
	}
	propLen = propertiesLen(t, props)
	switch {
	case propLen > 0:
		return 1 + varintSize(propLen) + propLen, propLen
	case reason != Success:
		return 1, 0
	default:
		return 0, 0
	}
}

// DisconnectSize returns the size of the DISCONNECT AppendDisconnect would
// append.
func DisconnectSize(version byte, reason ReasonCode, props *Properties) int {
	n, _ := reasonOnlyRemaining(version, DISCONNECT, reason, props)
	return packetSize(n)
}

// AppendDisconnect appends a DISCONNECT to dst. In 3.1/3.1.1 it is the two
// bytes E0 00 whatever reason is; in 5.0 the reason code and properties are
// omitted when reason is Normal disconnection and props is empty. props may
// be nil. No allocation when dst has room.
func AppendDisconnect(dst []byte, version byte, reason ReasonCode, props *Properties) []byte {
	return appendReasonOnly(dst, version, DISCONNECT, reason, props)
}

func appendReasonOnly(dst []byte, version byte, t PacketType, reason ReasonCode, props *Properties) []byte {
	remaining, propLen := reasonOnlyRemaining(version, t, reason, props)
	dst = appendFixedHeader(dst, t, 0, remaining)
	if remaining == 0 {
		return dst
	}
	dst = append(dst, byte(reason))
	if remaining == 1 {
		return dst
	}
	return appendProperties(dst, t, props, propLen)
}

// DecodePingreq checks that buf is a whole PINGREQ: flags 0, remaining
// length 0.
func DecodePingreq(buf []byte) error { return decodeEmpty(buf, PINGREQ) }

// DecodePingresp checks that buf is a whole PINGRESP: flags 0, remaining
// length 0.
func DecodePingresp(buf []byte) error { return decodeEmpty(buf, PINGRESP) }

func decodeEmpty(buf []byte, t PacketType) error {
	_, r, err := body(buf, t)
	if err != nil {
		return err
	}
	if r.left() != 0 {
		return perr(t, MalformedPacket, "", "remaining length is not 0")
	}
	return nil
}

// AppendPingreq appends the two bytes of a PINGREQ (C0 00) to dst.
func AppendPingreq(dst []byte) []byte { return append(dst, byte(PINGREQ)<<4, 0) }

// AppendPingresp appends the two bytes of a PINGRESP (D0 00) to dst.
func AppendPingresp(dst []byte) []byte { return append(dst, byte(PINGRESP)<<4, 0) }
