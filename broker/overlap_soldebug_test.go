//go:build soldebug

package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
	"github.com/sol-broker/sol/trie"
)

// TestUnsubscribeResubscribeDuringMatch: a client that never holds two
// subscriptions at once (UNSUBSCRIBE rc/t, then SUBSCRIBE +/t) while a
// publish from another loop stands between Match's two shard locks. The
// Match returns both entries; the client must still get one copy. Found by
// review of the change that merges only sessions with flagMulti: without
// the flag set at UNSUBSCRIBE this delivered the message twice.
func TestUnsubscribeResubscribeDuringMatch(t *testing.T) {
	addr := tb.Start(t, broker.Options{Loops: 2})
	sub := tb.ConnectClient(t, addr, v311, "rr-sub", true)
	sub.Subscribe("rc/t", 0)
	// A publisher on the other loop, so that the subscriber's loop is free
	// to handle the UNSUBSCRIBE while the publish waits in Match.
	pubID := ""
	for i := 0; pubID == ""; i++ {
		if id := fmt.Sprintf("rr-pub-%d", i); broker.OwnerOf(id, 2) != broker.OwnerOf("rr-sub", 2) {
			pubID = id
		}
	}
	pub := tb.ConnectClient(t, addr, v311, pubID, true)
	reached, resume := make(chan struct{}), make(chan struct{})
	var once bool
	hook := func(topic []byte) {
		if string(topic) == "rc/t" && !once {
			once = true
			close(reached)
			<-resume
		}
	}
	trie.BetweenShardsHook.Store(&hook)
	defer trie.BetweenShardsHook.Store(nil)

	pub.Publish("rc/t", 0, false, 0, []byte("x"))
	select {
	case <-reached:
	case <-time.After(5 * time.Second):
		t.Fatal("the publish never reached Match")
	}
	sub.Write(mqtt.AppendUnsubscribe(nil, v311, &mqtt.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("rc/t")}}))
	sub.Expect(mqtt.UNSUBACK)
	sub.Subscribe("+/t", 0)
	close(resume)

	if p := sub.Expect(mqtt.PUBLISH).Publish; string(p.Payload) != "x" {
		t.Fatalf("got %q", p.Payload)
	}
	sub.ExpectNothing(300 * time.Millisecond) // one copy
}
