package broker

import (
	"context"
	"time"
)

// LiveMsgs is the number of pooled messages with references outstanding;
// always 0 without -tags soldebug, which is when it is counted.
func LiveMsgs() int64 { return liveMsgs.Load() }

// OwnerOf is the loop that owns client identifier id among loops loops.
func OwnerOf(id string, loops int) int { return int(fnv1a([]byte(id)) % uint32(loops)) }

// SetMsgTrimEvery sets how often the loops age their free Msgs (read at
// every arming, so running Brokers follow it too; tests that call it must
// not run in parallel) and returns a function that restores the old value.
func SetMsgTrimEvery(d time.Duration) (restore func()) {
	old := msgTrimEvery
	msgTrimEvery = d
	return func() { msgTrimEvery = old }
}

// FreeMsgs counts the free Msgs on every loop's lists (msghome.go) and the
// loops whose trim timer is armed, asking each loop on its goroutine.
func FreeMsgs(ctx context.Context, b *Broker) (free, armed int, err error) {
	type count struct{ free, armed int }
	counts, err := askLoops(ctx, b, nil, func(ls *loopState) count {
		h := ls.home
		var c count
		walk := func(m *Msg) {
			for ; m != nil; m = m.nextFree {
				c.free++
			}
		}
		for k := range h.local {
			walk(h.local[k])
			walk(h.aged[k][0])
			walk(h.aged[k][1])
			walk(h.freed[k].head.Load())
		}
		if h.trimArmed {
			c.armed = 1
		}
		return c
	})
	for _, c := range counts {
		free += c.free
		armed += c.armed
	}
	return free, armed, err
}

// InboxHigh is the inbox size (bytes) above which a loop holds its
// publishers.
const InboxHigh = inboxHigh

// Inbox is the bytes of deliveries posted to loop i and not yet handled.
func Inbox(b *Broker, i int) int64 { return b.loops[i].inbox.n.Load() }

// InboxHolds counts, on every loop, how often it started to hold its
// publishers for another loop's inbox.
func InboxHolds(ctx context.Context, b *Broker) (uint64, error) {
	counts, err := askLoops(ctx, b, nil, func(ls *loopState) uint64 { return ls.inboxHolds })
	var n uint64
	for _, c := range counts {
		n += c
	}
	return n, err
}

// SpareBatches is how many spare batches loop i keeps for its posts to
// other loops, and how many it has out.
func SpareBatches(ctx context.Context, b *Broker, i int) (spares int, out int64, err error) {
	r, err := askLoops(ctx, b, []int{i}, func(ls *loopState) [2]int64 {
		return [2]int64{int64(len(ls.spares.ch)), ls.spares.out.Load()}
	})
	if err != nil {
		return 0, 0, err
	}
	return int(r[0][0]), r[0][1], nil
}
