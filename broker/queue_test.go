package broker

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

func testMsg(payload int) *Msg {
	return newMsg(&msgFields{topic: []byte("t"), payload: make([]byte, payload)})
}

func TestQueueFIFO(t *testing.T) {
	var q sessionQueue
	msgs := make([]*Msg, 200)
	for i := range msgs {
		msgs[i] = testMsg(i)
		if !q.push(delivery{m: msgs[i], qos: 1}) {
			t.Fatalf("unbounded queue refused message %d", i)
		}
	}
	for i := range msgs {
		d, ok := q.pop()
		if !ok || d.m != msgs[i] {
			t.Fatalf("pop %d: got %p ok=%v, want %p", i, d.m, ok, msgs[i])
		}
	}
	if _, ok := q.pop(); ok || q.len() != 0 || q.bytes != 0 {
		t.Fatalf("queue not empty after popping all: len=%d bytes=%d", q.len(), q.bytes)
	}
}

func TestQueueDropPolicy(t *testing.T) {
	q := sessionQueue{maxMsgs: 3}
	a0, b1, c0, d1, e1, f0 := testMsg(1), testMsg(1), testMsg(1), testMsg(1), testMsg(1), testMsg(1)
	q.push(delivery{m: a0, qos: 0})
	q.push(delivery{m: b1, qos: 1})
	q.push(delivery{m: c0, qos: 0})
	// Full: a QoS 1 message evicts the oldest QoS 0 (a0).
	if !q.push(delivery{m: d1, qos: 1}) {
		t.Fatal("QoS 1 refused while a QoS 0 message could be evicted")
	}
	// Full: QoS 0 incoming is dropped.
	if q.push(delivery{m: f0, qos: 0}) {
		t.Fatal("QoS 0 queued into a full queue")
	}
	// Evicts c0.
	if !q.push(delivery{m: e1, qos: 1}) {
		t.Fatal("QoS 1 refused while c0 could be evicted")
	}
	// No QoS 0 left: the newest is dropped.
	if q.push(delivery{m: testMsg(1), qos: 2}) {
		t.Fatal("QoS 2 queued into a queue full of QoS 1")
	}
	if q.dropped != 4 {
		t.Fatalf("dropped = %d, want 4", q.dropped)
	}
	for _, want := range []*Msg{b1, d1, e1} {
		d, ok := q.pop()
		if !ok || d.m != want {
			t.Fatalf("got %p, want %p", d.m, want)
		}
	}
}

func TestQueueByteBound(t *testing.T) {
	one := testMsg(100).size()
	q := sessionQueue{maxBytes: int64(2 * one)}
	for i := 0; i < 2; i++ {
		if !q.push(delivery{m: testMsg(100), qos: 1}) {
			t.Fatalf("message %d refused below the byte bound", i)
		}
	}
	if q.push(delivery{m: testMsg(100), qos: 1}) {
		t.Fatal("message queued beyond the byte bound")
	}
	// A single message larger than the bound is still admitted into an empty
	// queue, so that a big message is not undeliverable.
	q.clear()
	if !q.push(delivery{m: testMsg(10 * one), qos: 1}) {
		t.Fatal("big message refused by an empty queue")
	}
}

// TestQueueMatchesModel drives bounded queues (by count, by bytes, or both)
// with random pushes of mixed QoS and size, pops and clears, and checks them
// against a plain slice applying the same drop policy: the same deliveries
// in the same order, the same counts, every queue reference given back, and
// a well-formed chain of blocks after every step.
func TestQueueMatchesModel(t *testing.T) {
	sizes := []int{1, 100, 1000}
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		q := sessionQueue{}
		switch seed % 3 {
		case 0:
			q.maxMsgs = 1 + r.IntN(200)
		case 1:
			q.maxBytes = int64(100 + r.IntN(20000))
		default:
			q.maxMsgs, q.maxBytes = 1+r.IntN(200), int64(100+r.IntN(20000))
		}
		if seed%2 == 0 {
			q.blocks = new(blockCache) // odd seeds use the shared pools only
		}
		type item struct {
			m   *Msg
			qos byte
		}
		var model []item
		var dropped uint64
		var bytes int64
		for step := 0; step < 4000; step++ {
			switch op := r.IntN(100); {
			case op < 60:
				m := newPooledMsg(&msgFields{topic: []byte("t"), payload: make([]byte, sizes[r.IntN(len(sizes))])})
				d := delivery{m: m, qos: byte(r.IntN(3))}
				n := int64(m.size())
				full := func() bool {
					return q.maxMsgs > 0 && len(model) >= q.maxMsgs ||
						q.maxBytes > 0 && bytes+n > q.maxBytes && len(model) > 0
				}
				want := true
				for full() {
					i := 0
					for i < len(model) && model[i].qos != 0 {
						i++
					}
					if d.qos == 0 || i == len(model) {
						want = false
						break
					}
					bytes -= int64(model[i].m.size())
					model = append(model[:i], model[i+1:]...) // the oldest QoS 0 is evicted
					dropped++
				}
				if got := q.push(d); got != want {
					t.Fatalf("seed %d step %d: push qos %d = %v, want %v", seed, step, d.qos, got, want)
				}
				if want {
					model = append(model, item{m, d.qos})
					bytes += n
				} else {
					dropped++
				}
				m.release() // the publisher's reference
			case op < 97:
				d, ok := q.pop()
				if ok != (len(model) > 0) {
					t.Fatalf("seed %d step %d: pop ok=%v with %d in the model", seed, step, ok, len(model))
				}
				if ok {
					if d.m != model[0].m || d.qos != model[0].qos {
						t.Fatalf("seed %d step %d: popped the wrong delivery", seed, step)
					}
					if d.m.refs.Load() != 1 {
						t.Fatalf("seed %d step %d: popped message has %d references, want 1", seed, step, d.m.refs.Load())
					}
					bytes -= int64(d.m.size())
					d.m.release()
					model = model[1:]
				}
			default:
				q.clear()
				model, bytes = model[:0], 0
			}
			if q.len() != len(model) || q.dropped != dropped || q.bytes != bytes {
				t.Fatalf("seed %d step %d: len %d dropped %d bytes %d, want %d, %d and %d",
					seed, step, q.len(), q.dropped, q.bytes, len(model), dropped, bytes)
			}
			n0 := 0
			for _, it := range model {
				if it.qos == 0 {
					n0++
				}
			}
			if q.n0 != n0 {
				t.Fatalf("seed %d step %d: %d QoS 0 counted, want %d", seed, step, q.n0, n0)
			}
			if err := checkChain(&q); err != "" {
				t.Fatalf("seed %d step %d: %s", seed, step, err)
			}
		}
	}
}

// checkChain checks the shape of q's blocks: none when empty; otherwise no
// empty block, every slot outside the queued range cleared, n deliveries in
// all, and a free-block cache within its bound.
func checkChain(q *sessionQueue) string {
	if q.n == 0 {
		if q.head != nil || q.tail != nil {
			return "an empty queue holds blocks"
		}
		return ""
	}
	n := 0
	for b := q.head; b != nil; b = b.next {
		lo, hi := 0, len(b.items)
		if b == q.head {
			lo = q.hi
		}
		if b == q.tail {
			hi = q.ti
			if b.next != nil {
				return "the tail has a next block"
			}
		}
		if lo >= hi {
			return fmt.Sprintf("empty block in the chain (%d..%d of %d)", lo, hi, len(b.items))
		}
		for i, d := range b.items {
			if (i < lo || i >= hi) && d.m != nil {
				return fmt.Sprintf("slot %d outside %d..%d not cleared", i, lo, hi)
			}
		}
		n += hi - lo
	}
	if n != q.n {
		return fmt.Sprintf("%d deliveries in the chain, %d counted", n, q.n)
	}
	if c := q.blocks; c != nil {
		for k, f := range c.free {
			i := 0
			for b := f; b != nil; b = b.next {
				i++
			}
			if i != c.n[k] || i > blockCacheMax {
				return fmt.Sprintf("cache of size %d holds %d blocks, counts %d", blockSizes[k], i, c.n[k])
			}
		}
	}
	return ""
}

// TestQueueEvictEmptiesTail evicts the only delivery of the tail block and
// then refuses the incoming message (byte bound), so nothing refills the
// tail: the emptied block must leave the chain.
func TestQueueEvictEmptiesTail(t *testing.T) {
	small, big := testMsg(1), testMsg(1000)
	q := sessionQueue{maxBytes: int64(6*small.size() + 10), blocks: new(blockCache)}
	for range 5 { // blocks of 1 and 4
		q.push(delivery{m: small, qos: 1})
	}
	if !q.push(delivery{m: small, qos: 0}) { // alone in a block of 16
		t.Fatal("QoS 0 message refused below the bound")
	}
	if q.push(delivery{m: big, qos: 1}) {
		t.Fatal("message beyond the byte bound queued")
	}
	if err := checkChain(&q); err != "" {
		t.Fatal(err)
	}
	if q.n != 5 || q.dropped != 2 || q.tail.class != 1 || q.ti != 4 {
		t.Fatalf("n %d dropped %d, tail block of %d filled to %d; want 5, 2, 4, 4", q.n, q.dropped, len(q.tail.items), q.ti)
	}
}

// TestQueueMemory checks what a queue holds: a session with one message
// waiting has one block of one delivery, a backlog grows by blocks up to
// 64 deliveries, and a drained backlog gives its blocks back.
func TestQueueMemory(t *testing.T) {
	var q sessionQueue
	q.push(delivery{m: testMsg(1), qos: 1})
	if q.head != q.tail || len(q.head.items) != 1 {
		t.Fatalf("one queued message: block of %d", len(q.head.items))
	}
	for q.len() < 1+4+16+64*10 {
		q.push(delivery{m: testMsg(1), qos: 1})
	}
	var got []int
	for b := q.head; b != nil; b = b.next {
		got = append(got, len(b.items))
	}
	if want := "[1 4 16 64 64 64 64 64 64 64 64 64 64]"; fmt.Sprint(got) != want {
		t.Fatalf("block sizes %v, want %s", got, want)
	}
	for q.len() > 64+1 {
		q.pop()
	}
	if q.head.next != q.tail || q.hi != 63 {
		t.Fatalf("after draining all but 65: head at %d of %d, head.next is tail: %v", q.hi, len(q.head.items), q.head.next == q.tail)
	}
	q.clear()
	if q.head != nil || q.tail != nil || q.len() != 0 {
		t.Fatal("cleared queue still holds blocks")
	}
}

func TestInflightWindowAndIDs(t *testing.T) {
	f := inflightOut{receiveMax: 3}
	var pids []uint16
	for i := 0; i < 3; i++ {
		pid := f.add(delivery{m: testMsg(1), qos: 1})
		if pid == 0 {
			t.Fatalf("add %d refused inside the window", i)
		}
		pids = append(pids, pid)
	}
	if f.add(delivery{m: testMsg(1), qos: 1}) != 0 {
		t.Fatal("add beyond the receive maximum succeeded")
	}
	if !f.remove(pids[1]) || f.remove(pids[1]) {
		t.Fatal("remove: want true once, then false")
	}
	if f.entries[0].pid != pids[0] || f.entries[1].pid != pids[2] {
		t.Fatal("remove did not keep send order")
	}
	// Wrap-around never yields 0 nor an identifier in use.
	f.nextPID = 65534
	seen := map[uint16]bool{pids[0]: true, pids[2]: true}
	f.remove(pids[0])
	delete(seen, pids[0])
	for i := 0; i < 2; i++ {
		pid := f.add(delivery{m: testMsg(1), qos: 2})
		if pid == 0 || seen[pid] {
			t.Fatalf("bad identifier %d after wrap", pid)
		}
		seen[pid] = true
		f.remove(pid)
		delete(seen, pid)
	}
}

func TestInflightPubrec(t *testing.T) {
	f := inflightOut{receiveMax: 2}
	p1 := f.add(delivery{m: testMsg(1), qos: 1})
	p2 := f.add(delivery{m: testMsg(1), qos: 2})
	if f.pubrec(p1) {
		t.Fatal("PUBREC accepted for a QoS 1 message")
	}
	if !f.pubrec(p2) || f.entries[f.find(p2)].state != awaitingPubcomp {
		t.Fatal("PUBREC did not move the QoS 2 entry on")
	}
}

func TestQoS2In(t *testing.T) {
	var q qos2In
	if !q.add(7) || q.add(7) || !q.has(7) {
		t.Fatal("add/has")
	}
	if !q.release(7) || q.release(7) || q.has(7) {
		t.Fatal("release")
	}
}

func TestMsgCopiesOnce(t *testing.T) {
	topic, payload := []byte("a/b"), []byte("hello")
	m := newMsg(&msgFields{topic: topic, payload: payload, contentType: []byte("text")})
	topic[0], payload[0] = 'x', 'x'
	if string(m.Topic) != "a/b" || string(m.Payload) != "hello" || string(m.ContentType) != "text" {
		t.Fatalf("Msg aliases its input: %q %q %q", m.Topic, m.Payload, m.ContentType)
	}
	if m.ResponseTopic != nil {
		t.Fatal("absent property became present")
	}
}

// TestInflightSlidingWindow drives the table the way acknowledgements do,
// mostly oldest first with some out of order, across many wraps of the
// identifier space and one entry stuck for a whole wrap: order is kept, no
// identifier is handed out twice while in use, and steady state allocates
// nothing.
func TestInflightSlidingWindow(t *testing.T) {
	f := inflightOut{receiveMax: 64}
	m := testMsg(1)
	var live []uint16 // model: pids in send order
	stuck := f.add(delivery{m: m, qos: 1})
	live = append(live, stuck)
	check := func() {
		t.Helper()
		if len(f.entries) != len(live) {
			t.Fatalf("len %d, model %d", len(f.entries), len(live))
		}
		for i := range live {
			if f.entries[i].pid != live[i] {
				t.Fatalf("entry %d: pid %d, model %d", i, f.entries[i].pid, live[i])
			}
		}
	}
	for round := 0; round < 3*65536/32; round++ {
		for len(live) < 40 {
			pid := f.add(delivery{m: m, qos: 1})
			if pid == 0 {
				t.Fatal("add refused inside the window")
			}
			for _, p := range live {
				if p == pid {
					t.Fatalf("pid %d handed out while in use", pid)
				}
			}
			live = append(live, pid)
		}
		// Acknowledge: the oldest after the stuck one, then one from the
		// middle, then the newest.
		for _, pick := range []func() int{func() int { return 1 }, func() int { return len(live) / 2 }, func() int { return len(live) - 1 }} {
			i := pick()
			if !f.remove(live[i]) {
				t.Fatalf("remove %d failed", live[i])
			}
			live = append(live[:i], live[i+1:]...)
		}
		for len(live) > 10 {
			if !f.remove(live[1]) {
				t.Fatal("remove oldest failed")
			}
			live = append(live[:1], live[2:]...)
		}
		check()
	}
	if live[0] != stuck {
		t.Fatal("stuck entry lost")
	}
	allocs := testing.AllocsPerRun(1000, func() {
		pid := f.add(delivery{m: m, qos: 1})
		f.remove(f.entries[1].pid)
		_ = pid
	})
	if allocs != 0 {
		t.Fatalf("add+remove allocates %.2f times", allocs)
	}
}

// TestPooledMsgReferences follows one pooled message through its holders: a
// queue entry, an inflight entry and the publisher's own reference; it is
// recycled only when the last is given back.
func TestPooledMsgReferences(t *testing.T) {
	m := newPooledMsg(&msgFields{topic: []byte("a/b"), payload: []byte("x"), qos: 1})
	var q sessionQueue
	var f inflightOut
	f.receiveMax = 10
	q.push(delivery{m: m, qos: 1})
	pid := f.add(delivery{m: m, qos: 1})
	if got := m.refs.Load(); got != 3 {
		t.Fatalf("refs %d after queue and inflight, want 3", got)
	}
	m.release() // the publisher's
	d, _ := q.pop()
	d.m.release()
	if got := m.refs.Load(); got != 1 {
		t.Fatalf("refs %d with only inflight holding it, want 1", got)
	}
	if string(m.Payload) != "x" {
		t.Fatal("payload changed while referenced")
	}
	f.remove(pid)
	if got := m.refs.Load(); got != 0 {
		t.Fatalf("refs %d after the last release, want 0", got)
	}
	// Non-pooled messages (retained, wills, $SYS) are not counted.
	g := newMsg(&msgFields{topic: []byte("a/b")})
	g.ref()
	g.release()
	g.release()
	if g.refs.Load() != 0 {
		t.Fatal("a garbage-collected message was counted")
	}
}

// BenchmarkSessionQueue pushes and pops through a standing backlog of
// depth deliveries: 1 is a client that keeps up, the larger depths are a
// client that has fallen behind. One op is one push and one pop.
func BenchmarkSessionQueue(b *testing.B) {
	m := testMsg(64)
	for _, depth := range []int{1, 1000, 100000} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			q := sessionQueue{blocks: new(blockCache)}
			b.ReportAllocs()
			for b.Loop() {
				for range depth {
					q.push(delivery{m: m, qos: 1})
				}
				for range depth {
					q.pop()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*depth), "ns/msg")
		})
	}
}
