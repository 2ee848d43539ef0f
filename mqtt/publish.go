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
	return append(AppendPublishHeader(dst, version, p), p.Payload...)
}

// AppendPublishHeader appends everything of p's PUBLISH packet except the
// payload, which the caller sends right after it: the remaining length
// counts len(p.Payload). A writer with a large payload can then queue the
// payload straight from where it is instead of copying it into the packet
// first. It reads only len(p.Payload), and returns the extended dst.
func AppendPublishHeader(dst []byte, version byte, p *Publish) []byte {
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
	return dst
}

// ValidPayloadFormat returns PayloadFormatInvalid (as an *Error) when p's
// Payload Format Indicator says UTF-8 but the payload is not well-formed
// UTF-8 (5.0 section 3.3.2.3.2: a receiver MAY check; the broker decides
// whether to pay for it), and nil otherwise.
func ValidPayloadFormat(p *Publish) error {
	if p.Props.Has(PropPayloadFormat) && p.Props.PayloadFormat == 1 && utf8Check(p.Payload, false) == utf8Invalid {
		return perr(PUBLISH, PayloadFormatInvalid, "", "payload is not UTF-8 as its format indicator says")
	}
	return nil
}

// ClonePublish copies everything p points to (topic, payload, and the
// properties' byte slices and user properties) into one buffer appended to
// dst, growing it at most once, and returns a Publish whose slices point into
// that buffer, plus the extended dst. Use it to keep a message beyond the
// life of the read buffer it was decoded from: the copy is then independent
// of that buffer. SubscriptionIDs are not carried over (they belong to one
// delivery, and a client's PUBLISH may not carry any): q.Props'
// SubscriptionIDs is nil, as are byte-slice properties a PUBLISH cannot carry.
// It allocates once when dst lacks room, never otherwise.
func ClonePublish(dst []byte, p *Publish) (q Publish, buf []byte) {
	pr := &p.Props
	n := len(p.Topic) + len(p.Payload) + len(pr.ContentType) + len(pr.ResponseTopic) +
		len(pr.CorrelationData) + len(pr.User)
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	q = *p
	q.Props.SubscriptionIDs = nil
	take := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		start := len(dst)
		dst = append(dst, b...)
		return dst[start:len(dst):len(dst)]
	}
	q.Topic = take(p.Topic)
	q.Payload = take(p.Payload)
	q.Props.ContentType = take(pr.ContentType)
	q.Props.ResponseTopic = take(pr.ResponseTopic)
	q.Props.CorrelationData = take(pr.CorrelationData)
	q.Props.User = take(pr.User)
	// Byte-slice properties a PUBLISH cannot carry are dropped, so q never
	// points into p's buffer.
	q.Props.AssignedClientID, q.Props.AuthMethod, q.Props.AuthData = nil, nil, nil
	q.Props.ResponseInfo, q.Props.ServerReference, q.Props.ReasonString = nil, nil, nil
	return q, dst
}
