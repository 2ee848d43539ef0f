package mqtt

import "testing"

// The PUBLISH path (PacketLength, DecodePublish, AppendPublish) promises zero
// allocations; these tests pin it.

var (
	publish311 = pkt(0x32, str("sensors/building-1/floor-2/temp"), u16(42), make([]byte, 256))
	publish5   = pkt(0x32, str("sensors/building-1/floor-2/temp"), u16(42),
		props(0x01, 1, 0x02, u32(3600), 0x03, str("application/json"), 0x08, str("replies/1"),
			0x09, str("corr-0001"), 0x23, u16(3), 0x26, str("trace-id"), str("4bf92f3577b34da6"),
			0x26, str("tenant"), str("acme")),
		make([]byte, 256))
	// publish5SubIDs is what a server sends: several subscription identifiers.
	publish5SubIDs = pkt(0x30, str("a/b"), props(0x0B, vbi(1), 0x0B, vbi(70000), 0x0B, vbi(3)), "x")
)

func TestAllocsPacketLength(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		if l, err := PacketLength(publish5, 1<<20); l != len(publish5) || err != nil {
			t.Fatal(l, err)
		}
	}); n != 0 {
		t.Errorf("PacketLength allocates %v times", n)
	}
}

func TestAllocsDecodePublish(t *testing.T) {
	for _, c := range []struct {
		name    string
		version byte
		raw     []byte
	}{{"3.1.1", Version311, publish311}, {"5.0 properties", Version5, publish5}, {"5.0 subscription ids", Version5, publish5SubIDs}} {
		var p Publish
		if err := DecodePublish(c.raw, c.version, &p); err != nil {
			t.Fatal(err)
		}
		n := testing.AllocsPerRun(100, func() {
			if err := DecodePublish(c.raw, c.version, &p); err != nil {
				t.Fatal(err)
			}
			for k, v := range p.Props.User.All() {
				_, _ = k, v
			}
		})
		if n != 0 {
			t.Errorf("DecodePublish %s allocates %v times", c.name, n)
		}
	}
}

func TestAllocsAppendPublish(t *testing.T) {
	for _, c := range []struct {
		name    string
		version byte
		raw     []byte
	}{{"3.1.1", Version311, publish311}, {"5.0 properties", Version5, publish5}, {"5.0 subscription ids", Version5, publish5SubIDs}} {
		var p Publish
		if err := DecodePublish(c.raw, c.version, &p); err != nil {
			t.Fatal(err)
		}
		dst := make([]byte, 0, 1024)
		n := testing.AllocsPerRun(100, func() {
			fwd := p
			fwd.PacketID = 7
			fwd.Props.TopicAlias = 9
			if PublishSize(c.version, &fwd) > cap(dst) {
				t.Fatal("buffer too small")
			}
			dst = AppendPublish(dst[:0], c.version, &fwd)
		})
		if n != 0 {
			t.Errorf("AppendPublish %s allocates %v times", c.name, n)
		}
	}
}

// TestAllocsControlPackets covers the acknowledgements the broker sends per
// message: they should be free too.
func TestAllocsControlPackets(t *testing.T) {
	dst := make([]byte, 0, 64)
	var a PubAck
	raw := hx("40 02 00 07")
	if n := testing.AllocsPerRun(100, func() {
		dst = AppendPubAck(dst[:0], Version5, PUBACK, 7, Success, nil)
		dst = AppendPubAck(dst, Version5, PUBREC, 7, NoMatchingSubscribers, nil)
		dst = AppendPingresp(dst)
		if err := DecodePubAck(raw, Version5, &a); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("acknowledgements allocate %v times", n)
	}
}

// TestAllocsSubscribeReuse pins the promise of the reusable Filters slices:
// a Subscribe or Unsubscribe kept by its owner stops allocating.
func TestAllocsSubscribeReuse(t *testing.T) {
	sub := pkt(0x82, u16(1), props(0x0B, vbi(5), 0x26, str("k"), str("v")), str("home/+/temp"), 1, str("$share/g/jobs/#"), 2, str("a/b"), 0)
	unsub := pkt(0xA2, u16(2), props(), str("home/+/temp"), str("a/b"))
	var s Subscribe
	var u Unsubscribe
	if err := DecodeSubscribe(sub, Version5, &s); err != nil {
		t.Fatal(err)
	}
	if err := DecodeUnsubscribe(unsub, Version5, &u); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() {
		if DecodeSubscribe(sub, Version5, &s) != nil || DecodeUnsubscribe(unsub, Version5, &u) != nil {
			t.Fatal("decode failed")
		}
		dst = AppendSuback(dst[:0], Version5, s.PacketID, []ReasonCode{GrantedQoS1, GrantedQoS2, GrantedQoS0}, nil)
	}); n != 0 {
		t.Errorf("SUBSCRIBE/UNSUBSCRIBE decode with reused structs allocates %v times", n)
	}
}
