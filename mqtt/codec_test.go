package mqtt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// canonUser re-encodes only the user property entries of u, so two blocks
// holding the same pairs in the same order compare equal.
func canonUser(u UserProperties) UserProperties {
	var c UserProperties
	for k, v := range u.All() {
		c = c.Append(k, v)
	}
	return c
}

func normProps(p *Properties) {
	p.User = canonUser(p.User)
	if len(p.SubscriptionIDs) == 0 {
		p.SubscriptionIDs = nil
	}
}

// describe renders the member of p that p.Type names, with user properties
// in canonical form and nil and empty slices alike, for comparisons.
func describe(p *Packet) string {
	var m any
	switch p.Type {
	case CONNECT:
		c := p.Connect
		normProps(&c.Props)
		normProps(&c.WillProps)
		m = c
	case CONNACK:
		c := p.Connack
		normProps(&c.Props)
		m = c
	case PUBLISH:
		c := p.Publish
		normProps(&c.Props)
		m = c
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		c := p.PubAck
		normProps(&c.Props)
		m = c
	case SUBSCRIBE:
		c := p.Subscribe
		normProps(&c.Props)
		m = c
	case SUBACK:
		c := p.Suback
		normProps(&c.Props)
		m = c
	case UNSUBSCRIBE:
		c := p.Unsubscribe
		normProps(&c.Props)
		m = c
	case UNSUBACK:
		c := p.Unsuback
		normProps(&c.Props)
		m = c
	case DISCONNECT:
		c := p.Disconnect
		normProps(&c.Props)
		m = c
	case AUTH:
		c := p.Auth
		normProps(&c.Props)
		m = c
	}
	return fmt.Sprintf("%v %+v", p.Type, m)
}

func TestFixturesDecode(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			var got Packet
			if err := Decode(f.raw, f.version, &got); err != nil {
				t.Fatalf("Decode(% x): %v", f.raw, err)
			}
			if g, w := describe(&got), describe(&f.want); g != w {
				t.Fatalf("decoded\n got %s\nwant %s", g, w)
			}
			if n, err := PacketLength(f.raw, 0); n != len(f.raw) || err != nil {
				t.Fatalf("PacketLength = %d, %v; want %d", n, err, len(f.raw))
			}
			for i := 0; i < len(f.raw); i++ {
				if n, err := PacketLength(f.raw[:i], 0); n != 0 || err != nil {
					t.Fatalf("PacketLength of %d of %d bytes = %d, %v; want 0, nil", i, len(f.raw), n, err)
				}
			}
		})
	}
}

func TestFixturesEncode(t *testing.T) {
	for _, f := range fixtures() {
		t.Run(f.name, func(t *testing.T) {
			want := f.raw
			if f.reencode != nil {
				want = f.reencode
			}
			prefix := []byte("prefix")
			got := Append(append([]byte(nil), prefix...), f.version, &f.want)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("Append clobbered dst's contents")
			}
			got = got[len(prefix):]
			if !bytes.Equal(got, want) {
				t.Fatalf("encoded\n got % x\nwant % x", got, want)
			}
			if n := encodedSize(f.version, &f.want); n != len(want) {
				t.Fatalf("size function = %d, encoding is %d bytes", n, len(want))
			}
		})
	}
}

// encodedSize calls the size function that goes with p's encoder.
func encodedSize(version byte, p *Packet) int {
	switch p.Type {
	case CONNECT:
		return ConnectSize(&p.Connect)
	case CONNACK:
		return ConnackSize(version, &p.Connack.Props)
	case PUBLISH:
		return PublishSize(version, &p.Publish)
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		return PubAckSize(version, p.Type, p.PubAck.Reason, &p.PubAck.Props)
	case SUBSCRIBE:
		return SubscribeSize(version, &p.Subscribe)
	case SUBACK:
		return SubackSize(version, p.Suback.Reasons, &p.Suback.Props)
	case UNSUBSCRIBE:
		return UnsubscribeSize(version, &p.Unsubscribe)
	case UNSUBACK:
		return UnsubackSize(version, p.Unsuback.Reasons, &p.Unsuback.Props)
	case PINGREQ, PINGRESP:
		return 2
	case DISCONNECT:
		return DisconnectSize(version, p.Disconnect.Reason, &p.Disconnect.Props)
	case AUTH:
		return AuthSize(p.Auth.Reason, &p.Auth.Props)
	}
	return -1
}

// TestFixturesCoverEveryType pins that the table really has every packet
// type in every version it exists in.
func TestFixturesCoverEveryType(t *testing.T) {
	seen := map[[2]byte]bool{}
	for _, f := range fixtures() {
		seen[[2]byte{f.version, byte(f.want.Type)}] = true
	}
	for _, v := range allVersions {
		for pt := CONNECT; pt <= AUTH; pt++ {
			if pt == AUTH && v < Version5 {
				continue
			}
			if !seen[[2]byte{v, byte(pt)}] {
				t.Errorf("no fixture for %v in version %d", pt, v)
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	for _, m := range malformedCases() {
		t.Run(fmt.Sprintf("v%d %s", m.version, m.name), func(t *testing.T) {
			var p Packet
			err := Decode(m.raw, m.version, &p)
			if err == nil {
				t.Fatalf("Decode(% x) succeeded, want %v", m.raw, m.want)
			}
			if got := ReasonOf(err); got != m.want {
				t.Fatalf("Decode(% x) = %v, reason %#x; want %#x (%v)", m.raw, err, byte(got), byte(m.want), m.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if !errors.Is(err, m.want) {
				t.Fatalf("errors.Is(%v, %v) = false", err, m.want)
			}
		})
	}
}

func TestPacketLength(t *testing.T) {
	cases := []struct {
		name    string
		buf     []byte
		max     int
		n       int
		wantErr ReasonCode
	}{
		{"empty", nil, 0, 0, 0},
		{"type byte only", hx("30"), 0, 0, 0},
		{"partial length", hx("30 80"), 0, 0, 0},
		{"partial length 3", hx("30 80 80 80"), 0, 0, 0},
		{"five-byte length", hx("30 80 80 80 80 01"), 0, 0, MalformedPacket},
		{"four continuation bytes, nothing after", hx("30 ff ff ff ff"), 0, 0, MalformedPacket},
		{"zero length", hx("c0 00"), 0, 2, 0},
		{"whole packet then more", hx("c0 00 d0 00"), 0, 2, 0},
		{"body incomplete", hx("30 05 00 03 61"), 0, 0, 0},
		{"too large from header alone", hx("30 ff 7f"), 1000, 0, PacketTooLarge},
		{"exactly max", cat(hx("30 7e"), make([]byte, 126)), 128, 128, 0},
		{"one over max", cat(hx("30 7f")), 128, 0, PacketTooLarge},
		{"largest remaining length", hx("30 ff ff ff 7f"), 0, 0, 0},
		{"largest remaining length over limit", hx("30 ff ff ff 7f"), 1 << 20, 0, PacketTooLarge},
	}
	for _, c := range cases {
		n, err := PacketLength(c.buf, c.max)
		if n != c.n || ReasonOf(err) != c.wantErr {
			t.Errorf("%s: PacketLength(% x, %d) = %d, %v; want %d, %v", c.name, c.buf, c.max, n, err, c.n, c.wantErr)
		}
	}
	if _, err := PacketLength(hx("30 ff 7f"), 100); !errors.Is(err, ErrPacketTooLarge) {
		t.Errorf("errors.Is(err, ErrPacketTooLarge) = false for %v", err)
	}
}

func TestVarintRoundTrip(t *testing.T) {
	for _, v := range []int{0, 1, 127, 128, 16383, 16384, 2097151, 2097152, MaxRemainingLength} {
		enc := appendVarint(nil, v)
		if !bytes.Equal(enc, vbi(v)) || len(enc) != varintSize(v) {
			t.Errorf("appendVarint(%d) = % x (size %d), want % x", v, enc, varintSize(v), vbi(v))
		}
		got, n, err := readVarint(enc)
		if got != v || n != len(enc) || err != nil {
			t.Errorf("readVarint(% x) = %d, %d, %v", enc, got, n, err)
		}
	}
}

func TestTopicValidation(t *testing.T) {
	names := []struct {
		topic string
		want  ReasonCode
	}{
		{"a", Success}, {"/", Success}, {"a/b/c", Success}, {"$SYS/x", Success}, {"héllo/wörld", Success},
		{"a b", Success}, {"日本/語", Success}, {"", TopicNameInvalid}, {"+", TopicNameInvalid},
		{"a/#", TopicNameInvalid}, {"é+", TopicNameInvalid}, {"a\x00", MalformedPacket}, {"\x7f", MalformedPacket},
		{"a\xed\xbf\xbf", MalformedPacket}, {"a\xf4\x90\x80\x80", MalformedPacket}, {"\xef\xb7\x90", MalformedPacket},
	}
	for _, c := range names {
		if got := ReasonOf(ValidTopicName(b(c.topic), Version5)); got != c.want {
			t.Errorf("ValidTopicName(%q) = %v, want %v", c.topic, got, c.want)
		}
	}
	filters := []struct {
		filter string
		want   ReasonCode
	}{
		{"#", Success}, {"+", Success}, {"a/+/b", Success}, {"+/+", Success}, {"a/#", Success}, {"/#", Success},
		{"+/", Success}, {"//", Success}, {"$share/g/#", Success}, {"$share/g/+/a", Success}, {"$sharex/a", Success},
		{"", TopicFilterInvalid}, {"a#", TopicFilterInvalid}, {"#/a", TopicFilterInvalid}, {"a/#/", TopicFilterInvalid},
		{"a+", TopicFilterInvalid}, {"+a", TopicFilterInvalid}, {"a/++", TopicFilterInvalid},
		{"$share/g", TopicFilterInvalid}, {"$share/", TopicFilterInvalid}, {"$share//a", TopicFilterInvalid},
		{"$share/#/a", TopicFilterInvalid}, {"$share/g/", TopicFilterInvalid}, {"a\x00", MalformedPacket},
	}
	for _, c := range filters {
		if got := ReasonOf(ValidTopicFilter(b(c.filter), Version5)); got != c.want {
			t.Errorf("ValidTopicFilter(%q) = %v, want %v", c.filter, got, c.want)
		}
	}
	group, inner, ok, err := ParseShared(b("$share/workers/jobs/+"))
	if string(group) != "workers" || string(inner) != "jobs/+" || !ok || err != nil {
		t.Errorf("ParseShared = %q, %q, %v, %v", group, inner, ok, err)
	}
	group, inner, ok, err = ParseShared(b("jobs/+"))
	if group != nil || string(inner) != "jobs/+" || ok || err != nil {
		t.Errorf("ParseShared(plain) = %q, %q, %v, %v", group, inner, ok, err)
	}
}

// TestPlainWord checks the word-at-a-time topic check against the byte
// rule for every byte value in every lane, and ValidTopicName against a
// byte-by-byte reference on random names of 0 to 40 bytes drawn from edge
// bytes, so that the fast path never passes a byte the slow one refuses.
func TestPlainWord(t *testing.T) {
	plain := func(c byte) bool { return c >= 0x20 && c <= 0x7E && c != '+' && c != '#' }
	for c := 0; c < 256; c++ {
		for lane := 0; lane < 8; lane++ {
			w := []byte("abcdefgh")
			w[lane] = byte(c)
			if got := plainWord(binary.LittleEndian.Uint64(w)); got != plain(byte(c)) {
				t.Fatalf("byte %#x in lane %d: plainWord %v", c, lane, got)
			}
		}
	}
	reference := func(t []byte) ReasonCode {
		if len(t) == 0 {
			return TopicNameInvalid
		}
		for i, c := range t {
			if c == '+' || c == '#' {
				return TopicNameInvalid
			}
			if !plain(c) {
				return ReasonOf(topicUTF8(t[i:], TopicNameInvalid))
			}
		}
		return Success
	}
	edge := []byte{0x00, 0x1F, 0x20, '#', '+', '/', 'a', 0x7E, 0x7F, 0x80, 0xC3, 0xA9, 0xFF}
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200000; n++ {
		name := make([]byte, r.IntN(41))
		for i := range name {
			name[i] = 'a'
			if r.IntN(12) == 0 {
				name[i] = edge[r.IntN(len(edge))]
			}
		}
		if got, want := ReasonOf(ValidTopicName(name, Version5)), reference(name); got != want {
			t.Fatalf("ValidTopicName(%q) = %v, byte by byte %v", name, got, want)
		}
	}
}

func TestUTF8(t *testing.T) {
	for _, c := range []struct {
		s      string
		plain  ReasonCode
		strict ReasonCode
	}{
		{"", Success, Success}, {"abc", Success, Success}, {"\ufeffbom", Success, Success},
		{"tab\there", Success, MalformedPacket}, {"\u0085", Success, MalformedPacket}, {"\ufffe", Success, MalformedPacket},
		{"\U0010FFFF", Success, MalformedPacket}, {"\U0001FFFE", Success, MalformedPacket},
		{"a\x00", MalformedPacket, MalformedPacket}, {"\xc0\xaf", MalformedPacket, MalformedPacket},
		{"\xed\xa0\x80", MalformedPacket, MalformedPacket}, {"\xe2\x82", MalformedPacket, MalformedPacket},
	} {
		if got := ReasonOf(ValidUTF8String(b(c.s))); got != c.plain {
			t.Errorf("ValidUTF8String(%q) = %v, want %v", c.s, got, c.plain)
		}
		if got := ReasonOf(ValidUTF8StringStrict(b(c.s))); got != c.strict {
			t.Errorf("ValidUTF8StringStrict(%q) = %v, want %v", c.s, got, c.strict)
		}
	}
}

func TestReasonCodes(t *testing.T) {
	if MalformedPacket.Error() != "Malformed Packet" || PacketTooLarge.String() != "Packet too large" {
		t.Errorf("names: %q, %q", MalformedPacket.Error(), PacketTooLarge.String())
	}
	if ReasonCode(0x03).String() != "reason code 0x3" || ReasonCode(0x03).Known() {
		t.Errorf("unknown code: %q", ReasonCode(0x03).String())
	}
	for rc := 0; rc <= 5; rc++ {
		if got := ConnackReturnCode(ReasonFromReturnCode(byte(rc))); got != byte(rc) {
			t.Errorf("return code %d maps back to %d", rc, got)
		}
	}
	for c, want := range map[ReasonCode]byte{Banned: 5, ServerBusy: 3, BadAuthenticationMethod: 4, MalformedPacket: 3} {
		if got := ConnackReturnCode(c); got != want {
			t.Errorf("ConnackReturnCode(%v) = %d, want %d", c, got, want)
		}
	}
	err := fmt.Errorf("conn 7: %w", perr(PUBLISH, TopicNameInvalid, "MQTT-3.3.2-2", "wildcard"))
	if ReasonOf(err) != TopicNameInvalid || ReasonOf(nil) != Success || ReasonOf(errors.New("x")) != UnspecifiedError {
		t.Errorf("ReasonOf through wrapping: %v", ReasonOf(err))
	}
	if s := err.Error(); s != "conn 7: mqtt: PUBLISH: Topic Name invalid: wildcard [MQTT-3.3.2-2]" {
		t.Errorf("Error() = %q", s)
	}
}

func TestUserPropertiesOrderAndReuse(t *testing.T) {
	raw := pkt(0x30, str("t"), props(0x26, str("z"), str("1"), 0x02, u32(5), 0x26, str("a"), str("2"), 0x26, str("z"), str("3")), "pl")
	var p Publish
	if err := DecodePublish(raw, Version5, &p); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k, v := range p.Props.User.All() {
		got = append(got, string(k)+"="+string(v))
	}
	if fmt.Sprint(got) != "[z=1 a=2 z=3]" || p.Props.User.Len() != 3 {
		t.Fatalf("user properties = %v", got)
	}
	// Forward with a per-subscriber change: new alias, no expiry; the user
	// properties keep their order and the other property is not duplicated.
	fwd := p
	fwd.Props.TopicAlias = 4
	fwd.Props.Set(PropTopicAlias)
	fwd.Props.Clear(PropMessageExpiry)
	out := AppendPublish(nil, Version5, &fwd)
	want := pkt(0x30, str("t"), props(0x23, u16(4), 0x26, str("z"), str("1"), 0x26, str("a"), str("2"), 0x26, str("z"), str("3")), "pl")
	if !bytes.Equal(out, want) {
		t.Fatalf("forwarded\n got % x\nwant % x", out, want)
	}
	if p.Props.TopicAlias != 0 || !p.Props.Has(PropMessageExpiry) {
		t.Fatalf("forwarding changed the original")
	}
	// A decoded view must not let an append overwrite the packet after it.
	topic := p.Topic
	_ = append(topic, 'X')
	if !bytes.Equal(raw, pkt(0x30, str("t"), props(0x26, str("z"), str("1"), 0x02, u32(5), 0x26, str("a"), str("2"), 0x26, str("z"), str("3")), "pl")) {
		t.Fatalf("appending to a decoded view wrote into the buffer")
	}
}

// TestDecodeIntoReusedStruct pins that a struct reused across decodes keeps
// nothing from the previous packet.
func TestDecodeIntoReusedStruct(t *testing.T) {
	var p Packet
	full := pkt(0x33, str("a"), u16(3), props(0x0B, 1, 0x0B, 2, 0x23, u16(1), 0x26, str("k"), str("v")), "x")
	if err := Decode(full, Version5, &p); err != nil {
		t.Fatal(err)
	}
	bare := pkt(0x30, str("b"), props())
	if err := Decode(bare, Version5, &p); err != nil {
		t.Fatal(err)
	}
	want := Packet{Type: PUBLISH, Publish: Publish{Topic: b("b")}}
	if describe(&p) != describe(&want) {
		t.Fatalf("reused: %s", describe(&p))
	}
	var s Subscribe
	if err := DecodeSubscribe(pkt(0x82, u16(1), str("a"), 0, str("b"), 1), Version311, &s); err != nil {
		t.Fatal(err)
	}
	if err := DecodeSubscribe(pkt(0x82, u16(2), str("c"), 2), Version311, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Filters) != 1 || string(s.Filters[0].Filter) != "c" || s.Filters[0].QoS != 2 {
		t.Fatalf("reused subscribe: %+v", s.Filters)
	}
}

func TestEncoderEdgeCases(t *testing.T) {
	// 3.1.1 CONNACK ignores properties and maps 5.0 codes.
	if got := AppendConnack(nil, Version311, true, Banned, &Properties{}); !bytes.Equal(got, hx("20 02 00 05")) {
		t.Errorf("CONNACK 3.1.1 refusal = % x", got)
	}
	// 3.1.1 SUBACK has one failure code.
	if got := AppendSuback(nil, Version311, 1, []ReasonCode{GrantedQoS2, NotAuthorized}, nil); !bytes.Equal(got, hx("90 04 00 01 02 80")) {
		t.Errorf("SUBACK 3.1.1 = % x", got)
	}
	// 3.1.1 DISCONNECT ignores the reason.
	if got := AppendDisconnect(nil, Version311, ServerShuttingDown, nil); !bytes.Equal(got, hx("e0 00")) {
		t.Errorf("DISCONNECT 3.1.1 = % x", got)
	}
	// Properties a packet may not carry are not encoded.
	pr := Properties{SessionExpiry: 5, TopicAlias: 2, ReasonString: b("r")}
	pr.Set(PropSessionExpiry)
	pr.Set(PropTopicAlias)
	pr.Set(PropReasonString)
	if got := AppendPubAck(nil, Version5, PUBACK, 1, Success, &pr); !bytes.Equal(got, pkt(0x40, u16(1), 0, props(0x1F, str("r")))) {
		t.Errorf("PUBACK with foreign properties = % x", got)
	}
	// A remaining length needing several bytes.
	big := Publish{Topic: b("t"), Payload: make([]byte, 20000)}
	enc := AppendPublish(nil, Version311, &big)
	if len(enc) != PublishSize(Version311, &big) || !bytes.Equal(enc[:4], cat(0x30, vbi(20003))) {
		t.Errorf("large PUBLISH header % x, size %d vs %d", enc[:5], len(enc), PublishSize(Version311, &big))
	}
	var back Publish
	if err := DecodePublish(enc, Version311, &back); err != nil || len(back.Payload) != 20000 {
		t.Errorf("large PUBLISH round trip: %v", err)
	}
}

func TestClonePublish(t *testing.T) {
	raw := append([]byte(nil), publish5...)
	var p Publish
	if err := DecodePublish(raw, Version5, &p); err != nil {
		t.Fatal(err)
	}
	want := describe(&Packet{Type: PUBLISH, Publish: p})
	q, buf := ClonePublish(nil, &p)
	for i := range raw {
		raw[i] = 0xAA // the read buffer is reused for the next packets
	}
	if got := describe(&Packet{Type: PUBLISH, Publish: q}); got != want {
		t.Fatalf("clone changed with the source buffer:\n got %s\nwant %s", got, want)
	}
	if len(buf) != len(q.Topic)+len(q.Payload)+len(q.Props.ContentType)+len(q.Props.ResponseTopic)+len(q.Props.CorrelationData)+len(q.Props.User) {
		t.Fatalf("clone buffer holds %d bytes", len(buf))
	}
	// With room in dst: no allocation.
	if err := DecodePublish(publish5, Version5, &p); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(50, func() { _, _ = ClonePublish(dst[:0], &p) }); n != 0 {
		t.Errorf("ClonePublish with room allocates %v times", n)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = ClonePublish(nil, &p) }); n != 1 {
		t.Errorf("ClonePublish without room allocates %v times, want 1", n)
	}
}

func TestValidPayloadFormat(t *testing.T) {
	p := Publish{Topic: b("t"), Payload: b("\xff")}
	if err := ValidPayloadFormat(&p); err != nil {
		t.Errorf("no indicator: %v", err)
	}
	p.Props.PayloadFormat = 1
	p.Props.Set(PropPayloadFormat)
	if ReasonOf(ValidPayloadFormat(&p)) != PayloadFormatInvalid {
		t.Errorf("bad UTF-8 with indicator 1 accepted")
	}
	p.Payload = b("héllo")
	if err := ValidPayloadFormat(&p); err != nil {
		t.Errorf("good UTF-8: %v", err)
	}
}

// TestStreamSplitAnywhere feeds each version's fixtures as one byte stream
// cut into chunks of several sizes, the way reads arrive, and checks that
// PacketLength and Decode recover every packet in order.
func TestStreamSplitAnywhere(t *testing.T) {
	for _, v := range allVersions {
		var stream []byte
		var want []fixture
		for _, f := range fixtures() {
			if f.version == v {
				stream = append(stream, f.raw...)
				want = append(want, f)
			}
		}
		for _, chunk := range []int{1, 2, 3, 7, 64, len(stream)} {
			var pending []byte
			got := 0
			for off := 0; off < len(stream); off += chunk {
				pending = append(pending, stream[off:min(off+chunk, len(stream))]...)
				for {
					n, err := PacketLength(pending, 1<<16)
					if err != nil {
						t.Fatalf("v%d chunk %d: PacketLength: %v", v, chunk, err)
					}
					if n == 0 {
						break
					}
					var p Packet
					if err := Decode(pending[:n], v, &p); err != nil {
						t.Fatalf("v%d chunk %d packet %d (%s): %v", v, chunk, got, want[got].name, err)
					}
					if describe(&p) != describe(&want[got].want) {
						t.Fatalf("v%d chunk %d packet %d (%s): decoded %s", v, chunk, got, want[got].name, describe(&p))
					}
					pending = pending[n:]
					got++
				}
			}
			if got != len(want) || len(pending) != 0 {
				t.Fatalf("v%d chunk %d: %d of %d packets, %d bytes left", v, chunk, got, len(want), len(pending))
			}
		}
	}
}

// refUTF8 is a rune-by-rune reference for utf8Check, with no fast path.
func refUTF8(b []byte, strict bool) utf8Result {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n == 1:
			return utf8Invalid
		case r == 0:
			return utf8Null
		case strict && (r < 0x20 || (r >= 0x7F && r <= 0x9F) || (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE):
			return utf8Disallowed
		}
		b = b[n:]
	}
	return utf8OK
}

// TestUTF8FastPathAgreesWithReference puts each interesting byte sequence at
// every offset of a long ASCII string, so it lands at every position of the
// eight-byte fast path, and compares utf8Check with the reference.
func TestUTF8FastPathAgreesWithReference(t *testing.T) {
	specials := []string{"\x00", "\x01", "\x1f", "\x20", "\x7e", "\x7f", "\x80", "\xc2\x85", "\xc3\xa9", "\xed\xa0\x80",
		"\xef\xbf\xbf", "\xef\xb7\x90", "\xf0\x9f\x98\x80", "\xff", "\xe2\x82"}
	base := strings.Repeat("abcdefgh", 4)
	for _, sp := range specials {
		for off := 0; off <= len(base); off++ {
			s := []byte(base[:off] + sp + base[off:])
			for _, strict := range []bool{false, true} {
				if got, want := utf8Check(s, strict), refUTF8(s, strict); got != want {
					t.Fatalf("utf8Check(%q, strict=%v) = %d, reference %d", s, strict, got, want)
				}
			}
		}
	}
}

// TestTruncatedAndMutatedFixtures cuts every fixture's body at every point
// (with the remaining length fixed up, so the inner length checks are the
// ones exercised) and flips bits in every byte. Decoding must never panic;
// a truncated body that still decodes must re-encode consistently.
func TestTruncatedAndMutatedFixtures(t *testing.T) {
	for _, f := range fixtures() {
		h, ok, err := DecodeFixedHeader(f.raw)
		if !ok || err != nil {
			t.Fatalf("%s: fixed header: %v", f.name, err)
		}
		body := f.raw[h.HeaderLen:]
		for cut := 0; cut < len(body); cut++ {
			raw := pkt(f.raw[0], body[:cut])
			var p Packet
			if err := Decode(raw, f.version, &p); err == nil {
				enc := Append(nil, f.version, &p)
				if len(enc) != encodedSize(f.version, &p) {
					t.Errorf("%s cut at %d: size function disagrees with encoder", f.name, cut)
				}
			}
		}
		for i := range f.raw {
			for _, x := range []byte{0x01, 0x80, 0xFF} {
				raw := append([]byte(nil), f.raw...)
				raw[i] ^= x
				for _, v := range allVersions {
					var p Packet
					_ = Decode(raw, v, &p)
				}
			}
		}
	}
}

// TestAppendPublishHeader: header plus payload is byte for byte the whole
// packet, for both versions, with and without properties and packet ID.
func TestAppendPublishHeader(t *testing.T) {
	for _, v := range []byte{Version311, Version5} {
		for _, qos := range []byte{0, 1} {
			p := &Publish{Topic: []byte("a/b"), QoS: qos, PacketID: 7, Payload: bytes.Repeat([]byte{'x'}, 300)}
			if v == Version5 {
				p.Props.ContentType = []byte("text/plain")
				p.Props.Set(PropContentType)
			}
			whole := AppendPublish(nil, v, p)
			split := append(AppendPublishHeader(nil, v, p), p.Payload...)
			if !bytes.Equal(whole, split) {
				t.Fatalf("v%d qos %d: header+payload %x, whole %x", v, qos, split, whole)
			}
		}
	}
}
