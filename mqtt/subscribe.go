package mqtt

// Subscription is one topic filter of a SUBSCRIBE with its options.
type Subscription struct {
	Filter            []byte // a view into the decoded buffer
	QoS               byte   // maximum QoS, 0..2
	NoLocal           bool   // 5.0
	RetainAsPublished bool   // 5.0
	RetainHandling    byte   // 5.0: 0 send retained, 1 only for new subscriptions, 2 never
}

// Subscribe is a SUBSCRIBE packet. Filters is reused across decodes: a
// Subscribe kept by its owner allocates nothing once Filters has grown to the
// largest count seen.
type Subscribe struct {
	PacketID uint16
	Props    Properties // 5.0: Subscription Identifier (one), User Properties
	Filters  []Subscription
}

// Subscription option bits (5.0 section 3.8.3.1).
const (
	subQoSMask           = 0x03
	subNoLocal           = 0x04
	subRetainAsPublished = 0x08
	subRetainHandling    = 0x30
	subReserved5         = 0xC0
	subReserved311       = 0xFC
)

// DecodeSubscribe decodes the whole SUBSCRIBE packet buf for a connection at
// protocol level version, filling p in place (Filters is appended to
// p.Filters[:0]). It checks the fixed flags 0010 ([MQTT-3.8.1-1]), a non-zero
// packet identifier, at least one filter, every filter (ValidTopicFilter:
// reason TopicFilterInvalid), the options' reserved bits and QoS 3
// (MalformedPacket), Retain Handling 3 and No Local on a shared subscription
// (ProtocolError).
func DecodeSubscribe(buf []byte, version byte, p *Subscribe) error {
	_, r, err := body(buf, SUBSCRIBE) // [MQTT-3.8.1-1]
	if err != nil {
		return err
	}
	p.Filters = p.Filters[:0]
	var ok bool
	if p.PacketID, ok = r.uint16(); !ok {
		return perr(SUBSCRIBE, MalformedPacket, "", "packet identifier truncated")
	}
	if p.PacketID == 0 {
		return perr(SUBSCRIBE, MalformedPacket, "MQTT-2.2.1-3", "packet identifier 0") // [MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)
	}
	if version >= Version5 {
		if err := decodeProperties(&r, SUBSCRIBE, &p.Props); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if r.left() == 0 {
		if version >= Version5 {
			return perr(SUBSCRIBE, ProtocolError, "MQTT-3.8.3-2", "no topic filter") // [MQTT-3.8.3-2] (5.0)
		}
		return perr(SUBSCRIBE, MalformedPacket, "MQTT-3.8.3-3", "no topic filter") // [MQTT-3.8.3-3] (3.1.1)
	}
	for r.left() > 0 {
		var s Subscription
		if s.Filter, ok = r.bytes(); !ok {
			return perr(SUBSCRIBE, MalformedPacket, "", "topic filter truncated")
		}
		opts, ok := r.byte1()
		if !ok {
			return perr(SUBSCRIBE, MalformedPacket, "", "subscription options truncated")
		}
		if err := ValidTopicFilter(s.Filter, version); err != nil {
			return retag(err, SUBSCRIBE) // [MQTT-3.8.3-1] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.8.2-1]
		}
		s.QoS = opts & subQoSMask
		if version >= Version5 {
			if opts&subReserved5 != 0 {
				return perr(SUBSCRIBE, MalformedPacket, "MQTT-3.8.3-5", "reserved subscription option bits set") // [MQTT-3.8.3-5]
			}
			s.NoLocal = opts&subNoLocal != 0
			s.RetainAsPublished = opts&subRetainAsPublished != 0
			s.RetainHandling = (opts & subRetainHandling) >> 4
			if s.RetainHandling == 3 {
				return perr(SUBSCRIBE, ProtocolError, "", "retain handling 3") // 5.0 section 3.8.3.1
			}
			if s.NoLocal && len(s.Filter) > len(sharePrefix) && string(s.Filter[:len(sharePrefix)]) == sharePrefix {
				return perr(SUBSCRIBE, ProtocolError, "MQTT-3.8.3-4", "no local on a shared subscription") // [MQTT-3.8.3-4]
			}
		} else if opts&subReserved311 != 0 {
			return perr(SUBSCRIBE, MalformedPacket, "MQTT-3-8.3-4", "reserved subscription option bits set") // [MQTT-3-8.3-4] (3.1.1)
		}
		if s.QoS == 3 {
			return perr(SUBSCRIBE, MalformedPacket, "MQTT-3-8.3-4", "QoS 3") // [MQTT-3-8.3-4] (3.1.1), 5.0 section 3.8.3.1
		}
		p.Filters = append(p.Filters, s)
	}
	return nil
}

func subscribeRemaining(version byte, p *Subscribe) (remaining, props int) {
	remaining = 2
	if version >= Version5 {
		props = propertiesLen(SUBSCRIBE, &p.Props)
		remaining += varintSize(props) + props
	}
	for i := range p.Filters {
		remaining += 2 + len(p.Filters[i].Filter) + 1
	}
	return remaining, props
}

// SubscribeSize returns the size of p's encoding.
func SubscribeSize(version byte, p *Subscribe) int {
	n, _ := subscribeRemaining(version, p)
	return packetSize(n)
}

// AppendSubscribe appends p's encoding to dst (a client-side encoder, used by
// tests and load generators). Options other than QoS are written only in
// 5.0. No allocation when dst has room.
func AppendSubscribe(dst []byte, version byte, p *Subscribe) []byte {
	remaining, props := subscribeRemaining(version, p)
	dst = appendFixedHeader(dst, SUBSCRIBE, fixedFlags[SUBSCRIBE], remaining)
	dst = appendUint16(dst, p.PacketID)
	if version >= Version5 {
		dst = appendProperties(dst, SUBSCRIBE, &p.Props, props)
	}
	for i := range p.Filters {
		s := &p.Filters[i]
		dst = appendBytes(dst, s.Filter)
		opts := s.QoS & subQoSMask
		if version >= Version5 {
			if s.NoLocal {
				opts |= subNoLocal
			}
			if s.RetainAsPublished {
				opts |= subRetainAsPublished
			}
			opts |= s.RetainHandling & 0x03 << 4
		}
		dst = append(dst, opts)
	}
	return dst
}

// Suback is a SUBACK packet: one reason code per filter of the SUBSCRIBE, in
// order. Before 5.0 the codes are 0, 1, 2 and 0x80. Reasons is reused across
// decodes like Subscribe.Filters.
type Suback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// DecodeSuback decodes the whole SUBACK packet buf into p in place. At least
// one reason code must be present, each valid for the version.
func DecodeSuback(buf []byte, version byte, p *Suback) error {
	return decodeAckList(buf, version, SUBACK, &p.PacketID, &p.Props, &p.Reasons)
}

// decodeAckList decodes SUBACK and UNSUBACK, which share a layout (UNSUBACK
// has no reason codes before 5.0).
func decodeAckList(buf []byte, version byte, t PacketType, id *uint16, props *Properties, reasons *[]ReasonCode) error {
	_, r, err := body(buf, t)
	if err != nil {
		return err
	}
	*reasons = (*reasons)[:0]
	var ok bool
	if *id, ok = r.uint16(); !ok {
		return perr(t, MalformedPacket, "", "packet identifier truncated")
	}
	if *id == 0 {
		return perr(t, MalformedPacket, "MQTT-2.2.1-3", "packet identifier 0")
	}
	if version >= Version5 {
		if err := decodeProperties(&r, t, props); err != nil {
			return err
		}
	} else {
		props.Reset()
	}
	if t == UNSUBACK && version < Version5 {
		if r.left() != 0 {
			return perr(t, MalformedPacket, "", "remaining length is not 2")
		}
		return nil
	}
	if r.left() == 0 {
		return perr(t, ProtocolError, "", "no reason codes") // 5.0 sections 3.9.3, 3.11.3; 3.1.1 [MQTT-3.9.3-1]
	}
	for r.left() > 0 {
		c, _ := r.byte1()
		rc := ReasonCode(c)
		if version >= Version5 {
			ok = validReason(t, rc)
		} else {
			ok = c <= 2 || rc == UnspecifiedError // 3.1.1 section 3.9.3; 3.1 had no failure code, brokers send 0x80 there too
		}
		if !ok {
			return perr(t, ProtocolError, "", "reason code 0x"+hex2(c)+" not valid in "+t.String())
		}
		*reasons = append(*reasons, rc)
	}
	return nil
}

func ackListRemaining(version byte, t PacketType, reasons []ReasonCode, props *Properties) (remaining, propLen int) {
	remaining = 2
	if version >= Version5 {
		propLen = propertiesLen(t, props)
		remaining += varintSize(propLen) + propLen
	}
	if t == SUBACK || version >= Version5 {
		remaining += len(reasons)
	}
	return remaining, propLen
}

// SubackSize returns the size of the SUBACK AppendSuback would append.
func SubackSize(version byte, reasons []ReasonCode, props *Properties) int {
	n, _ := ackListRemaining(version, SUBACK, reasons, props)
	return packetSize(n)
}

// AppendSuback appends a SUBACK with one reason code per filter to dst. In
// 3.1 and 3.1.1 every failure code is written as 0x80, 3.1.1's only failure
// code (3.1 has none; Mosquitto sends 0x80 there as well). props (5.0 only)
// may be nil. No allocation when dst has room.
func AppendSuback(dst []byte, version byte, packetID uint16, reasons []ReasonCode, props *Properties) []byte {
	remaining, propLen := ackListRemaining(version, SUBACK, reasons, props)
	dst = appendFixedHeader(dst, SUBACK, 0, remaining)
	dst = appendUint16(dst, packetID)
	if version >= Version5 {
		dst = appendProperties(dst, SUBACK, props, propLen)
	}
	for _, rc := range reasons {
		if version < Version5 && rc.IsError() {
			rc = UnspecifiedError
		}
		dst = append(dst, byte(rc))
	}
	return dst
}

// Unsubscribe is an UNSUBSCRIBE packet. Filters (views into the decoded
// buffer) is reused across decodes.
type Unsubscribe struct {
	PacketID uint16
	Props    Properties // 5.0: User Properties only
	Filters  [][]byte
}

// DecodeUnsubscribe decodes the whole UNSUBSCRIBE packet buf into p in
// place: fixed flags 0010 ([MQTT-3.10.1-1]), non-zero packet identifier, at
// least one filter ([MQTT-3.10.3-2]), each a valid topic filter
// (TopicFilterInvalid).
func DecodeUnsubscribe(buf []byte, version byte, p *Unsubscribe) error {
	_, r, err := body(buf, UNSUBSCRIBE) // [MQTT-3.10.1-1]
	if err != nil {
		return err
	}
	p.Filters = p.Filters[:0]
	var ok bool
	if p.PacketID, ok = r.uint16(); !ok {
		return perr(UNSUBSCRIBE, MalformedPacket, "", "packet identifier truncated")
	}
	if p.PacketID == 0 {
		return perr(UNSUBSCRIBE, MalformedPacket, "MQTT-2.2.1-3", "packet identifier 0") // [MQTT-2.2.1-3] (5.0) [MQTT-2.3.1-1] (3.1.1)
	}
	if version >= Version5 {
		if err := decodeProperties(&r, UNSUBSCRIBE, &p.Props); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if r.left() == 0 {
		if version >= Version5 {
			return perr(UNSUBSCRIBE, ProtocolError, "MQTT-3.10.3-2", "no topic filter") // [MQTT-3.10.3-2]
		}
		return perr(UNSUBSCRIBE, MalformedPacket, "MQTT-3.10.3-2", "no topic filter") // [MQTT-3.10.3-2]
	}
	for r.left() > 0 {
		f, ok := r.bytes()
		if !ok {
			return perr(UNSUBSCRIBE, MalformedPacket, "", "topic filter truncated")
		}
		if err := ValidTopicFilter(f, version); err != nil {
			return retag(err, UNSUBSCRIBE) // [MQTT-3.10.3-1]
		}
		p.Filters = append(p.Filters, f)
	}
	return nil
}

func unsubscribeRemaining(version byte, p *Unsubscribe) (remaining, props int) {
	remaining = 2
	if version >= Version5 {
		props = propertiesLen(UNSUBSCRIBE, &p.Props)
		remaining += varintSize(props) + props
	}
	for _, f := range p.Filters {
		remaining += 2 + len(f)
	}
	return remaining, props
}

// UnsubscribeSize returns the size of p's encoding.
func UnsubscribeSize(version byte, p *Unsubscribe) int {
	n, _ := unsubscribeRemaining(version, p)
	return packetSize(n)
}

// AppendUnsubscribe appends p's encoding to dst. No allocation when dst has
// room.
func AppendUnsubscribe(dst []byte, version byte, p *Unsubscribe) []byte {
	remaining, props := unsubscribeRemaining(version, p)
	dst = appendFixedHeader(dst, UNSUBSCRIBE, fixedFlags[UNSUBSCRIBE], remaining)
	dst = appendUint16(dst, p.PacketID)
	if version >= Version5 {
		dst = appendProperties(dst, UNSUBSCRIBE, &p.Props, props)
	}
	for _, f := range p.Filters {
		dst = appendBytes(dst, f)
	}
	return dst
}

// Unsuback is an UNSUBACK packet. Reasons (5.0 only; empty before) is reused
// across decodes.
type Unsuback struct {
	PacketID uint16
	Props    Properties
	Reasons  []ReasonCode
}

// DecodeUnsuback decodes the whole UNSUBACK packet buf into p in place. In
// 3.1/3.1.1 the remaining length must be 2; in 5.0 at least one valid reason
// code must follow the properties.
func DecodeUnsuback(buf []byte, version byte, p *Unsuback) error {
	return decodeAckList(buf, version, UNSUBACK, &p.PacketID, &p.Props, &p.Reasons)
}

// UnsubackSize returns the size of the UNSUBACK AppendUnsuback would append.
func UnsubackSize(version byte, reasons []ReasonCode, props *Properties) int {
	n, _ := ackListRemaining(version, UNSUBACK, reasons, props)
	return packetSize(n)
}

// AppendUnsuback appends an UNSUBACK to dst. reasons and props are written
// only in 5.0; props may be nil. No allocation when dst has room.
func AppendUnsuback(dst []byte, version byte, packetID uint16, reasons []ReasonCode, props *Properties) []byte {
	remaining, propLen := ackListRemaining(version, UNSUBACK, reasons, props)
	dst = appendFixedHeader(dst, UNSUBACK, 0, remaining)
	dst = appendUint16(dst, packetID)
	if version >= Version5 {
		dst = appendProperties(dst, UNSUBACK, props, propLen)
		for _, rc := range reasons {
			dst = append(dst, byte(rc))
		}
	}
	return dst
}
