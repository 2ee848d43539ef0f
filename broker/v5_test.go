package broker_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

func connect5(t *testing.T, addr, id string, props mqtt.Properties) (*tb.Client, *mqtt.Connack) {
	t.Helper()
	c := tb.Dial(t, addr, v5)
	ack := c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte(id), CleanStart: true, KeepAlive: 60, Props: props})
	if ack.Reason != mqtt.Success {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
	return c, ack
}

func TestPropertiesForwarded(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	s, _ := connect5(t, addr, "props-sub", mqtt.Properties{})
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("req/#")})
	p, _ := connect5(t, addr, "props-pub", mqtt.Properties{})
	pub := &mqtt.Publish{Topic: []byte("req/1"), Payload: []byte("{}")}
	pr := &pub.Props
	pr.PayloadFormat = 1
	pr.ContentType = []byte("application/json")
	pr.ResponseTopic = []byte("resp/1")
	pr.CorrelationData = []byte{1, 2, 3}
	pr.MessageExpiry = 100
	pr.User = pr.User.Append([]byte("a"), []byte("1")).Append([]byte("b"), []byte("2")).Append([]byte("a"), []byte("3"))
	for _, id := range []mqtt.PropID{mqtt.PropPayloadFormat, mqtt.PropContentType, mqtt.PropResponseTopic, mqtt.PropCorrelationData, mqtt.PropMessageExpiry, mqtt.PropUserProperty} {
		pr.Set(id)
	}
	p.Write(mqtt.AppendPublish(nil, v5, pub))
	got := s.Expect(mqtt.PUBLISH).Publish.Props
	if got.PayloadFormat != 1 || string(got.ContentType) != "application/json" || string(got.ResponseTopic) != "resp/1" ||
		!bytes.Equal(got.CorrelationData, []byte{1, 2, 3}) || !got.Has(mqtt.PropMessageExpiry) || got.MessageExpiry > 100 || got.MessageExpiry < 98 {
		t.Fatalf("properties not forwarded: %+v", got)
	}
	var ups []string
	for k, v := range got.User.All() {
		ups = append(ups, string(k)+"="+string(v))
	}
	if fmt.Sprint(ups) != "[a=1 b=2 a=3]" {
		t.Fatalf("user properties %v, want [a=1 b=2 a=3] in order", ups)
	}
}

func TestMessageExpiry(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	// A persistent subscriber goes offline; a message expiring in 1s waits
	// for it and is gone after 1s; one with 60s arrives with less left.
	mk := func() *tb.Client {
		c := tb.Dial(t, addr, v5)
		c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("exp-sub"), Props: mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 60}})
		return c
	}
	s := mk()
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("exp/#"), QoS: 1})
	s.Write(mqtt.AppendDisconnect(nil, v5, 0, nil))
	s.ExpectClosed(2 * time.Second)
	p, _ := connect5(t, addr, "exp-pub", mqtt.Properties{})
	for _, tc := range []struct {
		topic  string
		expiry uint32
	}{{"exp/short", 1}, {"exp/long", 60}} {
		pub := &mqtt.Publish{Topic: []byte(tc.topic), QoS: 1, PacketID: 1, Payload: []byte("x")}
		pub.Props.MessageExpiry = tc.expiry
		pub.Props.Set(mqtt.PropMessageExpiry)
		p.Write(mqtt.AppendPublish(nil, v5, pub))
		p.Expect(mqtt.PUBACK)
	}
	// A retained message expires from the store too.
	rp := &mqtt.Publish{Topic: []byte("exp-ret/short"), Retain: true, Payload: []byte("r")}
	rp.Props.MessageExpiry = 1
	rp.Props.Set(mqtt.PropMessageExpiry)
	p.Write(mqtt.AppendPublish(nil, v5, rp))
	p.Publish("exp-ret/keep", 0, true, 0, []byte("k"))
	time.Sleep(2100 * time.Millisecond) // let the short ones expire: the behaviour under test is time itself
	late, _ := connect5(t, addr, "exp-late", mqtt.Properties{})
	sub5(t, late, 1, 0, mqtt.Subscription{Filter: []byte("exp-ret/#")})
	if got := late.Expect(mqtt.PUBLISH).Publish; string(got.Topic) != "exp-ret/keep" {
		t.Fatalf("retained: got %q, want only exp-ret/keep", got.Topic)
	}
	late.ExpectNothing(100 * time.Millisecond)
	s = mk()
	got := s.Expect(mqtt.PUBLISH).Publish
	if string(got.Topic) != "exp/long" || got.Props.MessageExpiry > 58 {
		t.Fatalf("got %q expiry %d, want exp/long with at most 58s left", got.Topic, got.Props.MessageExpiry)
	}
	s.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, got.PacketID, 0, nil))
	s.ExpectNothing(100 * time.Millisecond)
}

func TestTopicAliasFromClient(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, TopicAliasMaximum: 2})
	s, _ := connect5(t, addr, "alias-sub", mqtt.Properties{})
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("alias/#")})
	p, ack := connect5(t, addr, "alias-pub", mqtt.Properties{})
	if ack.Props.TopicAliasMaximum != 2 {
		t.Fatalf("CONNACK Topic Alias Maximum %d, want 2", ack.Props.TopicAliasMaximum)
	}
	withAlias := func(topic string, alias uint16, payload string) []byte {
		pub := &mqtt.Publish{Topic: []byte(topic), Payload: []byte(payload)}
		pub.Props.TopicAlias = alias
		pub.Props.Set(mqtt.PropTopicAlias)
		return mqtt.AppendPublish(nil, v5, pub)
	}
	p.Write(withAlias("alias/one", 1, "a"))
	p.Write(withAlias("", 1, "b"))
	for _, want := range []string{"a", "b"} {
		got := s.Expect(mqtt.PUBLISH).Publish
		if string(got.Topic) != "alias/one" || string(got.Payload) != want {
			t.Fatalf("got %q %q, want alias/one %q", got.Topic, got.Payload, want)
		}
	}
	// Alias above our maximum: DISCONNECT 0x94.
	p.Write(withAlias("alias/two", 3, "c"))
	got := p.ExpectClosed(2 * time.Second)
	if len(got) != 1 || got[0].Disconnect.Reason != mqtt.TopicAliasInvalid {
		t.Fatalf("want DISCONNECT topic alias invalid, got %+v", got)
	}
}

func TestTopicAliasToClient(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	s, _ := connect5(t, addr, "alias-out", mqtt.Properties{Present: 1 << mqtt.PropTopicAliasMaximum, TopicAliasMaximum: 1})
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("ao/#")})
	p := tb.ConnectClient(t, addr, v311, "alias-out-pub", true)
	for _, topic := range []string{"ao/x", "ao/x", "ao/y", "ao/x"} {
		p.Publish(topic, 0, false, 0, []byte(topic))
	}
	// First ao/x: topic + alias 1; second: alias only; ao/y: no alias left.
	want := []struct {
		topic string
		alias uint16
	}{{"ao/x", 1}, {"", 1}, {"ao/y", 0}, {"", 1}}
	for i, w := range want {
		got := s.Expect(mqtt.PUBLISH).Publish
		if string(got.Topic) != w.topic || got.Props.TopicAlias != w.alias {
			t.Fatalf("message %d: topic %q alias %d, want %q %d", i, got.Topic, got.Props.TopicAlias, w.topic, w.alias)
		}
	}
}

func TestMaximumPacketSize(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, MaxPacketSize: 1024})
	// Towards the client: messages above its maximum are dropped.
	s, _ := connect5(t, addr, "small", mqtt.Properties{Present: 1 << mqtt.PropMaximumPacketSize, MaximumPacketSize: 100})
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("mps")})
	p := tb.ConnectClient(t, addr, v311, "mps-pub", true)
	p.Publish("mps", 0, false, 0, make([]byte, 200))
	p.Publish("mps", 0, false, 0, []byte("fits"))
	if got := s.Expect(mqtt.PUBLISH).Publish; string(got.Payload) != "fits" {
		t.Fatalf("got %d bytes", len(got.Payload))
	}
	// From the client: above our maximum, DISCONNECT 0x95.
	big, _ := connect5(t, addr, "big", mqtt.Properties{})
	big.Write(mqtt.AppendPublish(nil, v5, &mqtt.Publish{Topic: []byte("mps"), Payload: make([]byte, 2000)}))
	got := big.ExpectClosed(2 * time.Second)
	if len(got) != 1 || got[0].Disconnect.Reason != mqtt.PacketTooLarge {
		t.Fatalf("want DISCONNECT packet too large, got %+v", got)
	}
	// 3.1.1: closed.
	b3 := tb.ConnectClient(t, addr, v311, "big3", true)
	b3.Publish("mps", 0, false, 0, make([]byte, 2000))
	if got := b3.ExpectClosed(2 * time.Second); len(got) != 0 {
		t.Fatalf("3.1.1 got %+v", got)
	}
}

func TestSubscriptionIdentifiersAndOverlap(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	s, _ := connect5(t, addr, "subid", mqtt.Properties{})
	sub5(t, s, 1, 11, mqtt.Subscription{Filter: []byte("sid/+"), QoS: 0})
	sub5(t, s, 2, 22, mqtt.Subscription{Filter: []byte("sid/#"), QoS: 1})
	p := tb.ConnectClient(t, addr, v311, "subid-pub", true)
	p.Publish("sid/a", 1, false, 1, []byte("x"))
	got := s.Expect(mqtt.PUBLISH).Publish
	ids := fmt.Sprint(got.Props.SubscriptionIDs)
	if got.QoS != 1 || (ids != "[11 22]" && ids != "[22 11]") {
		t.Fatalf("one copy at QoS 1 with ids 11 and 22 expected, got QoS %d ids %s", got.QoS, ids)
	}
	s.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, got.PacketID, 0, nil))
	s.ExpectNothing(100 * time.Millisecond) // a single copy

	// Three and four matching subscriptions: the identifiers beyond the
	// first two are kept apart from the delivery; none may be lost.
	sub5(t, s, 3, 33, mqtt.Subscription{Filter: []byte("+/a"), QoS: 0})
	for n, want := range []string{"[11 22 33]", "[11 22 33 44]"} {
		if n == 1 {
			sub5(t, s, 4, 44, mqtt.Subscription{Filter: []byte("#"), QoS: 0})
		}
		p.Publish("sid/a", 0, false, 0, []byte("y"))
		got = s.Expect(mqtt.PUBLISH).Publish
		ids := append([]uint32(nil), got.Props.SubscriptionIDs...)
		slices.Sort(ids)
		if fmt.Sprint(ids) != want {
			t.Fatalf("subscription identifiers %v, want %s in any order", got.Props.SubscriptionIDs, want)
		}
		s.ExpectNothing(100 * time.Millisecond)
	}

	// Identifiers disabled: DISCONNECT 0xA1.
	addr2 := tb.Start(t, broker.Options{Loops: 1, DisableSubscriptionIdentifiers: true})
	c, ack := connect5(t, addr2, "nosid", mqtt.Properties{})
	if !ack.Props.Has(mqtt.PropSubIDAvailable) || ack.Props.SubIDAvailable != 0 {
		t.Fatal("CONNACK does not say subscription identifiers are unavailable")
	}
	c.Write(mqtt.AppendSubscribe(nil, v5, &mqtt.Subscribe{PacketID: 1, Props: mqtt.Properties{Present: 1 << mqtt.PropSubscriptionID, SubscriptionIDs: []uint32{5}},
		Filters: []mqtt.Subscription{{Filter: []byte("x")}}}))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.SubscriptionIdentifiersNotSupported {
		t.Fatalf("got %+v", got)
	}
}

func TestNoLocal(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	c, _ := connect5(t, addr, "nolocal", mqtt.Properties{})
	sub5(t, c, 1, 0, mqtt.Subscription{Filter: []byte("nl"), NoLocal: true})
	other, _ := connect5(t, addr, "nolocal-other", mqtt.Properties{})
	c.Publish("nl", 0, false, 0, []byte("mine"))
	other.Publish("nl", 0, false, 0, []byte("theirs"))
	if got := c.Expect(mqtt.PUBLISH).Publish; string(got.Payload) != "theirs" {
		t.Fatalf("got %q", got.Payload)
	}
}

func TestNoMatchingSubscribersAndQoSLimits(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, MaxQoS: 1, DisableRetain: true})
	c, ack := connect5(t, addr, "nomatch", mqtt.Properties{})
	if !ack.Props.Has(mqtt.PropMaximumQoS) || ack.Props.MaximumQoS != 1 || !ack.Props.Has(mqtt.PropRetainAvailable) || ack.Props.RetainAvailable != 0 {
		t.Fatalf("CONNACK properties %+v", ack.Props)
	}
	c.Publish("nobody", 1, false, 1, []byte("x"))
	if a := c.Expect(mqtt.PUBACK); a.PubAck.Reason != mqtt.NoMatchingSubscribers {
		t.Fatalf("PUBACK %v, want no matching subscribers", a.PubAck.Reason)
	}
	c.Publish("nobody", 2, false, 2, []byte("x"))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.QoSNotSupported {
		t.Fatalf("QoS 2 above maximum: got %+v", got)
	}
	c, _ = connect5(t, addr, "noretain", mqtt.Properties{})
	c.Publish("r", 0, true, 0, []byte("x"))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.RetainNotSupported {
		t.Fatalf("retain unavailable: got %+v", got)
	}
}

func TestReceiveMaximumEnforced(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, MaxInflight: 2})
	c, ack := connect5(t, addr, "rm", mqtt.Properties{})
	if ack.Props.ReceiveMaximum != 2 {
		t.Fatalf("Receive Maximum %d, want 2", ack.Props.ReceiveMaximum)
	}
	for i := uint16(1); i <= 3; i++ {
		c.Publish("rm", 2, false, i, []byte("x"))
	}
	c.Expect(mqtt.PUBREC)
	c.Expect(mqtt.PUBREC)
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.ReceiveMaximumExceeded {
		t.Fatalf("got %+v", got)
	}
}

func TestAuthPacketRefused(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	c, _ := connect5(t, addr, "auth", mqtt.Properties{})
	c.Write(mqtt.AppendAuth(nil, mqtt.ReAuthenticate, &mqtt.Properties{Present: 1 << mqtt.PropAuthMethod, AuthMethod: []byte("x")}))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Type != mqtt.DISCONNECT || got[0].Disconnect.Reason != mqtt.ProtocolError {
		t.Fatalf("got %+v", got)
	}
}

func TestSessionExpiry(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	conn := func(clean bool, expiry uint32) (*tb.Client, *mqtt.Connack) {
		c := tb.Dial(t, addr, v5)
		return c, c.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("expiring"), CleanStart: clean,
			Props: mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: expiry}})
	}
	c, _ := conn(true, 1)
	c.Conn.Close()
	c, ack := conn(false, 1)
	if !ack.SessionPresent {
		t.Fatal("session gone before its expiry")
	}
	c.Conn.Close()
	time.Sleep(1500 * time.Millisecond) // the expiry interval itself is under test
	c, ack = conn(false, 0)
	if ack.SessionPresent {
		t.Fatal("session present after its expiry")
	}
	// Expiry changed at DISCONNECT: from 0 to non-zero is a protocol error.
	c.Write(mqtt.AppendDisconnect(nil, v5, 0, &mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 10}))
	if got := c.ExpectClosed(2 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.ProtocolError {
		t.Fatalf("got %+v", got)
	}
	// From non-zero to 0 at DISCONNECT ends the session.
	c, _ = conn(true, 100)
	c.Write(mqtt.AppendDisconnect(nil, v5, 0, &mqtt.Properties{Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 0}))
	c.ExpectClosed(2 * time.Second)
	if _, ack = conn(false, 100); ack.SessionPresent {
		t.Fatal("session kept after DISCONNECT set its expiry to 0")
	}
}

func TestSharedSubscriptions(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 3})
	m5, _ := connect5(t, addr, "share-5", mqtt.Properties{})
	sub5(t, m5, 1, 0, mqtt.Subscription{Filter: []byte("$share/g/job/#"), QoS: 1})
	m3 := tb.ConnectClient(t, addr, v311, "share-3", true)
	if rc := m3.Subscribe("$share/g/job/#", 1); rc != 1 {
		t.Fatalf("3.1.1 shared SUBACK %v", rc)
	}
	p := tb.ConnectClient(t, addr, v311, "share-pub", true)
	const n = 20
	for i := 0; i < n; i++ {
		p.Publish("job/x", 1, false, uint16(i+1), []byte(fmt.Sprint(i)))
		p.Expect(mqtt.PUBACK)
	}
	got := map[string]int{}
	count := func(c *tb.Client, who string) {
		for {
			pkt, err := c.ReadRaw(200 * time.Millisecond)
			if err != nil {
				return
			}
			var pp mqtt.Packet
			if err := mqtt.Decode(pkt, c.Version, &pp); err != nil || pp.Type != mqtt.PUBLISH {
				t.Fatalf("%s: % x", who, pkt)
			}
			got[string(pp.Publish.Payload)]++
			c.Write(mqtt.AppendPubAck(nil, c.Version, mqtt.PUBACK, pp.Publish.PacketID, 0, nil))
		}
	}
	count(m5, "5.0 member")
	n5 := len(got)
	count(m3, "3.1.1 member")
	if len(got) != n || n5 == 0 || n5 == n {
		t.Fatalf("each message to one member: %d distinct of %d, 5.0 member got %d", len(got), n, n5)
	}
	for k, c := range got {
		if c != 1 {
			t.Fatalf("message %s delivered %d times", k, c)
		}
	}
}

// TestSharedMemberLeaves: messages unacknowledged by a member that leaves go
// to another member.
func TestSharedMemberLeaves(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	a, _ := connect5(t, addr, "leaver", mqtt.Properties{})
	sub5(t, a, 1, 0, mqtt.Subscription{Filter: []byte("$share/w/task"), QoS: 1})
	b, _ := connect5(t, addr, "stayer", mqtt.Properties{})
	sub5(t, b, 1, 0, mqtt.Subscription{Filter: []byte("$share/w/task"), QoS: 1})
	p := tb.ConnectClient(t, addr, v311, "task-pub", true)
	const n = 10
	for i := 0; i < n; i++ {
		p.Publish("task", 1, false, uint16(i+1), []byte(fmt.Sprint(i)))
		p.Expect(mqtt.PUBACK)
	}
	// a receives its share and never acknowledges; then it drops.
	seenA := 0
	for {
		if _, err := a.ReadRaw(200 * time.Millisecond); err != nil {
			break
		}
		seenA++
	}
	if seenA == 0 {
		t.Fatal("member a got nothing; round robin expected")
	}
	a.Conn.Close()
	got := map[string]bool{}
	for len(got) < n {
		pp := b.Expect(mqtt.PUBLISH).Publish
		got[string(pp.Payload)] = true
		b.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, pp.PacketID, 0, nil))
	}
}
