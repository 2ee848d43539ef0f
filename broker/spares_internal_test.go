package broker

import "testing"

// TestSpareBatchesTrim follows a loop's spare batches through a burst of
// cross-loop traffic and after it: spares that a period needed are kept,
// those that stayed unused through a whole period are dropped, and trimming
// stops once nothing is left and nothing was taken.
func TestSpareBatchesTrim(t *testing.T) {
	sp := spareBatches{ch: make(chan *batch, 16)}
	burst := func(n int) []*batch { // n batches out at once, as a burst takes them
		var out []*batch
		for range n {
			bt := sp.get()
			if bt == nil {
				bt = &batch{}
			}
			out = append(out, bt)
		}
		return out
	}
	giveBack := func(out []*batch) {
		for _, bt := range out {
			sp.put(bt)
		}
	}

	// A burst needs 10 at once: all made, all come back.
	giveBack(burst(10))
	if len(sp.ch) != 10 {
		t.Fatalf("after the first burst: %d spares, want 10", len(sp.ch))
	}
	if !sp.trim() || len(sp.ch) != 10 {
		t.Fatalf("first trim: %d spares left, want all 10 kept (the period made them)", len(sp.ch))
	}
	// The next period needs 4 at once: the 6 it never reached are surplus.
	giveBack(burst(4))
	if !sp.trim() || len(sp.ch) != 4 {
		t.Fatalf("after a period that needed 4: %d spares, want 4", len(sp.ch))
	}
	// A quiet period: what is left goes, and with nothing left and nothing
	// out, trimming stops.
	if sp.trim() {
		t.Fatalf("trim after a quiet period wants to run again (%d spares left)", len(sp.ch))
	}
	if len(sp.ch) != 0 {
		t.Fatalf("after a quiet period: %d spares, want 0", len(sp.ch))
	}

	// Batches still out at a trim come back after it, even periods later
	// (a peer far behind, or this loop holding its publishers): trimming
	// goes on meanwhile, and they are aged once back, not kept for good.
	out := burst(5)
	for i := range 3 {
		if !sp.trim() {
			t.Fatalf("trim %d with 5 batches out says stop", i)
		}
	}
	giveBack(out)
	if !sp.trim() || len(sp.ch) != 5 {
		t.Fatalf("trim after the 5 came back: %d spares, want 5 (they came back in this period)", len(sp.ch))
	}
	if sp.trim(); len(sp.ch) != 0 {
		t.Fatalf("a period later: %d spares, want 0", len(sp.ch))
	}

	// A full list lets the GC take what does not fit.
	giveBack(burst(20))
	if len(sp.ch) != cap(sp.ch) {
		t.Fatalf("after giving back 20: %d spares, want the list's %d", len(sp.ch), cap(sp.ch))
	}
}
