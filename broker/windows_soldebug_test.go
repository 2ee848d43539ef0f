//go:build soldebug

package broker

import (
	"context"
	"log/slog"
	"testing"
	"time"
)

// The hooks these tests set are package globals: the tests must not run in
// parallel with others that start brokers.

// startLoops starts a broker with n loops on a loopback port nobody dials,
// for tests that run code on a loop's goroutine through askLoops.
func startLoops(t *testing.T, n int) *Broker {
	t.Helper()
	b, err := New(Options{Loops: n, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Listen(ListenerOptions{Network: "tcp", Address: "127.0.0.1:0", AllowAnonymous: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return b
}

// TestInboxDrainedWhileRegistering: loop 0 finds loop 1's inbox full, and
// loop 1 drains it below inboxLow before loop 0 has registered as waiting,
// so loop 1 resumes nobody. checkInbox must see the drain when it looks
// again, and not hold its publishers for good.
func TestInboxDrainedWhileRegistering(t *testing.T) {
	b := startLoops(t, 2)
	to := b.loops[1]
	to.inbox.n.Store(inboxHigh)
	fired := false
	drain := func() {
		fired = true
		to.inbox.n.Store(0)
		to.handled(0) // as loop 1 after its last batch: nobody waits yet
	}
	inboxCheckHook.Store(&drain)
	defer inboxCheckHook.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	holding, err := askLoops(ctx, b, []int{0}, func(ls *loopState) bool {
		ls.checkInbox(to)
		return ls.holding
	})
	if err != nil {
		t.Fatal(err)
	}
	if !fired {
		t.Fatal("checkInbox returned before it would register: the window was not reached")
	}
	if holding[0] {
		t.Fatal("loop 0 holds its publishers for an inbox that drained while it registered; nothing will resume it")
	}
	if to.inbox.waiting[0].Load() {
		t.Fatal("loop 0 is still registered as waiting on loop 1")
	}
}

// TestMsgFreedWhileTrimSleeps: a Msg comes back to its home loop after
// trimNow emptied the free lists and before it marked the home asleep; the
// put saw the home awake and sent no wake-up. trimNow must see the Msg
// when it looks again and keep its timer running, or the Msg (and its
// buffer) would sit on the free list until some later put.
func TestMsgFreedWhileTrimSleeps(t *testing.T) {
	b := startLoops(t, 1)
	h := b.loops[0].home
	fired := false
	late := func() {
		if !fired { // from another loop, say: a Msg goes on h's freed list
			fired = true
			// soldebug's release poisons a Msg instead of putting it
			// back, so the test puts one of class 0 itself.
			h.put(0, &Msg{buf: make([]byte, 0, msgClasses[0]), home: h})
		}
	}
	trimSleepHook.Store(&late)
	defer trimSleepHook.Store(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type state struct{ fired, armed, asleep bool }
	got, err := askLoops(ctx, b, []int{0}, func(ls *loopState) state {
		// Trims age what is free and drop it at the next; the hook runs
		// once a trim finds nothing left.
		for i := 0; i < 3 && !fired; i++ {
			h.trimNow()
		}
		return state{fired, h.trimArmed, h.asleep.Load()}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got[0].fired {
		t.Fatal("three trims in a row never found the free lists empty")
	}
	if !got[0].armed || got[0].asleep {
		t.Fatalf("after a Msg came back during trimNow: timer armed %v, home asleep %v; want armed and awake", got[0].armed, got[0].asleep)
	}
}
