package mqtt

import "encoding/binary"

// PacketType is the MQTT control packet type, the high nibble of a packet's
// first byte.
type PacketType byte

// The control packet types. AUTH exists only in MQTT 5.0; type 0 is reserved
// in every version.
const (
	CONNECT     PacketType = 1
	CONNACK     PacketType = 2
	PUBLISH     PacketType = 3
	PUBACK      PacketType = 4
	PUBREC      PacketType = 5
	PUBREL      PacketType = 6
	PUBCOMP     PacketType = 7
	SUBSCRIBE   PacketType = 8
	SUBACK      PacketType = 9
	UNSUBSCRIBE PacketType = 10
	UNSUBACK    PacketType = 11
	PINGREQ     PacketType = 12
	PINGRESP    PacketType = 13
	DISCONNECT  PacketType = 14
	AUTH        PacketType = 15
)

var packetTypeNames = [16]string{
	"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
	"SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
}

// String returns the packet type's name as the specification writes it
// ("PUBLISH"), or "RESERVED" for 0 and for values above 15.
func (t PacketType) String() string {
	if t > 15 {
		return "RESERVED"
	}
	return packetTypeNames[t]
}

// Protocol levels, as carried in CONNECT. A connection's level is the version
// argument of every decoder and encoder in this package.
const (
	Version31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	Version311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	Version5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// Size limits of the wire format.
const (
	// MaxRemainingLength is the largest value a four-byte Variable Byte
	// Integer can carry (268,435,455), so the largest remaining length.
	MaxRemainingLength = 268435455
	// MaxPacketSize is the largest packet the wire format can express:
	// one type byte, four length bytes and MaxRemainingLength.
	MaxPacketSize = 1 + 4 + MaxRemainingLength
	// maxVarintBytes is the longest Variable Byte Integer; a fifth
	// continuation byte makes the packet malformed.
	maxVarintBytes = 4
)

// ErrPacketTooLarge is what PacketLength returns when a packet announces a
// size above the caller's limit. It is the reason code PacketTooLarge, so
// errors.Is and errors.As both work on it.
const ErrPacketTooLarge = PacketTooLarge

// FixedHeader is the first part of every control packet.
type FixedHeader struct {
	Type      PacketType // high nibble of byte 1
	Flags     byte       // low nibble of byte 1
	Remaining int        // the remaining length: bytes after the fixed header
	HeaderLen int        // bytes taken by the fixed header itself (2 to 5)
}

// Len returns the whole packet's length, HeaderLen+Remaining.
func (h FixedHeader) Len() int { return h.HeaderLen + h.Remaining }

// DecodeFixedHeader parses the fixed header at the start of buf. It returns
// ok=false with a nil error when buf ends before the header does, and an error
// (MalformedPacket) when the remaining length has a fifth continuation byte.
// It does not check the flags or whether the rest of the packet is present;
// the Decode functions do. Safe for concurrent use; buf is only read.
func DecodeFixedHeader(buf []byte) (h FixedHeader, ok bool, err error) {
	if len(buf) < 2 {
		return h, false, nil
	}
	v, n, err := readVarint(buf[1:])
	if err != nil {
		return h, false, perr(0, MalformedPacket, "", "remaining length longer than four bytes") // 5.0 section 1.5.5, 3.1.1 section 2.2.3
	}
	if n == 0 {
		return h, false, nil
	}
	h.Type = PacketType(buf[0] >> 4)
	h.Flags = buf[0] & 0x0F
	h.Remaining = v
	h.HeaderLen = 1 + n
	return h, true, nil
}

// PacketLength is the incremental reader's question: is a whole packet at the
// start of buf? It returns n>0 when buf[:n] is one whole packet, n==0 with a
// nil error when more bytes are needed, and an error when the remaining length
// is malformed (MalformedPacket, a fifth continuation byte) or the announced
// packet is longer than maxSize (ErrPacketTooLarge). The size check needs only
// the fixed header, so an oversized packet is refused before its body is read.
// maxSize <= 0 means MaxPacketSize. A remaining length encoded in more bytes
// than needed is accepted (senders MUST NOT, [MQTT-1.5.5-1], but nothing is
// lost by reading it). It never copies and never allocates; safe for
// concurrent use.
func PacketLength(buf []byte, maxSize int) (n int, err error) {
	if maxSize <= 0 {
		maxSize = MaxPacketSize
	}
	h, ok, err := DecodeFixedHeader(buf)
	if err != nil || !ok {
		return 0, err
	}
	total := h.Len()
	if total > maxSize {
		return 0, ErrPacketTooLarge // 5.0 section 3.1.2.11.4: DISCONNECT 0x95; 3.1.1: close
	}
	if len(buf) < total {
		return 0, nil
	}
	return total, nil
}

// readVarint reads a Variable Byte Integer. n==0 with a nil error means the
// input ended inside it.
func readVarint(b []byte) (v, n int, err error) {
	mult := 1
	for i := 0; i < maxVarintBytes; i++ {
		if i >= len(b) {
			return 0, 0, nil
		}
		c := b[i]
		v += int(c&0x7F) * mult
		if c&0x80 == 0 {
			return v, i + 1, nil
		}
		mult <<= 7
	}
	return 0, 0, errVarintTooLong // at most four bytes: 5.0 section 1.5.5, 3.1.1 section 2.2.3
}

// varintSize returns the encoded size of v, which must be in
// [0, MaxRemainingLength].
func varintSize(v int) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<14:
		return 2
	case v < 1<<21:
		return 3
	default:
		return 4
	}
}

// appendVarint appends v as a Variable Byte Integer.
func appendVarint(dst []byte, v int) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if v > 0 {
			dst = append(dst, c|0x80)
			continue
		}
		return append(dst, c)
	}
}

// appendFixedHeader appends the first byte and the remaining length.
func appendFixedHeader(dst []byte, t PacketType, flags byte, remaining int) []byte {
	dst = append(dst, byte(t)<<4|flags&0x0F)
	return appendVarint(dst, remaining)
}

// packetSize is the size of a whole packet with the given remaining length.
func packetSize(remaining int) int { return 1 + varintSize(remaining) + remaining }

func appendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }
func appendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// appendBytes appends a two-byte length and b (UTF-8 string or binary data).
func appendBytes(dst []byte, b []byte) []byte {
	dst = appendUint16(dst, uint16(len(b)))
	return append(dst, b...)
}

// appendString is appendBytes for a string constant.
func appendString(dst []byte, s string) []byte {
	dst = appendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// fixedFlags are the flags each packet type must carry ([MQTT-2.1.3-1] in 5.0,
// [MQTT-2.2.2-1] in 3.1.1). PUBLISH's flags are variable and checked apart.
var fixedFlags = [16]byte{
	PUBREL:      0x2,
	SUBSCRIBE:   0x2,
	UNSUBSCRIBE: 0x2,
}

// reader walks a packet's body. Its methods report truncation with ok=false
// rather than panicking on a short buffer.
type reader struct {
	b   []byte
	off int
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) byte1() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	c := r.b[r.off]
	r.off++
	return c, true
}

func (r *reader) uint16() (uint16, bool) {
	if len(r.b)-r.off < 2 {
		return 0, false
	}
	v := binary.BigEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v, true
}

func (r *reader) uint32() (uint32, bool) {
	if len(r.b)-r.off < 4 {
		return 0, false
	}
	v := binary.BigEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v, true
}

// bytes reads a two-byte length and that many bytes, a view into r.b. The
// returned slice has its capacity clipped so appending to it cannot overwrite
// the rest of the packet.
func (r *reader) bytes() ([]byte, bool) {
	n, ok := r.uint16()
	if !ok || len(r.b)-r.off < int(n) {
		return nil, false
	}
	b := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return b, true
}

// varint reads a Variable Byte Integer; ok is false when it is truncated or
// longer than four bytes.
func (r *reader) varint() (int, bool) {
	v, n, err := readVarint(r.b[r.off:])
	if err != nil || n == 0 {
		return 0, false
	}
	r.off += n
	return v, true
}

// rest returns the unread bytes and consumes them.
func (r *reader) rest() []byte {
	b := r.b[r.off:len(r.b):len(r.b)]
	r.off = len(r.b)
	return b
}

// body checks buf's fixed header against the packet type the caller expects
// and against buf's length, and returns a reader over the variable header and
// payload. Packets longer or shorter than their remaining length are
// malformed.
func body(buf []byte, t PacketType) (FixedHeader, reader, error) {
	h, ok, err := DecodeFixedHeader(buf)
	if err != nil {
		return h, reader{}, retag(err, t)
	}
	if !ok || h.Len() > len(buf) {
		return h, reader{}, perr(t, MalformedPacket, "", "packet shorter than its remaining length")
	}
	if h.Len() < len(buf) {
		return h, reader{}, perr(t, MalformedPacket, "", "packet longer than its remaining length")
	}
	if h.Type != t {
		return h, reader{}, perr(t, MalformedPacket, "", "packet is "+h.Type.String())
	}
	if t != PUBLISH && h.Flags != fixedFlags[t] {
		return h, reader{}, perr(t, MalformedPacket, "MQTT-2.1.3-1", "reserved flag bits") // [MQTT-2.1.3-1] (5.0), [MQTT-2.2.2-1] (3.1.1)
	}
	return h, reader{b: buf[h.HeaderLen:len(buf):len(buf)]}, nil
}
