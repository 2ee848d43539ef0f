package broker_test

import (
	"context"
	"fmt"
	"io"
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
// grew by hundreds of thousands of deliveries here, and past 1 GB of heap
// in 3 s with 200 subscribers) because loop 0 holds the publisher. The publisher must be read again afterwards: a PINGREQ sent
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
	// deliveries), and its loop's open batch goes out (512 at most), each
	// counted at ~360 bytes here.
	limit := int64(broker.InboxHigh + 1<<20)
	t.Logf("inbox peak %d bytes, publisher held %d times", peak.Load(), holds)
	if peak.Load() > limit {
		t.Errorf("loop 1's inbox reached %d bytes, above %d: loop 0 did not hold its publisher", peak.Load(), limit)
	}
	if holds == 0 {
		t.Errorf("loop 0 never held its publisher (inbox peak %d)", peak.Load())
	}
}

// slowReader is an Auth whose read check sometimes takes a millisecond (an
// ACL lookup that goes out of the process): loop 1 then works through its
// inbox slowly, and loop 0 holds its publishers for longer.
type slowReader struct{ n atomic.Int64 }

func (*slowReader) CheckPassword(_, _ []byte, done func(bool)) bool { go done(true); return true }
func (*slowReader) HasPasswords() bool                              { return false }
func (*slowReader) CanPublish(_, _ string, _ []byte) bool           { return true }
func (*slowReader) CanSubscribe(_, _ string, _ []byte) bool         { return true }
func (a *slowReader) CanRead(_, _ string, topic []byte) bool {
	if string(topic) == "slow/t" && a.n.Add(1)%10 == 0 {
		time.Sleep(time.Millisecond)
	}
	return true
}

// TestHeldClientKeepsItsKeepAlive: a client with a keep alive of 1 s that
// publishes every 200 ms on a loop that holds its publishers must not be
// disconnected for keep alive: the broker stopped reading it, not the
// client talking. (Found by a review: before, a hold longer than 1.5 s
// closed it with 0x8D and published its will.)
func TestHeldClientKeepsItsKeepAlive(t *testing.T) {
	_, addr := tb.StartBroker(t, broker.Options{Loops: 2, Auth: &slowReader{}})
	var wg sync.WaitGroup
	var subs []*tb.Client
	defer func() {
		for _, c := range subs {
			c.Conn.Close()
		}
		wg.Wait()
	}()
	for i := 0; len(subs) < 50; i++ {
		id := fmt.Sprintf("ka-sub-%d", i)
		if broker.OwnerOf(id, 2) != 1 {
			continue
		}
		c := tb.ConnectClient(t, addr, mqtt.Version311, id, true)
		if rc := c.Subscribe("slow/t", 0); rc != 0 {
			t.Fatalf("SUBACK %v", rc)
		}
		c.Conn.SetDeadline(time.Time{})
		subs = append(subs, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(io.Discard, c.Conn)
		}()
	}
	onLoop0 := func(prefix string) string {
		for i := 0; ; i++ {
			if id := fmt.Sprintf("%s-%d", prefix, i); broker.OwnerOf(id, 2) == 0 {
				return id
			}
		}
	}
	by := tb.Dial(t, addr, mqtt.Version311)
	if ack := by.Connect(&mqtt.Connect{ProtocolLevel: mqtt.Version311, ClientID: []byte(onLoop0("ka-by")), CleanStart: true, KeepAlive: 1}); ack.Reason != mqtt.Success {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
	by.Conn.SetDeadline(time.Time{})
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, by.Conn)
		closed <- err
	}()

	p := tb.ConnectClient(t, addr, mqtt.Version311, onLoop0("ka-pub"), true)
	p.Conn.SetDeadline(time.Time{})
	pkt := mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte("slow/t"), Payload: make([]byte, 64)})
	var burst []byte
	for range 100 {
		burst = append(burst, pkt...)
	}
	go func() {
		for range 15 { // 1,500 messages, 75,000 deliveries to slow loop 1
			if _, err := p.Conn.Write(burst); err != nil {
				return
			}
		}
	}()
	other := mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte("other/t"), Payload: []byte("x")})
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for start := time.Now(); time.Since(start) < 4*time.Second; {
		select {
		case err := <-closed:
			t.Fatalf("a client sending every 200 ms with keep alive 1 s was disconnected after %v: %v", time.Since(start), err)
		case <-tick.C:
			if _, err := by.Conn.Write(other); err != nil {
				t.Fatalf("bystander write: %v", err)
			}
		}
	}
}
