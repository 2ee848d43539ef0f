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
// in 3 s with 200 subscribers) because loop 0 holds the publisher. The
// publisher must be read again afterwards: a PINGREQ sent behind the flood
// gets its PINGRESP.
func TestPublisherHeldWhileOtherLoopIsBehind(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	defer drainingSubscribers(t, addr, "bp-sub", "bp/t", 50)()
	pub := idOnLoop("bp-pub", 0)
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
	burst := publishBurst("bp/t", 100)
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
	// deliveries), and its loop's open batch goes out (512 deliveries or
	// maxBatchCost bytes at most), each counted at 424 bytes here in a
	// full batch (its 72-byte slot and a 352-byte Msg).
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
	defer drainingSubscribers(t, addr, "ka-sub", "slow/t", 50)()
	by := tb.Dial(t, addr, mqtt.Version311)
	if ack := by.Connect(&mqtt.Connect{ProtocolLevel: mqtt.Version311, ClientID: []byte(idOnLoop("ka-by", 0)), CleanStart: true, KeepAlive: 1}); ack.Reason != mqtt.Success {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
	by.Conn.SetDeadline(time.Time{})
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, by.Conn)
		closed <- err
	}()

	p := tb.ConnectClient(t, addr, mqtt.Version311, idOnLoop("ka-pub", 0), true)
	p.Conn.SetDeadline(time.Time{})
	burst := publishBurst("slow/t", 100)
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

// idOnLoop returns a client identifier starting with prefix whose session
// lives on loop loop of a 2-loop broker.
func idOnLoop(prefix string, loop int) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-%d", prefix, i); broker.OwnerOf(id, 2) == loop {
			return id
		}
	}
}

// publishBurst is n QoS 0 3.1.1 PUBLISH packets with 64-byte payloads to
// topic, back to back, for one write.
func publishBurst(topic string, n int) []byte {
	pkt := mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte(topic), Payload: make([]byte, 64)})
	var burst []byte
	for range n {
		burst = append(burst, pkt...)
	}
	return burst
}

// drainingSubscribers connects n 3.1.1 subscribers to topic at QoS 0, all on
// loop 1 of a 2-loop broker, each read as fast as a goroutine can; the
// returned function closes them and waits for their readers.
func drainingSubscribers(t *testing.T, addr, prefix, topic string, n int) (stop func()) {
	t.Helper()
	var wg sync.WaitGroup
	var subs []*tb.Client
	for i := range n {
		c := tb.ConnectClient(t, addr, mqtt.Version311, idOnLoop(fmt.Sprintf("%s-%d", prefix, i), 1), true)
		if rc := c.Subscribe(topic, 0); rc != 0 {
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
	return func() {
		for _, c := range subs {
			c.Conn.Close()
		}
		wg.Wait()
	}
}

// TestSpareBatchesAgedAfterSlowPeer: loop 0 posts a burst of batches to a
// loop 1 that takes many trim periods to work through them (slowReader).
// When they come back, loop 0 must still age and drop them: they were last
// needed before the quiet periods. (Found by a review: trimming stopped
// while the batches were out, and those that came back were kept for good.)
func TestSpareBatchesAgedAfterSlowPeer(t *testing.T) {
	const trim = 40 * time.Millisecond
	t.Cleanup(broker.SetMsgTrimEvery(trim))
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2, Auth: &slowReader{}})
	defer drainingSubscribers(t, addr, "sp-sub", "slow/t", 20)()
	p := tb.ConnectClient(t, addr, mqtt.Version311, idOnLoop("sp-pub", 0), true)
	p.Conn.SetDeadline(time.Time{})

	// 400 messages for 20 subscribers: 8,000 deliveries in at least 16
	// batches, and 800 sleeps of 1 ms on loop 1 (about 20 periods), so the
	// last batches come back many periods after the last was taken.
	if _, err := p.Conn.Write(publishBurst("slow/t", 400)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spares := func() (int, int64) {
		t.Helper()
		n, out, err := broker.SpareBatches(ctx, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		return n, out
	}
	tb.WaitFor(t, 5*time.Second, func() bool { _, out := spares(); return out > 0 })
	tb.WaitFor(t, 30*time.Second, func() bool { _, out := spares(); return out == 0 })
	if n, _ := spares(); n == 0 {
		t.Fatalf("no spare batches right after the burst came back: the test did not reach the case")
	}
	// Nothing takes a batch any more: within a few periods every spare goes.
	tb.WaitFor(t, 50*trim, func() bool { n, _ := spares(); return n == 0 })
}
