package loop

import "time"

// wheelSlots is the number of slots in each loop's hashed timing wheel. With
// the default 10ms tick one rotation is 5.12s; longer timers stay in their
// slot and are skipped until their tick comes round.
const wheelSlots = 512

// Timer is a one-shot timer on a loop's wheel. Its function runs on the loop
// goroutine. A Timer is reusable: Reset re-arms it after it fired or was
// stopped. Not concurrency-safe: call its methods only on its loop.
type Timer struct {
	l          *Loop
	fn         func()
	due        int64 // absolute tick at which it fires
	prev, next *Timer
	armed      bool
	firing     bool // removed from the wheel, about to fire in this pass
}

// wheel is a hashed timing wheel: slot = due tick mod wheelSlots, each slot a
// doubly linked list, so arm and stop are O(1).
type wheel struct {
	start time.Time // tick 0
	tick  time.Duration
	done  int64 // every timer with due <= done has fired
	slots [wheelSlots]*Timer
	count int
	// cached next due tick; valid when nextOK
	nextDue int64
	nextOK  bool
	firing  []*Timer // scratch for advance
}

func (w *wheel) init(now time.Time, tick time.Duration) {
	w.start = now
	w.tick = tick
}

func (w *wheel) tickOf(t time.Time) int64 {
	return int64(t.Sub(w.start) / w.tick)
}

func (w *wheel) insert(t *Timer) {
	s := &w.slots[t.due%wheelSlots]
	t.prev = nil
	t.next = *s
	if *s != nil {
		(*s).prev = t
	}
	*s = t
	t.armed = true
	w.count++
	if w.nextOK && t.due < w.nextDue {
		w.nextDue = t.due
	}
}

func (w *wheel) remove(t *Timer) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		w.slots[t.due%wheelSlots] = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	}
	t.prev, t.next = nil, nil
	t.armed = false
	w.count--
	if w.nextOK && t.due == w.nextDue {
		w.nextOK = false
	}
}

// advance fires every timer due at or before now's tick, in order of slot.
// Callbacks may arm or stop any timer, including ones due in this pass.
func (w *wheel) advance(now time.Time) {
	target := w.tickOf(now)
	if target <= w.done {
		return
	}
	if w.count == 0 {
		w.done = target
		return
	}
	steps := target - w.done
	if steps > wheelSlots {
		steps = wheelSlots
	}
	w.done = target // timers armed by callbacks land after target
	if w.nextOK && w.nextDue <= target {
		w.nextOK = false
	}
	fire := w.firing[:0]
	for i := int64(1); i <= steps; i++ {
		idx := (target - steps + i) % wheelSlots
		for t := w.slots[idx]; t != nil; {
			nx := t.next
			if t.due <= target {
				w.remove(t)
				t.firing = true
				fire = append(fire, t)
			}
			t = nx
		}
	}
	for i, t := range fire {
		fire[i] = nil
		if t.firing { // not stopped or re-armed by an earlier callback
			t.firing = false
			t.fn()
		}
	}
	w.firing = fire[:0]
}

// timeoutMs returns the poller timeout until the next due timer, or -1 when
// no timer is armed.
func (w *wheel) timeoutMs(now time.Time) int {
	if w.count == 0 {
		return -1
	}
	if !w.nextOK {
		w.nextDue = w.done + wheelSlots // at worst wake once per rotation
		for k := int64(1); k <= wheelSlots; k++ {
			found := false
			for t := w.slots[(w.done+k)%wheelSlots]; t != nil; t = t.next {
				if t.due <= w.done+k {
					found = true
					break
				}
			}
			if found {
				w.nextDue = w.done + k
				break
			}
		}
		w.nextOK = true
	}
	d := w.start.Add(time.Duration(w.nextDue) * w.tick).Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}

// NewTimer returns a stopped timer whose fn runs on l's goroutine when it
// fires. The Timer belongs to l for good: after a Migrate, create a new one
// on the destination loop. Loop goroutine only; allocates the Timer once,
// arming it later does not allocate.
func (l *Loop) NewTimer(fn func()) *Timer {
	return &Timer{l: l, fn: fn}
}

// Reset (re)arms t to fire d from l.Now() (never earlier; at most about one
// tick later). A negative or zero d fires on the next iteration. Loop
// goroutine only.
func (t *Timer) Reset(d time.Duration) {
	w := &t.l.wheel
	if t.armed {
		w.remove(t)
	}
	t.firing = false
	deadline := t.l.now.Add(d)
	off := deadline.Sub(w.start)
	due := int64((off + w.tick - 1) / w.tick) // ceil: never early
	if due <= w.done {
		due = w.done + 1
	}
	t.due = due
	w.insert(t)
}

// Stop disarms t and reports whether it was armed (false if it had already
// fired or was stopped). Loop goroutine only.
func (t *Timer) Stop() bool {
	if t.firing {
		t.firing = false
		return true
	}
	if !t.armed {
		return false
	}
	t.l.wheel.remove(t)
	return true
}
