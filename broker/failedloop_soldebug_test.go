//go:build soldebug

package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// TestFailedLoop makes loop 1 of 2 fail as if epoll_wait had. The broker
// must report it through Failed (sol then shuts down and exits, for its
// supervisor to restart it), loop 1's clients must be disconnected, loop 0
// must go on serving its own, and Shutdown must not wait for an answer
// from the dead loop (nor must the admin API): it returns at once, and each
// of loop 0's 5.0 clients is told the server is shutting down.
func TestFailedLoop(t *testing.T) {
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2})
	c0 := tb.ConnectClient(t, addr, mqtt.Version5, idOnLoop("fl-a", 0), true)
	c1 := tb.ConnectClient(t, addr, mqtt.Version311, idOnLoop("fl-b", 1), true)
	if rc := c0.Subscribe("fl/t", 1); rc != 1 {
		t.Fatalf("SUBACK %v", rc)
	}
	if err := b.Failure(); err != nil {
		t.Fatalf("Failure before any failure: %v", err)
	}

	boom := errors.New("injected poll failure")
	b.InjectLoopFailure(1, boom)
	select {
	case <-b.Failed():
		if err := b.Failure(); !errors.Is(err, boom) {
			t.Fatalf("Failure is %v, want %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Failed not closed 10 s after loop 1's poller failed")
	}
	<-broker.LoopExited(b, 1) // its listening socket is closed too
	c1.ExpectClosed(10 * time.Second)

	// New clients on loop 0 take the descriptor numbers loop 1 gave back,
	// its listening socket's among them. (Shutdown once shut that number
	// down as a listener: the client holding it lost its DISCONNECT.)
	clients := []*tb.Client{c0}
	for i := range 6 {
		clients = append(clients, tb.ConnectClient(t, addr, mqtt.Version5, idOnLoop(fmt.Sprintf("fl-n%d", i), 0), true))
	}
	p := tb.ConnectClient(t, addr, mqtt.Version311, idOnLoop("fl-c", 0), true)
	p.Write(mqtt.AppendPublish(nil, mqtt.Version311, &mqtt.Publish{Topic: []byte("fl/t"), QoS: 1, PacketID: 1, Payload: []byte("still here")}))
	p.Expect(mqtt.PUBACK)
	if got := c0.Expect(mqtt.PUBLISH); string(got.Publish.Payload) != "still here" {
		t.Fatalf("loop 0's subscriber got %q", got.Publish.Payload)
	}

	// The admin API asks every loop; the dead one must not hold it until
	// the request's deadline.
	actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, _, err := b.Admin().Clients(actx, 0, 10)
	acancel()
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("admin Clients with loop 1 dead: %v, want an error naming the dead loop at once", err)
	}

	// Without the wait on each loop's exit, Shutdown waited for the dead
	// loop until ctx ended and returned its error.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, c := range clients {
		if got := c.ExpectClosed(5 * time.Second); len(got) != 1 || got[0].Disconnect.Reason != mqtt.ServerShuttingDown {
			t.Fatalf("loop 0's 5.0 client %d got %v on shutdown, want DISCONNECT 0x8B", i, got)
		}
	}
}
