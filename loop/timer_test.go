package loop

import (
	"math/rand"
	"testing"
	"time"
)

// The wheel alone, driven with a synthetic clock: every timer fires exactly
// once, never before its deadline and within one tick after it, across
// several rotations, with stops and re-arms mixed in; and the poll timeout
// never overshoots the next deadline.
func TestWheelRandomised(t *testing.T) {
	s := &Server{opts: Options{}.withDefaults()}
	l := &Loop{s: s}
	start := time.Unix(1000, 0)
	l.now = start
	tick := 10 * time.Millisecond
	l.wheel.init(start, tick)
	rnd := rand.New(rand.NewSource(7))
	type rec struct {
		deadline time.Time
		fired    int
		stopped  bool
		firedAt  time.Time
	}
	var recs []*rec
	var timers []*Timer
	for i := 0; i < 2000; i++ {
		r := &rec{}
		tm := l.NewTimer(func() { r.fired++; r.firedAt = l.now })
		d := time.Duration(rnd.Int63n(int64(12 * time.Second)))
		r.deadline = l.now.Add(d)
		tm.Reset(d)
		recs = append(recs, r)
		timers = append(timers, tm)
	}
	for i := 0; i < 300; i++ { // stop some, re-arm some
		k := rnd.Intn(len(timers))
		if rnd.Intn(2) == 0 {
			timers[k].Stop()
			recs[k].stopped = true
		} else {
			d := time.Duration(rnd.Int63n(int64(3 * time.Second)))
			recs[k].deadline = l.now.Add(d)
			recs[k].stopped = false
			timers[k].Reset(d)
		}
	}
	end := start.Add(15 * time.Second)
	for l.now.Before(end) {
		to := l.wheel.timeoutMs(l.now)
		step := time.Duration(rnd.Int63n(int64(40 * time.Millisecond)))
		if to >= 0 && time.Duration(to)*time.Millisecond < step {
			step = time.Duration(to) * time.Millisecond
		}
		l.now = l.now.Add(step + time.Millisecond)
		l.wheel.advance(l.now)
	}
	for i, r := range recs {
		switch {
		case r.stopped && r.fired != 0:
			t.Fatalf("timer %d fired after Stop", i)
		case !r.stopped && r.fired != 1:
			t.Fatalf("timer %d fired %d times", i, r.fired)
		case !r.stopped && r.firedAt.Before(r.deadline):
			t.Fatalf("timer %d fired %v early", i, r.deadline.Sub(r.firedAt))
		case !r.stopped && r.firedAt.Sub(r.deadline) > tick+2*time.Millisecond:
			t.Fatalf("timer %d fired %v late", i, r.firedAt.Sub(r.deadline))
		}
	}
	if l.wheel.count != 0 {
		t.Fatalf("%d timers left on the wheel", l.wheel.count)
	}
}
