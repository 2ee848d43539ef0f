package mqtt

import (
	"bytes"
	"testing"
)

// addSeeds seeds a fuzz target with every fixture and malformed case; the
// committed corpus under testdata/fuzz holds the same inputs.
func addSeeds(f *testing.F) {
	for _, fx := range fixtures() {
		f.Add(fx.raw, fx.version)
	}
	for _, m := range malformedCases() {
		f.Add(m.raw, m.version)
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder and validator in every
// version. None may panic, report a length beyond its input, or succeed on a
// packet its own encoder cannot reproduce at the size its size function
// names; the UTF-8 check's fast path must agree with a rune-by-rune
// reference.
func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, _ byte) {
		if n, err := PacketLength(data, 0); n > len(data) || (n > 0 && err != nil) {
			t.Fatalf("PacketLength = %d, %v for %d bytes", n, err, len(data))
		}
		_, _, _ = DecodeFixedHeader(data)
		for _, strict := range []bool{false, true} {
			if got, want := utf8Check(data, strict), refUTF8(data, strict); got != want {
				t.Fatalf("utf8Check(%q, %v) = %d, reference %d", data, strict, got, want)
			}
		}
		for _, v := range allVersions {
			_ = ValidTopicName(data, v)
			_ = ValidTopicFilter(data, v)
			var (
				c   Connect
				ca  Connack
				p   Publish
				a   PubAck
				s   Subscribe
				sa  Suback
				u   Unsubscribe
				ua  Unsuback
				d   Disconnect
				au  Auth
				any Packet
			)
			_ = DecodeConnect(data, &c)
			_ = DecodeConnack(data, v, &ca)
			_ = DecodePublish(data, v, &p)
			_ = DecodePubAck(data, v, &a)
			_ = DecodeSubscribe(data, v, &s)
			_ = DecodeSuback(data, v, &sa)
			_ = DecodeUnsubscribe(data, v, &u)
			_ = DecodeUnsuback(data, v, &ua)
			_ = DecodeDisconnect(data, v, &d)
			_ = DecodeAuth(data, v, &au)
			_ = DecodePingreq(data)
			_ = DecodePingresp(data)
			if err := Decode(data, v, &any); err == nil {
				if ReasonOf(err) != Success {
					t.Fatal("nil error with a reason")
				}
				enc := Append(nil, v, &any)
				if n := encodedSize(v, &any); n != len(enc) {
					t.Fatalf("v%d %v: size function says %d, encoder wrote %d", v, any.Type, n, len(enc))
				}
			} else if e, ok := err.(*Error); !ok || e.Reason < UnspecifiedError {
				t.Fatalf("v%d: decode error %v is not an *Error with a failure code", v, err)
			}
		}
		_, _, _, _ = ParseShared(data)
		for range UserProperties(data).All() {
		}
	})
}

// FuzzRoundTrip checks decode -> encode -> decode: whatever decodes must
// re-encode to bytes that decode to the same packet, and encoding that
// packet again must give the same bytes.
func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte, version byte) {
		v := allVersions[int(version)%len(allVersions)]
		var first Packet
		if err := Decode(data, v, &first); err != nil {
			return
		}
		if first.Type == CONNECT {
			v = first.Connect.ProtocolLevel
		}
		enc := Append(nil, v, &first)
		var second Packet
		if err := Decode(enc, v, &second); err != nil {
			t.Fatalf("v%d: re-encoded % x does not decode: %v\ninput % x", v, enc, err, data)
		}
		if a, b := describe(&first), describe(&second); a != b {
			t.Fatalf("v%d: round trip changed the packet\nfirst  %s\nsecond %s", v, a, b)
		}
		if again := Append(nil, v, &second); !bytes.Equal(again, enc) {
			t.Fatalf("v%d: encoding is not stable\n% x\n% x", v, enc, again)
		}
	})
}
