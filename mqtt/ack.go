package mqtt

// PubAck is one of the publish acknowledgements PUBACK, PUBREC, PUBREL and
// PUBCOMP, which share a layout. After decoding, the byte slices in Props are
// views into the decoded buffer.
type PubAck struct {
	Type     PacketType // PUBACK, PUBREC, PUBREL or PUBCOMP
	PacketID uint16
	Reason   ReasonCode // Success in 3.1/3.1.1
	Props    Properties
}

func isPubAck(t PacketType) bool { return t >= PUBACK && t <= PUBCOMP }

// DecodePubAck decodes a whole PUBACK, PUBREC, PUBREL or PUBCOMP packet buf
// (the type is taken from buf) for a connection at protocol level version,
// filling p in place without allocating on success. PUBREL must carry flags
// 0010 ([MQTT-3.6.1-1]), the others 0000. In 3.1/3.1.1 the remaining length
// must be 2; in 5.0 a missing reason code means Success and missing
// properties mean none (sections 3.4.2.1, 3.4.2.2). A reason code the packet
// type may not carry is a Protocol Error.
func DecodePubAck(buf []byte, version byte, p *PubAck) error {
	if len(buf) == 0 {
		return perr(PUBACK, MalformedPacket, "", "empty packet")
	}
	t := PacketType(buf[0] >> 4)
	if !isPubAck(t) {
		return perr(t, MalformedPacket, "", "not a PUBACK, PUBREC, PUBREL or PUBCOMP")
	}
	_, r, err := body(buf, t) // [MQTT-3.6.1-1] PUBREL flags, [MQTT-2.1.3-1] others
	if err != nil {
		return err
	}
	p.Type = t
	p.Reason = Success
	p.Props.Reset()
	var ok bool
	if p.PacketID, ok = r.uint16(); !ok {
		return perr(t, MalformedPacket, "", "packet identifier truncated")
	}
	if p.PacketID == 0 {
		return perr(t, MalformedPacket, "MQTT-2.2.1-3", "packet identifier 0") // [MQTT-2.2.1-3]: acknowledged packets carry non-zero identifiers
	}
	if version < Version5 {
		if r.left() != 0 {
			return perr(t, MalformedPacket, "", "remaining length is not 2")
		}
		return nil
	}
	if r.left() == 0 {
		return nil
	}
	rc, _ := r.byte1()
	p.Reason = ReasonCode(rc)
	if !validReason(t, p.Reason) {
		return perr(t, ProtocolError, "", "reason code 0x"+hex2(rc)+" not valid in "+t.String())
	}
	if r.left() == 0 {
		return nil
	}
	if err := decodeProperties(&r, t, &p.Props); err != nil {
		return err
	}
	if r.left() != 0 {
		return perr(t, MalformedPacket, "", "bytes after the properties")
	}
	return nil
}

func pubAckRemaining(version byte, t PacketType, reason ReasonCode, props *Properties) (remaining, propLen int) {
	if version < Version5 {
		return 2, 0
	}
	propLen = propertiesLen(t, props)
	switch {
	case propLen > 0:
		return 3 + varintSize(propLen) + propLen, propLen
	case reason != Success:
		return 3, 0
	default:
		return 2, 0 // 5.0 section 3.4.2.1: reason and properties may be omitted
	}
}

// PubAckSize returns the size of the packet AppendPubAck would append.
func PubAckSize(version byte, t PacketType, reason ReasonCode, props *Properties) int {
	n, _ := pubAckRemaining(version, t, reason, props)
	return packetSize(n)
}

// AppendPubAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP (t) to dst, with
// PUBREL's fixed flags 0010. In 3.1/3.1.1 only the packet identifier is
// written. In 5.0 the reason code and properties are omitted when reason is
// Success and props has nothing to encode, and the property length is
// omitted when props is empty. props may be nil. No allocation when dst has
// room.
func AppendPubAck(dst []byte, version byte, t PacketType, packetID uint16, reason ReasonCode, props *Properties) []byte {
	remaining, propLen := pubAckRemaining(version, t, reason, props)
	dst = appendFixedHeader(dst, t, fixedFlags[t&0x0F], remaining)
	dst = appendUint16(dst, packetID)
	if remaining == 2 {
		return dst
	}
	dst = append(dst, byte(reason))
	if remaining == 3 {
		return dst
	}
	return appendProperties(dst, t, props, propLen)
}
