package broker_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// Raw packet builders for hostile input: they write exactly what they are
// given, where the mqtt encoders would refuse or repair.

// raw builds a packet from its first byte and body, with a correct
// remaining length.
func raw(first byte, body ...[]byte) []byte {
	var b []byte
	for _, p := range body {
		b = append(b, p...)
	}
	out := append([]byte{first}, varint(len(b))...)
	return append(out, b...)
}

func varint(n int) []byte {
	var b []byte
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// str is an MQTT string or binary field: two length bytes and s.
func str(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// u16 is a two-byte integer.
func u16(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

// props is a 5.0 property block: its varint length and the bytes.
func props(b ...byte) []byte { return append(varint(len(b)), b...) }

// cat concatenates byte slices.
func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// connectBody is a CONNECT's variable header and payload with the given
// protocol name, level, flags, 5.0 properties (nil for 3.1.1) and payload.
func connectBody(name string, level, flags byte, pr []byte, payload ...[]byte) []byte {
	b := cat(str(name), []byte{level, flags}, u16(30))
	b = append(b, pr...)
	return append(b, cat(payload...)...)
}

// hostileCase is one hostile byte sequence and what the spec says the broker
// answers before it closes.
type hostileCase struct {
	name string
	// version of a well-formed CONNECT sent first (and accepted) before in;
	// 0 sends in on a fresh connection.
	version byte
	in      []byte
	// halfClose shuts down the client's write side after in (a truncated
	// packet followed by EOF).
	halfClose bool
	// connack is the CONNACK reason code expected before the close; 0 means
	// no CONNACK may come. disconnect is the DISCONNECT reason code a 5.0
	// client must get (0: none may come). anyError allows any error code
	// (where the spec leaves the choice between reason codes).
	connack, disconnect mqtt.ReasonCode
	anyError            bool
}

// hostileCases returns the table: at least 50 sequences, before and after
// CONNECT, for 3.1.1 and 5.0.
func hostileCases() []hostileCase {
	v3, v5 := mqtt.Version311, mqtt.Version5
	mp := mqtt.MalformedPacket
	pe := mqtt.ProtocolError
	okConnect3 := connectBody("MQTT", 4, 2, nil, str("h"))
	rng := rand.New(rand.NewPCG(9, 9))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = 0x30 | b[0]&0x0f // a PUBLISH header, random flags, random rest
		return b
	}
	pub5 := func(flags byte, topic string, pid []byte, pr []byte, payload string) []byte {
		return raw(0x30|flags, str(topic), pid, pr, []byte(payload))
	}
	cs := []hostileCase{
		// Before CONNECT: the first packet must be CONNECT [MQTT-3.1.0-1];
		// anything else is closed without a word.
		{name: "PUBLISH before CONNECT", in: raw(0x30, str("a"), []byte("x"))},
		{name: "SUBSCRIBE before CONNECT", in: raw(0x82, u16(1), str("a"), []byte{0})},
		{name: "PINGREQ before CONNECT", in: []byte{0xc0, 0}},
		{name: "DISCONNECT before CONNECT", in: []byte{0xe0, 0}},
		{name: "AUTH before CONNECT", in: raw(0xf0, []byte{0x18, 0})},
		{name: "reserved type 0 before CONNECT", in: []byte{0x00, 0x00}},
		{name: "HTTP request", in: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{name: "TLS ClientHello on a plain port", in: []byte{0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03}},
		{name: "five-byte remaining length", in: []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{name: "CONNECT announcing 256 MiB", in: []byte{0x10, 0xff, 0xff, 0xff, 0x7f}},
		{name: "CONNECT announcing more than max packet size, body never sent", in: []byte{0x10, 0x80, 0x80, 0x01}},
		{name: "truncated CONNECT then EOF", in: raw(0x10, okConnect3)[:9], halfClose: true},
		{name: "CONNECT shorter than its fields", in: []byte{0x10, 0x02, 0x00, 0x04}},
		{name: "CONNECT empty", in: []byte{0x10, 0x00}},
		{name: "CONNECT protocol name MQTX", in: raw(0x10, connectBody("MQTX", 4, 2, nil, str("h"))), connack: mqtt.UnsupportedProtocolVersion},
		{name: "CONNECT protocol level 6", in: raw(0x10, connectBody("MQTT", 6, 2, nil, str("h"))), connack: mqtt.UnsupportedProtocolVersion},
		{name: "CONNECT reserved flag", in: raw(0x10, connectBody("MQTT", 4, 3, nil, str("h")))},
		{name: "CONNECT fixed header flags", in: raw(0x11, okConnect3)},
		{name: "CONNECT password without user name (3.1.1)", in: raw(0x10, connectBody("MQTT", 4, 0x42, nil, str("h"), str("pw")))},
		{name: "CONNECT will QoS 3", in: raw(0x10, connectBody("MQTT", 4, 0x1e, nil, str("h"), str("w"), str("m")))},
		{name: "CONNECT will QoS without will flag", in: raw(0x10, connectBody("MQTT", 4, 0x0a, nil, str("h")))},
		{name: "CONNECT will retain without will flag", in: raw(0x10, connectBody("MQTT", 4, 0x22, nil, str("h")))},
		{name: "CONNECT client id ill-formed UTF-8", in: raw(0x10, connectBody("MQTT", 4, 2, nil, str("a\xc0b")))},
		{name: "CONNECT client id with U+0000", in: raw(0x10, connectBody("MQTT", 4, 2, nil, str("a\x00b")))},
		{name: "CONNECT will topic with wildcard (3.1.1)", in: raw(0x10, connectBody("MQTT", 4, 0x06, nil, str("h"), str("w/#"), str("m")))},
		{name: "CONNECT bytes after the payload", in: raw(0x10, okConnect3, []byte{1, 2, 3})},
		{name: "5.0 CONNECT property length beyond the packet", in: raw(0x10, connectBody("MQTT", 5, 2, []byte{0x05}, str("h"))), connack: mp},
		{name: "5.0 CONNECT huge property length", in: raw(0x10, connectBody("MQTT", 5, 2, []byte{0xff, 0xff, 0xff, 0x7f}, str("h"))), connack: mp},
		{name: "5.0 CONNECT Session Expiry twice", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2), str("h"))), connack: pe},
		{name: "5.0 CONNECT unknown property", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x7f, 0), str("h"))), connack: mp},
		{name: "5.0 CONNECT Topic Alias property", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x23, 0, 1), str("h"))), connack: mp, anyError: true},
		{name: "5.0 CONNECT Receive Maximum 0", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x21, 0, 0), str("h"))), connack: pe},
		{name: "5.0 CONNECT Maximum Packet Size 0", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x27, 0, 0, 0, 0), str("h"))), connack: pe},
		{name: "5.0 CONNECT Request Problem Information 2", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x17, 2), str("h"))), connack: pe},
		{name: "5.0 CONNECT will topic with wildcard", in: raw(0x10, connectBody("MQTT", 5, 0x06, props(), str("h"), props(), str("w/+"), str("m"))), connack: mqtt.TopicNameInvalid, anyError: true},
		{name: "5.0 CONNECT user property without value", in: raw(0x10, connectBody("MQTT", 5, 2, props(0x26, 0, 1, 'k'), str("h"))), connack: mp},
		{name: "random bytes first", in: random(300)},

		// After CONNECT.
		{name: "second CONNECT", version: v5, in: raw(0x10, okConnect3), disconnect: pe},
		{name: "second CONNECT (3.1.1)", version: v3, in: raw(0x10, okConnect3)},
		{name: "five-byte remaining length", version: v5, in: []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01}, disconnect: mp},
		{name: "PUBLISH announcing more than max packet size", version: v5, in: []byte{0x30, 0x80, 0x80, 0x01}, disconnect: mqtt.PacketTooLarge},
		{name: "PUBLISH announcing more than max packet size (3.1.1)", version: v3, in: []byte{0x30, 0x80, 0x80, 0x01}},
		{name: "truncated PUBLISH then EOF", version: v5, in: raw(0x30, str("a/b"), []byte("payload"))[:6], halfClose: true},
		{name: "PUBLISH QoS 3", version: v5, in: pub5(0x06, "a", u16(1), props(), "x"), disconnect: mp},
		{name: "PUBLISH QoS 0 with DUP", version: v5, in: pub5(0x08, "a", nil, props(), "x"), disconnect: mp},
		{name: "PUBLISH QoS 1 packet identifier 0", version: v5, in: pub5(0x02, "a", u16(0), props(), "x"), disconnect: mp, anyError: true},
		{name: "PUBLISH QoS 2 packet identifier 0 (3.1.1)", version: v3, in: raw(0x34, str("a"), u16(0), []byte("x"))},
		{name: "PUBLISH topic with +", version: v5, in: pub5(0, "a/+", nil, props(), "x"), disconnect: mqtt.TopicNameInvalid},
		{name: "PUBLISH topic with #", version: v5, in: pub5(0, "#", nil, props(), "x"), disconnect: mqtt.TopicNameInvalid},
		{name: "PUBLISH topic with # (3.1.1)", version: v3, in: raw(0x30, str("a/#"), []byte("x"))},
		{name: "PUBLISH topic ill-formed UTF-8", version: v5, in: pub5(0, "a\xed\xa0\x80", nil, props(), "x"), disconnect: mp, anyError: true},
		{name: "PUBLISH topic with U+0000", version: v5, in: pub5(0, "a\x00", nil, props(), "x"), disconnect: mp, anyError: true},
		{name: "PUBLISH empty topic without alias", version: v5, in: pub5(0, "", nil, props(), "x"), disconnect: pe},
		{name: "PUBLISH empty topic (3.1.1)", version: v3, in: raw(0x30, str(""), []byte("x"))},
		{name: "PUBLISH topic length beyond the packet", version: v5, in: raw(0x30, []byte{0x00, 0x40, 'a'}), disconnect: mp},
		{name: "PUBLISH Payload Format twice", version: v5, in: pub5(0, "a", nil, props(0x01, 0, 0x01, 0), "x"), disconnect: pe},
		{name: "PUBLISH huge property length", version: v5, in: pub5(0, "a", nil, []byte{0xff, 0xff, 0xff, 0x7f}, "x"), disconnect: mp},
		{name: "PUBLISH property length beyond the packet", version: v5, in: pub5(0, "a", nil, []byte{0x09, 0x01}, ""), disconnect: mp},
		{name: "PUBLISH Subscription Identifier from a client", version: v5, in: pub5(0, "a", nil, props(0x0b, 1), "x"), disconnect: pe},
		{name: "PUBLISH Topic Alias 0", version: v5, in: pub5(0, "a", nil, props(0x23, 0, 0), "x"), disconnect: mqtt.TopicAliasInvalid},
		{name: "PUBLISH Topic Alias above the maximum", version: v5, in: pub5(0, "a", nil, props(0x23, 0, 9), "x"), disconnect: mqtt.TopicAliasInvalid},
		{name: "PUBLISH unknown Topic Alias", version: v5, in: pub5(0, "", nil, props(0x23, 0, 2), "x"), disconnect: pe},
		{name: "PUBLISH QoS 0 payload not UTF-8 as its format says", version: v5, in: pub5(0, "a", nil, props(0x01, 1), "\xff\xfe"), disconnect: mqtt.PayloadFormatInvalid},
		{name: "PUBLISH Payload Format 2", version: v5, in: pub5(0, "a", nil, props(0x01, 2), "x"), disconnect: pe, anyError: true},
		{name: "SUBSCRIBE reserved flags", version: v5, in: raw(0x80, u16(1), props(), str("a"), []byte{0}), disconnect: mp},
		{name: "SUBSCRIBE reserved flags (3.1.1)", version: v3, in: raw(0x80, u16(1), str("a"), []byte{0})},
		{name: "SUBSCRIBE packet identifier 0", version: v5, in: raw(0x82, u16(0), props(), str("a"), []byte{0}), disconnect: mp, anyError: true},
		{name: "SUBSCRIBE without filters", version: v5, in: raw(0x82, u16(1), props()), disconnect: pe, anyError: true},
		{name: "SUBSCRIBE options reserved bits", version: v5, in: raw(0x82, u16(1), props(), str("a"), []byte{0xc0}), disconnect: mp},
		{name: "SUBSCRIBE QoS 3", version: v5, in: raw(0x82, u16(1), props(), str("a"), []byte{3}), disconnect: mp},
		{name: "SUBSCRIBE QoS 3 (3.1.1)", version: v3, in: raw(0x82, u16(1), str("a"), []byte{3})},
		{name: "SUBSCRIBE Retain Handling 3", version: v5, in: raw(0x82, u16(1), props(), str("a"), []byte{0x30}), disconnect: pe, anyError: true},
		{name: "SUBSCRIBE filter ill-formed UTF-8", version: v5, in: raw(0x82, u16(1), props(), str("\xc3"), []byte{0}), disconnect: mp, anyError: true},
		{name: "SUBSCRIBE Subscription Identifier 0", version: v5, in: raw(0x82, u16(1), props(0x0b, 0), str("a"), []byte{0}), disconnect: pe, anyError: true},
		{name: "SUBSCRIBE Subscription Identifier twice", version: v5, in: raw(0x82, u16(1), props(0x0b, 1, 0x0b, 2), str("a"), []byte{0}), disconnect: pe},
		{name: "SUBSCRIBE filter length beyond the packet", version: v5, in: raw(0x82, u16(1), props(), []byte{0x01, 0x00, 'a'}), disconnect: mp},
		{name: "UNSUBSCRIBE reserved flags", version: v5, in: raw(0xa0, u16(1), props(), str("a")), disconnect: mp},
		{name: "UNSUBSCRIBE without filters", version: v5, in: raw(0xa2, u16(1), props()), disconnect: pe, anyError: true},
		{name: "UNSUBSCRIBE packet identifier 0 (3.1.1)", version: v3, in: raw(0xa2, u16(0), str("a"))},
		{name: "PUBACK without packet identifier", version: v5, in: []byte{0x40, 0x01, 0x00}, disconnect: mp},
		{name: "PUBREL with flags 0", version: v5, in: raw(0x60, u16(1)), disconnect: mp},
		{name: "PUBREL with flags 0 (3.1.1)", version: v3, in: raw(0x60, u16(1))},
		{name: "PINGREQ with a body", version: v5, in: []byte{0xc0, 0x01, 0x00}, disconnect: mp},
		{name: "PINGRESP from a client", version: v5, in: []byte{0xd0, 0x00}, disconnect: pe},
		{name: "CONNACK from a client", version: v5, in: raw(0x20, []byte{0, 0}, props()), disconnect: pe},
		{name: "SUBACK from a client (3.1.1)", version: v3, in: raw(0x90, u16(1), []byte{0})},
		{name: "reserved type 0", version: v5, in: []byte{0x00, 0x00}, disconnect: mp},
		{name: "AUTH without an authentication method", version: v5, in: raw(0xf0, []byte{0x18}, props()), disconnect: pe},
		{name: "DISCONNECT with a body (3.1.1)", version: v3, in: []byte{0xe0, 0x01, 0x00}},
		{name: "DISCONNECT Session Expiry after 0", version: v5, in: raw(0xe0, []byte{0x00}, props(0x11, 0, 0, 0, 5)), disconnect: pe},
		{name: "DISCONNECT property length beyond the packet", version: v5, in: raw(0xe0, []byte{0x00, 0x07}), disconnect: mp},
		{name: "random bytes after CONNECT", version: v5, in: random(500), disconnect: mp, anyError: true},
		{name: "random bytes after CONNECT (3.1.1)", version: v3, in: random(500)},
	}
	return cs
}

// TestHostileInput sends each hostile sequence on its own connection over a
// real socket and checks the answer the spec requires (a refusing CONNACK,
// a 5.0 DISCONNECT with its reason code, or a silent close for 3.1.1 and
// before CONNECT) and that the broker then closes. A bystander exchanges
// QoS 1 messages the whole time and must make progress during every case.
func TestHostileInput(t *testing.T) {
	cases := hostileCases()
	if len(cases) < 50 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	addr := tb.Start(t, broker.Options{Loops: 2, MaxPacketSize: 4096, TopicAliasMaximum: 4})
	by := tb.StartBystander(t, addr, "bystander")
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tb.Dial(t, addr, tc.version)
			if tc.version != 0 {
				id := fmt.Sprintf("hostile-%d", i)
				if ack := c.Connect(&mqtt.Connect{ProtocolLevel: tc.version, ClientID: []byte(id), CleanStart: true, KeepAlive: 60}); ack.Reason != mqtt.Success {
					t.Fatalf("CONNACK %v", ack.Reason)
				}
			} else {
				// A refusing CONNACK comes in the CONNECT's version, or
				// 3.1.1's when the version is not known [MQTT-3.1.2-2].
				c.Version = mqtt.Version311
				if i := bytes.Index(tc.in, []byte("\x00\x04MQTT\x05")); i >= 0 && i <= 4 {
					c.Version = mqtt.Version5
				}
			}
			c.Write(tc.in)
			if tc.halfClose {
				c.Conn.(*net.TCPConn).CloseWrite()
			}
			got := c.ExpectClosed(3 * time.Second)
			checkHostileAnswer(t, tc, got)
			by.WaitProgress(t, 1, 5*time.Second)
		})
	}
	if err := by.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d hostile sequences; bystander made %d round trips meanwhile", len(cases), by.Exchanged())
}

func checkHostileAnswer(t *testing.T, tc hostileCase, got []mqtt.Packet) {
	t.Helper()
	want := mqtt.PacketType(0)
	var rc mqtt.ReasonCode
	switch {
	case tc.connack != 0:
		want, rc = mqtt.CONNACK, tc.connack
	case tc.disconnect != 0:
		want, rc = mqtt.DISCONNECT, tc.disconnect
	}
	if want == 0 {
		if len(got) != 0 {
			t.Fatalf("got %v before the close, want a silent close", got[0].Type)
		}
		return
	}
	if len(got) != 1 || got[0].Type != want {
		types := []mqtt.PacketType{}
		for _, p := range got {
			types = append(types, p.Type)
		}
		t.Fatalf("got %v before the close, want one %v", types, want)
	}
	var have mqtt.ReasonCode
	if want == mqtt.CONNACK {
		have = got[0].Connack.Reason
	} else {
		have = got[0].Disconnect.Reason
	}
	if have != rc && !(tc.anyError && have.IsError()) {
		t.Fatalf("%v %v, want %v", want, have, rc)
	}
}
