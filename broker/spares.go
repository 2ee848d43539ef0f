package broker

import "sync/atomic"

// spareBatches is a loop's list of batches handed back by the loops they
// were posted to (batch). It is as long as the busiest recent exchange
// needed: what stayed unused through a whole trim period (msgTrimEvery, as
// for msgHome) is dropped for the GC, so the list empties a few periods
// after cross-loop traffic stops.
//
// ch is received from by the owner loop only and sent to by any loop, so
// the owner sees at least as many as it last counted.
type spareBatches struct {
	ch  chan *batch
	low int // fewest left in ch after a get since the last trim
	// out counts the batches this loop took or made and no loop has put
	// back yet: while any are out, trimming goes on, so that those coming
	// back after a long hold (a peer far behind) are aged too.
	out atomic.Int64
}

// get returns a spare batch, or nil when there is none (the caller makes
// one). Either way a batch is out until put. Owner loop only.
func (sp *spareBatches) get() *batch {
	sp.out.Add(1)
	select {
	case bt := <-sp.ch:
		sp.low = min(sp.low, len(sp.ch))
		return bt
	default:
		sp.low = 0
		return nil
	}
}

// put hands bt back, emptied; when the list is full the GC takes it. Any
// loop. It counts bt as back only once it is in ch, so a trim in between
// sees it out and runs again.
func (sp *spareBatches) put(bt *batch) {
	select {
	case sp.ch <- bt:
	default:
	}
	sp.out.Add(-1)
}

// trim drops the spares that no get needed since the last trim (as many as
// were never below low) and reports whether it should run again: while
// spares are left to age or batches are out. (A batch taken since the last
// trim is either still out or back in ch: ch is never empty after a put,
// since put drops a batch only when ch is full.) Owner loop only.
func (sp *spareBatches) trim() (again bool) {
	for n := min(sp.low, len(sp.ch)); n > 0; n-- {
		<-sp.ch // only the owner receives: len(sp.ch) >= n
	}
	sp.low = len(sp.ch)
	return sp.low > 0 || sp.out.Load() > 0
}

// armSpareTrim starts the timer that trims ls.spares, when this loop takes
// or makes a batch. Owner loop only.
func (ls *loopState) armSpareTrim() {
	if ls.sparesTrim == nil {
		ls.sparesTrim = ls.l.NewTimer(func() {
			ls.sparesArmed = false
			if ls.spares.trim() {
				ls.armSpareTrim()
			}
		})
	}
	ls.sparesTrim.Reset(msgTrimEvery)
	ls.sparesArmed = true
}
