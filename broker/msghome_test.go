package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// TestFreeMsgsGoBackAndAreDropped: the Msgs a publisher's loop made come
// back to that loop when a subscriber on the other loop is done with them,
// and the loop gives them up to the GC once they stay unused, also when
// they came back while its trim timer was asleep (nothing free at its last
// trim, because every Msg was still queued for the subscriber).
func TestFreeMsgsGoBackAndAreDropped(t *testing.T) {
	if soldebug {
		t.Skip("soldebug builds never reuse a freed Msg")
	}
	const trim = 30 * time.Millisecond
	t.Cleanup(broker.SetMsgTrimEvery(trim))
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})

	sub := "home-sub"
	pub := ""
	for i := 0; pub == ""; i++ {
		if id := fmt.Sprintf("home-pub-%d", i); broker.OwnerOf(id, 2) != broker.OwnerOf(sub, 2) {
			pub = id
		}
	}
	ctx := context.Background()
	free := func() (int, int) {
		t.Helper()
		n, armed, err := broker.FreeMsgs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		return n, armed
	}

	// A QoS 1 subscriber that acknowledges nothing holds every message
	// (in flight or queued) until it goes away.
	s := tb.ConnectClient(t, addr, mqtt.Version311, sub, true)
	if rc := s.Subscribe("home/#", 1); rc != 1 {
		t.Fatalf("SUBACK %v", rc)
	}
	p := tb.ConnectClient(t, addr, mqtt.Version311, pub, true)
	const n = 100
	for i := range n {
		p.Publish("home/t", 1, false, uint16(i+1), []byte("payload"))
		p.Expect(mqtt.PUBACK)
	}
	s.Expect(mqtt.PUBLISH) // delivery has begun

	// With all n Msgs held, the publisher's loop has nothing free, and its
	// trim timer goes to sleep.
	tb.WaitFor(t, 2*time.Second, func() bool { n, armed := free(); return n == 0 && armed == 0 })

	// The subscriber leaves (clean session): its loop lets the n Msgs go,
	// back to the publisher's loop, which must wake to age them...
	s.Conn.Close()
	tb.WaitFor(t, 2*time.Second, func() bool { n, armed := free(); return n > 0 || armed > 0 })
	// ...and, as nobody publishes, drop them after two trims.
	tb.WaitFor(t, 2*time.Second, func() bool { n, armed := free(); return n == 0 && armed == 0 })
}
