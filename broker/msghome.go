package broker

import (
	"sync/atomic"
	"time"

	"github.com/sol-broker/sol/loop"
)

// homeClasses is how many of the smallest size classes (64 B to 8 KiB) are
// recycled through their loop's msgHome instead of the shared sync.Pools.
// The 16 KiB class and up stay shared: inputBuffer takes adopted input
// buffers (adoptMin, 16 KiB) from any of them, and copies of messages
// between 8 and 16 KiB, less frequent, go there too.
const homeClasses = 8

// msgTrimEvery is how often a loop's msgHome ages its free Msgs: one that
// stayed unused through two of these periods is left to the GC, as a
// sync.Pool drops what stayed unused through two GCs. A variable for tests.
var msgTrimEvery = 5 * time.Second

// cacheLine keeps the lists that other loops push to apart.
const cacheLine = 64

// msgHome is one loop's free lists of small pooled Msgs, one per class.
//
// A Msg made on a loop returns to that loop's lists when its last reference
// goes, whichever goroutine lets it go: with two loops, a publisher's loop
// makes the Msgs and its subscribers' loop frees them. Through a sync.Pool,
// the making loop took back every Msg one at a time, by stealing from the
// freeing loop's pool (a CAS on a line the freeing loop writes for each
// Put), with pin and unpin on both sides; here the freeing side pushes onto
// the home's freed list (a CAS on a line it keeps as long as it frees
// faster than the home takes), and the home takes the whole list with one
// swap when its own list is empty.
//
// The owner's lists (local, then the two aged ones) are touched by the
// owner loop only; freed by anyone. Each Msg has a nextFree link, so the
// lists cost no memory of their own.
type msgHome struct {
	// freed is written by every loop that frees Msgs made here, a line
	// per class.
	freed [homeClasses]struct {
		head atomic.Pointer[Msg]
		_    [cacheLine - 8]byte
	}
	// Read by put, written only when the trim timer stops and starts (and
	// by the put that wakes it): asleep is set while the timer is off
	// (nothing was free at the last trim), and the first put after that
	// wakes the owner by mail (wake), so that what comes back later is
	// aged and dropped too.
	asleep atomic.Bool
	l      *loop.Loop
	wake   msgWake // posted by put, so posting allocates nothing
	_      [cacheLine - 24]byte

	// The owner loop's: local is its list of each class; aged holds what
	// was free at the last trim (local's and freed's lists then), still
	// taken from before new Msgs are made, and dropped at the next trim.
	local     [homeClasses]*Msg
	aged      [homeClasses][2]*Msg
	trim      *loop.Timer
	trimArmed bool
}

// msgWake is the mail that re-arms a msgHome's trim timer.
type msgWake struct{ h *msgHome }

// newMsgHome returns the free lists of loop l.
func newMsgHome(l *loop.Loop) *msgHome {
	h := &msgHome{l: l}
	h.wake.h = h
	return h
}

// get returns a free Msg of class k, or a new one whose home is h. Owner
// loop only.
func (h *msgHome) get(k int) *Msg {
	if m := h.pop(&h.local[k]); m != nil {
		return m
	}
	if h.freed[k].head.Load() != nil {
		h.local[k] = h.freed[k].head.Swap(nil)
		if m := h.pop(&h.local[k]); m != nil {
			return m
		}
	}
	for i := range h.aged[k] {
		if m := h.pop(&h.aged[k][i]); m != nil {
			return m
		}
	}
	h.armTrim()
	return &Msg{buf: make([]byte, 0, msgClasses[k]), home: h}
}

// pop takes the first Msg off the list at *list.
func (h *msgHome) pop(list **Msg) *Msg {
	m := *list
	if m != nil {
		*list = m.nextFree
		m.nextFree = nil
	}
	return m
}

// put gives m, free and reset, of class k back to h. Any goroutine.
func (h *msgHome) put(k int, m *Msg) {
	f := &h.freed[k].head
	for {
		old := f.Load()
		m.nextFree = old
		if f.CompareAndSwap(old, m) {
			break
		}
	}
	if h.asleep.Load() && h.asleep.CompareAndSwap(true, false) {
		h.l.Post(&h.wake)
	}
}

// armTrim starts the timer that ages the free lists: when h makes a Msg
// (only Msgs made here come back here), and when a Msg comes back while
// the timer is off. Owner loop only.
func (h *msgHome) armTrim() {
	if h.trim == nil {
		h.trim = h.l.NewTimer(h.trimNow)
	}
	if !h.trimArmed {
		// While the timer runs asleep is false; it is true only from a
		// trim that left nothing until the first put or armTrim after.
		h.asleep.Store(false)
		h.trim.Reset(msgTrimEvery)
		h.trimArmed = true
	}
}

// trimNow drops what was free at the last trim and ages what is free now.
// It runs again while anything is left; when nothing is, it sleeps until
// put wakes it. Owner loop only.
func (h *msgHome) trimNow() {
	h.trimArmed = false
	left := false
	for k := range h.local {
		h.aged[k] = [2]*Msg{h.local[k], h.freed[k].head.Swap(nil)}
		h.local[k] = nil
		left = left || h.aged[k] != [2]*Msg{}
	}
	if left {
		h.armTrim()
		return
	}
	beforeTrimSleep()
	h.asleep.Store(true)
	// A put between the swaps above and the store saw h awake and sent no
	// mail: look once more, and whoever turns asleep off arms the timer.
	for k := range h.freed {
		if h.freed[k].head.Load() != nil {
			if h.asleep.CompareAndSwap(true, false) {
				h.armTrim()
			}
			return
		}
	}
}
