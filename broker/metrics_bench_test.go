package broker_test

import (
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// BenchmarkPublishMetrics is the price of the metrics on the publish path
// (issue 8: under 3%): one raw QoS 0 publisher, one subscriber, 64-byte
// payloads, pipelined over loopback, with metrics on and off in the same
// run. The publisher and subscriber hash to different loops, so each
// message is counted in (PacketIn, PublishIn, Received), crosses a mailbox
// and is counted out (PacketOut, Sent, PublishOut). ns/op is per message.
// Run with -count so that on and off alternate:
//
//	go test -run '^$' -bench PublishMetrics -benchmem -count 3 ./broker/
func BenchmarkPublishMetrics(b *testing.B) {
	for _, mode := range []struct {
		name string
		off  bool
	}{{"on", false}, {"off", true}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := tb.Start(b, broker.Options{Loops: 2, DisableMetrics: mode.off})
			sub := tb.ConnectClient(b, addr, v311, "fan-sub-0", true)
			if rc := sub.Subscribe("bench/t", 0); rc != 0 {
				b.Fatalf("SUBACK %v", rc)
			}
			sub.Conn.SetReadDeadline(time.Now().Add(time.Hour))
			pub := tb.ConnectClient(b, addr, v311, "fan-pub", true)
			pkt := mqtt.AppendPublish(nil, v311, &mqtt.Publish{Topic: []byte("bench/t"), Payload: make([]byte, 64)})
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 64<<10)
				for want := b.N * len(pkt); want > 0; {
					m, err := sub.Conn.Read(buf[:min(len(buf), want)])
					if err != nil {
						done <- err
						return
					}
					want -= m
				}
				done <- nil
			}()
			batch := make([]byte, 0, 64*len(pkt))
			for i := 0; i < b.N; {
				batch = batch[:0]
				for j := 0; j < 64 && i < b.N; j++ {
					batch = append(batch, pkt...)
					i++
				}
				if _, err := pub.Conn.Write(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
