package broker

// spareBatches is a loop's list of batches handed back by the loops they
// were posted to (batch). It is as long as the busiest recent exchange
// needed: what stayed unused through a whole trim period (msgTrimEvery, as
// for msgHome) is dropped for the GC, so the list empties a few periods
// after cross-loop traffic stops.
//
// ch is received from by the owner loop only and sent to by any loop, so
// the owner sees at least as many as it last counted.
type spareBatches struct {
	ch   chan *batch
	low  int  // fewest left in ch after a get since the last trim
	took bool // get was called since the last trim
}

// get returns a spare batch, or nil when there is none. Owner loop only.
func (sp *spareBatches) get() *batch {
	sp.took = true
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
// loop.
func (sp *spareBatches) put(bt *batch) {
	select {
	case sp.ch <- bt:
	default:
	}
}

// trim drops the spares that no get needed since the last trim (as many as
// were never below low) and reports whether it should run again: while
// spares are left to age, or batches may still be out. Owner loop only.
func (sp *spareBatches) trim() (again bool) {
	for n := min(sp.low, len(sp.ch)); n > 0; n-- {
		<-sp.ch // only the owner receives: len(sp.ch) >= n
	}
	again = sp.took || len(sp.ch) > 0
	sp.low, sp.took = len(sp.ch), false
	return again
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
