package mqtt

import (
	"strings"
	"testing"
)

// Table 2-4 of MQTT 5.0, transcribed independently of allowedProps: which
// packets (and the Will Properties, "Will") may carry each property.
var specPropertyTable = map[PropID]string{
	0x01: "PUBLISH Will",
	0x02: "PUBLISH Will",
	0x03: "PUBLISH Will",
	0x08: "PUBLISH Will",
	0x09: "PUBLISH Will",
	0x0B: "PUBLISH SUBSCRIBE",
	0x11: "CONNECT CONNACK DISCONNECT",
	0x12: "CONNACK",
	0x13: "CONNACK",
	0x15: "CONNECT CONNACK AUTH",
	0x16: "CONNECT CONNACK AUTH",
	0x17: "CONNECT",
	0x18: "Will",
	0x19: "CONNECT",
	0x1A: "CONNACK",
	0x1C: "CONNACK DISCONNECT",
	0x1F: "CONNACK PUBACK PUBREC PUBREL PUBCOMP SUBACK UNSUBACK DISCONNECT AUTH",
	0x21: "CONNECT CONNACK",
	0x22: "CONNECT CONNACK",
	0x23: "PUBLISH",
	0x24: "CONNACK",
	0x25: "CONNACK",
	0x26: "CONNECT CONNACK PUBLISH Will PUBACK PUBREC PUBREL PUBCOMP SUBSCRIBE SUBACK UNSUBSCRIBE UNSUBACK DISCONNECT AUTH",
	0x27: "CONNECT CONNACK",
	0x28: "CONNACK",
	0x29: "CONNACK",
	0x2A: "CONNACK",
}

// propContexts builds, for each place properties can appear, a whole 5.0
// packet around a given property block.
var propContexts = []struct {
	name  string
	build func(block []byte) []byte
}{
	{"CONNECT", func(p []byte) []byte { return pkt(0x10, str("MQTT"), 5, 0x02, u16(0), p, str("c")) }},
	{"Will", func(p []byte) []byte {
		return pkt(0x10, str("MQTT"), 5, 0x06, u16(0), props(), str("c"), p, str("t"), str("m"))
	}},
	{"CONNACK", func(p []byte) []byte { return pkt(0x20, 0, 0, p) }},
	{"PUBLISH", func(p []byte) []byte { return pkt(0x30, str("t"), p) }},
	{"PUBACK", func(p []byte) []byte { return pkt(0x40, u16(1), 0, p) }},
	{"PUBREC", func(p []byte) []byte { return pkt(0x50, u16(1), 0, p) }},
	{"PUBREL", func(p []byte) []byte { return pkt(0x62, u16(1), 0, p) }},
	{"PUBCOMP", func(p []byte) []byte { return pkt(0x70, u16(1), 0, p) }},
	{"SUBSCRIBE", func(p []byte) []byte { return pkt(0x82, u16(1), p, str("a"), 0) }},
	{"SUBACK", func(p []byte) []byte { return pkt(0x90, u16(1), p, 0) }},
	{"UNSUBSCRIBE", func(p []byte) []byte { return pkt(0xA2, u16(1), p, str("a")) }},
	{"UNSUBACK", func(p []byte) []byte { return pkt(0xB0, u16(1), p, 0) }},
	{"DISCONNECT", func(p []byte) []byte { return pkt(0xE0, 0, p) }},
	{"AUTH", func(p []byte) []byte { return pkt(0xF0, 0, p) }},
}

// sampleProperty encodes property id with a valid value.
func sampleProperty(id PropID) []byte {
	switch id {
	case 0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A:
		return cat(byte(id), 1)
	case 0x13, 0x21, 0x22, 0x23:
		return cat(byte(id), u16(1))
	case 0x02, 0x11, 0x18, 0x27:
		return cat(byte(id), u32(1))
	case 0x0B:
		return cat(byte(id), vbi(1))
	case 0x26:
		return cat(byte(id), str("k"), str("v"))
	default: // strings and binary data
		return cat(byte(id), str("x"))
	}
}

// TestPropertyTable checks every property identifier in every packet against
// the specification's table: allowed ones decode, others are malformed.
func TestPropertyTable(t *testing.T) {
	for _, ctx := range propContexts {
		for id := PropID(0); id <= 0x30; id++ {
			allowed := strings.Contains(" "+specPropertyTable[id]+" ", " "+ctx.name+" ")
			block := sampleProperty(id)
			if id == PropAuthData && allowed {
				block = cat(sampleProperty(PropAuthMethod), block) // data needs a method
			}
			var p Packet
			err := Decode(ctx.build(props(block)), Version5, &p)
			switch {
			case allowed && err != nil:
				t.Errorf("%s with property 0x%02X: %v", ctx.name, byte(id), err)
			case !allowed && ReasonOf(err) != MalformedPacket:
				t.Errorf("%s with property 0x%02X: got %v, want Malformed Packet", ctx.name, byte(id), err)
			}
		}
	}
}

// TestPropertyRepeats checks that only User Property, and Subscription
// Identifier in PUBLISH, may appear more than once.
func TestPropertyRepeats(t *testing.T) {
	for _, ctx := range propContexts {
		for id, where := range specPropertyTable {
			if !strings.Contains(" "+where+" ", " "+ctx.name+" ") {
				continue
			}
			block := cat(sampleProperty(id), sampleProperty(id))
			if id == PropAuthData {
				block = cat(sampleProperty(PropAuthMethod), block)
			}
			var p Packet
			err := Decode(ctx.build(props(block)), Version5, &p)
			repeatable := id == PropUserProperty || (id == PropSubscriptionID && ctx.name == "PUBLISH")
			if repeatable && err != nil {
				t.Errorf("%s with property 0x%02X twice: %v", ctx.name, byte(id), err)
			}
			if !repeatable && ReasonOf(err) != ProtocolError {
				t.Errorf("%s with property 0x%02X twice: got %v, want Protocol Error", ctx.name, byte(id), err)
			}
		}
	}
}

// TestPropertyValues checks the value rules of single properties.
func TestPropertyValues(t *testing.T) {
	publish := func(block ...any) []byte { return pkt(0x30, str("t"), props(block...)) }
	connack := func(block ...any) []byte { return pkt(0x20, 0, 0, props(block...)) }
	connect := func(block ...any) []byte { return pkt(0x10, str("MQTT"), 5, 0x02, u16(0), props(block...), str("c")) }
	for _, c := range []struct {
		raw  []byte
		want ReasonCode
	}{
		{publish(0x01, 0), Success}, {publish(0x01, 1), Success}, {publish(0x01, 2), ProtocolError},
		{publish(0x23, u16(0)), TopicAliasInvalid}, {publish(0x23, u16(0xFFFF)), Success},
		{publish(0x0B, vbi(MaxRemainingLength)), Success}, {publish(0x0B, 0), ProtocolError},
		{publish(0x08, str("")), ProtocolError}, {publish(0x08, str("a/+")), ProtocolError},
		{publish(0x03, str("a\x00")), MalformedPacket}, {publish(0x09, str("\x00\xff")), Success},
		{publish(0x26, str(""), str("")), Success}, {publish(0x26, str("\xff"), str("")), MalformedPacket},
		{connack(0x24, 0), Success}, {connack(0x24, 2), ProtocolError}, {connack(0x25, 2), ProtocolError},
		{connack(0x28, 2), ProtocolError}, {connack(0x29, 2), ProtocolError}, {connack(0x2A, 2), ProtocolError},
		{connack(0x21, u16(0)), ProtocolError}, {connack(0x27, u32(0)), ProtocolError},
		{connack(0x12, str("\xc3\x28")), MalformedPacket},
		{connect(0x17, 0), Success}, {connect(0x17, 2), ProtocolError}, {connect(0x19, 2), ProtocolError},
		{connect(0x22, u16(0)), Success}, {connect(0x16, str("d")), ProtocolError},
		{connect(0x15, str("m"), 0x16, str("d")), Success},
	} {
		var p Packet
		if got := ReasonOf(Decode(c.raw, Version5, &p)); got != c.want {
			t.Errorf("Decode(% x) = %v, want %v", c.raw, got, c.want)
		}
	}
}

// TestPropertyRoundTripEveryID decodes a packet carrying every property it
// may carry and re-encodes it byte for byte.
func TestPropertyRoundTripEveryID(t *testing.T) {
	for _, ctx := range propContexts {
		var all []byte
		for id := PropID(1); id <= maxPropID; id++ {
			if id != PropUserProperty && strings.Contains(" "+specPropertyTable[id]+" ", " "+ctx.name+" ") {
				all = cat(all, sampleProperty(id))
			}
		}
		all = cat(all, sampleProperty(PropUserProperty)) // encoders write user properties last
		raw := ctx.build(props(all))
		var p Packet
		if err := Decode(raw, Version5, &p); err != nil {
			t.Fatalf("%s with every allowed property: %v", ctx.name, err)
		}
		if got := Append(nil, Version5, &p); string(got) != string(raw) {
			t.Errorf("%s re-encoded\n got % x\nwant % x", ctx.name, got, raw)
		}
	}
}
