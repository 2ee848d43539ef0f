package mqtt

// Publish is a PUBLISH packet. After DecodePublish, Topic, Payload and the
// byte slices in Props are views into the decoded buffer, valid only as long
// as that buffer is unchanged; copy what must outlive it.
type Publish struct {
	Dup      bool
	QoS      byte // 0, 1 or 2
	Retain   bool
	Topic    []byte
	PacketID uint16 // present only when QoS > 0
	Props    Properties
	Payload  []byte
}

// DecodePublish decodes the whole PUBLISH packet buf (fixed header included)
// for a connection at protocol level version, filling p in place; p's
// previous contents are overwritten, Props.SubscriptionIDs' capacity is
// reused. It allocates nothing on success. On failure it returns an *Error
// whose Reason says how to answer (MalformedPacket, ProtocolError,
// TopicNameInvalid, TopicAliasInvalid). An empty topic is accepted in 5.0
// when a Topic Alias is present; the broker resolves it. Safe to call from
// any goroutine on distinct p.
func DecodePublish(buf []byte, version byte, p *Publish) error {
	h, r, err := body(buf, PUBLISH)
	if err != nil {
		return err
	}
	p.Dup = h.Flags&0x08 != 0
	p.QoS = h.Flags >> 1 & 0x03
	p.Retain = h.Flags&0x01 != 0
	if p.QoS == 3 {
		return perr(PUBLISH, MalformedPacket, "MQTT-3.3.1-4", "QoS 3") // [MQTT-3.3.1-4]
	}
	if p.QoS == 0 && p.Dup {
		return perr(PUBLISH, MalformedPacket, "MQTT-3.3.1-2", "DUP set on a QoS 0 message") // [MQTT-3.3.1-2]
	}
	var ok bool
	if p.Topic, ok = r.bytes(); !ok {
		return perr(PUBLISH, MalformedPacket, "", "topic name truncated")
	}
	p.PacketID = 0
	if p.QoS > 0 {
		if p.PacketID, ok = r.uint16(); !ok {
			return perr(PUBLISH, MalformedPacket, "", "packet identifier truncated")
		}
		if p.PacketID == 0 {
			return perr(PUBLISH, MalformedPacket, "MQTT-2.2.1-3", "packet identifier 0") // [MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)
		}
	}
	if version >= Version5 {
		if err := decodeProperties(&r, PUBLISH, &p.Props); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if len(p.Topic) == 0 && version >= Version5 && p.Props.Has(PropTopicAlias) {
		// 5.0 section 3.3.2.3.4: an empty topic name with a Topic Alias uses the alias's topic.
	} else if len(p.Topic) == 0 && version >= Version5 {
		return perr(PUBLISH, ProtocolError, "", "empty topic name without a topic alias") // 5.0 section 3.3.2.1
	} else if err := ValidTopicName(p.Topic, version); err != nil {
		return retag(err, PUBLISH) // [MQTT-3.3.2-1] [MQTT-3.3.2-2] [MQTT-4.7.3-1]
	}
	p.Payload = r.rest()
	return nil
}

// publishRemaining returns the remaining length of p's encoding and the
// length of its property block (0 before 5.0).
func publishRemaining(version byte, p *Publish) (remaining, props int) {
	remaining = 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		remaining += 2
	}
	if version >= Version5 {
		props = propertiesLen(PUBLISH, &p.Props)
		remaining += varintSize(props) + props
	}
	return remaining, props
}

// PublishSize returns the size of p's encoding at protocol level version,
// what AppendPublish will append, so a caller can compare it with the peer's
// Maximum Packet Size first. It allocates nothing.
func PublishSize(version byte, p *Publish) int {
	n, _ := publishRemaining(version, p)
	return packetSize(n)
}

// AppendPublish appends the encoding of p at protocol level version to dst
// and returns the extended slice. It allocates nothing when dst has room for
// PublishSize bytes. The packet identifier is written only when QoS > 0 and
// properties only in 5.0; the caller is responsible for values the peer may
// not accept (QoS above 2, a topic over 65535 bytes, a packet over
// MaxPacketSize). It does not modify p.
func AppendPublish(dst []byte, version byte, p *Publish) []byte {
	remaining, props := publishRemaining(version, p)
	var flags byte
	if p.Dup {
		flags |= 0x08
	}
	flags |= p.QoS & 0x03 << 1
	if p.Retain {
		flags |= 0x01
	}
	dst = appendFixedHeader(dst, PUBLISH, flags, remaining)
	dst = appendBytes(dst, p.Topic)
	if p.QoS > 0 {
		dst = appendUint16(dst, p.PacketID)
	}
	if version >= Version5 {
		dst = appendProperties(dst, PUBLISH, &p.Props, props)
	}
	return append(dst, p.Payload...)
}
