package broker

import (
	"bytes"
	"encoding/binary"
	"sync"
	"testing"

	"github.com/sol-broker/sol/loop"
)

// idleLoop is a loop that is never started, the home loop of Msgs that
// tests make without a broker: their msgHome arms its trim timer there, and
// the timer never fires (tests call trimNow themselves). Tests run one at a
// time on it, as the loop's goroutine would.
var idleLoop = sync.OnceValue(func() *loop.Loop {
	s, err := loop.NewServer(loop.Options{Loops: 1}, nopHandler{})
	if err != nil {
		panic(err)
	}
	return s.Loops()[0]
})

// nopHandler is idleLoop's handler, which never runs.
type nopHandler struct{}

func (nopHandler) Open(*loop.Conn)             {}
func (nopHandler) Data(*loop.Conn, []byte) int { return 0 }
func (nopHandler) Writable(*loop.Conn)         {}
func (nopHandler) Closed(*loop.Conn, error)    {}
func (nopHandler) Mail(*loop.Loop, any)        {}
func (nopHandler) Flush(*loop.Loop)            {}

// testHome is the msgHome of the Msgs newPooledMsg makes.
var testHome = sync.OnceValue(func() *msgHome { return newMsgHome(idleLoop()) })

// newPooledMsg is a pooled Msg for tests that need no broker (testHome).
func newPooledMsg(f *msgFields) *Msg { return testHome().newPooledMsg(f) }

// TestMsgHomeConcurrentRelease makes Msgs on one goroutine (the home loop)
// while four others check and release them, as subscribers' loops do. A
// Msg handed out again while a releaser still held it would show as a
// payload that changed under the releaser (and as a race under -race);
// and the Msgs must come back: far fewer distinct ones than messages.
func TestMsgHomeConcurrentRelease(t *testing.T) {
	if msgDebug {
		t.Skip("soldebug builds never reuse a freed Msg")
	}
	h := newMsgHome(idleLoop())
	const releasers, msgs = 4, 20000
	type held struct {
		m   *Msg
		seq uint64
	}
	chans := make([]chan held, releasers)
	var wg sync.WaitGroup
	errs := make(chan string, releasers)
	for i := range chans {
		chans[i] = make(chan held, 64)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var want [8]byte
			for x := range chans[i] {
				binary.BigEndian.PutUint64(want[:], x.seq)
				if !bytes.Equal(x.m.Payload, want[:]) {
					select {
					case errs <- "a Msg changed while a releaser held it":
					default:
					}
				}
				x.m.release()
			}
		}()
	}
	distinct := map[*Msg]bool{}
	var payload [8]byte
	for seq := range uint64(msgs) {
		binary.BigEndian.PutUint64(payload[:], seq)
		m := h.newPooledMsg(&msgFields{topic: []byte("t"), payload: payload[:]})
		if m.home != h {
			t.Fatalf("Msg of class %d not homed", msgClass(cap(m.buf)))
		}
		distinct[m] = true
		chans[seq%releasers] <- held{m, seq}
	}
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if len(distinct) > msgs/10 {
		t.Errorf("%d distinct Msgs for %d messages: freed ones did not come back", len(distinct), msgs)
	}
}

// TestMsgHomeTrim: a free Msg outlives one trim (it is taken from the aged
// list) and is dropped, left to the GC, by the second.
func TestMsgHomeTrim(t *testing.T) {
	if msgDebug {
		t.Skip("soldebug builds never reuse a freed Msg")
	}
	h := newMsgHome(idleLoop())
	f := &msgFields{topic: []byte("t"), payload: []byte("x")}
	m := h.newPooledMsg(f)
	m.release()
	h.trimNow()
	if again := h.newPooledMsg(f); again != m {
		t.Fatal("a Msg freed before one trim was not reused")
	}
	m.release()
	h.trimNow()
	h.trimNow()
	if again := h.newPooledMsg(f); again == m {
		t.Fatal("a Msg free through two trims was kept")
	}
}

// TestHomeClassesBelowAdopt: the loop-homed classes end below adoptMin's,
// the class inputBuffer takes adopted input buffers from, which must stay
// in the shared pools.
func TestHomeClassesBelowAdopt(t *testing.T) {
	if msgClasses[homeClasses] != adoptMin || msgClasses[homeClasses-1] >= adoptMin {
		t.Fatalf("homeClasses %d: classes %d and %d around adoptMin %d", homeClasses,
			msgClasses[homeClasses-1], msgClasses[homeClasses], adoptMin)
	}
}
