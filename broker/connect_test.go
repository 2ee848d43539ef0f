package broker_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

const (
	v31  = mqtt.Version31
	v311 = mqtt.Version311
	v5   = mqtt.Version5
)

func TestConnectBothVersions(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	for _, v := range []byte{v31, v311, v5} {
		c := tb.Dial(t, addr, v)
		ack := c.Connect(&mqtt.Connect{ProtocolLevel: v, ClientID: []byte("c"), CleanStart: true, KeepAlive: 30})
		if ack.Reason != mqtt.Success || ack.SessionPresent {
			t.Fatalf("v%d: CONNACK %v present=%v", v, ack.Reason, ack.SessionPresent)
		}
		if v == v5 {
			if !ack.Props.Has(mqtt.PropMaximumPacketSize) || !ack.Props.Has(mqtt.PropReceiveMaximum) {
				t.Fatalf("v5 CONNACK lacks Maximum Packet Size / Receive Maximum: %+v", ack.Props)
			}
		}
		c.Write(mqtt.AppendPingreq(nil))
		c.Expect(mqtt.PINGRESP)
		c.Write(mqtt.AppendDisconnect(nil, v, mqtt.NormalDisconnection, nil))
		c.ExpectClosed(2 * time.Second)
	}
}

func TestConnectRefusals(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	cases := []struct {
		name string
		p    mqtt.Connect
		want mqtt.ReasonCode
	}{
		{"3.1.1 empty id without clean session", mqtt.Connect{ProtocolLevel: v311}, mqtt.ClientIdentifierNotValid},
		{"3.1 empty id", mqtt.Connect{ProtocolLevel: v31, CleanStart: true}, mqtt.ClientIdentifierNotValid},
		{"5.0 authentication method", mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("x"), Props: mqtt.Properties{
			Present: 1 << mqtt.PropAuthMethod, AuthMethod: []byte("SCRAM-SHA-1")}}, mqtt.BadAuthenticationMethod},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tb.Dial(t, addr, tc.p.ProtocolLevel)
			ack := c.Connect(&tc.p)
			if ack.Reason != tc.want || ack.SessionPresent {
				t.Fatalf("CONNACK %v present=%v, want %v", ack.Reason, ack.SessionPresent, tc.want)
			}
			c.ExpectClosed(2 * time.Second)
		})
	}
}

func TestConnectUnsupportedProtocolLevel(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	c := tb.Dial(t, addr, v311)
	// CONNECT "MQTT" level 6.
	c.Write([]byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 30, 0, 0})
	p := c.Expect(mqtt.CONNACK)
	if p.Connack.Reason != mqtt.UnsupportedProtocolVersion { // return code 1 [MQTT-3.1.2-2]
		t.Fatalf("CONNACK %v, want unsupported protocol version", p.Connack.Reason)
	}
	c.ExpectClosed(2 * time.Second)
}

func TestAssignedClientIdentifier(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 4})
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		c := tb.Dial(t, addr, v5)
		ack := c.Connect(&mqtt.Connect{ProtocolLevel: v5, CleanStart: true})
		id := string(ack.Props.AssignedClientID)
		if ack.Reason != mqtt.Success || !ack.Props.Has(mqtt.PropAssignedClientID) || id == "" || seen[id] {
			t.Fatalf("CONNACK %v assigned %q (seen %v)", ack.Reason, id, seen)
		}
		seen[id] = true
		// The session is usable: subscribe and receive our own message.
		if rc := c.Subscribe("own/"+id, 0); rc != 0 {
			t.Fatalf("SUBACK %v", rc)
		}
		c.Publish("own/"+id, 0, false, 0, []byte("x"))
		if p := c.Expect(mqtt.PUBLISH); string(p.Publish.Payload) != "x" {
			t.Fatalf("payload %q", p.Publish.Payload)
		}
	}
	// 3.1.1 with clean session may also send an empty identifier.
	c := tb.Dial(t, addr, v311)
	if ack := c.Connect(&mqtt.Connect{ProtocolLevel: v311, CleanStart: true}); ack.Reason != mqtt.Success {
		t.Fatalf("3.1.1 empty id with clean session: %v", ack.Reason)
	}
}

func TestFirstPacketMustBeConnect(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	c := tb.Dial(t, addr, v311)
	c.Write(mqtt.AppendPingreq(nil))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 0 {
		t.Fatalf("got %d packets before the close", len(got))
	}
}

func TestSecondConnectIsProtocolError(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	c := tb.ConnectClient(t, addr, v5, "twice", true)
	c.Write(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v5, ClientID: []byte("twice")}))
	got := c.ExpectClosed(2 * time.Second)
	if len(got) != 1 || got[0].Type != mqtt.DISCONNECT || got[0].Disconnect.Reason != mqtt.ProtocolError {
		t.Fatalf("want DISCONNECT protocol error, got %+v", got)
	}
	if !got[0].Disconnect.Props.Has(mqtt.PropReasonString) || len(got[0].Disconnect.Props.ReasonString) == 0 {
		t.Fatal("DISCONNECT without a Reason String")
	}
}

func TestConnectTimeout(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, ConnectTimeout: 200 * time.Millisecond})
	c := tb.Dial(t, addr, v311)
	start := time.Now()
	c.ExpectClosed(3 * time.Second)
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the connect timeout", time.Since(start))
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	for _, v := range []byte{v311, v5} {
		c := tb.Dial(t, addr, v)
		c.Connect(&mqtt.Connect{ProtocolLevel: v, ClientID: []byte("ka"), CleanStart: true, KeepAlive: 1})
		start := time.Now()
		got := c.ExpectClosed(4 * time.Second)
		if el := time.Since(start); el < time.Second {
			t.Fatalf("v%d: closed after %v, before 1.5 keep alive periods", v, el)
		}
		if v == v5 && (len(got) != 1 || got[0].Disconnect.Reason != mqtt.KeepAliveTimeout) {
			t.Fatalf("v5: want DISCONNECT keep alive timeout, got %+v", got)
		}
	}
	// A client that pings in time stays connected.
	c := tb.Dial(t, addr, v311)
	c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("pinger"), CleanStart: true, KeepAlive: 1})
	for i := 0; i < 4; i++ {
		c.ExpectNothing(500 * time.Millisecond)
		c.Write(mqtt.AppendPingreq(nil))
		c.Expect(mqtt.PINGRESP)
	}
}

func TestServerKeepAlive(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, MaxKeepalive: 10})
	c := tb.Dial(t, addr, v5)
	ack := c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("ska"), CleanStart: true, KeepAlive: 100})
	if ack.Reason != mqtt.Success || !ack.Props.Has(mqtt.PropServerKeepAlive) || ack.Props.ServerKeepAlive != 10 {
		t.Fatalf("CONNACK %v server keep alive %v", ack.Reason, ack.Props.ServerKeepAlive)
	}
	c3 := tb.Dial(t, addr, v311)
	if ack := c3.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("ska3"), CleanStart: true, KeepAlive: 100}); ack.Reason != mqtt.ClientIdentifierNotValid {
		t.Fatalf("3.1.1 keep alive above the maximum: CONNACK %v", ack.Reason)
	}
}

func TestTakeover(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 4})
	old := tb.Dial(t, addr, v5)
	old.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("dup"), Props: mqtt.Properties{
		Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 60}})
	if rc := old.Subscribe("take/over", 1); rc != 1 {
		t.Fatalf("SUBACK %v", rc)
	}
	c := tb.Dial(t, addr, v5)
	ack := c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("dup"), Props: mqtt.Properties{
		Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 60}})
	if ack.Reason != mqtt.Success || !ack.SessionPresent {
		t.Fatalf("CONNACK %v present=%v, want the session kept", ack.Reason, ack.SessionPresent)
	}
	got := old.ExpectClosed(2 * time.Second)
	if len(got) != 1 || got[0].Type != mqtt.DISCONNECT || got[0].Disconnect.Reason != mqtt.SessionTakenOver {
		t.Fatalf("old connection: want DISCONNECT 0x8E, got %+v", got)
	}
	// The subscription moved with the session.
	pub := tb.ConnectClient(t, addr, v311, "pub-takeover", true)
	pub.Publish("take/over", 1, false, 1, []byte("m"))
	pub.Expect(mqtt.PUBACK)
	if p := c.Expect(mqtt.PUBLISH); !bytes.Equal(p.Publish.Payload, []byte("m")) {
		t.Fatalf("payload %q", p.Publish.Payload)
	}

	// 3.1.1 takeover: old connection just closes; clean session discards.
	o3 := tb.ConnectClient(t, addr, v311, "dup3", false)
	o3.Subscribe("t3", 0)
	n3 := tb.Dial(t, addr, v311)
	if ack := n3.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("dup3"), CleanStart: true}); ack.Reason != mqtt.Success || ack.SessionPresent {
		t.Fatalf("3.1.1 clean takeover: CONNACK %v present=%v", ack.Reason, ack.SessionPresent)
	}
	if got := o3.ExpectClosed(2 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 client got %+v before the close", got)
	}
}

func TestSessionPresent(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	c := tb.ConnectClient(t, addr, v311, "persist", false)
	c.Write(mqtt.AppendDisconnect(nil, v311, 0, nil))
	c.ExpectClosed(2 * time.Second)
	c = tb.Dial(t, addr, v311)
	if ack := c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("persist")}); !ack.SessionPresent {
		t.Fatal("3.1.1 persistent session: session present not set on reconnect")
	}
	c.Write(mqtt.AppendDisconnect(nil, v311, 0, nil))
	c.ExpectClosed(2 * time.Second)
	c = tb.Dial(t, addr, v311)
	if ack := c.Connect(&mqtt.Connect{ProtocolLevel: v311, ClientID: []byte("persist"), CleanStart: true}); ack.SessionPresent {
		t.Fatal("clean session: session present set")
	}
}
