package broker

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestSessionTable drives the table and a Go map with the same random puts,
// replacements and removals (a small key space, so probe runs collide and
// wrap) and compares them after every step.
func TestSessionTable(t *testing.T) {
	var tab sessionTable
	ref := map[string]*session{}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(step int) {
		t.Helper()
		if tab.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tab.len(), len(ref))
		}
		for id, s := range ref {
			if got := tab.get(id); got != s {
				t.Fatalf("step %d: get(%q) = %p, want %p", step, id, got, s)
			}
			if got := tab.getBytes([]byte(id)); got != s {
				t.Fatalf("step %d: getBytes(%q) = %p, want %p", step, id, got, s)
			}
		}
		n := 0
		for s := range tab.all() {
			if ref[s.clientID] != s {
				t.Fatalf("step %d: all() yields %q, not in the reference", step, s.clientID)
			}
			n++
		}
		if n != len(ref) {
			t.Fatalf("step %d: all() yields %d, want %d", step, n, len(ref))
		}
	}
	for step := 0; step < 20000; step++ {
		id := fmt.Sprintf("c%d", r.IntN(300))
		switch r.IntN(3) {
		case 0, 1:
			s := &session{clientID: id}
			tab.put(s)
			ref[id] = s
		case 2:
			if s := ref[id]; s != nil && r.IntN(4) == 0 {
				if tab.remove(&session{clientID: id}) {
					t.Fatalf("step %d: removed %q through another session", step, id)
				}
			}
			if s := ref[id]; s != nil {
				if !tab.remove(s) {
					t.Fatalf("step %d: remove(%q) found nothing", step, id)
				}
				delete(ref, id)
			} else if tab.remove(&session{clientID: id}) {
				t.Fatalf("step %d: removed absent %q", step, id)
			}
		}
		if step%97 == 0 || step > 19900 {
			check(step)
		}
	}
	// Drain: the table shrinks back and still finds everything.
	for id, s := range ref {
		tab.remove(s)
		delete(ref, id)
		check(-1)
	}
	if len(tab.slots) != minSlots {
		t.Fatalf("empty table has %d slots, want %d", len(tab.slots), minSlots)
	}
	if tab.get("c1") != nil {
		t.Fatal("empty table finds c1")
	}
}
