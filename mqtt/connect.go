package mqtt

import "bytes"

// Connect is a CONNECT packet. After DecodeConnect its byte slices (and those
// in Props and WillProps) are views into the decoded buffer, valid only as
// long as that buffer is unchanged.
type Connect struct {
	ProtocolName  []byte // "MQTT", or "MQIsdp" for 3.1
	ProtocolLevel byte   // Version31, Version311 or Version5
	// Bridge is the most significant bit of the protocol level byte, which
	// Mosquitto bridges set (try_private) to announce themselves so the
	// remote broker can avoid echoing messages back. ProtocolLevel never
	// includes the bit; AppendConnect adds it back when Bridge is set.
	Bridge     bool
	CleanStart bool   // Clean Session in 3.1/3.1.1
	KeepAlive  uint16 // seconds
	Props      Properties
	ClientID   []byte

	WillFlag    bool
	WillQoS     byte
	WillRetain  bool
	WillProps   Properties // 5.0 Will Properties
	WillTopic   []byte
	WillPayload []byte

	UsernameFlag bool
	Username     []byte
	PasswordFlag bool
	Password     []byte
}

// Connect flag bits.
const (
	connectReserved     = 0x01
	connectCleanStart   = 0x02
	connectWill         = 0x04
	connectWillQoSShift = 3
	connectWillRetain   = 0x20
	connectPassword     = 0x40
	connectUsername     = 0x80
)

// DecodeConnect decodes the whole CONNECT packet buf, learning the protocol
// level from it, and fills p in place. It allocates nothing on success. On
// failure it returns an *Error: UnsupportedProtocolVersion for an unknown
// protocol name or level (p.ProtocolLevel then holds the level read, 0 if
// none, so the caller can pick the CONNACK format), ClientIdentifierNotValid
// for an empty client identifier that 3.1/3.1.1 do not allow with Clean
// Session 0, TopicNameInvalid for a bad Will Topic, and MalformedPacket or
// ProtocolError otherwise. The 23-character limit of 3.1 client identifiers
// is not enforced.
func DecodeConnect(buf []byte, p *Connect) error {
	p.ProtocolLevel, p.Bridge = 0, false
	_, r, err := body(buf, CONNECT)
	if err != nil {
		return err
	}
	var ok bool
	if p.ProtocolName, ok = r.bytes(); !ok {
		return perr(CONNECT, MalformedPacket, "", "protocol name truncated")
	}
	if p.ProtocolLevel, ok = r.byte1(); !ok {
		return perr(CONNECT, MalformedPacket, "", "protocol level truncated")
	}
	p.Bridge = p.ProtocolLevel&0x80 != 0
	p.ProtocolLevel &^= 0x80
	switch {
	case p.ProtocolLevel == Version31 && string(p.ProtocolName) == "MQIsdp":
	case (p.ProtocolLevel == Version311 || p.ProtocolLevel == Version5) && string(p.ProtocolName) == "MQTT":
	default:
		return perr(CONNECT, UnsupportedProtocolVersion, "MQTT-3.1.2-2", "protocol "+safeName(p.ProtocolName)+" level "+hex2(p.ProtocolLevel)) // [MQTT-3.1.2-1] [MQTT-3.1.2-2]
	}
	v := p.ProtocolLevel
	flags, ok := r.byte1()
	if !ok {
		return perr(CONNECT, MalformedPacket, "", "connect flags truncated")
	}
	if flags&connectReserved != 0 {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.2-3", "reserved connect flag set") // [MQTT-3.1.2-3]
	}
	p.CleanStart = flags&connectCleanStart != 0
	p.WillFlag = flags&connectWill != 0
	p.WillQoS = flags >> connectWillQoSShift & 0x03
	p.WillRetain = flags&connectWillRetain != 0
	p.PasswordFlag = flags&connectPassword != 0
	p.UsernameFlag = flags&connectUsername != 0
	if !p.WillFlag && p.WillQoS != 0 {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.2-11", "will QoS without will flag") // [MQTT-3.1.2-11] (5.0) [MQTT-3.1.2-13] (3.1.1)
	}
	if p.WillQoS == 3 {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.2-12", "will QoS 3") // [MQTT-3.1.2-12] (5.0) [MQTT-3.1.2-14] (3.1.1)
	}
	if !p.WillFlag && p.WillRetain {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.2-13", "will retain without will flag") // [MQTT-3.1.2-13] (5.0) [MQTT-3.1.2-15] (3.1.1)
	}
	if v < Version5 && p.PasswordFlag && !p.UsernameFlag {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.2-22", "password without user name") // [MQTT-3.1.2-22] (3.1.1 only; 5.0 allows it)
	}
	if p.KeepAlive, ok = r.uint16(); !ok {
		return perr(CONNECT, MalformedPacket, "", "keep alive truncated")
	}
	if v >= Version5 {
		if err := decodeProperties(&r, CONNECT, &p.Props); err != nil {
			return err
		}
	} else {
		p.Props.Reset()
	}
	if p.ClientID, ok = r.bytes(); !ok {
		return perr(CONNECT, MalformedPacket, "", "client identifier truncated")
	}
	if ValidUTF8String(p.ClientID) != nil {
		return perr(CONNECT, MalformedPacket, "MQTT-3.1.3-4", "client identifier is not a valid UTF-8 string") // [MQTT-3.1.3-4]
	}
	if len(p.ClientID) == 0 && v < Version5 && (!p.CleanStart || v == Version31) {
		return perr(CONNECT, ClientIdentifierNotValid, "MQTT-3.1.3-8", "empty client identifier without clean session") // [MQTT-3.1.3-8] (3.1.1); 3.1 requires 1..23 characters
	}
	p.WillProps.Reset()
	p.WillTopic, p.WillPayload = nil, nil
	if p.WillFlag {
		if v >= Version5 {
			if err := decodeProperties(&r, willProps, &p.WillProps); err != nil {
				return err
			}
		}
		if p.WillTopic, ok = r.bytes(); !ok {
			return perr(CONNECT, MalformedPacket, "", "will topic truncated")
		}
		if err := ValidTopicName(p.WillTopic, v); err != nil {
			return retag(err, CONNECT) // [MQTT-3.1.3-11] (5.0) [MQTT-3.1.3-10] (3.1.1)
		}
		if p.WillPayload, ok = r.bytes(); !ok {
			return perr(CONNECT, MalformedPacket, "", "will payload truncated")
		}
	}
	p.Username, p.Password = nil, nil
	if p.UsernameFlag {
		if p.Username, ok = r.bytes(); !ok {
			return perr(CONNECT, MalformedPacket, "", "user name truncated")
		}
		if ValidUTF8String(p.Username) != nil {
			return perr(CONNECT, MalformedPacket, "MQTT-3.1.3-12", "user name is not a valid UTF-8 string") // [MQTT-3.1.3-12] (5.0) [MQTT-3.1.3-11] (3.1.1)
		}
	}
	if p.PasswordFlag {
		if p.Password, ok = r.bytes(); !ok {
			return perr(CONNECT, MalformedPacket, "", "password truncated")
		}
	}
	if r.left() != 0 {
		return perr(CONNECT, MalformedPacket, "", "bytes after the payload")
	}
	return nil
}

// safeName quotes a protocol name for an error message without copying more
// than a few bytes of a hostile peer's input.
func safeName(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return "\"" + string(bytes.ToValidUTF8(b, []byte("?"))) + "\""
}

// retag sets the packet of an *Error built by a helper that did not know it.
func retag(err error, t PacketType) error {
	if e, ok := err.(*Error); ok {
		e.Packet = t
	}
	return err
}

func connectRemaining(p *Connect) (remaining, props, willLen int) {
	v := p.ProtocolLevel
	name := 4
	if v == Version31 {
		name = 6
	}
	remaining = 2 + name + 1 + 1 + 2 + 2 + len(p.ClientID)
	if v >= Version5 {
		props = propertiesLen(CONNECT, &p.Props)
		remaining += varintSize(props) + props
	}
	if p.WillFlag {
		if v >= Version5 {
			willLen = propertiesLen(willProps, &p.WillProps)
			remaining += varintSize(willLen) + willLen
		}
		remaining += 2 + len(p.WillTopic) + 2 + len(p.WillPayload)
	}
	if p.UsernameFlag {
		remaining += 2 + len(p.Username)
	}
	if p.PasswordFlag {
		remaining += 2 + len(p.Password)
	}
	return remaining, props, willLen
}

// ConnectSize returns the size of p's encoding, what AppendConnect appends.
func ConnectSize(p *Connect) int {
	n, _, _ := connectRemaining(p)
	return packetSize(n)
}

// AppendConnect appends the encoding of p at p.ProtocolLevel to dst and
// returns the extended slice; it allocates nothing when dst has room. The
// protocol name is derived from the level ("MQIsdp" for 3, "MQTT" otherwise),
// not taken from p.ProtocolName. Will fields are written only when WillFlag
// is set, user name and password only when their flags are.
func AppendConnect(dst []byte, p *Connect) []byte {
	remaining, props, willPropsLen := connectRemaining(p)
	dst = appendFixedHeader(dst, CONNECT, 0, remaining)
	if p.ProtocolLevel == Version31 {
		dst = appendString(dst, "MQIsdp")
	} else {
		dst = appendString(dst, "MQTT")
	}
	var flags byte
	if p.CleanStart {
		flags |= connectCleanStart
	}
	if p.WillFlag {
		flags |= connectWill | (p.WillQoS&0x03)<<connectWillQoSShift
		if p.WillRetain {
			flags |= connectWillRetain
		}
	}
	if p.PasswordFlag {
		flags |= connectPassword
	}
	if p.UsernameFlag {
		flags |= connectUsername
	}
	level := p.ProtocolLevel
	if p.Bridge {
		level |= 0x80
	}
	dst = append(dst, level, flags)
	dst = appendUint16(dst, p.KeepAlive)
	if p.ProtocolLevel >= Version5 {
		dst = appendProperties(dst, CONNECT, &p.Props, props)
	}
	dst = appendBytes(dst, p.ClientID)
	if p.WillFlag {
		if p.ProtocolLevel >= Version5 {
			dst = appendProperties(dst, willProps, &p.WillProps, willPropsLen)
		}
		dst = appendBytes(dst, p.WillTopic)
		dst = appendBytes(dst, p.WillPayload)
	}
	if p.UsernameFlag {
		dst = appendBytes(dst, p.Username)
	}
	if p.PasswordFlag {
		dst = appendBytes(dst, p.Password)
	}
	return dst
}

// Connack is a CONNACK packet. Reason is a 5.0 reason code in every version:
// for 3.1/3.1.1 DecodeConnack maps the return code with ReasonFromReturnCode
// and AppendConnack maps back with ConnackReturnCode.
type Connack struct {
	SessionPresent bool
	Reason         ReasonCode
	Props          Properties
}

// DecodeConnack decodes the whole CONNACK packet buf for a connection at
// protocol level version into p, allocating nothing on success. Reserved
// acknowledge flags ([MQTT-3.2.2-1]), unknown return or reason codes and a
// session-present flag on a refusal ([MQTT-3.2.2-6] in 5.0, [MQTT-3.2.2-4] in
// 3.1.1) make it malformed or a protocol error.
func DecodeConnack(buf []byte, version byte, p *Connack) error {
	_, r, err := body(buf, CONNACK)
	if err != nil {
		return err
	}
	ackFlags, ok := r.byte1()
	if !ok {
		return perr(CONNACK, MalformedPacket, "", "acknowledge flags truncated")
	}
	rc, ok := r.byte1()
	if !ok {
		return perr(CONNACK, MalformedPacket, "", "return code truncated")
	}
	if version == Version31 {
		ackFlags = 0 // 3.1: the first byte is reserved and unused
	}
	if ackFlags&^0x01 != 0 {
		return perr(CONNACK, MalformedPacket, "MQTT-3.2.2-1", "reserved acknowledge flags set") // [MQTT-3.2.2-1]
	}
	p.SessionPresent = ackFlags&0x01 != 0
	if version >= Version5 {
		p.Reason = ReasonCode(rc)
		if !validReason(CONNACK, p.Reason) {
			return perr(CONNACK, ProtocolError, "", "reason code "+hex2(rc)+" not valid in CONNACK")
		}
		if err := decodeProperties(&r, CONNACK, &p.Props); err != nil {
			return err
		}
	} else {
		if rc > 5 {
			return perr(CONNACK, ProtocolError, "", "return code "+hex2(rc)+" is reserved")
		}
		p.Reason = ReasonFromReturnCode(rc)
		p.Props.Reset()
	}
	if p.SessionPresent && p.Reason != Success {
		return perr(CONNACK, ProtocolError, "MQTT-3.2.2-6", "session present on a refused connection") // [MQTT-3.2.2-6] (5.0) [MQTT-3.2.2-4] (3.1.1)
	}
	if r.left() != 0 {
		return perr(CONNACK, MalformedPacket, "", "bytes after the properties")
	}
	return nil
}

// ConnackSize returns the size of the CONNACK AppendConnack would append.
func ConnackSize(version byte, props *Properties) int {
	n := 2
	if version >= Version5 {
		n += propertiesSize(CONNACK, props)
	}
	return packetSize(n)
}

// AppendConnack appends a CONNACK to dst. For 3.1/3.1.1 reason is mapped
// with ConnackReturnCode and props is ignored; for 3.1 the session-present
// flag is not sent (3.1 has none). sessionPresent is forced false when reason
// is not Success ([MQTT-3.2.2-6]). props may be nil. No allocation when dst
// has room.
func AppendConnack(dst []byte, version byte, sessionPresent bool, reason ReasonCode, props *Properties) []byte {
	var flags byte
	if sessionPresent && reason == Success && version != Version31 {
		flags = 1
	}
	if version < Version5 {
		dst = appendFixedHeader(dst, CONNACK, 0, 2)
		return append(dst, flags, ConnackReturnCode(reason))
	}
	n := propertiesLen(CONNACK, props)
	dst = appendFixedHeader(dst, CONNACK, 0, 2+varintSize(n)+n)
	dst = append(dst, flags, byte(reason))
	return appendProperties(dst, CONNACK, props, n)
}
