package loop

import (
	"sync"
	"sync/atomic"
)

// mailbox is a multi-producer queue drained by its owner loop. Producers
// append under a mutex; the owner swaps the slice out and works through it
// without the lock. The wake-up is coalesced: only the producer that flips
// wakePending from false to true writes the eventfd, so a burst of posts
// costs one syscall until the owner drains.
//
// Invariant: every item appended after the owner's last drain is followed by
// wakePending == true (and hence a wake), because the owner stores false
// before it takes the queue and each producer CASes after it appends.
type mailbox struct {
	mu          sync.Mutex
	queue       []any
	wakePending atomic.Bool
	closed      bool // set by the owner on exit; later posts are dropped

	// owner-only
	work []any // items taken from queue, work[next:] not yet handled
	next int
}

// post appends m and reports whether the caller must wake the owner.
func (mb *mailbox) post(m any) (wake bool, ok bool) {
	mb.mu.Lock()
	if mb.closed {
		mb.mu.Unlock()
		return false, false
	}
	mb.queue = append(mb.queue, m)
	mb.mu.Unlock()
	return mb.wakePending.CompareAndSwap(false, true), true
}

// take moves posted items to the owner's work list if the work list is
// empty. Owner only.
func (mb *mailbox) take() {
	if mb.next < len(mb.work) {
		return
	}
	if !mb.wakePending.Load() {
		return
	}
	mb.wakePending.Store(false)
	mb.mu.Lock()
	clear(mb.work) // drop references to handled items
	mb.work, mb.queue = mb.queue, mb.work[:0]
	mb.mu.Unlock()
	mb.next = 0
}

// pop returns the next item. Owner only.
func (mb *mailbox) pop() (any, bool) {
	if mb.next >= len(mb.work) {
		return nil, false
	}
	m := mb.work[mb.next]
	mb.work[mb.next] = nil
	mb.next++
	return m, true
}

// backlog reports whether work is known to be waiting. Owner only.
func (mb *mailbox) backlog() bool {
	return mb.next < len(mb.work) || mb.wakePending.Load()
}

// shut closes the mailbox and returns whatever was never handled.
func (mb *mailbox) shut() []any {
	mb.mu.Lock()
	mb.closed = true
	rest := append(mb.work[mb.next:], mb.queue...)
	mb.queue = nil
	mb.mu.Unlock()
	mb.work, mb.next = nil, 0
	return rest
}
