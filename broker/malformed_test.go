package broker_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// TestMalformedInput sends forbidden or malformed packets after CONNECT: a
// 5.0 client gets DISCONNECT with the reason code the spec requires, a
// 3.1.1 client is disconnected, the broker survives, and a bystander keeps
// exchanging messages.
func TestMalformedInput(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, MaxPacketSize: 4096, TopicAliasMaximum: 4})
	bystander := tb.ConnectClient(t, addr, v5, "bystander", true)
	sub5(t, bystander, 1, 0, mqtt.Subscription{Filter: []byte("ok/#"), QoS: 1})

	pub := func(v byte, topic string, qos byte, pid uint16) []byte {
		return mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte(topic), QoS: qos, PacketID: pid, Payload: []byte("x")})
	}
	cases := []struct {
		name string
		pkt  func(v byte) []byte
		want mqtt.ReasonCode // for 5.0; 0 means any error code
	}{
		{"remaining length of five bytes", func(byte) []byte { return []byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01} }, mqtt.MalformedPacket},
		{"QoS 3", func(byte) []byte { return []byte{0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01} }, mqtt.MalformedPacket},
		{"reserved packet type 0", func(byte) []byte { return []byte{0x00, 0x00} }, mqtt.MalformedPacket},
		{"server-only packet type", func(v byte) []byte { return mqtt.AppendConnack(nil, v, false, 0, nil) }, mqtt.ProtocolError},
		{"wildcard in topic name", func(v byte) []byte { return pub(v, "a/+", 0, 0) }, mqtt.TopicNameInvalid},
		{"packet identifier 0", func(v byte) []byte { return pub(v, "a", 1, 0) }, 0},
		{"topic with U+0000", func(v byte) []byte { return pub(v, "a\x00b", 0, 0) }, 0},
		{"ill-formed UTF-8 topic", func(v byte) []byte { return pub(v, "a\xffb", 0, 0) }, 0},
		{"PUBACK too short for its packet identifier", func(byte) []byte { return []byte{0x40, 0x01, 0x00} }, mqtt.MalformedPacket},
		{"SUBSCRIBE with reserved flags", func(byte) []byte { return []byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00} }, mqtt.MalformedPacket},
		{"SUBSCRIBE without filters", func(v byte) []byte {
			if v == v5 {
				return []byte{0x82, 0x03, 0x00, 0x01, 0x00}
			}
			return []byte{0x82, 0x02, 0x00, 0x01}
		}, 0},
		{"SUBSCRIBE with a bad filter", func(v byte) []byte {
			return mqtt.AppendSubscribe(nil, v, &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte("a/#/b")}}})
		}, mqtt.TopicFilterInvalid},
		{"PINGREQ with a body", func(byte) []byte { return []byte{0xc0, 0x01, 0x00} }, mqtt.MalformedPacket},
		{"packet above the maximum size", func(v byte) []byte {
			return mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte("ok/big"), Payload: make([]byte, 5000)})
		}, mqtt.PacketTooLarge},
		{"topic alias 0", func(v byte) []byte {
			p := &mqtt.Publish{Topic: []byte("ok/a")}
			p.Props.Set(mqtt.PropTopicAlias)
			return mqtt.AppendPublish(nil, v, p)
		}, 0},
		{"unknown topic alias", func(v byte) []byte {
			p := &mqtt.Publish{}
			p.Props.TopicAlias = 3
			p.Props.Set(mqtt.PropTopicAlias)
			return mqtt.AppendPublish(nil, v, p)
		}, mqtt.ProtocolError},
		{"garbage", func(byte) []byte { return bytes.Repeat([]byte("GET / HTTP/1.1\r\n"), 20) }, 0},
	}
	for i, tc := range cases {
		for _, v := range []byte{v311, v5} {
			if v != v5 && (tc.name == "topic alias 0" || tc.name == "unknown topic alias") {
				continue
			}
			t.Run(fmt.Sprintf("%s/v%d", tc.name, v), func(t *testing.T) {
				c := tb.ConnectClient(t, addr, v, fmt.Sprintf("bad-%d-%d", i, v), true)
				c.Write(tc.pkt(v))
				got := c.ExpectClosed(3 * time.Second)
				if v != v5 {
					if len(got) != 0 {
						t.Fatalf("3.1.1 client got %v before the close", got[0].Type)
					}
				} else {
					if len(got) != 1 || got[0].Type != mqtt.DISCONNECT {
						t.Fatalf("want one DISCONNECT, got %d packets", len(got))
					}
					rc := got[0].Disconnect.Reason
					if tc.want != 0 && rc != tc.want || !rc.IsError() {
						t.Fatalf("DISCONNECT %v, want %v", rc, tc.want)
					}
				}
				// Nobody else noticed.
				p := tb.ConnectClient(t, addr, v311, "witness", true)
				p.Publish("ok/still", 1, false, 1, []byte("alive"))
				p.Expect(mqtt.PUBACK)
				m := bystander.Expect(mqtt.PUBLISH).Publish
				bystander.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, m.PacketID, 0, nil))
			})
		}
	}
}

// TestMalformedConnect: bad CONNECT packets are refused or closed without a
// panic.
func TestMalformedConnect(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	cases := [][]byte{
		{0x10, 0x00},
		{0x10, 0x02, 0x00, 0x04},
		{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'X', 4, 2, 0, 30, 0, 0},             // bad protocol name
		{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4, 3, 0, 30, 0, 0},             // reserved flag
		{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4, 0x42, 0, 30, 0, 0},          // password without user name (3.1.1)
		{0x11, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 0},             // fixed header flags
		{0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 5, 2, 0, 30, 0x05, 0, 0, 0, 0}, // 5.0 property length beyond the packet
	}
	for i, pkt := range cases {
		v := v311
		if i == len(cases)-1 {
			v = v5
		}
		c := tb.Dial(t, addr, v)
		c.Write(pkt)
		got := c.ExpectClosed(3 * time.Second)
		for _, p := range got {
			if p.Type != mqtt.CONNACK || !p.Connack.Reason.IsError() {
				t.Fatalf("case %d: got %v %v", i, p.Type, p.Connack.Reason)
			}
		}
	}
	// Still serving.
	tb.ConnectClient(t, addr, v311, "after", true)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestRandomInput throws seeded random packets (valid fixed header, random
// body) and random bytes at connected clients of both versions; the broker
// must neither panic nor stop serving.
func TestRandomInput(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, TopicAliasMaximum: 8})
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 150; i++ {
		v := []byte{v311, v5}[i%2]
		c := tb.ConnectClient(t, addr, v, fmt.Sprintf("rnd-%d", i), i%3 == 0)
		var junk []byte
		for k := 0; k < 1+rng.IntN(4); k++ {
			body := make([]byte, rng.IntN(40))
			for j := range body {
				body[j] = byte(rng.IntN(256))
			}
			junk = append(junk, byte(rng.IntN(256)), byte(len(body)))
			junk = append(junk, body...)
		}
		c.Write(junk)
		c.Write(mqtt.AppendPingreq(nil))
		c.Conn.Close()
	}
	p := tb.ConnectClient(t, addr, v5, "rnd-after", true)
	sub5(t, p, 1, 0, mqtt.Subscription{Filter: []byte("alive")})
	p.Publish("alive", 0, false, 0, []byte("yes"))
	if got := p.Expect(mqtt.PUBLISH).Publish; string(got.Payload) != "yes" {
		t.Fatalf("got %q", got.Payload)
	}
}
