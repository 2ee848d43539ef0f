package mqtt

import (
	"encoding/binary"
	"iter"
)

// PropID is an MQTT 5.0 property identifier (section 2.2.2.2).
type PropID byte

// The properties of MQTT 5.0, with the value type each carries.
const (
	PropPayloadFormat        PropID = 0x01 // byte, 0 or 1
	PropMessageExpiry        PropID = 0x02 // four-byte integer, seconds
	PropContentType          PropID = 0x03 // UTF-8 string
	PropResponseTopic        PropID = 0x08 // UTF-8 string, a topic name
	PropCorrelationData      PropID = 0x09 // binary data
	PropSubscriptionID       PropID = 0x0B // variable byte integer, 1..268435455
	PropSessionExpiry        PropID = 0x11 // four-byte integer, seconds
	PropAssignedClientID     PropID = 0x12 // UTF-8 string
	PropServerKeepAlive      PropID = 0x13 // two-byte integer, seconds
	PropAuthMethod           PropID = 0x15 // UTF-8 string
	PropAuthData             PropID = 0x16 // binary data
	PropRequestProblemInfo   PropID = 0x17 // byte, 0 or 1
	PropWillDelay            PropID = 0x18 // four-byte integer, seconds
	PropRequestResponseInfo  PropID = 0x19 // byte, 0 or 1
	PropResponseInfo         PropID = 0x1A // UTF-8 string
	PropServerReference      PropID = 0x1C // UTF-8 string
	PropReasonString         PropID = 0x1F // UTF-8 string
	PropReceiveMaximum       PropID = 0x21 // two-byte integer, not 0
	PropTopicAliasMaximum    PropID = 0x22 // two-byte integer
	PropTopicAlias           PropID = 0x23 // two-byte integer, not 0
	PropMaximumQoS           PropID = 0x24 // byte, 0 or 1
	PropRetainAvailable      PropID = 0x25 // byte, 0 or 1
	PropUserProperty         PropID = 0x26 // UTF-8 string pair, may repeat
	PropMaximumPacketSize    PropID = 0x27 // four-byte integer, not 0
	PropWildcardSubAvailable PropID = 0x28 // byte, 0 or 1
	PropSubIDAvailable       PropID = 0x29 // byte, 0 or 1
	PropSharedSubAvailable   PropID = 0x2A // byte, 0 or 1
)

const maxPropID = 0x2A

// Value types of properties.
const (
	ptNone byte = iota
	ptByte
	ptUint16
	ptUint32
	ptVarint
	ptString
	ptBinary
	ptPair
)

var propTypes = [maxPropID + 1]byte{
	PropPayloadFormat:        ptByte,
	PropMessageExpiry:        ptUint32,
	PropContentType:          ptString,
	PropResponseTopic:        ptString,
	PropCorrelationData:      ptBinary,
	PropSubscriptionID:       ptVarint,
	PropSessionExpiry:        ptUint32,
	PropAssignedClientID:     ptString,
	PropServerKeepAlive:      ptUint16,
	PropAuthMethod:           ptString,
	PropAuthData:             ptBinary,
	PropRequestProblemInfo:   ptByte,
	PropWillDelay:            ptUint32,
	PropRequestResponseInfo:  ptByte,
	PropResponseInfo:         ptString,
	PropServerReference:      ptString,
	PropReasonString:         ptString,
	PropReceiveMaximum:       ptUint16,
	PropTopicAliasMaximum:    ptUint16,
	PropTopicAlias:           ptUint16,
	PropMaximumQoS:           ptByte,
	PropRetainAvailable:      ptByte,
	PropUserProperty:         ptPair,
	PropMaximumPacketSize:    ptUint32,
	PropWildcardSubAvailable: ptByte,
	PropSubIDAvailable:       ptByte,
	PropSharedSubAvailable:   ptByte,
}

func bit(ids ...PropID) uint64 {
	var m uint64
	for _, id := range ids {
		m |= 1 << id
	}
	return m
}

// willProps is the index of the Will Properties in allowedProps; packet type
// 0 is reserved, so the slot is free.
const willProps PacketType = 0

// allowedProps says which properties each packet may carry (5.0 table 2-4).
// A property outside its packet's set makes the packet malformed.
var allowedProps = [16]uint64{
	willProps: bit(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropWillDelay, PropUserProperty),
	CONNECT: bit(PropSessionExpiry, PropAuthMethod, PropAuthData, PropRequestProblemInfo,
		PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum, PropUserProperty,
		PropMaximumPacketSize),
	CONNACK: bit(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive, PropAuthMethod,
		PropAuthData, PropResponseInfo, PropServerReference, PropReasonString, PropReceiveMaximum,
		PropTopicAliasMaximum, PropMaximumQoS, PropRetainAvailable, PropUserProperty,
		PropMaximumPacketSize, PropWildcardSubAvailable, PropSubIDAvailable, PropSharedSubAvailable),
	PUBLISH: bit(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
		PropCorrelationData, PropSubscriptionID, PropTopicAlias, PropUserProperty),
	PUBACK:      bit(PropReasonString, PropUserProperty),
	PUBREC:      bit(PropReasonString, PropUserProperty),
	PUBREL:      bit(PropReasonString, PropUserProperty),
	PUBCOMP:     bit(PropReasonString, PropUserProperty),
	SUBSCRIBE:   bit(PropSubscriptionID, PropUserProperty),
	SUBACK:      bit(PropReasonString, PropUserProperty),
	UNSUBSCRIBE: bit(PropUserProperty),
	UNSUBACK:    bit(PropReasonString, PropUserProperty),
	DISCONNECT:  bit(PropSessionExpiry, PropServerReference, PropReasonString, PropUserProperty),
	AUTH:        bit(PropAuthMethod, PropAuthData, PropReasonString, PropUserProperty),
}

// Properties holds the MQTT 5.0 properties of one packet (or of a CONNECT's
// Will), a field per property and a presence bit per property in Present.
// Decoders fill it in place: byte-slice fields and User are views into the
// decoded buffer and are valid only as long as that buffer is. Encoders write
// a property when its bit in Present is set, except SubscriptionIDs and User,
// which are written when non-empty; encoders also skip any property the
// packet being encoded may not carry, so a Properties decoded from one packet
// can be handed to another. To forward a PUBLISH with per-subscriber changes,
// copy the struct (no allocation) and change TopicAlias, MessageExpiry or
// SubscriptionIDs; User stays the original raw block. A Properties is not
// safe for concurrent mutation.
type Properties struct {
	Present uint64 // bit 1<<id for every property present; see Has and Set

	PayloadFormat        byte   // 0x01: 0 unspecified bytes, 1 UTF-8
	MessageExpiry        uint32 // 0x02: seconds
	ContentType          []byte // 0x03
	ResponseTopic        []byte // 0x08
	CorrelationData      []byte // 0x09
	SessionExpiry        uint32 // 0x11: seconds
	AssignedClientID     []byte // 0x12
	ServerKeepAlive      uint16 // 0x13: seconds
	AuthMethod           []byte // 0x15
	AuthData             []byte // 0x16
	RequestProblemInfo   byte   // 0x17
	WillDelay            uint32 // 0x18: seconds
	RequestResponseInfo  byte   // 0x19
	ResponseInfo         []byte // 0x1A
	ServerReference      []byte // 0x1C
	ReasonString         []byte // 0x1F
	ReceiveMaximum       uint16 // 0x21
	TopicAliasMaximum    uint16 // 0x22
	TopicAlias           uint16 // 0x23
	MaximumQoS           byte   // 0x24
	RetainAvailable      byte   // 0x25
	MaximumPacketSize    uint32 // 0x27: bytes
	WildcardSubAvailable byte   // 0x28
	SubIDAvailable       byte   // 0x29
	SharedSubAvailable   byte   // 0x2A

	// SubscriptionIDs (0x0B) holds every Subscription Identifier, in order;
	// a PUBLISH from the server can carry several, a SUBSCRIBE one.
	// Decoding appends to SubscriptionIDs[:0], so reusing a Properties
	// across decodes reuses the slice and allocates nothing once it has
	// grown to the largest count seen.
	SubscriptionIDs []uint32

	// User (0x26) is the raw encoding of the user properties, in their
	// order. See UserProperties.
	User UserProperties
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropID) bool { return p.Present&(1<<id) != 0 }

// Set marks property id present; set the field first.
func (p *Properties) Set(id PropID) { p.Present |= 1 << id }

// Clear marks property id absent.
func (p *Properties) Clear(id PropID) { p.Present &^= 1 << id }

// Reset clears every property, keeping SubscriptionIDs' capacity for reuse.
func (p *Properties) Reset() { *p = Properties{SubscriptionIDs: p.SubscriptionIDs[:0]} }

// UserProperties is a sequence of encoded properties from which only the User
// Property entries (identifier 0x26, a UTF-8 key and value) are read; other
// entries are skipped. A decoder sets it to a view of the packet's property
// block, so forwarding user properties keeps their order and costs no copy
// or allocation; Append builds a new one. Iteration stops at the first entry
// it cannot parse.
type UserProperties []byte

// All yields each user property's key and value, in order. The slices are
// views into u.
func (u UserProperties) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(key, value []byte) bool) {
		for off := 0; off < len(u); {
			next, ok := skipProp(u, off)
			if !ok {
				return
			}
			if PropID(u[off]) == PropUserProperty {
				k, v := userPair(u[off+1 : next])
				if !yield(k, v) {
					return
				}
			}
			off = next
		}
	}
}

// Len returns the number of user properties.
func (u UserProperties) Len() int {
	n := 0
	for range u.All() {
		n++
	}
	return n
}

// Append returns u with the user property key=value added at the end,
// growing u like append does. Keys and values longer than 65535 bytes are
// truncated to 65535.
func (u UserProperties) Append(key, value []byte) UserProperties {
	key, value = key[:min(len(key), 0xFFFF)], value[:min(len(value), 0xFFFF)]
	u = append(u, byte(PropUserProperty))
	u = appendBytes(u, key)
	return appendBytes(u, value)
}

// userPair splits the body of a validated user property entry.
func userPair(b []byte) (k, v []byte) {
	n := int(binary.BigEndian.Uint16(b))
	k = b[2 : 2+n]
	b = b[2+n:]
	m := int(binary.BigEndian.Uint16(b))
	return k, b[2 : 2+m]
}

// encodedSize is the number of bytes the user property entries of u take.
func (u UserProperties) encodedSize() int {
	n := 0
	for off := 0; off < len(u); {
		next, ok := skipProp(u, off)
		if !ok {
			break
		}
		if PropID(u[off]) == PropUserProperty {
			n += next - off
		}
		off = next
	}
	return n
}

// appendTo appends the user property entries of u.
func (u UserProperties) appendTo(dst []byte) []byte {
	for off := 0; off < len(u); {
		next, ok := skipProp(u, off)
		if !ok {
			break
		}
		if PropID(u[off]) == PropUserProperty {
			dst = append(dst, u[off:next]...)
		}
		off = next
	}
	return dst
}

// skipProp returns the offset after the property entry at b[off:], or
// ok=false if it is not a well-formed entry.
func skipProp(b []byte, off int) (int, bool) {
	id := b[off]
	if id > maxPropID || propTypes[id] == ptNone {
		return 0, false
	}
	off++
	switch propTypes[id] {
	case ptByte:
		off++
	case ptUint16:
		off += 2
	case ptUint32:
		off += 4
	case ptVarint:
		_, n, err := readVarint(b[off:])
		if err != nil || n == 0 {
			return 0, false
		}
		off += n
	case ptString, ptBinary:
		if len(b)-off < 2 {
			return 0, false
		}
		off += 2 + int(binary.BigEndian.Uint16(b[off:]))
	case ptPair:
		for range 2 {
			if len(b)-off < 2 {
				return 0, false
			}
			off += 2 + int(binary.BigEndian.Uint16(b[off:]))
		}
	}
	if off > len(b) {
		return 0, false
	}
	return off, true
}

// decodeProperties reads a property length and block from r into p, for
// packet t (willProps for a CONNECT's Will Properties). It checks that each
// property is one t may carry (else Malformed Packet, section 2.2.2.2), that
// none but User Property (and Subscription Identifier in PUBLISH) repeats
// (else Protocol Error), and the value rules of section 3.
func decodeProperties(r *reader, t PacketType, p *Properties) error {
	p.Reset()
	pt := t
	if t == willProps {
		pt = CONNECT
	}
	n, ok := r.varint()
	if !ok {
		return perr(pt, MalformedPacket, "", "property length malformed or truncated")
	}
	if n > r.left() {
		return perr(pt, MalformedPacket, "", "property length beyond the packet")
	}
	block := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	userStart, userEnd := -1, 0
	for off := 0; off < len(block); {
		start := off
		id := PropID(block[off])
		if id > maxPropID || propTypes[id] == ptNone || allowedProps[t]&(1<<id) == 0 {
			return perr(pt, MalformedPacket, "", "property 0x"+hex2(byte(id))+" not allowed here") // section 2.2.2.2
		}
		if p.Present&(1<<id) != 0 && id != PropUserProperty && !(id == PropSubscriptionID && t == PUBLISH) {
			return perr(pt, ProtocolError, "", "property 0x"+hex2(byte(id))+" included more than once") // section 3: "a Protocol Error to include ... more than once"
		}
		p.Present |= 1 << id
		pr := reader{b: block, off: off + 1}
		var (
			b8  byte
			b16 uint16
			b32 uint32
			vi  int
			s   []byte
		)
		switch propTypes[id] {
		case ptByte:
			b8, ok = pr.byte1()
		case ptUint16:
			b16, ok = pr.uint16()
		case ptUint32:
			b32, ok = pr.uint32()
		case ptVarint:
			vi, ok = pr.varint()
		case ptString, ptBinary:
			s, ok = pr.bytes()
		case ptPair:
			var k, v []byte
			if k, ok = pr.bytes(); ok {
				v, ok = pr.bytes()
			}
			if ok && (ValidUTF8String(k) != nil || ValidUTF8String(v) != nil) {
				return perr(pt, MalformedPacket, "MQTT-1.5.7-1", "user property is not a valid UTF-8 string pair") // [MQTT-1.5.7-1]
			}
		}
		if !ok {
			return perr(pt, MalformedPacket, "", "property 0x"+hex2(byte(id))+" truncated")
		}
		if propTypes[id] == ptString && ValidUTF8String(s) != nil {
			return perr(pt, MalformedPacket, "MQTT-1.5.4-1", "property 0x"+hex2(byte(id))+" is not a valid UTF-8 string") // [MQTT-1.5.4-1] [MQTT-1.5.4-2]
		}
		off = pr.off
		switch id {
		case PropPayloadFormat:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "payload format indicator not 0 or 1")
			}
			p.PayloadFormat = b8
		case PropMessageExpiry:
			p.MessageExpiry = b32
		case PropContentType:
			p.ContentType = s
		case PropResponseTopic:
			if ValidTopicName(s, Version5) != nil {
				return perr(pt, ProtocolError, "MQTT-3.3.2-14", "response topic is not a valid topic name") // [MQTT-3.3.2-14] (PUBLISH), [MQTT-3.1.3-11] (Will)
			}
			p.ResponseTopic = s
		case PropCorrelationData:
			p.CorrelationData = s
		case PropSubscriptionID:
			if vi == 0 {
				return perr(pt, ProtocolError, "", "subscription identifier 0") // 5.0 section 3.3.2.3.8
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(vi))
		case PropSessionExpiry:
			p.SessionExpiry = b32
		case PropAssignedClientID:
			p.AssignedClientID = s
		case PropServerKeepAlive:
			p.ServerKeepAlive = b16
		case PropAuthMethod:
			p.AuthMethod = s
		case PropAuthData:
			p.AuthData = s
		case PropRequestProblemInfo:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "request problem information not 0 or 1")
			}
			p.RequestProblemInfo = b8
		case PropWillDelay:
			p.WillDelay = b32
		case PropRequestResponseInfo:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "request response information not 0 or 1")
			}
			p.RequestResponseInfo = b8
		case PropResponseInfo:
			p.ResponseInfo = s
		case PropServerReference:
			p.ServerReference = s
		case PropReasonString:
			p.ReasonString = s
		case PropReceiveMaximum:
			if b16 == 0 {
				return perr(pt, ProtocolError, "", "receive maximum 0") // 5.0 sections 3.1.2.11.3, 3.2.2.3.3
			}
			p.ReceiveMaximum = b16
		case PropTopicAliasMaximum:
			p.TopicAliasMaximum = b16
		case PropTopicAlias:
			if b16 == 0 {
				return perr(pt, TopicAliasInvalid, "MQTT-3.3.2-8", "topic alias 0") // [MQTT-3.3.2-8]
			}
			p.TopicAlias = b16
		case PropMaximumQoS:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "maximum QoS not 0 or 1")
			}
			p.MaximumQoS = b8
		case PropRetainAvailable:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "retain available not 0 or 1")
			}
			p.RetainAvailable = b8
		case PropUserProperty:
			if userStart < 0 {
				userStart = start
			}
			userEnd = off
		case PropMaximumPacketSize:
			if b32 == 0 {
				return perr(pt, ProtocolError, "", "maximum packet size 0") // 5.0 section 3.1.2.11.4
			}
			p.MaximumPacketSize = b32
		case PropWildcardSubAvailable:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "wildcard subscription available not 0 or 1")
			}
			p.WildcardSubAvailable = b8
		case PropSubIDAvailable:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "subscription identifiers available not 0 or 1")
			}
			p.SubIDAvailable = b8
		case PropSharedSubAvailable:
			if b8 > 1 {
				return perr(pt, ProtocolError, "", "shared subscription available not 0 or 1")
			}
			p.SharedSubAvailable = b8
		}
	}
	if p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		return perr(pt, ProtocolError, "", "authentication data without authentication method") // 5.0 sections 3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3
	}
	if userStart >= 0 {
		p.User = UserProperties(block[userStart:userEnd:userEnd])
	}
	return nil
}

func hex2(b byte) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&0xF]})
}

// has reports whether property id is to be encoded for a packet with
// allowed-set mask.
func (p *Properties) has(mask uint64, id PropID) bool {
	return p.Present&mask&(1<<id) != 0
}

// propertiesLen returns the length of p's property block for packet t,
// without the length prefix. A nil p has none.
func propertiesLen(t PacketType, p *Properties) int {
	if p == nil {
		return 0
	}
	m := allowedProps[t]
	n := 0
	if p.has(m, PropPayloadFormat) {
		n += 2
	}
	if p.has(m, PropMessageExpiry) {
		n += 5
	}
	if p.has(m, PropContentType) {
		n += 3 + len(p.ContentType)
	}
	if p.has(m, PropResponseTopic) {
		n += 3 + len(p.ResponseTopic)
	}
	if p.has(m, PropCorrelationData) {
		n += 3 + len(p.CorrelationData)
	}
	if m&(1<<PropSubscriptionID) != 0 {
		for _, id := range p.SubscriptionIDs {
			n += 1 + varintSize(int(id&MaxRemainingLength))
		}
	}
	if p.has(m, PropSessionExpiry) {
		n += 5
	}
	if p.has(m, PropAssignedClientID) {
		n += 3 + len(p.AssignedClientID)
	}
	if p.has(m, PropServerKeepAlive) {
		n += 3
	}
	if p.has(m, PropAuthMethod) {
		n += 3 + len(p.AuthMethod)
	}
	if p.has(m, PropAuthData) {
		n += 3 + len(p.AuthData)
	}
	if p.has(m, PropRequestProblemInfo) {
		n += 2
	}
	if p.has(m, PropWillDelay) {
		n += 5
	}
	if p.has(m, PropRequestResponseInfo) {
		n += 2
	}
	if p.has(m, PropResponseInfo) {
		n += 3 + len(p.ResponseInfo)
	}
	if p.has(m, PropServerReference) {
		n += 3 + len(p.ServerReference)
	}
	if p.has(m, PropReasonString) {
		n += 3 + len(p.ReasonString)
	}
	if p.has(m, PropReceiveMaximum) {
		n += 3
	}
	if p.has(m, PropTopicAliasMaximum) {
		n += 3
	}
	if p.has(m, PropTopicAlias) {
		n += 3
	}
	if p.has(m, PropMaximumQoS) {
		n += 2
	}
	if p.has(m, PropRetainAvailable) {
		n += 2
	}
	if p.has(m, PropMaximumPacketSize) {
		n += 5
	}
	if p.has(m, PropWildcardSubAvailable) {
		n += 2
	}
	if p.has(m, PropSubIDAvailable) {
		n += 2
	}
	if p.has(m, PropSharedSubAvailable) {
		n += 2
	}
	if len(p.User) > 0 {
		n += p.User.encodedSize()
	}
	return n
}

// propertiesSize is propertiesLen plus its Variable Byte Integer prefix.
func propertiesSize(t PacketType, p *Properties) int {
	n := propertiesLen(t, p)
	return varintSize(n) + n
}

// appendProperties appends the property length and block of p for packet t,
// in identifier order with the user properties last, in their order. n must
// be propertiesLen(t, p).
func appendProperties(dst []byte, t PacketType, p *Properties, n int) []byte {
	dst = appendVarint(dst, n)
	if p == nil {
		return dst
	}
	m := allowedProps[t]
	if p.has(m, PropPayloadFormat) {
		dst = append(dst, byte(PropPayloadFormat), p.PayloadFormat)
	}
	if p.has(m, PropMessageExpiry) {
		dst = appendUint32(append(dst, byte(PropMessageExpiry)), p.MessageExpiry)
	}
	if p.has(m, PropContentType) {
		dst = appendBytes(append(dst, byte(PropContentType)), p.ContentType)
	}
	if p.has(m, PropResponseTopic) {
		dst = appendBytes(append(dst, byte(PropResponseTopic)), p.ResponseTopic)
	}
	if p.has(m, PropCorrelationData) {
		dst = appendBytes(append(dst, byte(PropCorrelationData)), p.CorrelationData)
	}
	if m&(1<<PropSubscriptionID) != 0 {
		for _, id := range p.SubscriptionIDs {
			dst = appendVarint(append(dst, byte(PropSubscriptionID)), int(id&MaxRemainingLength))
		}
	}
	if p.has(m, PropSessionExpiry) {
		dst = appendUint32(append(dst, byte(PropSessionExpiry)), p.SessionExpiry)
	}
	if p.has(m, PropAssignedClientID) {
		dst = appendBytes(append(dst, byte(PropAssignedClientID)), p.AssignedClientID)
	}
	if p.has(m, PropServerKeepAlive) {
		dst = appendUint16(append(dst, byte(PropServerKeepAlive)), p.ServerKeepAlive)
	}
	if p.has(m, PropAuthMethod) {
		dst = appendBytes(append(dst, byte(PropAuthMethod)), p.AuthMethod)
	}
	if p.has(m, PropAuthData) {
		dst = appendBytes(append(dst, byte(PropAuthData)), p.AuthData)
	}
	if p.has(m, PropRequestProblemInfo) {
		dst = append(dst, byte(PropRequestProblemInfo), p.RequestProblemInfo)
	}
	if p.has(m, PropWillDelay) {
		dst = appendUint32(append(dst, byte(PropWillDelay)), p.WillDelay)
	}
	if p.has(m, PropRequestResponseInfo) {
		dst = append(dst, byte(PropRequestResponseInfo), p.RequestResponseInfo)
	}
	if p.has(m, PropResponseInfo) {
		dst = appendBytes(append(dst, byte(PropResponseInfo)), p.ResponseInfo)
	}
	if p.has(m, PropServerReference) {
		dst = appendBytes(append(dst, byte(PropServerReference)), p.ServerReference)
	}
	if p.has(m, PropReasonString) {
		dst = appendBytes(append(dst, byte(PropReasonString)), p.ReasonString)
	}
	if p.has(m, PropReceiveMaximum) {
		dst = appendUint16(append(dst, byte(PropReceiveMaximum)), p.ReceiveMaximum)
	}
	if p.has(m, PropTopicAliasMaximum) {
		dst = appendUint16(append(dst, byte(PropTopicAliasMaximum)), p.TopicAliasMaximum)
	}
	if p.has(m, PropTopicAlias) {
		dst = appendUint16(append(dst, byte(PropTopicAlias)), p.TopicAlias)
	}
	if p.has(m, PropMaximumQoS) {
		dst = append(dst, byte(PropMaximumQoS), p.MaximumQoS)
	}
	if p.has(m, PropRetainAvailable) {
		dst = append(dst, byte(PropRetainAvailable), p.RetainAvailable)
	}
	if p.has(m, PropMaximumPacketSize) {
		dst = appendUint32(append(dst, byte(PropMaximumPacketSize)), p.MaximumPacketSize)
	}
	if p.has(m, PropWildcardSubAvailable) {
		dst = append(dst, byte(PropWildcardSubAvailable), p.WildcardSubAvailable)
	}
	if p.has(m, PropSubIDAvailable) {
		dst = append(dst, byte(PropSubIDAvailable), p.SubIDAvailable)
	}
	if p.has(m, PropSharedSubAvailable) {
		dst = append(dst, byte(PropSharedSubAvailable), p.SharedSubAvailable)
	}
	if len(p.User) > 0 {
		dst = p.User.appendTo(dst)
	}
	return dst
}
