package mqtt

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Shared fixtures: raw bytes, the packet they decode to, and (because every
// fixture is in canonical form) the bytes that packet re-encodes to. The
// decoder tests, the encoder tests and the fuzz seeds all use them.

// fixture is one well-formed packet.
type fixture struct {
	name    string
	version byte
	raw     []byte
	want    Packet
	// reencode, when set, is what Append produces when it differs from raw
	// (a non-canonical but valid input).
	reencode []byte
}

// malformed is one invalid packet and the reason code its decoding must give.
type malformed struct {
	name    string
	version byte
	raw     []byte
	want    ReasonCode
}

// hx parses spaced hex: hx("10 0c 00 04").
func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// cat concatenates parts: a byte or int is one byte, a string its bytes, a
// []byte itself.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case byte:
			b = append(b, v)
		case int:
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("cat: %T", p))
		}
	}
	return b
}

// vbi encodes a Variable Byte Integer, independently of the package's encoder.
func vbi(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			b = append(b, d|0x80)
		} else {
			return append(b, d)
		}
	}
}

// pkt builds a packet from its first byte and body, computing the remaining
// length.
func pkt(first byte, body ...any) []byte {
	bb := cat(body...)
	return cat(first, vbi(len(bb)), bb)
}

// str is a length-prefixed string or binary field.
func str(s string) []byte { return cat(byte(len(s)>>8), byte(len(s)), s) }

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// props is a property block with its length prefix.
func props(parts ...any) []byte {
	bb := cat(parts...)
	return cat(vbi(len(bb)), bb)
}

func b(s string) []byte { return []byte(s) }

func present(ids ...PropID) uint64 { return bit(ids...) }

func users(kv ...string) UserProperties {
	var u UserProperties
	for i := 0; i+1 < len(kv); i += 2 {
		u = u.Append(b(kv[i]), b(kv[i+1]))
	}
	return u
}

var allVersions = []byte{Version31, Version311, Version5}

func fixtures() []fixture {
	var fs []fixture
	add := func(f fixture) { fs = append(fs, f) }

	// CONNECT
	add(fixture{name: "CONNECT 3.1 MQIsdp", version: Version31,
		raw: hx("10 12 00 06 4d 51 49 73 64 70 03 02 00 3c 00 04 63 6c 69 64"),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQIsdp"), ProtocolLevel: 3,
			CleanStart: true, KeepAlive: 60, ClientID: b("clid")}}})
	add(fixture{name: "CONNECT 3.1.1 minimal", version: Version311,
		raw: hx("10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00"),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQTT"), ProtocolLevel: 4,
			CleanStart: true, KeepAlive: 60}}})
	add(fixture{name: "CONNECT 3.1.1 from a bridge (level 0x84)", version: Version311,
		raw: pkt(0x10, str("MQTT"), 0x84, 0x02, u16(60), str("bridge-1")),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQTT"), ProtocolLevel: 4, Bridge: true,
			CleanStart: true, KeepAlive: 60, ClientID: b("bridge-1")}}})
	add(fixture{name: "CONNECT 3.1.1 will user password", version: Version311,
		raw: pkt(0x10, str("MQTT"), 4, 0xEC /* user pass retain qos1 will, no clean */, u16(30),
			str("c1"), str("will/t"), str("bye"), str("alice"), str("secret")),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQTT"), ProtocolLevel: 4,
			KeepAlive: 30, ClientID: b("c1"), WillFlag: true, WillQoS: 1, WillRetain: true,
			WillTopic: b("will/t"), WillPayload: b("bye"), UsernameFlag: true, Username: b("alice"),
			PasswordFlag: true, Password: b("secret")}}})
	add(fixture{name: "CONNECT 5.0 properties will", version: Version5,
		raw: pkt(0x10, str("MQTT"), 5, 0xD6 /* user pass qos2 will clean */, u16(10),
			props(0x11, u32(3600), 0x15, str("SCRAM"), 0x16, str("\x01\x02"), 0x17, 0, 0x19, 1,
				0x21, u16(20), 0x22, u16(10), 0x27, u32(65536), 0x26, str("a"), str("1"), 0x26, str("b"), str("2")),
			str("dev-1"),
			props(0x01, 1, 0x02, u32(60), 0x03, str("text/plain"), 0x08, str("reply/to"), 0x09, str("cd"),
				0x18, u32(5), 0x26, str("w"), str("x")),
			str("dead/dev-1"), str("gone"), str("bob"), str("pw")),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQTT"), ProtocolLevel: 5,
			CleanStart: true, KeepAlive: 10, ClientID: b("dev-1"),
			Props: Properties{Present: present(PropSessionExpiry, PropAuthMethod, PropAuthData,
				PropRequestProblemInfo, PropRequestResponseInfo, PropReceiveMaximum, PropTopicAliasMaximum,
				PropMaximumPacketSize, PropUserProperty),
				SessionExpiry: 3600, AuthMethod: b("SCRAM"), AuthData: b("\x01\x02"), RequestProblemInfo: 0,
				RequestResponseInfo: 1, ReceiveMaximum: 20, TopicAliasMaximum: 10, MaximumPacketSize: 65536,
				User: users("a", "1", "b", "2")},
			WillFlag: true, WillQoS: 2,
			WillProps: Properties{Present: present(PropPayloadFormat, PropMessageExpiry, PropContentType,
				PropResponseTopic, PropCorrelationData, PropWillDelay, PropUserProperty),
				PayloadFormat: 1, MessageExpiry: 60, ContentType: b("text/plain"), ResponseTopic: b("reply/to"),
				CorrelationData: b("cd"), WillDelay: 5, User: users("w", "x")},
			WillTopic: b("dead/dev-1"), WillPayload: b("gone"),
			UsernameFlag: true, Username: b("bob"), PasswordFlag: true, Password: b("pw")}}})
	add(fixture{name: "CONNECT 5.0 password without user name, empty client id", version: Version5,
		raw: pkt(0x10, str("MQTT"), 5, 0x40, u16(0), props(), str(""), str("tok")),
		want: Packet{Type: CONNECT, Connect: Connect{ProtocolName: b("MQTT"), ProtocolLevel: 5,
			PasswordFlag: true, Password: b("tok")}}})

	// CONNACK
	add(fixture{name: "CONNACK 3.1 accepted", version: Version31, raw: hx("20 02 00 00"),
		want: Packet{Type: CONNACK, Connack: Connack{Reason: Success}}})
	add(fixture{name: "CONNACK 3.1.1 session present", version: Version311, raw: hx("20 02 01 00"),
		want: Packet{Type: CONNACK, Connack: Connack{SessionPresent: true, Reason: Success}}})
	add(fixture{name: "CONNACK 3.1.1 not authorized", version: Version311, raw: hx("20 02 00 05"),
		want: Packet{Type: CONNACK, Connack: Connack{Reason: NotAuthorized}}})
	add(fixture{name: "CONNACK 3.1 identifier rejected", version: Version31, raw: hx("20 02 00 02"),
		want: Packet{Type: CONNACK, Connack: Connack{Reason: ClientIdentifierNotValid}}})
	add(fixture{name: "CONNACK 5.0 minimal", version: Version5, raw: hx("20 03 00 00 00"),
		want: Packet{Type: CONNACK, Connack: Connack{Reason: Success}}})
	add(fixture{name: "CONNACK 5.0 capabilities", version: Version5,
		raw: pkt(0x20, 1, 0, props(0x11, u32(120), 0x12, str("auto-1"), 0x13, u16(30), 0x1A, str("resp"),
			0x1F, str("hi"), 0x21, u16(100), 0x22, u16(5), 0x24, 1, 0x25, 0, 0x27, u32(1<<20), 0x28, 1, 0x29, 0, 0x2A, 1,
			0x26, str("k"), str("v"))),
		want: Packet{Type: CONNACK, Connack: Connack{SessionPresent: true, Reason: Success,
			Props: Properties{Present: present(PropSessionExpiry, PropAssignedClientID, PropServerKeepAlive,
				PropResponseInfo, PropReasonString, PropReceiveMaximum, PropTopicAliasMaximum, PropMaximumQoS,
				PropRetainAvailable, PropMaximumPacketSize, PropWildcardSubAvailable, PropSubIDAvailable,
				PropSharedSubAvailable, PropUserProperty),
				SessionExpiry: 120, AssignedClientID: b("auto-1"), ServerKeepAlive: 30, ResponseInfo: b("resp"),
				ReasonString: b("hi"), ReceiveMaximum: 100, TopicAliasMaximum: 5, MaximumQoS: 1,
				MaximumPacketSize: 1 << 20, WildcardSubAvailable: 1, SharedSubAvailable: 1, User: users("k", "v")}}}})
	add(fixture{name: "CONNACK 5.0 refused with server reference", version: Version5,
		raw: pkt(0x20, 0, 0x9C, props(0x1C, str("other:1883"))),
		want: Packet{Type: CONNACK, Connack: Connack{Reason: UseAnotherServer,
			Props: Properties{Present: present(PropServerReference), ServerReference: b("other:1883")}}}})

	// PUBLISH
	for _, v := range []byte{Version31, Version311} {
		add(fixture{name: fmt.Sprintf("PUBLISH v%d QoS 0", v), version: v,
			raw:  hx("30 0a 00 03 61 2f 62 68 65 6c 6c 6f"),
			want: Packet{Type: PUBLISH, Publish: Publish{Topic: b("a/b"), Payload: b("hello")}}})
		add(fixture{name: fmt.Sprintf("PUBLISH v%d QoS 1 dup retain", v), version: v,
			raw:  pkt(0x3B, str("x/y/z"), u16(0x1234), "data"),
			want: Packet{Type: PUBLISH, Publish: Publish{Dup: true, QoS: 1, Retain: true, Topic: b("x/y/z"), PacketID: 0x1234, Payload: b("data")}}})
		add(fixture{name: fmt.Sprintf("PUBLISH v%d QoS 2 empty payload", v), version: v,
			raw:  pkt(0x34, str("t"), u16(1)),
			want: Packet{Type: PUBLISH, Publish: Publish{QoS: 2, Topic: b("t"), PacketID: 1}}})
	}
	add(fixture{name: "PUBLISH 5.0 no properties", version: Version5,
		raw:  hx("30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f"),
		want: Packet{Type: PUBLISH, Publish: Publish{Topic: b("a/b"), Payload: b("hello")}}})
	add(fixture{name: "PUBLISH 5.0 every property", version: Version5,
		raw: pkt(0x33, str("sensor/1/temp"), u16(9),
			props(0x01, 1, 0x02, u32(30), 0x03, str("application/json"), 0x08, str("resp/1"), 0x09, str("\x00\xff"),
				0x0B, vbi(1), 0x0B, vbi(268435455), 0x23, u16(7), 0x26, str("trace"), str("abc"), 0x26, str("trace"), str("def")),
			`{"t":21.5}`),
		want: Packet{Type: PUBLISH, Publish: Publish{QoS: 1, Retain: true, Topic: b("sensor/1/temp"), PacketID: 9,
			Props: Properties{Present: present(PropPayloadFormat, PropMessageExpiry, PropContentType, PropResponseTopic,
				PropCorrelationData, PropSubscriptionID, PropTopicAlias, PropUserProperty),
				PayloadFormat: 1, MessageExpiry: 30, ContentType: b("application/json"), ResponseTopic: b("resp/1"),
				CorrelationData: b("\x00\xff"), SubscriptionIDs: []uint32{1, 268435455}, TopicAlias: 7,
				User: users("trace", "abc", "trace", "def")},
			Payload: b(`{"t":21.5}`)}}})
	add(fixture{name: "PUBLISH 5.0 empty topic with alias", version: Version5,
		raw: pkt(0x30, str(""), props(0x23, u16(3)), "p"),
		want: Packet{Type: PUBLISH, Publish: Publish{Topic: b(""),
			Props: Properties{Present: present(PropTopicAlias), TopicAlias: 3}, Payload: b("p")}}})
	add(fixture{name: "PUBLISH 5.0 user properties interleaved", version: Version5,
		raw: pkt(0x30, str("t"), props(0x26, str("a"), str("1"), 0x01, 0, 0x26, str("b"), str("2"))),
		want: Packet{Type: PUBLISH, Publish: Publish{Topic: b("t"),
			Props: Properties{Present: present(PropPayloadFormat, PropUserProperty),
				User: UserProperties(cat(0x26, str("a"), str("1"), 0x01, 0, 0x26, str("b"), str("2")))}}},
		reencode: pkt(0x30, str("t"), props(0x01, 0, 0x26, str("a"), str("1"), 0x26, str("b"), str("2")))})
	add(fixture{name: "PUBLISH 3.1.1 non-minimal remaining length", version: Version311,
		raw:      hx("30 85 00 00 03 61 2f 62"),
		want:     Packet{Type: PUBLISH, Publish: Publish{Topic: b("a/b")}},
		reencode: hx("30 05 00 03 61 2f 62")})

	// PUBACK, PUBREC, PUBREL, PUBCOMP
	for _, t := range []PacketType{PUBACK, PUBREC, PUBREL, PUBCOMP} {
		first := byte(t)<<4 | fixedFlags[t]
		for _, v := range []byte{Version31, Version311} {
			add(fixture{name: fmt.Sprintf("%v v%d", t, v), version: v, raw: cat(first, 2, u16(0x0102)),
				want: Packet{Type: t, PubAck: PubAck{Type: t, PacketID: 0x0102, Reason: Success}}})
		}
		add(fixture{name: fmt.Sprintf("%v 5.0 short", t), version: Version5, raw: cat(first, 2, u16(7)),
			want: Packet{Type: t, PubAck: PubAck{Type: t, PacketID: 7}}})
		reason := NoMatchingSubscribers
		if t == PUBREL || t == PUBCOMP {
			reason = PacketIdentifierNotFound
		}
		add(fixture{name: fmt.Sprintf("%v 5.0 reason", t), version: Version5, raw: cat(first, 3, u16(7), byte(reason)),
			want: Packet{Type: t, PubAck: PubAck{Type: t, PacketID: 7, Reason: reason}}})
		add(fixture{name: fmt.Sprintf("%v 5.0 properties", t), version: Version5,
			raw: pkt(first, u16(8), 0, props(0x1F, str("ok"), 0x26, str("k"), str("v"))),
			want: Packet{Type: t, PubAck: PubAck{Type: t, PacketID: 8, Reason: Success,
				Props: Properties{Present: present(PropReasonString, PropUserProperty), ReasonString: b("ok"), User: users("k", "v")}}}})
		add(fixture{name: fmt.Sprintf("%v 5.0 success with empty properties", t), version: Version5,
			raw:      cat(first, 4, u16(8), 0, 0),
			want:     Packet{Type: t, PubAck: PubAck{Type: t, PacketID: 8}},
			reencode: cat(first, 2, u16(8))})
	}

	// SUBSCRIBE
	for _, v := range []byte{Version31, Version311} {
		add(fixture{name: fmt.Sprintf("SUBSCRIBE v%d", v), version: v,
			raw: pkt(0x82, u16(10), str("a/+/c"), 1, str("#"), 2, str("$share/g/x"), 0),
			want: Packet{Type: SUBSCRIBE, Subscribe: Subscribe{PacketID: 10, Filters: []Subscription{
				{Filter: b("a/+/c"), QoS: 1}, {Filter: b("#"), QoS: 2}, {Filter: b("$share/g/x")}}}}})
	}
	add(fixture{name: "SUBSCRIBE 5.0 options and identifier", version: Version5,
		raw: pkt(0x82, u16(11), props(0x0B, vbi(300), 0x26, str("u"), str("v")),
			str("home/#"), 0x2D /* RH 2, RAP, NL, QoS 1 */, str("$share/grp/+/x"), 0x12 /* RH 1, QoS 2 */),
		want: Packet{Type: SUBSCRIBE, Subscribe: Subscribe{PacketID: 11,
			Props: Properties{Present: present(PropSubscriptionID, PropUserProperty), SubscriptionIDs: []uint32{300}, User: users("u", "v")},
			Filters: []Subscription{
				{Filter: b("home/#"), QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
				{Filter: b("$share/grp/+/x"), QoS: 2, RetainHandling: 1}}}}})

	// SUBACK
	add(fixture{name: "SUBACK 3.1", version: Version31, raw: hx("90 06 00 0a 01 02 00 80"),
		want: Packet{Type: SUBACK, Suback: Suback{PacketID: 10, Reasons: []ReasonCode{1, 2, 0, UnspecifiedError}}}})
	add(fixture{name: "SUBACK 3.1.1 with failure", version: Version311, raw: hx("90 04 00 0a 00 80"),
		want: Packet{Type: SUBACK, Suback: Suback{PacketID: 10, Reasons: []ReasonCode{GrantedQoS0, UnspecifiedError}}}})
	add(fixture{name: "SUBACK 5.0", version: Version5,
		raw: pkt(0x90, u16(11), props(0x1F, str("no")), 1, 0x87, 0xA2),
		want: Packet{Type: SUBACK, Suback: Suback{PacketID: 11,
			Props:   Properties{Present: present(PropReasonString), ReasonString: b("no")},
			Reasons: []ReasonCode{GrantedQoS1, NotAuthorized, WildcardSubscriptionsNotSupported}}}})

	// UNSUBSCRIBE
	for _, v := range []byte{Version31, Version311} {
		add(fixture{name: fmt.Sprintf("UNSUBSCRIBE v%d", v), version: v,
			raw:  pkt(0xA2, u16(12), str("a/+"), str("b/#")),
			want: Packet{Type: UNSUBSCRIBE, Unsubscribe: Unsubscribe{PacketID: 12, Filters: [][]byte{b("a/+"), b("b/#")}}}})
	}
	add(fixture{name: "UNSUBSCRIBE 5.0", version: Version5,
		raw: pkt(0xA2, u16(13), props(0x26, str("k"), str("v")), str("$share/g/a")),
		want: Packet{Type: UNSUBSCRIBE, Unsubscribe: Unsubscribe{PacketID: 13,
			Props: Properties{Present: present(PropUserProperty), User: users("k", "v")}, Filters: [][]byte{b("$share/g/a")}}}})

	// UNSUBACK
	for _, v := range []byte{Version31, Version311} {
		add(fixture{name: fmt.Sprintf("UNSUBACK v%d", v), version: v, raw: hx("b0 02 00 0c"),
			want: Packet{Type: UNSUBACK, Unsuback: Unsuback{PacketID: 12}}})
	}
	add(fixture{name: "UNSUBACK 5.0", version: Version5, raw: pkt(0xB0, u16(13), props(), 0x00, 0x11),
		want: Packet{Type: UNSUBACK, Unsuback: Unsuback{PacketID: 13, Reasons: []ReasonCode{Success, NoSubscriptionExisted}}}})

	// PINGREQ, PINGRESP, DISCONNECT in every version
	for _, v := range allVersions {
		add(fixture{name: fmt.Sprintf("PINGREQ v%d", v), version: v, raw: hx("c0 00"), want: Packet{Type: PINGREQ}})
		add(fixture{name: fmt.Sprintf("PINGRESP v%d", v), version: v, raw: hx("d0 00"), want: Packet{Type: PINGRESP}})
		add(fixture{name: fmt.Sprintf("DISCONNECT v%d", v), version: v, raw: hx("e0 00"), want: Packet{Type: DISCONNECT}})
	}
	add(fixture{name: "DISCONNECT 5.0 with will", version: Version5, raw: hx("e0 01 04"),
		want: Packet{Type: DISCONNECT, Disconnect: Disconnect{Reason: DisconnectWithWill}}})
	add(fixture{name: "DISCONNECT 5.0 properties", version: Version5,
		raw: pkt(0xE0, 0x8B, props(0x11, u32(0), 0x1C, str("elsewhere"), 0x1F, str("bye"))),
		want: Packet{Type: DISCONNECT, Disconnect: Disconnect{Reason: ServerShuttingDown,
			Props: Properties{Present: present(PropSessionExpiry, PropServerReference, PropReasonString),
				ServerReference: b("elsewhere"), ReasonString: b("bye")}}}})

	// AUTH
	add(fixture{name: "AUTH 5.0 empty", version: Version5, raw: hx("f0 00"),
		want: Packet{Type: AUTH, Auth: Auth{Reason: Success}}})
	add(fixture{name: "AUTH 5.0 continue", version: Version5,
		raw: pkt(0xF0, 0x18, props(0x15, str("SCRAM-SHA-1"), 0x16, str("client-first"))),
		want: Packet{Type: AUTH, Auth: Auth{Reason: ContinueAuthentication,
			Props: Properties{Present: present(PropAuthMethod, PropAuthData), AuthMethod: b("SCRAM-SHA-1"), AuthData: b("client-first")}}}})
	add(fixture{name: "AUTH 5.0 re-authenticate", version: Version5, raw: hx("f0 01 19"),
		want: Packet{Type: AUTH, Auth: Auth{Reason: ReAuthenticate}}})
	return fs
}

func malformedCases() []malformed {
	var ms []malformed
	add := func(name string, v byte, raw []byte, want ReasonCode) {
		ms = append(ms, malformed{name: name, version: v, raw: raw, want: want})
	}
	// Framing.
	for _, v := range allVersions {
		add("reserved type 0", v, hx("00 00"), MalformedPacket)
		add("five-byte remaining length", v, hx("30 ff ff ff ff 01"), MalformedPacket)
		add("shorter than remaining length", v, hx("30 05 00 01 61"), MalformedPacket)
		add("longer than remaining length", v, hx("c0 00 00"), MalformedPacket)
		add("PINGREQ flags", v, hx("c1 00"), MalformedPacket)
		add("PINGREQ with body", v, hx("c0 01 00"), MalformedPacket)
		add("PINGRESP flags", v, hx("d8 00"), MalformedPacket)
		add("CONNECT flags nibble", v, pkt(0x11, str("MQTT"), 4, 2, u16(0), str("c")), MalformedPacket)
	}
	add("AUTH before 5.0", Version311, hx("f0 00"), MalformedPacket)
	add("AUTH flags", Version5, hx("f1 00"), MalformedPacket)
	add("AUTH reason not allowed", Version5, hx("f0 01 01"), ProtocolError)
	add("AUTH data without method", Version5, pkt(0xF0, 0x18, props(0x16, str("x"))), ProtocolError)
	add("AUTH property not allowed", Version5, pkt(0xF0, 0x18, props(0x15, str("m"), 0x02, u32(1))), MalformedPacket)

	// CONNECT.
	c4 := func(flags byte, rest ...any) []byte {
		return pkt(0x10, str("MQTT"), 4, flags, u16(60), cat(rest...))
	}
	c5 := func(flags byte, rest ...any) []byte {
		return pkt(0x10, str("MQTT"), 5, flags, u16(60), cat(rest...))
	}
	add("CONNECT reserved flag", Version311, c4(0x03, str("c")), MalformedPacket)
	add("CONNECT will QoS without will", Version311, c4(0x0A, str("c")), MalformedPacket)
	add("CONNECT will retain without will", Version311, c4(0x22, str("c")), MalformedPacket)
	add("CONNECT will QoS 3", Version311, c4(0x1E, str("c"), str("t"), str("m")), MalformedPacket)
	add("CONNECT password without user name 3.1.1", Version311, c4(0x42, str("c"), str("p")), MalformedPacket)
	add("CONNECT unknown protocol name", Version311, pkt(0x10, str("MQTX"), 4, 2, u16(0), str("c")), UnsupportedProtocolVersion)
	add("CONNECT unknown level", Version311, pkt(0x10, str("MQTT"), 6, 2, u16(0), str("c")), UnsupportedProtocolVersion)
	add("CONNECT MQTT name with level 3", Version311, pkt(0x10, str("MQTT"), 3, 2, u16(0), str("c")), UnsupportedProtocolVersion)
	add("CONNECT empty client id without clean session", Version311, c4(0x00, str("")), ClientIdentifierNotValid)
	add("CONNECT 3.1 empty client id", Version31, pkt(0x10, str("MQIsdp"), 3, 2, u16(0), str("")), ClientIdentifierNotValid)
	add("CONNECT client id with U+0000", Version311, c4(0x02, str("a\x00b")), MalformedPacket)
	add("CONNECT client id ill-formed UTF-8", Version311, c4(0x02, str("a\xffb")), MalformedPacket)
	add("CONNECT client id surrogate", Version311, c4(0x02, str("\xed\xa0\x80")), MalformedPacket)
	add("CONNECT will topic wildcard", Version311, c4(0x06, str("c"), str("a/#"), str("m")), TopicNameInvalid)
	add("CONNECT user name ill-formed", Version311, c4(0x82, str("c"), str("\xc0\x80")), MalformedPacket)
	add("CONNECT trailing bytes", Version311, c4(0x02, str("c"), 0), MalformedPacket)
	add("CONNECT truncated password", Version311, c4(0xC2, str("c"), str("u"), 0, 5, "ab"), MalformedPacket)
	add("CONNECT truncated header", Version311, pkt(0x10, str("MQTT")), MalformedPacket)
	add("CONNECT 5.0 receive maximum 0", Version5, c5(0x02, props(0x21, u16(0)), str("c")), ProtocolError)
	add("CONNECT 5.0 maximum packet size 0", Version5, c5(0x02, props(0x27, u32(0)), str("c")), ProtocolError)
	add("CONNECT 5.0 duplicate session expiry", Version5, c5(0x02, props(0x11, u32(1), 0x11, u32(2)), str("c")), ProtocolError)
	add("CONNECT 5.0 property not allowed", Version5, c5(0x02, props(0x23, u16(1)), str("c")), MalformedPacket)
	add("CONNECT 5.0 unknown property", Version5, c5(0x02, props(0x7F, 0), str("c")), MalformedPacket)
	add("CONNECT 5.0 auth data without method", Version5, c5(0x02, props(0x16, str("d")), str("c")), ProtocolError)
	add("CONNECT 5.0 request problem info 2", Version5, c5(0x02, props(0x17, 2), str("c")), ProtocolError)
	add("CONNECT 5.0 will property not allowed", Version5, c5(0x06, props(), str("c"), props(0x11, u32(1)), str("t"), str("m")), MalformedPacket)
	add("CONNECT 5.0 will response topic wildcard", Version5, c5(0x06, props(), str("c"), props(0x08, str("r/+")), str("t"), str("m")), ProtocolError)
	add("CONNECT 5.0 property length beyond packet", Version5, c5(0x02, 0x10, str("c")), MalformedPacket)
	add("CONNECT 5.0 user property truncated", Version5, c5(0x02, props(0x26, str("k")), str("c")), MalformedPacket)
	add("CONNECT 5.0 user property bad UTF-8", Version5, c5(0x02, props(0x26, str("k"), str("\xff")), str("c")), MalformedPacket)

	// CONNACK.
	add("CONNACK reserved acknowledge flags", Version311, hx("20 02 02 00"), MalformedPacket)
	add("CONNACK 3.1.1 return code 6", Version311, hx("20 02 00 06"), ProtocolError)
	add("CONNACK session present on refusal", Version311, hx("20 02 01 05"), ProtocolError)
	add("CONNACK 5.0 reason not allowed", Version5, hx("20 03 00 8e 00"), ProtocolError)
	add("CONNACK 5.0 maximum QoS 2", Version5, pkt(0x20, 0, 0, props(0x24, 2)), ProtocolError)
	add("CONNACK 5.0 without properties", Version5, hx("20 02 00 00"), MalformedPacket)

	// PUBLISH.
	for _, v := range allVersions {
		pp := func(first byte, topic string, rest ...any) []byte {
			if v >= Version5 {
				rest = append([]any{props()}, rest...)
			}
			if first&0x06 != 0 {
				rest = append([]any{u16(1)}, rest...)
			}
			return pkt(first, str(topic), cat(rest...))
		}
		add("PUBLISH QoS 3", v, pp(0x36, "a"), MalformedPacket)
		add("PUBLISH DUP on QoS 0", v, pp(0x38, "a"), MalformedPacket)
		add("PUBLISH packet identifier 0", v, pkt(0x32, str("a"), u16(0), props()), MalformedPacket)
		add("PUBLISH topic with +", v, pp(0x30, "a/+"), TopicNameInvalid)
		add("PUBLISH topic with #", v, pp(0x30, "#"), TopicNameInvalid)
		add("PUBLISH topic with U+0000", v, pp(0x30, "a\x00"), MalformedPacket)
		add("PUBLISH topic ill-formed UTF-8", v, pp(0x30, "a\xfe"), MalformedPacket)
		add("PUBLISH topic control character", v, pp(0x30, "a\x01"), MalformedPacket)
		add("PUBLISH topic C1 control character", v, pp(0x30, "a\xc2\x85"), MalformedPacket)
		add("PUBLISH topic non-character", v, pp(0x30, "a\xef\xbf\xbf"), MalformedPacket)
		add("PUBLISH topic length beyond packet", v, hx("30 03 00 05 61"), MalformedPacket)
		add("PUBLISH packet identifier truncated", v, hx("32 04 00 01 61 00"), MalformedPacket)
	}
	add("PUBLISH 3.1.1 empty topic", Version311, pkt(0x30, str("")), TopicNameInvalid)
	p5 := func(first byte, topic string, pr []byte, rest ...any) []byte {
		return pkt(first, str(topic), pr, cat(rest...))
	}
	add("PUBLISH 5.0 empty topic without alias", Version5, p5(0x30, "", props()), ProtocolError)
	add("PUBLISH 5.0 topic alias 0", Version5, p5(0x30, "a", props(0x23, u16(0))), TopicAliasInvalid)
	add("PUBLISH 5.0 duplicate topic alias", Version5, p5(0x30, "a", props(0x23, u16(1), 0x23, u16(2))), ProtocolError)
	add("PUBLISH 5.0 duplicate message expiry", Version5, p5(0x30, "a", props(0x02, u32(1), 0x02, u32(1))), ProtocolError)
	add("PUBLISH 5.0 session expiry not allowed", Version5, p5(0x30, "a", props(0x11, u32(1))), MalformedPacket)
	add("PUBLISH 5.0 payload format 2", Version5, p5(0x30, "a", props(0x01, 2)), ProtocolError)
	add("PUBLISH 5.0 subscription identifier 0", Version5, p5(0x30, "a", props(0x0B, 0)), ProtocolError)
	add("PUBLISH 5.0 subscription identifier five bytes", Version5, p5(0x30, "a", props(0x0B, hx("ff ff ff ff 01"))), MalformedPacket)
	add("PUBLISH 5.0 content type ill-formed", Version5, p5(0x30, "a", props(0x03, str("\xff"))), MalformedPacket)
	add("PUBLISH 5.0 response topic wildcard", Version5, p5(0x30, "a", props(0x08, str("r/#"))), ProtocolError)
	add("PUBLISH 5.0 property truncated", Version5, p5(0x30, "a", props(0x02, 0, 0)), MalformedPacket)
	add("PUBLISH 5.0 property length truncated", Version5, hx("30 04 00 01 61 80"), MalformedPacket)

	// PUBACK family.
	for _, t := range []PacketType{PUBACK, PUBREC, PUBREL, PUBCOMP} {
		first := byte(t)<<4 | fixedFlags[t]
		for _, v := range allVersions {
			add(t.String()+" wrong flags", v, cat(first^0x02, 2, u16(1)), MalformedPacket)
			add(t.String()+" packet identifier 0", v, cat(first, 2, u16(0)), MalformedPacket)
			add(t.String()+" truncated", v, cat(first, 1, 0), MalformedPacket)
		}
		add(t.String()+" 3.1.1 with reason", Version311, cat(first, 3, u16(1), 0), MalformedPacket)
		add(t.String()+" 5.0 reason not allowed", Version5, cat(first, 3, u16(1), 0x81), ProtocolError)
		add(t.String()+" 5.0 property not allowed", Version5, pkt(first, u16(1), 0, props(0x23, u16(1))), MalformedPacket)
		add(t.String()+" 5.0 bytes after properties", Version5, pkt(first, u16(1), 0, props(), 0), MalformedPacket)
	}

	// SUBSCRIBE.
	for _, v := range allVersions {
		sp := func(first byte, rest ...any) []byte {
			if v >= Version5 {
				return pkt(first, u16(1), props(), cat(rest...))
			}
			return pkt(first, u16(1), cat(rest...))
		}
		add("SUBSCRIBE flags 0000", v, pkt(0x80, u16(1), str("a"), 0), MalformedPacket)
		add("SUBSCRIBE packet identifier 0", v, pkt(0x82, u16(0), str("a"), 0), MalformedPacket)
		add("SUBSCRIBE QoS 3", v, sp(0x82, str("a"), 3), MalformedPacket)
		add("SUBSCRIBE # not last", v, sp(0x82, str("a/#/b"), 0), TopicFilterInvalid)
		add("SUBSCRIBE # not alone", v, sp(0x82, str("a#"), 0), TopicFilterInvalid)
		add("SUBSCRIBE + not alone", v, sp(0x82, str("a/b+"), 0), TopicFilterInvalid)
		add("SUBSCRIBE + prefix", v, sp(0x82, str("+a/b"), 0), TopicFilterInvalid)
		add("SUBSCRIBE empty filter", v, sp(0x82, str(""), 0), TopicFilterInvalid)
		add("SUBSCRIBE filter with U+0000", v, sp(0x82, str("a\x00"), 0), MalformedPacket)
		add("SUBSCRIBE $share without filter", v, sp(0x82, str("$share/g"), 0), TopicFilterInvalid)
		add("SUBSCRIBE $share empty group", v, sp(0x82, str("$share//a"), 0), TopicFilterInvalid)
		add("SUBSCRIBE $share wildcard group", v, sp(0x82, str("$share/g+/a"), 0), TopicFilterInvalid)
		add("SUBSCRIBE $share empty filter", v, sp(0x82, str("$share/g/"), 0), TopicFilterInvalid)
		add("SUBSCRIBE $share bad inner filter", v, sp(0x82, str("$share/g/a#"), 0), TopicFilterInvalid)
		add("SUBSCRIBE options truncated", v, sp(0x82, str("a")), MalformedPacket)
		add("SUBSCRIBE second filter bad", v, sp(0x82, str("a"), 0, str("b/#/"), 0), TopicFilterInvalid)
	}
	add("SUBSCRIBE 3.1.1 empty", Version311, pkt(0x82, u16(1)), MalformedPacket)
	add("SUBSCRIBE 3.1.1 reserved option bits", Version311, pkt(0x82, u16(1), str("a"), 0x04), MalformedPacket)
	add("SUBSCRIBE 5.0 empty", Version5, pkt(0x82, u16(1), props()), ProtocolError)
	add("SUBSCRIBE 5.0 reserved option bits", Version5, pkt(0x82, u16(1), props(), str("a"), 0x40), MalformedPacket)
	add("SUBSCRIBE 5.0 retain handling 3", Version5, pkt(0x82, u16(1), props(), str("a"), 0x30), ProtocolError)
	add("SUBSCRIBE 5.0 no local on shared", Version5, pkt(0x82, u16(1), props(), str("$share/g/a"), 0x04), ProtocolError)
	add("SUBSCRIBE 5.0 two subscription identifiers", Version5, pkt(0x82, u16(1), props(0x0B, 1, 0x0B, 2), str("a"), 0), ProtocolError)
	add("SUBSCRIBE 5.0 subscription identifier 0", Version5, pkt(0x82, u16(1), props(0x0B, 0), str("a"), 0), ProtocolError)
	add("SUBSCRIBE 5.0 reason string not allowed", Version5, pkt(0x82, u16(1), props(0x1F, str("x")), str("a"), 0), MalformedPacket)

	// SUBACK.
	add("SUBACK 3.1.1 code 3", Version311, hx("90 03 00 01 03"), ProtocolError)
	add("SUBACK 3.1 code 3", Version31, hx("90 03 00 01 03"), ProtocolError)
	add("SUBACK 3.1.1 empty", Version311, hx("90 02 00 01"), ProtocolError)
	add("SUBACK 5.0 code not allowed", Version5, hx("90 04 00 01 00 11"), ProtocolError)
	add("SUBACK flags", Version311, hx("92 03 00 01 00"), MalformedPacket)

	// UNSUBSCRIBE.
	for _, v := range allVersions {
		up := func(first byte, rest ...any) []byte {
			if v >= Version5 {
				return pkt(first, u16(1), props(), cat(rest...))
			}
			return pkt(first, u16(1), cat(rest...))
		}
		add("UNSUBSCRIBE flags 0000", v, pkt(0xA0, u16(1), str("a")), MalformedPacket)
		add("UNSUBSCRIBE bad filter", v, up(0xA2, str("a/#/b")), TopicFilterInvalid)
		add("UNSUBSCRIBE filter truncated", v, up(0xA2, 0, 3, "a"), MalformedPacket)
		add("UNSUBSCRIBE packet identifier 0", v, pkt(0xA2, u16(0), str("a")), MalformedPacket)
	}
	add("UNSUBSCRIBE 3.1.1 empty", Version311, pkt(0xA2, u16(1)), MalformedPacket)
	add("UNSUBSCRIBE 5.0 empty", Version5, pkt(0xA2, u16(1), props()), ProtocolError)
	add("UNSUBSCRIBE 5.0 subscription identifier not allowed", Version5, pkt(0xA2, u16(1), props(0x0B, 1), str("a")), MalformedPacket)

	// UNSUBACK.
	add("UNSUBACK 3.1.1 with body", Version311, hx("b0 03 00 01 00"), MalformedPacket)
	add("UNSUBACK 5.0 no reasons", Version5, hx("b0 03 00 01 00"), ProtocolError)
	add("UNSUBACK 5.0 code not allowed", Version5, hx("b0 04 00 01 00 01"), ProtocolError)

	// DISCONNECT.
	add("DISCONNECT 3.1.1 with body", Version311, hx("e0 01 00"), MalformedPacket)
	add("DISCONNECT flags", Version5, hx("e2 00"), MalformedPacket)
	add("DISCONNECT 5.0 reason not allowed", Version5, hx("e0 01 01"), ProtocolError)
	add("DISCONNECT 5.0 assigned client id not allowed", Version5, pkt(0xE0, 0, props(0x12, str("x"))), MalformedPacket)
	add("DISCONNECT 5.0 duplicate reason string", Version5, pkt(0xE0, 0, props(0x1F, str("x"), 0x1F, str("y"))), ProtocolError)
	return ms
}
