package loop

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// hintStep is a group of framed messages (body sizes) written one way.
type hintStep struct {
	sizes []int
	how   string // "whole": each message in its own write, acked before the next; "one": all in one write; "bytes": one byte per write
}

// hintSteps are the size changes readHinted has to survive, for a loop
// read buffer of buf bytes: a steady stream of equal large messages (one
// read buffer and 30 bytes, like a 64 KB MQTT PUBLISH), then larger,
// smaller, tiny, byte by byte, and several in one write.
func hintSteps(buf int) []hintStep {
	big := buf + 30 - 4
	var steady []int
	for i := 0; i < 30; i++ {
		steady = append(steady, big)
	}
	return []hintStep{
		{steady, "whole"},
		{[]int{big + 4000, big, big - 5000, 10, big, 3 * buf, big, 0, big, 1, big}, "whole"},
		{[]int{big, big}, "one"},
		{[]int{big, 10, big, big, 3}, "one"},
		{[]int{7, big, big}, "one"},
		{[]int{big}, "bytes"}, // a hinted read gets 1 byte of it
		{[]int{300, big}, "bytes"},
		{[]int{big, big + 1, big - 1, big}, "whole"},
		{[]int{5, 6, 7}, "whole"},
	}
}

// runHintSteps writes steps to c as framed messages numbered from seq
// (framedHandler's body bytes) and checks every ack.
func runHintSteps(t *testing.T, c net.Conn, steps []hintStep) {
	t.Helper()
	seq := 0
	frame := func(n int) []byte {
		m := binary.BigEndian.AppendUint32(nil, uint32(n))
		for i := 0; i < n; i++ {
			m = append(m, byte(seq*7+i))
		}
		seq++
		return m
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	ack := make([]byte, 64)
	readAcks := func(what string, n int) {
		t.Helper()
		if _, err := io.ReadFull(c, ack[:n]); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i, a := range ack[:n] {
			if a != 1 {
				t.Fatalf("%s: message %d of %d corrupted", what, i, n)
			}
		}
	}
	for i, st := range steps {
		what := "step " + strconv.Itoa(i) + " (" + st.how + ")"
		switch st.how {
		case "whole":
			for _, n := range st.sizes {
				if _, err := c.Write(frame(n)); err != nil {
					t.Fatal(err)
				}
				readAcks(what, 1)
			}
		case "one":
			var all []byte
			for _, n := range st.sizes {
				all = append(all, frame(n)...)
			}
			if _, err := c.Write(all); err != nil {
				t.Fatal(err)
			}
			readAcks(what, len(st.sizes))
		case "bytes":
			for _, n := range st.sizes {
				m := frame(n)
				// The first bytes one at a time, a pause after each so
				// that each is a read of its own, then the rest.
				for j := 0; j < 6; j++ {
					if _, err := c.Write(m[j : j+1]); err != nil {
						t.Fatal(err)
					}
					time.Sleep(time.Millisecond)
				}
				if _, err := c.Write(m[6:]); err != nil {
					t.Fatal(err)
				}
				readAcks(what, 1)
			}
		}
	}
}

// TestHintedReadsKeepEveryByte sends large messages of one size and then of
// changing sizes over a real socket, for two read buffer sizes: every
// message must arrive intact and in order whether it is read into the
// loop's read buffer, straight into a buffer of the last large message's
// size (readHinted) or into a pending buffer, and afterwards the
// connection must hold no buffer and no hint.
func TestHintedReadsKeepEveryByte(t *testing.T) {
	for _, bufSize := range []int{16 << 10, 64 << 10} {
		h := &framedHandler{bufSize: bufSize}
		h.testHandler.data = h.data
		type probe struct {
			done                chan struct{}
			hint, bigFree, pend int
			hasIO               bool
		}
		h.testHandler.mail = func(l *Loop, m any) {
			p := m.(*probe)
			var c *Conn
			for _, x := range l.conns {
				if x != nil {
					c = x // the only one
				}
			}
			p.hint, p.bigFree, p.pend, p.hasIO = l.hint(c), len(l.bigFree), len(c.pending()), c.io != nil
			close(p.done)
		}
		s, addr := startServer(t, Options{Loops: 1, ReadBufferSize: bufSize}, h)
		c := dial(t, addr)
		runHintSteps(t, c, hintSteps(bufSize))
		h.mu.Lock()
		if h.oversz != 0 {
			t.Errorf("buffer %d: pending capacity %d beyond 4*input + 2 read buffers", bufSize, h.oversz)
		}
		h.mu.Unlock()
		// The last messages were tiny: nothing large may be left.
		p := &probe{done: make(chan struct{})}
		s.Loops()[0].Post(p)
		<-p.done
		if p.hint != 0 || p.pend != 0 || p.hasIO || p.bigFree > maxBigFree {
			t.Errorf("buffer %d: after small messages: hint %d, pending %d, connIO %v, %d free big buffers", bufSize, p.hint, p.pend, p.hasIO, p.bigFree)
		}
		c.Close()
	}
}

// TestHintedReadsAcrossMigrateAndPause runs the same steps through a
// handler that takes one message per Data call and after each migrates the
// connection to the other loop or pauses it (resumed from a mailbox item),
// so that input read straight into a hinted buffer travels with the
// connection or waits as pending input.
func TestHintedReadsAcrossMigrateAndPause(t *testing.T) {
	h := &framedHandler{bufSize: 64 << 10}
	n := 0
	h.testHandler.data = func(c *Conn, in []byte) int {
		if len(in) < 4 || len(in) < 4+int(binary.BigEndian.Uint32(in)) {
			return h.data(c, in)
		}
		total := 4 + int(binary.BigEndian.Uint32(in))
		k := h.data(c, in[:total])
		n++
		if n%2 == 0 {
			c.Migrate(c.Loop().Server().Loops()[n/2%2])
		} else {
			c.PauseRead()
			c.Loop().Post(c)
		}
		return k
	}
	// Posted to the connection's own loop, which it cannot leave while
	// paused (the next message migrates it).
	h.testHandler.mail = func(_ *Loop, m any) { m.(*Conn).ResumeRead() }
	_, addr := startServer(t, Options{Loops: 2}, h)
	c := dial(t, addr)
	defer c.Close()
	runHintSteps(t, c, hintSteps(64<<10))
}

// TestLargeMessagesSteadyStateAllocateNothing pins zero allocations per
// message, process-wide, for large messages through a handler that uses
// ExpectInput (ackHandler): of one size (read whole into a recycled buffer
// of the hinted size), larger than the hint, and alternating sizes (hinted
// read, then a pending buffer from the free list).
func TestLargeMessagesSteadyStateAllocateNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	_, addr := startServer(t, Options{Loops: 1}, ackHandler{})
	c := dial(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	for _, sizes := range [][]int{{largeMessageSize}, {100000}, {largeMessageSize, 70000}, {40000}} {
		msgs := make([][]byte, len(sizes))
		for i, n := range sizes {
			msgs[i] = make([]byte, n)
			binary.BigEndian.PutUint32(msgs[i], uint32(n-4))
		}
		ack := make([]byte, 1)
		trip := func() {
			for _, m := range msgs {
				if _, err := c.Write(m); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, ack); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i := 0; i < 50; i++ {
			trip() // warm the free lists and the hint table
		}
		if a := testing.AllocsPerRun(200, trip); a != 0 {
			t.Fatalf("sizes %v: %v allocations per round, want 0", sizes, a)
		}
	}
}
