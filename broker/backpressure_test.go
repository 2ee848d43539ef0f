package broker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// TestPublisherHeldWhileOtherLoopIsBehind: one QoS 0 publisher on loop 0
// floods a topic that 50 subscribers on loop 1 read. Routing a message is
// far cheaper than delivering 50 copies, so loop 1 falls behind; its
// inbox of deliveries from loop 0 must stay bounded (before flow control it
// grew by millions, past 1 GB of heap in 3 s) because loop 0 holds the
// publisher. The publisher must be read again afterwards: a PINGREQ sent
// behind the flood gets its PINGRESP.
func TestPublisherHeldWhileOtherLoopIsBehind(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	var wg sync.WaitGroup
	var subs []*tb.Client
	defer func() {
		for _, c := range subs {
			c.Conn.Close()
		}
		wg.Wait()
	}()
	for i, n := 0, 0; n < 50; i++ {
		id := fmt.Sprintf("bp-sub-%d", i)
		if broker.OwnerOf(id, 2) != 1 {
			continue
		}
		n++
		c := tb.ConnectClient(t, addr, mqtt.Version311, id, true)
		if rc := c.Subscribe("bp/t", 0); rc != 0 {
			t.Fatalf("SUBACK %v", rc)
		}
		c.Conn.SetDeadline(time.Time{})
		wg.Add(1)
		go func() { // a subscriber that reads as fast as it can
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				if _, err := c.Conn.Read(buf); err != nil {
					return
				}
			}
		}()
		subs = append(subs, c)
	}
	pub := ""
	for i := 0; pub == ""; i++ {
		if id := fmt.Sprintf("bp-pub-%d", i); broker.OwnerOf(id, 2) == 0 {
			pub = id
		}
	}
	p := tb.ConnectClient(t, addr, mqtt.Version311, pub, true)
	p.Conn.SetDeadline(time.Time{})

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := broker.Inbox(b, 1); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	pkt := mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte("bp/t"), Payload: make([]byte, 64)})
	var burst []byte
	for range 100 {
		burst = append(burst, pkt...)
	}
	p.Conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	for range 200 { // 20,000 messages, 1 million deliveries
		if _, err := p.Conn.Write(burst); err != nil {
			t.Fatalf("publishing: %v", err)
		}
	}
	p.Write(mqtt.AppendPingreq(nil))
	if got := p.Read(20 * time.Second); got.Type != mqtt.PINGRESP {
		t.Fatalf("after the flood the publisher got %v, want PINGRESP", got.Type)
	}
	close(stop)
	<-sampled

	holds, err := broker.InboxHolds(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	// A publish that finds the inbox full still finishes routing (50
	// deliveries), and its loop's open batch goes out (512 at most).
	limit := int64(broker.InboxHigh + 2048)
	t.Logf("inbox peak %d deliveries, publisher held %d times", peak.Load(), holds)
	if peak.Load() > limit {
		t.Errorf("loop 1's inbox reached %d deliveries, above %d: loop 0 did not hold its publisher", peak.Load(), limit)
	}
	if holds == 0 {
		t.Errorf("loop 0 never held its publisher (inbox peak %d)", peak.Load())
	}
}
