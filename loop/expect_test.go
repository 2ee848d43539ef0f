package loop

import (
	"encoding/binary"
	"io"
	"sync"
	"testing"
	"time"
)

// framedHandler serves 4-byte length-prefixed messages whose body byte i is
// byte(seq*7+i): it answers each whole message with 1 (intact) or 0, and
// announces incomplete ones with ExpectInput. It also records any pending
// buffer larger than the arrived input justifies.
type framedHandler struct {
	testHandler
	mu      sync.Mutex
	seq     int
	oversz  int // pending capacity seen beyond what pendingSize allows
	bufSize int
}

// nextFrame returns the length of the whole frame (a 4-byte big-endian
// length, then that many bytes) at the start of in, or 0 when it has not
// all arrived, announcing its length with ExpectInput once known.
func nextFrame(c *Conn, in []byte) int {
	if len(in) < 4 {
		return 0
	}
	total := 4 + int(binary.BigEndian.Uint32(in))
	if len(in) < total {
		c.ExpectInput(total)
		return 0
	}
	return total
}

func (h *framedHandler) data(c *Conn, in []byte) int {
	// pendingSize allows twice the input plus a read buffer, and a
	// recycled buffer up to twice that.
	if len(c.pending()) > 0 && cap(c.pending()) > 4*len(c.pending())+2*h.bufSize {
		h.mu.Lock()
		h.oversz = max(h.oversz, cap(c.pending()))
		h.mu.Unlock()
	}
	done := 0
	for {
		total := nextFrame(c, in[done:])
		if total == 0 {
			break
		}
		body := in[done+4 : done+total]
		ok := byte(1)
		for i, b := range body {
			if b != byte(h.seq*7+i) {
				ok = 0
				break
			}
		}
		h.seq++
		c.Write([]byte{ok})
		done += total
	}
	return done
}

// TestExpectInputLargeMessages sends messages smaller and much larger than
// the loop's read buffer in one stream; every one must arrive intact
// through the right-sized pending buffer and direct reads.
func TestExpectInputLargeMessages(t *testing.T) {
	sizes := []int{10, 70000, 200000, 65536 + 5, 3, 1 << 20, 16 << 10, 40000, 1}
	for _, bufSize := range []int{16 << 10, 64 << 10} {
		h := &framedHandler{bufSize: bufSize}
		h.testHandler.data = h.data
		_, addr := startServer(t, Options{Loops: 1, ReadBufferSize: bufSize}, h)
		c := dial(t, addr)
		var stream []byte
		for seq, n := range sizes {
			stream = binary.BigEndian.AppendUint32(stream, uint32(n))
			for i := 0; i < n; i++ {
				stream = append(stream, byte(seq*7+i))
			}
		}
		// Odd-sized writes so that messages straddle reads at many points.
		errc := writeChunks(c, stream, 30011)
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		acks := make([]byte, len(sizes))
		if _, err := io.ReadFull(c, acks); err != nil {
			t.Fatalf("buffer %d: reading acks: %v", bufSize, err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		for i, a := range acks {
			if a != 1 {
				t.Errorf("buffer %d: message %d (%d bytes) corrupted", bufSize, i, sizes[i])
			}
		}
		h.mu.Lock()
		if h.oversz != 0 {
			t.Errorf("buffer %d: pending capacity %d beyond 4*input + 2 read buffers", bufSize, h.oversz)
		}
		h.mu.Unlock()
		c.Close()
	}
}

// TestExpectInputAnnouncedOnly: a peer announcing a 1 MiB message and
// sending a few bytes of it gets no buffer for the whole message.
func TestExpectInputAnnouncedOnly(t *testing.T) {
	h := &framedHandler{bufSize: 64 << 10}
	capc := make(chan int, 4)
	first := make(chan struct{}, 4)
	h.testHandler.data = func(c *Conn, in []byte) int {
		k := h.data(c, in)
		if len(c.pending()) > 0 {
			capc <- cap(c.pending())
		} else {
			first <- struct{}{}
		}
		return k
	}
	_, addr := startServer(t, Options{Loops: 1}, h)
	c := dial(t, addr)
	msg := binary.BigEndian.AppendUint32(nil, 1<<20)
	if _, err := c.Write(append(msg, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("first write not delivered")
	}
	if _, err := c.Write(make([]byte, 100)); err != nil { // delivered from pending
		t.Fatal(err)
	}
	select {
	case n := <-capc:
		if n > 2*114+(64<<10) {
			t.Fatalf("pending capacity %d for 114 bytes arrived", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second write not delivered from pending input")
	}
}
