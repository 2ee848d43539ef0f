package mqtt

import "unicode/utf8"

// ValidUTF8String checks the rules every MQTT UTF-8 string obeys: well-formed
// UTF-8 without surrogates ([MQTT-1.5.4-1] in 5.0, [MQTT-1.5.3-1] in 3.1.1)
// and no U+0000 ([MQTT-1.5.4-2], [MQTT-1.5.3-2]). It returns nil or an *Error
// with reason MalformedPacket. It allocates only on failure; safe for
// concurrent use.
func ValidUTF8String(b []byte) error {
	switch utf8Check(b, false) {
	case utf8OK:
		return nil
	case utf8Null:
		return perr(0, MalformedPacket, "MQTT-1.5.4-2", "string contains U+0000") // [MQTT-1.5.4-2] [MQTT-1.5.3-2]
	default:
		return perr(0, MalformedPacket, "MQTT-1.5.4-1", "string is not well-formed UTF-8") // [MQTT-1.5.4-1] [MQTT-1.5.3-1]
	}
}

// ValidUTF8StringStrict is ValidUTF8String that also refuses the code points
// MQTT 5.0 section 1.5.4 lets a receiver treat as malformed: the control
// characters U+0001..U+001F and U+007F..U+009F, and the Unicode
// non-characters (U+FDD0..U+FDEF and U+xxFFFE, U+xxFFFF). Topic names and
// filters are checked this way, as Mosquitto does.
func ValidUTF8StringStrict(b []byte) error {
	switch utf8Check(b, true) {
	case utf8OK:
		return nil
	case utf8Null:
		return perr(0, MalformedPacket, "MQTT-1.5.4-2", "string contains U+0000") // [MQTT-1.5.4-2] [MQTT-1.5.3-2]
	case utf8Disallowed:
		return perr(0, MalformedPacket, "", "string contains a control character or non-character") // 5.0 section 1.5.4: MAY treat as malformed
	default:
		return perr(0, MalformedPacket, "MQTT-1.5.4-1", "string is not well-formed UTF-8") // [MQTT-1.5.4-1] [MQTT-1.5.3-1]
	}
}

type utf8Result uint8

const (
	utf8OK utf8Result = iota
	utf8Null
	utf8Invalid
	utf8Disallowed
)

// utf8Check classifies b. strict also refuses 5.0's disallowed code points.
func utf8Check(b []byte, strict bool) utf8Result {
	for i := 0; i < len(b); {
		if len(b)-i >= 8 && plain8(b[i:], strict) {
			i += 8
			continue
		}
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0 {
				return utf8Null
			}
			if strict && (c < 0x20 || c == 0x7F) {
				return utf8Disallowed
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return utf8Invalid // also refuses surrogates, which Go treats as ill-formed
		}
		if strict && disallowedRune(r) {
			return utf8Disallowed
		}
		i += n
	}
	return utf8OK
}

// disallowedRune reports the non-ASCII code points of 5.0 section 1.5.4's
// disallowed list.
func disallowedRune(r rune) bool {
	return r <= 0x9F || (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}
