package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// A client that reconnects to resume its session (a half-open connection
// taken over) must not have its old connection's will published: it is online.
// With Clean Start the old session ends and its will goes out, as in Mosquitto.
func TestTakeoverResumingSessionKeepsWillQuiet(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	watch := tb.ConnectClient(t, addr, v5, "takeover-watch", true)
	sub5(t, watch, 1, 0, mqtt.Subscription{Filter: []byte("will/#"), QoS: 0})

	for _, v := range []byte{v311, v5} {
		id := fmt.Sprintf("dev-%d", v)
		p := willConnect(v, id, 0, 300)
		p.CleanStart = false
		old := tb.Dial(t, addr, v)
		old.Connect(p)
		again := tb.Dial(t, addr, v)
		if ack := again.Connect(p); !ack.SessionPresent {
			t.Fatalf("v%d: takeover without session present", v)
		}
		watch.ExpectNothing(300 * time.Millisecond)

		// A clean start ends the old session: its will is published.
		p.CleanStart = true
		fresh := tb.Dial(t, addr, v)
		fresh.Connect(p)
		if got := watch.Expect(mqtt.PUBLISH).Publish; string(got.Topic) != "will/"+id {
			t.Fatalf("v%d: got %q, want the will after a clean-start takeover", v, got.Topic)
		}
	}
}

// 3.1.1 has no Receive Maximum, so a client may pipeline more QoS 2 publishes
// than max_inflight_messages; every one gets its PUBREC and is delivered.
func TestQoS2PipelinedBy311Client(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, MaxInflight: 5})
	sub := tb.ConnectClient(t, addr, v311, "q2-sub", true)
	if rc := sub.Subscribe("q2/#", 0); rc != 0 {
		t.Fatalf("subscribe: %v", rc)
	}
	pub := tb.ConnectClient(t, addr, v311, "q2-pub", true)
	const n = 30
	for i := 1; i <= n; i++ {
		pub.Publish("q2/t", 2, false, uint16(i), []byte{byte(i)})
	}
	for i := 1; i <= n; i++ {
		if p := pub.Expect(mqtt.PUBREC); p.PubAck.PacketID != uint16(i) {
			t.Fatalf("PUBREC %d, want %d", p.PubAck.PacketID, i)
		}
		pub.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBREL, uint16(i), 0, nil))
	}
	for i := 1; i <= n; i++ {
		if p := sub.Expect(mqtt.PUBLISH); p.Publish.Payload[0] != byte(i) {
			t.Fatalf("delivery %d carries %d", i, p.Publish.Payload[0])
		}
	}
}

// A QoS 2 message sent to a shared-subscription member whose connection drops
// before PUBREC stays with that member [MQTT-4.8.2-4] [MQTT-4.8.2-5]: no other
// member gets it, and the member gets it again (DUP) when it resumes.
func TestSharedQoS2StaysWithItsMember(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	member := func(id string) (*tb.Client, *mqtt.Connect) {
		p := &mqtt.Connect{ProtocolLevel: v5, ClientID: []byte(id), KeepAlive: 60}
		p.Props.SessionExpiry = 300
		p.Props.Set(mqtt.PropSessionExpiry)
		c := tb.Dial(t, addr, v5)
		c.Connect(p)
		sub5(t, c, 1, 0, mqtt.Subscription{Filter: []byte("$share/g/sh/t"), QoS: 2})
		return c, p
	}
	m1, p1 := member("member-1")
	m2, _ := member("member-2")
	pub := tb.ConnectClient(t, addr, v5, "sh-pub", true)
	pub.Publish("sh/t", 2, false, 1, []byte("once"))
	pub.Expect(mqtt.PUBREC)

	// Whoever got it drops without PUBREC; the other must get nothing.
	got, other, otherID := m1, m2, "member-2"
	var first *mqtt.Packet
	if first = m1.Read(2 * time.Second); first == nil || first.Type != mqtt.PUBLISH {
		got, other, otherID = m2, m1, "member-1"
		first = m2.Expect(mqtt.PUBLISH)
	}
	if otherID == "member-1" {
		p1 = &mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("member-2"), KeepAlive: 60}
		p1.Props.SessionExpiry = 300
		p1.Props.Set(mqtt.PropSessionExpiry)
	}
	pid := first.Publish.PacketID
	got.Conn.Close()
	other.ExpectNothing(500 * time.Millisecond)

	back := tb.Dial(t, addr, v5)
	if ack := back.Connect(p1); !ack.SessionPresent {
		t.Fatal("member resumed without its session")
	}
	again := back.Expect(mqtt.PUBLISH).Publish
	if !again.Dup || again.PacketID != pid || string(again.Payload) != "once" {
		t.Fatalf("resent %+v, want DUP of packet %d", again, pid)
	}
}

// The Reason String of a server DISCONNECT is left out when it would make the
// packet larger than the client's Maximum Packet Size [MQTT-3.14.2-3].
func TestDisconnectRespectsMaximumPacketSize(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	p := &mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("tiny"), CleanStart: true, KeepAlive: 60}
	p.Props.MaximumPacketSize = 8
	p.Props.Set(mqtt.PropMaximumPacketSize)
	c := tb.Dial(t, addr, v5)
	c.Connect(p)
	c.Write(mqtt.AppendConnect(nil, p)) // a second CONNECT is a protocol error
	pkts := c.ExpectClosed(2 * time.Second)
	if len(pkts) != 1 || pkts[0].Type != mqtt.DISCONNECT {
		t.Fatalf("got %d packets, want one DISCONNECT", len(pkts))
	}
	d := pkts[0].Disconnect
	if d.Reason != mqtt.ProtocolError || d.Props.Has(mqtt.PropReasonString) {
		t.Fatalf("DISCONNECT %v with reason string %q, want 0x82 without one", d.Reason, d.Props.ReasonString)
	}
}

// A 5.0 client that sets Request Response Information gets a Response
// Information base in CONNACK, under its own client identifier; one that does
// not ask gets none [MQTT-3.1.2-28].
func TestResponseInformation(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	for _, ask := range []bool{true, false} {
		p := &mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("requester"), CleanStart: true, KeepAlive: 60}
		if ask {
			p.Props.RequestResponseInfo = 1
			p.Props.Set(mqtt.PropRequestResponseInfo)
		}
		ack := tb.Dial(t, addr, v5).Connect(p)
		got := ack.Props.Has(mqtt.PropResponseInfo)
		if got != ask || ask && string(ack.Props.ResponseInfo) != "response/requester" {
			t.Fatalf("asked %v: response information %v %q", ask, got, ack.Props.ResponseInfo)
		}
	}
}

// A Mosquitto bridge connects at protocol level 0x84 (try_private): its
// subscriptions behave as No Local and Retain As Published, so it never gets
// its own messages back and the retain flag survives the bridge.
func TestMosquittoBridgeSubscriptions(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	bridge := tb.Dial(t, addr, v311)
	bridge.Connect(&mqtt.Connect{ProtocolLevel: v311, Bridge: true, ClientID: []byte("bridge"), CleanStart: true, KeepAlive: 60})
	if rc := bridge.Subscribe("br/#", 1); rc != 1 {
		t.Fatalf("subscribe: %v", rc)
	}
	bridge.Publish("br/x", 1, false, 7, []byte("from the bridge"))
	if p := bridge.Expect(mqtt.PUBACK); p.PubAck.PacketID != 7 {
		t.Fatalf("PUBACK %d", p.PubAck.PacketID)
	}
	bridge.ExpectNothing(300 * time.Millisecond) // No Local

	local := tb.ConnectClient(t, addr, v311, "local", true)
	local.Publish("br/y", 0, true, 0, []byte("retained"))
	p := bridge.Expect(mqtt.PUBLISH).Publish
	if string(p.Topic) != "br/y" || !p.Retain {
		t.Fatalf("bridge got %q retain=%v, want br/y with retain kept", p.Topic, p.Retain)
	}
}

// Keep alive counts whole packets: a client that trickles one byte of a large
// announced PUBLISH every 300 ms sends no control packet, and is closed within
// 1.5 times its keep alive [MQTT-3.1.2-22].
func TestKeepAliveIgnoresTrickledBytes(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	c := tb.Dial(t, addr, v311)
	c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("trickle"), CleanStart: true, KeepAlive: 1})
	start := time.Now()
	c.Write([]byte{0x30, 0xFF, 0x7F}) // PUBLISH announcing 16383 bytes
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
				if _, err := c.Conn.Write([]byte{'x'}); err != nil {
					return
				}
			}
		}
	}()
	c.ExpectClosed(5 * time.Second) // the broker's FIN (it drains input a while after)
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Fatalf("closed after %v, want within 1.5 x keep alive (1.5 s) plus slack", d)
	}
}

// A client that reconnects with a smaller Receive Maximum than what was in
// flight gets only that many resent at once, the rest as it acknowledges,
// in order, and new messages after them [MQTT-3.3.4-7] [MQTT-4.4.0-1].
func TestResendRespectsNewReceiveMaximum(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	connect := func(receiveMax uint16) (*tb.Client, *mqtt.Connack) {
		p := &mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("slowpoke"), KeepAlive: 60}
		p.Props.SessionExpiry = 300
		p.Props.Set(mqtt.PropSessionExpiry)
		p.Props.ReceiveMaximum = receiveMax
		p.Props.Set(mqtt.PropReceiveMaximum)
		c := tb.Dial(t, addr, v5)
		return c, c.Connect(p)
	}
	c, _ := connect(10)
	sub5(t, c, 1, 0, mqtt.Subscription{Filter: []byte("rm/#"), QoS: 1})
	pub := tb.ConnectClient(t, addr, v311, "rm-pub", true)
	const n = 6
	for i := 1; i <= n; i++ {
		pub.Publish("rm/t", 1, false, uint16(i), []byte{byte(i)})
		pub.Expect(mqtt.PUBACK)
	}
	for i := 1; i <= n; i++ {
		c.Expect(mqtt.PUBLISH) // received, never acknowledged
	}
	c.Conn.Close()

	c, ack := connect(2)
	if !ack.SessionPresent {
		t.Fatal("session not resumed")
	}
	type seen struct {
		PacketID uint16
		Dup      bool
		Payload  []byte
	}
	got := []seen{}
	read := func() {
		p := c.Expect(mqtt.PUBLISH).Publish
		got = append(got, seen{p.PacketID, p.Dup, append([]byte(nil), p.Payload...)})
	}
	read()
	read()
	c.ExpectNothing(300 * time.Millisecond) // Receive Maximum 2
	pub.Publish("rm/t", 1, false, 99, []byte{99})
	pub.Expect(mqtt.PUBACK)
	for len(got) < n+1 {
		ackd := got[len(got)-2]
		c.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, ackd.PacketID, 0, nil))
		read()
	}
	for i, p := range got {
		want := byte(i + 1)
		if i == n {
			want = 99
		}
		if p.Payload[0] != want || (i < n) != p.Dup {
			t.Fatalf("message %d: payload %d dup %v, want %d dup %v", i, p.Payload[0], p.Dup, want, i < n)
		}
	}
}
