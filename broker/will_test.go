package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

func willConnect(v byte, id string, willDelay, sessionExpiry uint32) *mqtt.Connect {
	p := &mqtt.Connect{ProtocolLevel: v, ClientID: []byte(id), CleanStart: true, KeepAlive: 60,
		WillFlag: true, WillQoS: 1, WillTopic: []byte("will/" + id), WillPayload: []byte("gone:" + id)}
	if v == v5 {
		p.CleanStart = sessionExpiry == 0
		p.Props.SessionExpiry = sessionExpiry
		p.Props.Set(mqtt.PropSessionExpiry)
		p.WillProps.WillDelay = willDelay
		p.WillProps.Set(mqtt.PropWillDelay)
		p.WillProps.ContentType = []byte("text/plain")
		p.WillProps.Set(mqtt.PropContentType)
		p.WillProps.User = p.WillProps.User.Append([]byte("k"), []byte("v"))
		p.WillProps.Set(mqtt.PropUserProperty)
	}
	return p
}

func TestWill(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	watch := tb.ConnectClient(t, addr, v5, "will-watch", true)
	sub5(t, watch, 1, 0, mqtt.Subscription{Filter: []byte("will/#"), QoS: 1})

	expectWill := func(id string) *mqtt.Publish {
		t.Helper()
		p := &watch.Expect(mqtt.PUBLISH).Publish
		if string(p.Topic) != "will/"+id || string(p.Payload) != "gone:"+id {
			t.Fatalf("got %q %q, want the will of %s", p.Topic, p.Payload, id)
		}
		if p.QoS == 1 {
			watch.Write(mqtt.AppendPubAck(nil, v5, mqtt.PUBACK, p.PacketID, 0, nil))
		}
		return p
	}

	for _, v := range []byte{v311, v5} {
		// Abnormal close: the will is published, with its properties.
		c := tb.Dial(t, addr, v)
		c.Connect(willConnect(v, "abrupt", 0, 0))
		c.Conn.Close()
		p := expectWill("abrupt")
		if v == v5 {
			if string(p.Props.ContentType) != "text/plain" {
				t.Fatalf("will content type %q", p.Props.ContentType)
			}
			n := 0
			for k, val := range p.Props.User.All() {
				if string(k) != "k" || string(val) != "v" {
					t.Fatalf("user property %q=%q", k, val)
				}
				n++
			}
			if n != 1 {
				t.Fatalf("%d user properties, want 1", n)
			}
		}

		// Normal DISCONNECT: no will.
		c = tb.Dial(t, addr, v)
		c.Connect(willConnect(v, "polite", 0, 0))
		c.Write(mqtt.AppendDisconnect(nil, v, mqtt.NormalDisconnection, nil))
		c.ExpectClosed(2 * time.Second)
		watch.ExpectNothing(150 * time.Millisecond)

		// Server-side close after a protocol violation: will.
		c = tb.Dial(t, addr, v)
		c.Connect(willConnect(v, "rude", 0, 0))
		c.Write([]byte{0x00, 0x00}) // reserved packet type
		c.ExpectClosed(2 * time.Second)
		expectWill("rude")
	}

	// 5.0 DISCONNECT 0x04: with will.
	c := tb.Dial(t, addr, v5)
	c.Connect(willConnect(v5, "withwill", 0, 0))
	c.Write(mqtt.AppendDisconnect(nil, v5, mqtt.DisconnectWithWill, nil))
	c.ExpectClosed(2 * time.Second)
	expectWill("withwill")
}

func TestWillDelay(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	watch := tb.ConnectClient(t, addr, v5, "wd-watch", true)
	sub5(t, watch, 1, 0, mqtt.Subscription{Filter: []byte("will/#")})

	// Will delay 1s, session expiry 60s: the will comes after about a second.
	c := tb.Dial(t, addr, v5)
	c.Connect(willConnect(v5, "delayed", 1, 60))
	c.Conn.Close()
	start := time.Now()
	p := watch.Expect(mqtt.PUBLISH).Publish
	if string(p.Topic) != "will/delayed" || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("got %q after %v, want will/delayed after the delay", p.Topic, time.Since(start))
	}

	// Reconnecting within the delay cancels the will.
	c = tb.Dial(t, addr, v5)
	c.Connect(willConnect(v5, "back", 2, 60))
	c.Conn.Close()
	c = tb.Dial(t, addr, v5)
	back := willConnect(v5, "back", 0, 60)
	back.WillFlag = false
	back.CleanStart = false
	if ack := c.Connect(back); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	watch.ExpectNothing(2500 * time.Millisecond)

	// Session expiry shorter than the delay: the will goes when the
	// session ends.
	c = tb.Dial(t, addr, v5)
	c.Connect(willConnect(v5, "short", 30, 1))
	c.Conn.Close()
	start = time.Now()
	p = watch.Expect(mqtt.PUBLISH).Publish
	if string(p.Topic) != "will/short" || time.Since(start) > 3*time.Second {
		t.Fatalf("got %q after %v", p.Topic, time.Since(start))
	}
}

func TestWillRetained(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	c := tb.Dial(t, addr, v311)
	w := willConnect(v311, "retwill", 0, 0)
	w.WillRetain = true
	c.Connect(w)
	c.Conn.Close()
	// A fresh subscriber each time: one that subscribed before the will went
	// out gets it live, with RETAIN 0 [MQTT-3.3.1-9], which says nothing of
	// whether it was retained.
	n := 0
	tb.WaitFor(t, 3*time.Second, func() bool {
		n++
		s := tb.ConnectClient(t, addr, v311, fmt.Sprintf("retwill-sub-%d", n), true)
		defer s.Conn.Close()
		s.Subscribe("will/retwill", 1)
		pkt, err := s.ReadRaw(100 * time.Millisecond)
		if err != nil {
			return false
		}
		var p mqtt.Packet
		if mqtt.Decode(pkt, v311, &p) != nil || p.Type != mqtt.PUBLISH || p.Publish.QoS != 1 || string(p.Publish.Topic) != "will/retwill" {
			t.Fatalf("got % x", pkt)
		}
		return p.Publish.Retain
	})
}
