package broker_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// sub5 subscribes a 5.0 client with full options and returns the codes.
func sub5(t *testing.T, c *tb.Client, pid uint16, subID uint32, filters ...mqtt.Subscription) []mqtt.ReasonCode {
	t.Helper()
	p := &mqtt.Subscribe{PacketID: pid, Filters: filters}
	if subID != 0 {
		p.Props.SubscriptionIDs = []uint32{subID}
		p.Props.Set(mqtt.PropSubscriptionID)
	}
	c.Write(mqtt.AppendSubscribe(nil, c.Version, p))
	ack := c.Expect(mqtt.SUBACK)
	if ack.Suback.PacketID != pid {
		t.Fatalf("SUBACK packet id %d, want %d", ack.Suback.PacketID, pid)
	}
	return append([]mqtt.ReasonCode(nil), ack.Suback.Reasons...)
}

func TestSubscribeUnsubscribeCodes(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2, MaxQoS: 1})
	c := tb.ConnectClient(t, addr, v5, "subcodes", true)
	codes := sub5(t, c, 7, 0,
		mqtt.Subscription{Filter: []byte("a/+"), QoS: 2},
		mqtt.Subscription{Filter: []byte("b/#"), QoS: 0},
		mqtt.Subscription{Filter: []byte("$share/g/c"), QoS: 1})
	if fmt.Sprint(codes) != fmt.Sprint([]mqtt.ReasonCode{1, 0, 1}) {
		t.Fatalf("SUBACK codes %v, want [1 0 1] (QoS 2 capped to Maximum QoS 1)", codes)
	}
	c.Write(mqtt.AppendUnsubscribe(nil, v5, &mqtt.Unsubscribe{PacketID: 8, Filters: [][]byte{[]byte("a/+"), []byte("nope"), []byte("$share/g/c")}}))
	ack := c.Expect(mqtt.UNSUBACK)
	want := []mqtt.ReasonCode{mqtt.Success, mqtt.NoSubscriptionExisted, mqtt.Success}
	if ack.Unsuback.PacketID != 8 || fmt.Sprint(ack.Unsuback.Reasons) != fmt.Sprint(want) {
		t.Fatalf("UNSUBACK %d %v, want 8 %v", ack.Unsuback.PacketID, ack.Unsuback.Reasons, want)
	}
	// After unsubscribing a/+ nothing arrives on it; b/# still works.
	c.Publish("a/x", 0, false, 0, []byte("gone"))
	c.Publish("b/x", 0, false, 0, []byte("here"))
	if p := c.Expect(mqtt.PUBLISH); string(p.Publish.Payload) != "here" {
		t.Fatalf("got %q on %q", p.Publish.Payload, p.Publish.Topic)
	}
}

func TestSubscribeFeatureSwitches(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1, DisableWildcardSubscriptions: true, DisableSharedSubscriptions: true})
	c := tb.ConnectClient(t, addr, v5, "switches", true)
	codes := sub5(t, c, 1, 0,
		mqtt.Subscription{Filter: []byte("a/+")},
		mqtt.Subscription{Filter: []byte("$share/g/a")},
		mqtt.Subscription{Filter: []byte("a/b")})
	want := []mqtt.ReasonCode{mqtt.WildcardSubscriptionsNotSupported, mqtt.SharedSubscriptionsNotSupported, 0}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
}

// TestQoS0AcrossLoops has subscribers on every loop receive every message
// of several publishers, in each publisher's order.
func TestQoS0AcrossLoops(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 4})
	const nsub, npub, nmsg = 8, 4, 50
	subs := make([]*tb.Client, nsub)
	for i := range subs {
		subs[i] = tb.ConnectClient(t, addr, v311, fmt.Sprintf("sub-%d", i), true)
		if rc := subs[i].Subscribe("fan/#", 0); rc != 0 {
			t.Fatalf("SUBACK %v", rc)
		}
	}
	pubs := make([]*tb.Client, npub)
	for i := range pubs {
		pubs[i] = tb.ConnectClient(t, addr, v5, fmt.Sprintf("pub-%d", i), true)
	}
	for m := 0; m < nmsg; m++ {
		for i, p := range pubs {
			p.Publish(fmt.Sprintf("fan/%d", i), 0, false, 0, []byte(fmt.Sprint(m)))
		}
	}
	for si, s := range subs {
		next := make([]int, npub)
		for n := 0; n < npub*nmsg; n++ {
			p := s.Expect(mqtt.PUBLISH)
			var from, seq int
			fmt.Sscanf(string(p.Publish.Topic), "fan/%d", &from)
			fmt.Sscanf(string(p.Publish.Payload), "%d", &seq)
			if seq != next[from] {
				t.Fatalf("subscriber %d: publisher %d message %d arrived when %d was due", si, from, seq, next[from])
			}
			next[from]++
		}
	}
}

// TestOverlappingSubscriptionsOneCopy: a client whose filters overlap gets
// one copy of a message at the highest granted QoS [MQTT-3.3.5-1], whether
// the filters came in one SUBSCRIBE or two, while clients with a single
// matching filter (on every loop) get theirs; a filter subscribed again
// replaces the first and still gives one copy.
func TestOverlappingSubscriptionsOneCopy(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	both := tb.ConnectClient(t, addr, v311, "ov-both", true)
	both.Write(mqtt.AppendSubscribe(nil, v311, &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{
		{Filter: []byte("ov/#"), QoS: 0}, {Filter: []byte("ov/+"), QoS: 1}}}))
	if got := both.Expect(mqtt.SUBACK).Suback.Reasons; len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("SUBACK %v", got)
	}
	later := tb.ConnectClient(t, addr, v311, "ov-later", true)
	later.Subscribe("ov/t", 0)
	later.Subscribe("ov/t", 0) // the same filter again: still one subscription
	later.Subscribe("+/t", 1)
	singles := make([]*tb.Client, 4)
	for i := range singles {
		singles[i] = tb.ConnectClient(t, addr, v311, fmt.Sprintf("ov-single-%d", i), true)
		singles[i].Subscribe("ov/t", 0)
	}
	pub := tb.ConnectClient(t, addr, v311, "ov-pub", true)
	pub.Publish("ov/t", 1, false, 7, []byte("x"))
	pub.Expect(mqtt.PUBACK)
	for _, c := range []*tb.Client{both, later} {
		p := c.Expect(mqtt.PUBLISH).Publish
		if p.QoS != 1 {
			t.Fatalf("overlapping filters: QoS %d, want 1", p.QoS)
		}
		c.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBACK, p.PacketID, 0, nil))
	}
	for _, c := range singles {
		if p := c.Expect(mqtt.PUBLISH).Publish; p.QoS != 0 || string(p.Payload) != "x" {
			t.Fatalf("single filter: got QoS %d %q", p.QoS, p.Payload)
		}
	}
	for _, c := range append([]*tb.Client{both, later}, singles...) {
		c.ExpectNothing(100 * time.Millisecond) // one copy each
	}
}

// TestFanoutEncodingPerSubscriber: a loop hands each message to several
// 3.1.1 subscribers, a QoS 1 grant and a 5.0 subscriber at once, then to
// mixed 3.1 and 3.1.1 ones (sol encodes a QoS 0 PUBLISH once for
// all 3.1/3.1.1 subscribers of a message). Every subscriber gets exactly
// the bytes its version and grant call for, message after message; a
// retained message goes on to live subscribers with RETAIN 0
// [MQTT-3.3.1-9], except to a Mosquitto bridge, which keeps it.
func TestFanoutEncodingPerSubscriber(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) { testFanoutEncoding(t, loops) })
	}
}

// testFanoutEncoding is TestFanoutEncodingPerSubscriber on a broker with
// loops loops: with 2, some subscribers get the message through a batch
// from the publisher's loop.
func testFanoutEncoding(t *testing.T, loops int) {
	// An inflight window of 2: a packet identifier that an acknowledgement
	// does not clear stalls the QoS 1/2 part.
	addr := tb.Start(t, broker.Options{Loops: loops, MaxInflight: 2})
	type sub struct {
		c       *tb.Client
		version byte
	}
	// Three of one version first, so that a stale encoding would be reused
	// from one message to the next; then mixed 3.1 and 3.1.1.
	var subs, mixed []sub
	for i := range 3 {
		c := tb.ConnectClient(t, addr, v311, fmt.Sprintf("enc-%d", i), true)
		c.Subscribe("enc/#", 0)
		subs = append(subs, sub{c, v311})
	}
	for i, v := range []byte{v31, v311, v31} {
		c := tb.ConnectClient(t, addr, v, fmt.Sprintf("mix-%d", i), true)
		c.Subscribe("mix/#", 0)
		mixed = append(mixed, sub{c, v})
	}
	// A Mosquitto bridge's 3.1.1 subscription keeps the RETAIN flag
	// (Retain As Published): same message, other bytes.
	bridge := tb.Dial(t, addr, v311)
	bridge.Connect(&mqtt.Connect{ProtocolLevel: v311, Bridge: true, ClientID: []byte("enc-bridge"), CleanStart: true, KeepAlive: 60})
	bridge.Subscribe("enc/#", 0)
	subs = append(subs, sub{bridge, v311})
	q1 := tb.ConnectClient(t, addr, v311, "enc-q1", true)
	q1.Subscribe("enc/#", 1)
	c5, _ := connect5(t, addr, "enc-5", mqtt.Properties{})
	sub5(t, c5, 1, 0, mqtt.Subscription{Filter: []byte("enc/#")})
	pub := tb.ConnectClient(t, addr, v311, "enc-pub", true)
	for i, topic := range []string{"enc/a", "enc/a", "enc/b/long/er", "enc/r", "enc/c"} {
		payload := []byte(fmt.Sprintf("message %d", i))
		pub.Publish(topic, 0, topic == "enc/r", 0, payload)
		for _, s := range subs {
			retain := topic == "enc/r" && s.c == bridge
			expectPublishBytes(t, s.c, s.version, &mqtt.Publish{Topic: []byte(topic), Payload: payload, Retain: retain})
		}
		if p := q1.Expect(mqtt.PUBLISH).Publish; p.QoS != 0 || string(p.Payload) != string(payload) || p.Retain {
			t.Fatalf("message %d to the QoS 1 grant: QoS %d retain %v %q", i, p.QoS, p.Retain, p.Payload)
		}
		if p := c5.Expect(mqtt.PUBLISH).Publish; string(p.Topic) != topic || string(p.Payload) != string(payload) {
			t.Fatalf("message %d to 5.0: %q %q", i, p.Topic, p.Payload)
		}
	}
	// QoS 1 and 2: the same bytes but each subscriber's own packet
	// identifier, which its acknowledgement must then clear.
	var qsubs []sub
	grants := []byte{1, 1, 2, 1}
	for i, g := range grants {
		c := tb.ConnectClient(t, addr, v311, fmt.Sprintf("q-%d", i), true)
		c.Subscribe("q/#", g)
		qsubs = append(qsubs, sub{c, v311})
	}
	for i := range 4 {
		topic, payload := "q/t", []byte(fmt.Sprintf("acked %d", i))
		pub.Publish(topic, 2, false, uint16(100+i), payload)
		pub.Expect(mqtt.PUBREC)
		pub.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBREL, uint16(100+i), 0, nil))
		pub.Expect(mqtt.PUBCOMP)
		for j, s := range qsubs {
			got, err := s.c.ReadRaw(2 * time.Second)
			if err != nil || len(got) < 4 {
				t.Fatalf("QoS message %d to subscriber %d: % x (%v)", i, j, got, err)
			}
			var p mqtt.Packet
			if err := mqtt.Decode(got, v311, &p); err != nil || p.Type != mqtt.PUBLISH || p.Publish.PacketID == 0 {
				t.Fatalf("QoS message %d to subscriber %d: % x (%v)", i, j, got, err)
			}
			want := mqtt.AppendPublish(nil, v311, &mqtt.Publish{Topic: []byte(topic), Payload: payload, QoS: grants[j], PacketID: p.Publish.PacketID})
			if !bytes.Equal(got, want) {
				t.Fatalf("QoS message %d to subscriber %d: got % x, want % x", i, j, got, want)
			}
			if grants[j] == 1 {
				s.c.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBACK, p.Publish.PacketID, 0, nil))
				continue
			}
			s.c.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBREC, p.Publish.PacketID, 0, nil))
			if rel := s.c.Expect(mqtt.PUBREL); rel.PubAck.PacketID != p.Publish.PacketID {
				t.Fatalf("PUBREL for %d, want %d", rel.PubAck.PacketID, p.Publish.PacketID)
			}
			s.c.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBCOMP, p.Publish.PacketID, 0, nil))
		}
	}
	for _, s := range qsubs {
		s.c.ExpectNothing(100 * time.Millisecond) // acknowledged: nothing resent
	}
	for i := range 3 {
		topic, payload := fmt.Sprintf("mix/%d", i), []byte(fmt.Sprintf("mixed %d", i))
		pub.Publish(topic, 0, false, 0, payload)
		for _, s := range mixed {
			expectPublishBytes(t, s.c, s.version, &mqtt.Publish{Topic: []byte(topic), Payload: payload})
		}
	}
}

// expectPublishBytes reads c's next packet and fails unless it is exactly
// p encoded at version.
func expectPublishBytes(t *testing.T, c *tb.Client, version byte, p *mqtt.Publish) {
	t.Helper()
	want := mqtt.AppendPublish(nil, version, p)
	if got, err := c.ReadRaw(2 * time.Second); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s (version %d): got % x (%v), want % x", p.Topic, version, got, err, want)
	}
}

// TestFanoutSharedEncodingTooLarge: a 5.0 publisher's PUBLISH with a topic
// alias fits the broker's maximum packet size, but its 3.1.1 form (topic
// written out, no alias) does not. Every 3.1.1 subscriber has it dropped,
// the ones served from the shared encoding too, and gets the messages
// before and after it.
func TestFanoutSharedEncodingTooLarge(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			addr := tb.Start(t, broker.Options{Loops: loops, MaxPacketSize: 100, TopicAliasMaximum: 4})
			subs := make([]*tb.Client, 4)
			for i := range subs {
				subs[i] = tb.ConnectClient(t, addr, v311, fmt.Sprintf("big-%d", i), true)
				subs[i].Subscribe("t/#", 0)
			}
			pub, _ := connect5(t, addr, "big-pub", mqtt.Properties{})
			topic := "t/" + strings.Repeat("x", 38)
			for i, payload := range []string{"before", strings.Repeat("y", 80), "after"} {
				p := &mqtt.Publish{Payload: []byte(payload)}
				if i == 0 {
					p.Topic = []byte(topic) // sets alias 1; later ones use it alone
				}
				p.Props.TopicAlias = 1
				p.Props.Set(mqtt.PropTopicAlias)
				pkt := mqtt.AppendPublish(nil, v5, p)
				if len(pkt) > 100 {
					t.Fatalf("inbound PUBLISH %d is %d bytes, above the maximum itself", i, len(pkt))
				}
				pub.Write(pkt)
			}
			for _, c := range subs {
				for _, want := range []string{"before", "after"} {
					expectPublishBytes(t, c, v311, &mqtt.Publish{Topic: []byte(topic), Payload: []byte(want)})
				}
			}
		})
	}
}

func TestQoS1And2Flows(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	for _, v := range []byte{v311, v5} {
		sub := tb.ConnectClient(t, addr, v, fmt.Sprintf("q-sub-%d", v), true)
		pub := tb.ConnectClient(t, addr, v, fmt.Sprintf("q-pub-%d", v), true)
		sub.Subscribe("q/+", 2)

		// QoS 1 in, QoS 1 out.
		pub.Publish("q/1", 1, false, 10, []byte("one"))
		if a := pub.Expect(mqtt.PUBACK); a.PubAck.PacketID != 10 {
			t.Fatalf("PUBACK id %d", a.PubAck.PacketID)
		}
		p := sub.Expect(mqtt.PUBLISH).Publish
		if p.QoS != 1 || string(p.Payload) != "one" || p.PacketID == 0 {
			t.Fatalf("v%d: got QoS %d %q id %d", v, p.QoS, p.Payload, p.PacketID)
		}
		sub.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBACK, p.PacketID, 0, nil))

		// QoS 2 in, twice (duplicate before PUBREL), forwarded once.
		pub.Publish("q/2", 2, false, 11, []byte("two"))
		if a := pub.Expect(mqtt.PUBREC); a.PubAck.PacketID != 11 {
			t.Fatalf("PUBREC id %d", a.PubAck.PacketID)
		}
		pub.Write(mqtt.AppendPublish(nil, v, &mqtt.Publish{Dup: true, QoS: 2, Topic: []byte("q/2"), PacketID: 11, Payload: []byte("two")}))
		pub.Expect(mqtt.PUBREC)
		pub.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBREL, 11, 0, nil))
		if a := pub.Expect(mqtt.PUBCOMP); a.PubAck.PacketID != 11 {
			t.Fatalf("PUBCOMP id %d", a.PubAck.PacketID)
		}
		p = sub.Expect(mqtt.PUBLISH).Publish
		if p.QoS != 2 || string(p.Payload) != "two" {
			t.Fatalf("v%d: got QoS %d %q", v, p.QoS, p.Payload)
		}
		pid := p.PacketID
		sub.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBREC, pid, 0, nil))
		if a := sub.Expect(mqtt.PUBREL); a.PubAck.PacketID != pid {
			t.Fatalf("PUBREL id %d, want %d", a.PubAck.PacketID, pid)
		}
		sub.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBCOMP, pid, 0, nil))
		sub.ExpectNothing(100 * time.Millisecond) // the duplicate was not forwarded

		// Downgrade: QoS 2 message to a QoS 0 subscription.
		sub.Subscribe("down", 0)
		pub.Publish("down", 2, false, 12, []byte("d"))
		pub.Expect(mqtt.PUBREC)
		if p := sub.Expect(mqtt.PUBLISH).Publish; p.QoS != 0 {
			t.Fatalf("downgrade: got QoS %d", p.QoS)
		}
	}
}

// TestInflightWindow checks that no more than the client's Receive Maximum
// messages are in flight, and that the rest follow as acknowledgements free
// the window, in order.
func TestInflightWindow(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	sub := tb.Dial(t, addr, v5)
	sub.Connect(&mqtt.Connect{ProtocolLevel: v5, ClientID: []byte("window"), CleanStart: true, Props: mqtt.Properties{
		Present: 1 << mqtt.PropReceiveMaximum, ReceiveMaximum: 3}})
	sub5(t, sub, 1, 0, mqtt.Subscription{Filter: []byte("w"), QoS: 1})
	pub := tb.ConnectClient(t, addr, v311, "window-pub", true)
	for i := 0; i < 10; i++ {
		pub.Publish("w", 1, false, uint16(i+1), []byte(fmt.Sprint(i)))
		pub.Expect(mqtt.PUBACK)
	}
	var ids []uint16
	for i := 0; i < 3; i++ {
		p := sub.Expect(mqtt.PUBLISH).Publish
		if string(p.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, p.Payload)
		}
		ids = append(ids, p.PacketID)
	}
	sub.ExpectNothing(150 * time.Millisecond) // window full
	next := 3
	for _, id := range ids {
		sub.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, id, 0, nil))
	}
	for next < 10 {
		p := sub.Expect(mqtt.PUBLISH).Publish
		if string(p.Payload) != fmt.Sprint(next) {
			t.Fatalf("message %d: got %q", next, p.Payload)
		}
		sub.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, p.PacketID, 0, nil))
		next++
	}
}

// TestOfflineQueueAndResend: a persistent session receives while offline,
// gets unacknowledged messages again with DUP and PUBREL again on reconnect.
func TestOfflineQueueAndResend(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 3})
	for _, v := range []byte{v311, v5} {
		id := fmt.Sprintf("offline-%d", v)
		connect := func() (*tb.Client, *mqtt.Connack) {
			c := tb.Dial(t, addr, v)
			return c, c.Connect(&mqtt.Connect{ProtocolLevel: v, ClientID: []byte(id), Props: mqtt.Properties{
				Present: 1 << mqtt.PropSessionExpiry, SessionExpiry: 300}})
		}
		c, _ := connect()
		c.Subscribe("off/#", 2)
		pub := tb.ConnectClient(t, addr, v311, fmt.Sprintf("offpub-%d", v), true)
		pub.Publish("off/a", 1, false, 1, []byte("a"))
		pub.Expect(mqtt.PUBACK)
		pub.Publish("off/b", 2, false, 2, []byte("b"))
		pub.Expect(mqtt.PUBREC)
		pub.Write(mqtt.AppendPubAck(nil, v311, mqtt.PUBREL, 2, 0, nil))
		pub.Expect(mqtt.PUBCOMP)
		// Receive both without acknowledging a; PUBREC b.
		pa := c.Expect(mqtt.PUBLISH).Publish
		idA := pa.PacketID
		pb := c.Expect(mqtt.PUBLISH).Publish
		idB := pb.PacketID
		c.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBREC, idB, 0, nil))
		c.Expect(mqtt.PUBREL)
		c.Conn.Close() // abrupt

		// While offline: QoS 1 is queued, QoS 0 is not. (If "c" races the
		// close and reaches the dying connection, it is in flight and is
		// resent after a: the order is the same either way.)
		pub.Publish("off/c", 1, false, 3, []byte("c"))
		pub.Expect(mqtt.PUBACK)
		pub.Publish("off/zero", 0, false, 0, []byte("z"))
		pub.Write(mqtt.AppendPingreq(nil))
		pub.Expect(mqtt.PINGRESP)
		c2, ack := connect()
		if !ack.SessionPresent {
			t.Fatalf("v%d: session not present", v)
		}
		// Resend: a with DUP and the same id, PUBREL for b, then c.
		p := c2.Expect(mqtt.PUBLISH).Publish
		if !p.Dup || p.PacketID != idA || string(p.Payload) != "a" {
			t.Fatalf("v%d: resend got dup=%v id=%d %q, want dup a id %d", v, p.Dup, p.PacketID, p.Payload, idA)
		}
		if r := c2.Expect(mqtt.PUBREL); r.PubAck.PacketID != idB {
			t.Fatalf("v%d: PUBREL id %d want %d", v, r.PubAck.PacketID, idB)
		}
		c2.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBACK, idA, 0, nil))
		c2.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBCOMP, idB, 0, nil))
		p = c2.Expect(mqtt.PUBLISH).Publish
		if string(p.Payload) != "c" {
			t.Fatalf("v%d: got %q, want c", v, p.Payload)
		}
		c2.Write(mqtt.AppendPubAck(nil, v, mqtt.PUBACK, p.PacketID, 0, nil))
		c2.ExpectNothing(100 * time.Millisecond) // no QoS 0 from the offline period
		c2.Write(mqtt.AppendDisconnect(nil, v, 0, nil))
	}
}

func TestRetained(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	pub := tb.ConnectClient(t, addr, v311, "ret-pub", true)
	pub.Publish("ret/a", 1, true, 1, []byte("first"))
	pub.Expect(mqtt.PUBACK)
	pub.Publish("ret/a", 1, true, 2, []byte("second")) // replaces
	pub.Expect(mqtt.PUBACK)
	pub.Publish("ret/b", 0, true, 0, []byte("bee"))
	pub.Publish("ret/c", 0, true, 0, []byte("cee"))
	pub.Publish("ret/c", 0, true, 0, nil) // deletes
	pub.Write(mqtt.AppendPingreq(nil))
	pub.Expect(mqtt.PINGRESP)

	s := tb.ConnectClient(t, addr, v5, "ret-sub", true)
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("ret/#"), QoS: 1})
	got := map[string]string{}
	for i := 0; i < 2; i++ {
		p := s.Expect(mqtt.PUBLISH).Publish
		if !p.Retain {
			t.Fatalf("retained message without RETAIN")
		}
		got[string(p.Topic)] = string(p.Payload)
	}
	if got["ret/a"] != "second" || got["ret/b"] != "bee" {
		t.Fatalf("retained: %v", got)
	}
	s.ExpectNothing(100 * time.Millisecond)

	// Retain Handling 1: only for a new subscription; 2: never.
	sub5(t, s, 2, 0, mqtt.Subscription{Filter: []byte("ret/#"), QoS: 1, RetainHandling: 1})
	s.ExpectNothing(100 * time.Millisecond)
	sub5(t, s, 3, 0, mqtt.Subscription{Filter: []byte("ret/+"), QoS: 1, RetainHandling: 2})
	s.ExpectNothing(100 * time.Millisecond)
	sub5(t, s, 4, 0, mqtt.Subscription{Filter: []byte("ret/b"), QoS: 0, RetainHandling: 1})
	if p := s.Expect(mqtt.PUBLISH).Publish; string(p.Payload) != "bee" || !p.Retain || p.QoS != 0 {
		t.Fatalf("retain handling 1 new subscription: %+v", p)
	}

	// A live message to a subscription without Retain As Published has RETAIN
	// cleared; with it, kept.
	s2 := tb.ConnectClient(t, addr, v5, "ret-rap", true)
	sub5(t, s2, 1, 0, mqtt.Subscription{Filter: []byte("live/rap"), RetainAsPublished: true},
		mqtt.Subscription{Filter: []byte("live/plain")})
	pub.Publish("live/rap", 0, true, 0, []byte("x"))
	if p := s2.Expect(mqtt.PUBLISH).Publish; !p.Retain {
		t.Fatal("Retain As Published: RETAIN cleared")
	}
	pub.Publish("live/plain", 0, true, 0, []byte("y"))
	if p := s2.Expect(mqtt.PUBLISH).Publish; p.Retain {
		t.Fatal("without Retain As Published: RETAIN kept")
	}

	// Shared subscriptions get no retained messages.
	s3 := tb.ConnectClient(t, addr, v5, "ret-shared", true)
	sub5(t, s3, 1, 0, mqtt.Subscription{Filter: []byte("$share/g/ret/#")})
	s3.ExpectNothing(100 * time.Millisecond)
}

func TestSysTopicsNotPublishable(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 1})
	s := tb.ConnectClient(t, addr, v5, "sys-sub", true)
	sub5(t, s, 1, 0, mqtt.Subscription{Filter: []byte("$SYS/#")})
	p := tb.ConnectClient(t, addr, v5, "sys-pub", true)
	p.Publish("$SYS/broker/fake", 1, false, 1, []byte("x"))
	if a := p.Expect(mqtt.PUBACK); a.PubAck.Reason != mqtt.NotAuthorized {
		t.Fatalf("PUBACK %v, want not authorized", a.PubAck.Reason)
	}
	s.ExpectNothing(100 * time.Millisecond)
	// And '#' does not match $ topics.
	s2 := tb.ConnectClient(t, addr, v5, "hash-sub", true)
	sub5(t, s2, 1, 0, mqtt.Subscription{Filter: []byte("#")})
	p.Publish("$other", 0, false, 0, []byte("x"))
	s2.ExpectNothing(100 * time.Millisecond)
}
