package broker_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// fakeAuth checks passwords on its own goroutine, as the auth package does,
// and has ACLs: user "ro" may not publish; nobody may subscribe to
// "secret/#"; nobody reads "hidden/...".
type fakeAuth struct{}

func (fakeAuth) CheckPassword(user, pass []byte, done func(bool)) bool {
	ok := string(user) == string(pass) // "alice"/"alice"
	go done(ok)
	return true
}
func (fakeAuth) HasPasswords() bool { return true }
func (fakeAuth) CanPublish(_, user string, topic []byte) bool {
	return user != "ro"
}
func (fakeAuth) CanSubscribe(_, _ string, filter []byte) bool {
	return !bytes.HasPrefix(filter, []byte("secret/"))
}
func (fakeAuth) CanRead(_, _ string, topic []byte) bool {
	return !bytes.HasPrefix(topic, []byte("hidden/"))
}

func TestAuthentication(t *testing.T) {
	b, err := broker.New(broker.Options{Loops: 2, Auth: fakeAuth{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0"}) // no anonymous
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown(context.Background())
	addr := a.String()

	login := func(v byte, id, user, pass string) (*tb.Client, *mqtt.Connack) {
		c := tb.Dial(t, addr, v)
		p := &mqtt.Connect{ProtocolLevel: v, ClientID: []byte(id), CleanStart: true}
		if user != "" {
			p.UsernameFlag, p.Username = true, []byte(user)
			p.PasswordFlag, p.Password = true, []byte(pass)
		}
		// CONNECT and SUBSCRIBE in one write: the SUBSCRIBE must wait for
		// the password check, not be lost.
		return c, c.Connect(p)
	}
	for _, v := range []byte{v311, v5} {
		if _, ack := login(v, "anon", "", ""); ack.Reason != mqtt.NotAuthorized {
			t.Fatalf("v%d anonymous: %v", v, ack.Reason)
		}
		if _, ack := login(v, "bad", "alice", "wrong"); ack.Reason != mqtt.BadUserNameOrPassword {
			t.Fatalf("v%d bad password: %v", v, ack.Reason)
		}
		c, ack := login(v, "good", "alice", "alice")
		if ack.Reason != mqtt.Success {
			t.Fatalf("v%d good password: %v", v, ack.Reason)
		}
		c.Write(mqtt.AppendDisconnect(nil, v, 0, nil))
	}

	// Pipelined CONNECT + SUBSCRIBE survive the paused read.
	c := tb.Dial(t, addr, v5)
	c.Write(append(mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v5, ClientID: []byte("pipelined"), CleanStart: true,
		UsernameFlag: true, Username: []byte("alice"), PasswordFlag: true, Password: []byte("alice")}),
		mqtt.AppendSubscribe(nil, v5, &mqtt.Subscribe{PacketID: 9, Filters: []mqtt.Subscription{{Filter: []byte("#"), QoS: 1}, {Filter: []byte("secret/x")}}})...))
	c.Version = v5
	if ack := c.Expect(mqtt.CONNACK); ack.Connack.Reason != 0 {
		t.Fatalf("CONNACK %v", ack.Connack.Reason)
	}
	sa := c.Expect(mqtt.SUBACK).Suback
	if sa.PacketID != 9 || len(sa.Reasons) != 2 || sa.Reasons[0] != 1 || sa.Reasons[1] != mqtt.NotAuthorized {
		t.Fatalf("SUBACK %+v", sa)
	}

	// ACL: "ro" cannot publish (PUBACK 0x87, nothing delivered); nobody
	// reads hidden/.
	ro, _ := login(v5, "ro", "ro", "ro")
	ro.Publish("open/x", 1, false, 1, []byte("x"))
	if a := ro.Expect(mqtt.PUBACK); a.PubAck.Reason != mqtt.NotAuthorized {
		t.Fatalf("PUBACK %v", a.PubAck.Reason)
	}
	rw, _ := login(v5, "rw", "alice", "alice")
	rw.Publish("hidden/x", 0, false, 0, []byte("h"))
	rw.Publish("open/y", 0, false, 0, []byte("y"))
	if p := c.Expect(mqtt.PUBLISH).Publish; string(p.Topic) != "open/y" {
		t.Fatalf("got %q", p.Topic)
	}
}

func TestShutdownTellsClients(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	c5 := tb.ConnectClient(t, addr, v5, "sd5", true)
	c3 := tb.ConnectClient(t, addr, v311, "sd3", true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c5.ExpectClosed(3 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.ServerShuttingDown {
		t.Fatalf("5.0 client: %+v", got)
	}
	if got := c3.ExpectClosed(3 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 client: %+v", got)
	}
}

func TestMaxConnections(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, MaxConnections: 2})
	tb.ConnectClient(t, addr, v311, "m1", true)
	tb.ConnectClient(t, addr, v311, "m2", true)
	c := tb.Dial(t, addr, v5)
	if ack := c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("m3"), CleanStart: true}); ack.Reason != mqtt.QuotaExceeded {
		t.Fatalf("CONNACK %v, want quota exceeded", ack.Reason)
	}
}

// TestSlowConsumerQueueBound: a subscriber that never acknowledges gets its
// Receive Maximum in flight, then MaxQueuedMessages queued; the rest are
// dropped and everyone else is unaffected.
func TestSlowConsumerQueueBound(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, MaxQueuedMessages: 5})
	slow := tb.Dial(t, addr, v5)
	slow.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("slow"), CleanStart: true, Props: mqtt.Properties{
		Present: 1 << mqtt.PropReceiveMaximum, ReceiveMaximum: 2}})
	sub5(t, slow, 1, 0, mqtt.Subscription{Filter: []byte("flood"), QoS: 1})
	fast := tb.ConnectClient(t, addr, v311, "fast", true)
	fast.Subscribe("flood", 0)
	pub := tb.ConnectClient(t, addr, v311, "flooder", true)
	for i := 0; i < 20; i++ {
		pub.Publish("flood", 1, false, uint16(i+1), []byte{byte(i)})
		pub.Expect(mqtt.PUBACK)
	}
	for i := 0; i < 20; i++ {
		if p := fast.Expect(mqtt.PUBLISH).Publish; p.Payload[0] != byte(i) {
			t.Fatalf("fast subscriber: message %d is %d", i, p.Payload[0])
		}
	}
	var got []byte
	for {
		pkt, err := slow.ReadRaw(200 * time.Millisecond)
		if err != nil {
			break
		}
		var p mqtt.Packet
		if err := mqtt.Decode(pkt, v5, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Publish.Payload[0])
		slow.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, p.Publish.PacketID, 0, nil))
	}
	// 2 in flight + 5 queued: the first 7, in order.
	if !bytes.Equal(got, []byte{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("slow subscriber got %v", got)
	}
}

func TestSysTopics(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, StatsInterval: 50 * time.Millisecond, Version: "9.9"})
	c := tb.ConnectClient(t, addr, v311, "sys-reader", true)
	c.Subscribe("$SYS/broker/version", 0)
	if p := c.Expect(mqtt.PUBLISH).Publish; string(p.Payload) != "sol version 9.9" { // Mosquitto's format
		t.Fatalf("version %q", p.Payload)
	}
	c.Subscribe("$SYS/broker/clients/connected", 0)
	tb.WaitFor(t, 5*time.Second, func() bool {
		p := c.Read(5 * time.Second)
		return p.Type == mqtt.PUBLISH && string(p.Publish.Topic) == "$SYS/broker/clients/connected" && string(p.Publish.Payload) == "1"
	})
}

func TestMaxMemory(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, MaxMemory: 4096})
	// An offline persistent session soaks up queued bytes.
	s := tb.Dial(t, addr, v5)
	s.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("sponge"), Props: mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 60}})
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("mem"), QoS: 1})
	s.Write(mqtt.AppendDisconnect(nil, v5, 0, nil))
	s.ExpectClosed(2 * time.Second)
	p := tb.ConnectClient(t, addr, v5, "mem-pub", true)
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		p.Publish("mem", 1, false, uint16(i+1), make([]byte, 1000))
		rc := p.Expect(mqtt.PUBACK).PubAck.Reason
		refused = rc == mqtt.QuotaExceeded
	}
	if !refused {
		t.Fatal("never refused with quota exceeded above max memory")
	}
	// Still serving everything else.
	p.Write(mqtt.AppendPingreq(nil))
	p.Expect(mqtt.PINGRESP)
}

func TestLifecycleErrors(t *testing.T) {
	b, err := broker.New(broker.Options{Loops: 1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err == nil {
		t.Fatal("Start without a listener succeeded")
	}
	if _, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", TLS: &tls.Config{}}); err == nil {
		t.Fatal("TLS listener accepted")
	}
	a, err := b.Listen(broker.ListenerOptions{Network: "tcp", Address: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Addrs(); len(got) != 1 || got[0].String() != a.String() {
		t.Fatalf("Addrs %v, want [%v]", got, a)
	}
	// Never started: Shutdown releases the socket.
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", a.String()); err == nil {
		t.Fatal("listener still open after Shutdown")
	}
	if _, err := broker.New(broker.Options{MaxQoS: 3}); err == nil {
		t.Fatal("MaxQoS 3 accepted")
	}
}
