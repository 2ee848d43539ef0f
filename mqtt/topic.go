package mqtt

import (
	"bytes"
	"encoding/binary"
)

// sharePrefix starts a shared subscription's filter (5.0 section 4.8.2).
const sharePrefix = "$share/"

// ValidTopicName checks a PUBLISH or Will topic name: at least one character
// ([MQTT-4.7.3-1]), no wildcard ([MQTT-4.7.0-1] in 5.0, [MQTT-4.7.1-1] in
// 3.1.1, [MQTT-3.3.2-2]), well-formed UTF-8 without U+0000 and without the
// control characters and non-characters 5.0 lets a receiver refuse. The
// empty name that 5.0 allows with a Topic Alias is DecodePublish's business,
// not this function's. It returns nil or an *Error: reason TopicNameInvalid
// for an empty name or a wildcard, MalformedPacket for bad UTF-8 (a format
// error, not a name the receiver declines). It allocates only on failure. The rules are the same for
// every version; version is accepted for symmetry and future use.
func ValidTopicName(t []byte, version byte) error {
	if len(t) == 0 {
		return perr(0, TopicNameInvalid, "MQTT-4.7.3-1", "empty topic name") // [MQTT-4.7.3-1]
	}
	if len(t) > 0xFFFF {
		return perr(0, TopicNameInvalid, "MQTT-4.7.3-3", "topic name longer than 65535 bytes") // [MQTT-4.7.3-3] (3.1.1)
	}
	i := 0
	for ; i+8 <= len(t) && plainWord(binary.LittleEndian.Uint64(t[i:])); i += 8 {
	}
	for ; i < len(t); i++ {
		c := t[i]
		if c == '+' || c == '#' {
			return perr(0, TopicNameInvalid, "MQTT-3.3.2-2", "wildcard in topic name") // [MQTT-3.3.2-2] [MQTT-4.7.0-1]
		}
		if c < 0x20 || c >= 0x7F {
			return topicUTF8(t[i:], TopicNameInvalid)
		}
	}
	return nil
}

// Byte-lane constants for plainWord.
const (
	lanes1    = 0x0101010101010101
	lanesHigh = 0x8080808080808080
)

// plainWord reports whether each of the 8 bytes in w is printable ASCII
// (0x20 to 0x7E) other than '+' and '#': the common topic name, checked a
// word at a time. It never says true for a word holding another byte; it
// may say false for a good word, and the caller then checks byte by byte.
// The tests are the "has less", "has more" and "has zero" byte tricks
// (Sean Eron Anderson's Bit Twiddling Hacks), exact for "some byte".
func plainWord(w uint64) bool {
	ctl := (w - 0x20*lanes1) & ^w & lanesHigh // a byte below 0x20
	high := ((w + lanes1) | w) & lanesHigh    // a byte above 0x7E
	plus := w ^ '+'*lanes1
	plus = (plus - lanes1) & ^plus & lanesHigh // a '+'
	hash := w ^ '#'*lanes1
	hash = (hash - lanes1) & ^hash & lanesHigh // a '#'
	return ctl|high|plus|hash == 0
}

// topicUTF8 runs the strict UTF-8 check on the tail of a topic that the ASCII
// fast path could not clear. Ill-formed UTF-8, U+0000 and the code points 5.0
// lets a receiver refuse make the packet malformed; a wildcard found in a
// topic name (rc TopicNameInvalid) gives rc.
func topicUTF8(t []byte, rc ReasonCode) error {
	switch utf8Check(t, true) {
	case utf8OK:
		if rc == TopicNameInvalid && bytes.ContainsAny(t, "+#") {
			return perr(0, rc, "MQTT-3.3.2-2", "wildcard in topic name") // [MQTT-3.3.2-2]
		}
		return nil
	case utf8Null:
		return perr(0, MalformedPacket, "MQTT-4.7.3-2", "topic contains U+0000") // [MQTT-4.7.3-2] [MQTT-1.5.4-2]
	case utf8Disallowed:
		return perr(0, MalformedPacket, "", "topic contains a control character or non-character") // 5.0 section 1.5.4: MAY treat as malformed
	default:
		return perr(0, MalformedPacket, "MQTT-1.5.4-1", "topic is not well-formed UTF-8") // [MQTT-1.5.4-1] [MQTT-1.5.3-1]
	}
}

// ValidTopicFilter checks a SUBSCRIBE or UNSUBSCRIBE topic filter: at least
// one character ([MQTT-4.7.3-1]); '#' only as the whole last level
// ([MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1); '+' only as a whole level
// ([MQTT-4.7.1-2] in 5.0, [MQTT-4.7.1-3] in 3.1.1); well-formed UTF-8 without
// U+0000, control characters or non-characters; and, for a filter starting
// with "$share/", the shared-subscription syntax of ParseShared. The $share
// syntax is checked in every version so that the subscription index never
// sees a malformed group. It returns nil or an *Error: reason
// TopicFilterInvalid for misplaced wildcards, emptiness or a bad share name,
// MalformedPacket for bad UTF-8. It allocates only on failure.
func ValidTopicFilter(f []byte, version byte) error {
	if bytes.HasPrefix(f, []byte(sharePrefix)) {
		_, _, _, err := ParseShared(f)
		return err
	}
	return validFilter(f)
}

// validFilter checks a filter without the $share/ prefix.
func validFilter(f []byte) error {
	if len(f) == 0 {
		return perr(0, TopicFilterInvalid, "MQTT-4.7.3-1", "empty topic filter") // [MQTT-4.7.3-1]
	}
	if len(f) > 0xFFFF {
		return perr(0, TopicFilterInvalid, "MQTT-4.7.3-3", "topic filter longer than 65535 bytes") // [MQTT-4.7.3-3] (3.1.1)
	}
	ascii := true
	for i, c := range f {
		switch c {
		case '#':
			if i != len(f)-1 || (i > 0 && f[i-1] != '/') {
				return perr(0, TopicFilterInvalid, "MQTT-4.7.1-1", "'#' not alone as the last level") // [MQTT-4.7.1-1] (5.0) [MQTT-4.7.1-2] (3.1.1)
			}
		case '+':
			if (i > 0 && f[i-1] != '/') || (i < len(f)-1 && f[i+1] != '/') {
				return perr(0, TopicFilterInvalid, "MQTT-4.7.1-2", "'+' not alone in its level") // [MQTT-4.7.1-2] (5.0) [MQTT-4.7.1-3] (3.1.1)
			}
		default:
			if c < 0x20 || c >= 0x7F {
				ascii = false
			}
		}
	}
	if !ascii {
		return topicUTF8(f, TopicFilterInvalid)
	}
	return nil
}

// ParseShared splits a shared-subscription filter "$share/{group}/{filter}"
// (5.0 section 4.8.2). For a filter without the "$share/" prefix it returns
// ok=false, inner=filter and a nil error, without checking the filter. For a
// shared one it returns ok=true, the group name and the inner filter (views
// into filter), and an *Error with reason TopicFilterInvalid when the group is
// empty ([MQTT-4.8.2-1]), holds '+' or '#', or is not followed by '/' and a
// filter ([MQTT-4.8.2-2]), or when the inner filter is itself invalid.
func ParseShared(filter []byte) (group, inner []byte, ok bool, err error) {
	if !bytes.HasPrefix(filter, []byte(sharePrefix)) {
		return nil, filter, false, nil
	}
	rest := filter[len(sharePrefix):]
	slash := bytes.IndexByte(rest, '/')
	if slash < 0 {
		return nil, nil, true, perr(0, TopicFilterInvalid, "MQTT-4.8.2-2", "shared subscription without a topic filter") // [MQTT-4.8.2-2]
	}
	group, inner = rest[:slash], rest[slash+1:]
	if len(group) == 0 {
		return group, inner, true, perr(0, TopicFilterInvalid, "MQTT-4.8.2-1", "empty share name") // [MQTT-4.8.2-1]
	}
	if bytes.ContainsAny(group, "+#") {
		return group, inner, true, perr(0, TopicFilterInvalid, "MQTT-4.8.2-2", "wildcard in share name") // [MQTT-4.8.2-2]
	}
	if err := validFilter(group); err != nil {
		return group, inner, true, err
	}
	if err := validFilter(inner); err != nil {
		return group, inner, true, err
	}
	return group, inner, true, nil
}
