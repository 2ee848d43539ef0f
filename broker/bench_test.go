package broker_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// fanout is a broker with one raw publisher and n raw QoS 0 subscribers of
// "bench/t", spread over the loops (their client identifiers hash apart).
type fanout struct {
	pub  net.Conn
	subs []net.Conn
	pkt  []byte // the PUBLISH the publisher sends
	out  int    // bytes each subscriber receives per message
}

func newFanout(tb_ testing.TB, n, payload int, v byte) *fanout {
	addr := tb.Start(tb_, broker.Options{Loops: 2})
	f := &fanout{}
	for i := 0; i < n; i++ {
		c := tb.ConnectClient(tb_, addr, v, fmt.Sprintf("fan-sub-%d", i), true)
		if rc := c.Subscribe("bench/t", 0); rc != 0 {
			tb_.Fatalf("SUBACK %v", rc)
		}
		c.Conn.SetReadDeadline(time.Now().Add(time.Hour))
		f.subs = append(f.subs, c.Conn)
	}
	p := tb.ConnectClient(tb_, addr, v, "fan-pub", true)
	f.pub = p.Conn
	f.pkt = mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte("bench/t"), Payload: make([]byte, payload)})
	f.out = len(f.pkt)
	return f
}

// roundTrip publishes one message and reads it from every subscriber.
func (f *fanout) roundTrip(buf []byte) error {
	if _, err := f.pub.Write(f.pkt); err != nil {
		return err
	}
	for _, s := range f.subs {
		if _, err := io.ReadFull(s, buf[:f.out]); err != nil {
			return err
		}
	}
	return nil
}

// TestPublishFanoutAllocations pins "the steady-state path of a PUBLISH
// allocates nothing": with the Msg pooled, a QoS 0 message to 1 or 50
// subscribers (local and on the other loop) allocates 0 times.
func TestPublishFanoutAllocations(t *testing.T) {
	if soldebug {
		t.Skip("soldebug never reuses a freed Msg")
	}
	per := map[int]float64{}
	for _, n := range []int{1, 50} {
		f := newFanout(t, n, 64, v311)
		buf := make([]byte, 4096)
		for i := 0; i < 200; i++ { // warm up pools, buffers, maps
			if err := f.roundTrip(buf); err != nil {
				t.Fatal(err)
			}
		}
		per[n] = testing.AllocsPerRun(500, func() {
			if err := f.roundTrip(buf); err != nil {
				t.Fatal(err)
			}
		})
	}
	if per[1] != 0 || per[50] != 0 {
		t.Fatalf("allocations per publish: 1 subscriber %.2f, 50 subscribers %.2f; want 0 (pooled Msg)", per[1], per[50])
	}
}

// TestPublishQoS1Allocations pins the steady state of QoS 1 at zero
// allocations per message: one QoS 1 publisher, subscribers with QoS 1 on
// both loops, so each message goes through the inflight table, a cross-loop
// batch and the reference counts of a pooled Msg, and every PUBACK frees the
// entry.
func TestPublishQoS1Allocations(t *testing.T) {
	if soldebug {
		t.Skip("soldebug never reuses a freed Msg")
	}
	addr := tb.Start(t, broker.Options{Loops: 2})
	var subs []net.Conn
	for i := 0; i < 4; i++ {
		c := tb.ConnectClient(t, addr, v311, fmt.Sprintf("q1-sub-%d", i), true)
		if rc := c.Subscribe("bench/q", 1); rc != 1 {
			t.Fatalf("SUBACK %v", rc)
		}
		c.Conn.SetReadDeadline(time.Now().Add(time.Minute))
		subs = append(subs, c.Conn)
	}
	p := tb.ConnectClient(t, addr, v311, "q1-pub", true)
	p.Conn.SetReadDeadline(time.Now().Add(time.Minute))
	pkt := mqtt.AppendPublish(nil, v311, &mqtt.Publish{Topic: []byte("bench/q"), QoS: 1, PacketID: 1, Payload: make([]byte, 64)})
	const outLen = 2 + 2 + len("bench/q") + 2 + 64 // PUBLISH as each subscriber reads it
	buf := make([]byte, 256)
	ack := []byte{0x40, 2, 0, 0}
	var pid uint16
	round := func() {
		pid = pid%65535 + 1
		pkt[len(pkt)-64-2], pkt[len(pkt)-64-1] = byte(pid>>8), byte(pid)
		if _, err := p.Conn.Write(pkt); err != nil {
			t.Fatal(err)
		}
		for _, s := range subs {
			if _, err := io.ReadFull(s, buf[:outLen]); err != nil {
				t.Fatal(err)
			}
			if buf[0]>>4 != 3 || buf[0]&0x06 != 0x02 {
				t.Fatalf("subscriber read %x, want a QoS 1 PUBLISH", buf[:outLen])
			}
			ack[2], ack[3] = buf[outLen-64-2], buf[outLen-64-1]
			if _, err := s.Write(ack); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := io.ReadFull(p.Conn, buf[:4]); err != nil {
			t.Fatal(err)
		}
		if buf[0] != 0x40 || uint16(buf[2])<<8|uint16(buf[3]) != pid {
			t.Fatalf("publisher read %x, want PUBACK %d", buf[:4], pid)
		}
	}
	for i := 0; i < 300; i++ { // warm up pools, tables, batches
		round()
	}
	if a := testing.AllocsPerRun(500, round); a != 0 {
		t.Fatalf("%.2f allocations per QoS 1 message to 4 subscribers, want 0", a)
	}
}

// BenchmarkPublishFanout: one publisher, n QoS 0 subscribers, 64-byte
// payloads, pipelined over loopback. ns/op and allocs/op are per published
// message (each delivered n times).
func BenchmarkPublishFanout(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		for _, v := range []byte{v311, v5} {
			b.Run(fmt.Sprintf("subs=%d/v%d", n, v), func(b *testing.B) {
				f := newFanout(b, n, 64, v)
				b.ReportAllocs()
				b.SetBytes(int64(len(f.pkt)))
				b.ResetTimer()
				var wg sync.WaitGroup
				for _, s := range f.subs {
					wg.Add(1)
					go func(s net.Conn) {
						defer wg.Done()
						buf := make([]byte, 64<<10)
						want := b.N * f.out
						for want > 0 {
							m, err := s.Read(buf[:min(len(buf), want)])
							if err != nil {
								b.Error(err)
								return
							}
							want -= m
						}
					}(s)
				}
				batch := make([]byte, 0, 64*len(f.pkt))
				for i := 0; i < b.N; {
					batch = batch[:0]
					for j := 0; j < 64 && i < b.N; j++ {
						batch = append(batch, f.pkt...)
						i++
					}
					if _, err := f.pub.Write(batch); err != nil {
						b.Fatal(err)
					}
				}
				wg.Wait()
			})
		}
	}
}

// BenchmarkPublishFanIn: n raw publishers, one QoS 0 subscriber, 64-byte
// payloads (and 64 KiB ones, larger than a loop's read buffer once framed),
// pipelined over loopback. ns/op and allocs/op are per message.
func BenchmarkPublishFanIn(b *testing.B) {
	for _, c := range []struct{ n, size int }{{1, 64}, {10, 64}, {10, 64 << 10}} {
		n := c.n
		name := fmt.Sprintf("pubs=%d", n)
		if c.size != 64 {
			name += fmt.Sprintf(",payload=%dKiB", c.size>>10)
		}
		b.Run(name, func(b *testing.B) {
			addr := tb.Start(b, broker.Options{Loops: 2})
			sub := tb.ConnectClient(b, addr, v311, "fanin-sub", true)
			sub.Subscribe("in/#", 0)
			sub.Conn.SetReadDeadline(time.Now().Add(time.Hour))
			pubs := make([]net.Conn, n)
			for i := range pubs {
				pubs[i] = tb.ConnectClient(b, addr, v311, fmt.Sprintf("fanin-pub-%d", i), true).Conn
			}
			pkt := mqtt.AppendPublish(nil, v311, &mqtt.Publish{Topic: []byte("in/t"), Payload: make([]byte, c.size)})
			perBatch := max(1, 4096/len(pkt))
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			var wg sync.WaitGroup
			per := (b.N + n - 1) / n
			for _, p := range pubs {
				wg.Add(1)
				go func(p net.Conn) {
					defer wg.Done()
					batch := make([]byte, 0, perBatch*len(pkt))
					for i := 0; i < per; {
						batch = batch[:0]
						for j := 0; j < perBatch && i < per; j++ {
							batch = append(batch, pkt...)
							i++
						}
						if _, err := p.Write(batch); err != nil {
							b.Error(err)
							return
						}
					}
				}(p)
			}
			buf := make([]byte, 64<<10)
			for want := per * n * len(pkt); want > 0; {
				m, err := sub.Conn.Read(buf[:min(len(buf), want)])
				if err != nil {
					b.Fatal(err)
				}
				want -= m
			}
			wg.Wait()
		})
	}
}
