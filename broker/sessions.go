package broker

import (
	"hash/maphash"
	"iter"
)

// sessionTable is a loop's sessions by client identifier: an open-addressing
// hash table of session pointers with linear probing and backward-shift
// deletion, keyed by session.clientID. A map[string]*session held 40 to 55
// bytes per entry (a copy of the key's string header, the value, a control
// byte, and the load factor's slack); this holds 8 bytes per slot at a load
// between 3/16 and 3/4, about 11 to 43 bytes per session, 20 typically.
// The seed is random per table, so client identifiers chosen to collide do
// not degrade it. Owner loop only.
type sessionTable struct {
	seed  maphash.Seed
	slots []*session // length a power of two, or nil while empty
	n     int
}

// minSlots is the smallest table; it is not shrunk below this.
const minSlots = 16

// len returns the number of sessions.
func (t *sessionTable) len() int { return t.n }

func (t *sessionTable) home(id string) int {
	return int(maphash.String(t.seed, id) & uint64(len(t.slots)-1))
}

// get returns the session of id, or nil.
func (t *sessionTable) get(id string) *session {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := t.home(id); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == nil || s.clientID == id {
			return s
		}
	}
}

// getBytes is get for an identifier still in a packet buffer; it does not
// allocate.
func (t *sessionTable) getBytes(id []byte) *session {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := int(maphash.Bytes(t.seed, id) & uint64(mask)); ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == nil || s.clientID == string(id) {
			return s
		}
	}
}

// put adds s, replacing a session with the same identifier.
func (t *sessionTable) put(s *session) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(max(minSlots, 2*len(t.slots)))
	}
	mask := len(t.slots) - 1
	for i := t.home(s.clientID); ; i = (i + 1) & mask {
		if o := t.slots[i]; o == nil || o.clientID == s.clientID {
			if o == nil {
				t.n++
			}
			t.slots[i] = s
			return
		}
	}
}

// remove deletes s if it is the session held for its identifier, and
// reports whether it was.
func (t *sessionTable) remove(s *session) bool {
	if t.n == 0 {
		return false
	}
	mask := len(t.slots) - 1
	i := t.home(s.clientID)
	for ; t.slots[i] != s; i = (i + 1) & mask {
		if t.slots[i] == nil {
			return false
		}
	}
	// Backward shift: move later entries of the probe run into the hole
	// unless that would put one before its home slot.
	for j := (i + 1) & mask; t.slots[j] != nil; j = (j + 1) & mask {
		k := t.home(t.slots[j].clientID)
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = nil
	t.n--
	if len(t.slots) > minSlots && t.n*16 < len(t.slots)*3 {
		t.resize(len(t.slots) / 2) // after a storm of clients has left
	}
	return true
}

func (t *sessionTable) resize(size int) {
	if t.slots == nil {
		t.seed = maphash.MakeSeed()
	}
	old := t.slots
	t.slots = make([]*session, size)
	mask := size - 1
	for _, s := range old {
		if s == nil {
			continue
		}
		i := t.home(s.clientID)
		for t.slots[i] != nil {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// all yields every session. The table must not change during the
// iteration; take a snapshot to change it.
func (t *sessionTable) all() iter.Seq[*session] {
	return func(yield func(*session) bool) {
		for _, s := range t.slots {
			if s != nil && !yield(s) {
				return
			}
		}
	}
}
