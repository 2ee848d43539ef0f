package mqtt_test

import (
	"fmt"

	"github.com/sol-broker/sol/mqtt"
)

// A connection's read loop: take whole packets off the front of the input,
// decode each in place, keep the partial tail for the next read.
func ExamplePacketLength() {
	var in []byte
	in = mqtt.AppendPublish(in, mqtt.Version311, &mqtt.Publish{Topic: []byte("a/b"), Payload: []byte("one")})
	in = mqtt.AppendPingreq(in)
	in = append(in, 0x30, 0x10, 0x00) // the first bytes of a packet still arriving

	var p mqtt.Packet
	for {
		n, err := mqtt.PacketLength(in, 1<<20)
		if err != nil {
			fmt.Println("close:", err)
			return
		}
		if n == 0 {
			fmt.Printf("waiting for more; %d bytes kept\n", len(in))
			return
		}
		if err := mqtt.Decode(in[:n], mqtt.Version311, &p); err != nil {
			fmt.Println("close:", mqtt.ReasonOf(err))
			return
		}
		if p.Type == mqtt.PUBLISH {
			fmt.Printf("%v %s %s\n", p.Type, p.Publish.Topic, p.Publish.Payload)
		} else {
			fmt.Println(p.Type)
		}
		in = in[n:]
	}
	// Output:
	// PUBLISH a/b one
	// PINGREQ
	// waiting for more; 3 bytes kept
}

// Forwarding a PUBLISH to a 5.0 subscriber: copy the decoded struct, change
// the per-subscriber fields, check the size against the subscriber's Maximum
// Packet Size, append to its output buffer.
func ExampleAppendPublish() {
	var in mqtt.Publish
	in.Topic, in.Payload = []byte("t"), []byte("hi")
	in.Props.User = in.Props.User.Append([]byte("k"), []byte("v"))

	out := in
	out.QoS, out.PacketID = 1, 7
	out.Props.SubscriptionIDs = []uint32{3}
	if mqtt.PublishSize(mqtt.Version5, &out) > 1024 {
		return // too large for this subscriber: skip it
	}
	buf := mqtt.AppendPublish(make([]byte, 0, 64), mqtt.Version5, &out)
	fmt.Printf("% x\n", buf)
	// Output:
	// 32 11 00 01 74 00 07 09 0b 03 26 00 01 6b 00 01 76 68 69
}
