package broker_test

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// fuzzPrefix turns the first byte of a fuzz input into what is sent before
// the rest: nothing (the rest is the whole input, CONNECT included), an
// accepted 3.1.1 CONNECT, or an accepted 5.0 CONNECT (with topic aliases, so
// that the alias paths are reachable). Most inputs then exercise the
// connected state instead of dying at the CONNECT check.
func fuzzPrefix(mode byte) []byte {
	switch mode % 4 {
	case 1:
		return mqtt.AppendConnect(nil, &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: mqtt.Version311, ClientID: []byte("fz3"), CleanStart: true, KeepAlive: 60})
	case 2:
		p := &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: mqtt.Version5, ClientID: []byte("fz5"), CleanStart: true, KeepAlive: 60}
		p.Props.TopicAliasMaximum = 4
		p.Props.Set(mqtt.PropTopicAliasMaximum)
		return mqtt.AppendConnect(nil, p)
	case 3: // a persistent 5.0 session, so resend and queue paths run too
		p := &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: mqtt.Version5, ClientID: []byte("fz5p"), KeepAlive: 60}
		p.Props.SessionExpiry = 60
		p.Props.Set(mqtt.PropSessionExpiry)
		return mqtt.AppendConnect(nil, p)
	}
	return nil
}

// FuzzConnection feeds arbitrary bytes as one connection's input to a real
// broker (two loops, so CONNECTs migrate) over a real socket on 127.0.0.1,
// then shuts down the write side and requires the broker to close the
// connection within a deadline. A panic anywhere in the broker kills the
// process, which the fuzzer reports; a hang fails the input. The first byte
// of the input picks a CONNECT to send first (fuzzPrefix).
func FuzzConnection(f *testing.F) {
	for _, tc := range hostileCases() {
		mode := byte(0)
		switch tc.version {
		case mqtt.Version311:
			mode = 1
		case mqtt.Version5:
			mode = 2
		}
		f.Add(append([]byte{mode}, tc.in...))
	}
	// Well-formed flows: subscribe, publish at every QoS to oneself, acks.
	for _, v := range []byte{mqtt.Version311, mqtt.Version5} {
		mode := byte(1)
		if v == mqtt.Version5 {
			mode = 2
		}
		flow := []byte{mode}
		flow = mqtt.AppendSubscribe(flow, v, &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte("f/#"), QoS: 2}}})
		for qos := byte(0); qos < 3; qos++ {
			flow = mqtt.AppendPublish(flow, v, &mqtt.Publish{Topic: []byte("f/x"), QoS: qos, PacketID: uint16(qos), Payload: []byte("p"), Retain: qos == 1})
		}
		flow = mqtt.AppendPubAck(flow, v, mqtt.PUBACK, 1, 0, nil)
		flow = mqtt.AppendPubAck(flow, v, mqtt.PUBREL, 2, 0, nil)
		flow = mqtt.AppendPubAck(flow, v, mqtt.PUBREC, 2, 0, nil)
		flow = mqtt.AppendPubAck(flow, v, mqtt.PUBCOMP, 2, 0, nil)
		flow = mqtt.AppendUnsubscribe(flow, v, &mqtt.Unsubscribe{PacketID: 3, Filters: [][]byte{[]byte("f/#")}})
		flow = mqtt.AppendPingreq(flow)
		flow = mqtt.AppendDisconnect(flow, v, 0, nil)
		f.Add(flow)
		f.Add(append([]byte{3}, flow[1:]...))
	}
	f.Add([]byte{0})
	f.Add(append([]byte{0}, fuzzPrefix(2)...))

	addr := tb.Start(f, broker.Options{Loops: 2, MaxPacketSize: 8192, TopicAliasMaximum: 4, MaxQueuedMessages: 16})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(append(fuzzPrefix(in[0]), in[1:]...)); err != nil && !isReset(err) {
			t.Fatalf("write: %v", err)
		}
		c.(*net.TCPConn).CloseWrite()
		// The broker must close once it has read everything and the EOF.
		var buf [4096]byte
		for {
			_, err := c.Read(buf[:])
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) || isReset(err) {
				return
			}
			t.Fatalf("broker did not close the connection: %v", err)
		}
	})
}

// isReset reports whether err is the peer resetting or closing the
// connection under a write, which the broker may do after a close.
func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}
