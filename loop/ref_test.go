package loop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// refCounter counts the references a refHandler queued with WriteRef and
// not yet released, and any released twice.
type refCounter struct {
	queued   atomic.Int64
	live     atomic.Int64
	doubled  atomic.Int64
	taken    atomic.Int64 // input buffers handed over by TakeInput
	misTaken atomic.Int64 // TakeInput that returned a buffer for a frame not at the end of in
	inputBuf atomic.Int64 // Options.InputBuffer calls that supplied a buffer
}

// ref is one WriteRef's Releaser.
type ref struct {
	rc   *refCounter
	done atomic.Bool
}

func (r *ref) Release() {
	if r.done.Swap(true) {
		r.rc.doubled.Add(1)
		return
	}
	r.rc.live.Add(-1)
}

func (rc *refCounter) newRef() *ref {
	rc.queued.Add(1)
	rc.live.Add(1)
	return &ref{rc: rc}
}

// refHandler echoes 4-byte length-prefixed frames: the length copied, the
// body queued by reference, in the input buffer itself when TakeInput hands
// it over (the frame ends the input), in a copy otherwise. With migrate set
// it moves the connection to the next loop after each frame, so references
// travel with queued output.
func refHandler(rc *refCounter, migrate bool) *testHandler {
	h := &testHandler{}
	h.data = func(c *Conn, in []byte) int {
		total := nextFrame(c, in)
		if total == 0 {
			return 0
		}
		c.Write(in[:4])
		body := in[4:total]
		if buf := c.TakeInput(in[:total]); buf != nil {
			if total != len(in) {
				rc.misTaken.Add(1)
			}
			rc.taken.Add(1)
			body = buf[len(buf)-total+4:]
		} else {
			body = bytes.Clone(body)
		}
		c.WriteRef(body, rc.newRef())
		if migrate {
			loops := c.Loop().Server().Loops()
			c.Migrate(loops[(c.Loop().Index()+1)%len(loops)])
		}
		return total
	}
	return h
}

// refOptions are Options whose InputBuffer counts the buffers it supplies.
func refOptions(rc *refCounter, loops int) Options {
	return Options{Loops: loops, HighWatermark: 64 << 10, InputBuffer: func(_ *Loop, n int) []byte {
		rc.inputBuf.Add(1)
		return make([]byte, 0, n+n/2)
	}}
}

// refStream is frames of sizes around and well above the read buffer, odd
// ones included, with bodies from a seeded generator, and the stream the
// echo must equal.
func refStream(seed int64, rounds int) []byte {
	sizes := []int{16 << 10, 16<<10 + 1, 65536 - 4, 65536, 65536 + 7, 100003, 200000, 1 << 20, 3, 17, 40001, 300001}
	rnd := rand.New(rand.NewSource(seed))
	var s []byte
	for range rounds {
		for _, n := range sizes {
			s = binary.BigEndian.AppendUint32(s, uint32(n))
			body := make([]byte, n)
			rnd.Read(body)
			s = append(s, body...)
		}
	}
	return s
}

// checkRefs waits until every reference queued was released exactly once.
func checkRefs(t *testing.T, rc *refCounter) {
	t.Helper()
	waitFor(t, 10*time.Second, "every reference released", func() bool { return rc.live.Load() == 0 })
	if rc.doubled.Load() != 0 {
		t.Fatalf("%d references released twice", rc.doubled.Load())
	}
	if rc.misTaken.Load() != 0 {
		t.Fatalf("TakeInput handed over %d buffers holding more than the frame", rc.misTaken.Load())
	}
}

// TestWriteRefEchoIntact echoes large frames through TakeInput and
// WriteRef to a fast reader and to a slow one that leaves output queued
// (partial writes, EAGAIN), on one loop and migrating between three: every
// byte must come back in order, the loop must hand over input buffers, and
// every reference must be released once.
func TestWriteRefEchoIntact(t *testing.T) {
	for _, tc := range []struct {
		name    string
		loops   int
		migrate bool
		slow    bool
	}{
		{"fast", 1, false, false},
		{"slow", 1, false, true},
		{"migrate", 3, true, false},
		{"migrate-slow", 3, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &refCounter{}
			_, addr := startServer(t, refOptions(rc, tc.loops), refHandler(rc, tc.migrate))
			c := dial(t, addr)
			if tc.slow {
				c = dialSmallWindow(t, addr)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			src := refStream(int64(len(tc.name)), 2)
			errc := writeChunks(c, src, 50021)
			got := make([]byte, len(src))
			if tc.slow {
				// Small reads with pauses: the server's output fills up
				// and is written in pieces.
				for off := 0; off < len(got); {
					n, err := c.Read(got[off:min(off+7000, len(got))])
					if err != nil {
						t.Fatal(err)
					}
					off += n
					time.Sleep(50 * time.Microsecond) // a slow reader is what is tested
				}
			} else if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Fatalf("echo differs from input at byte %d", firstDiff(got, src))
			}
			checkRefs(t, rc)
			if rc.taken.Load() == 0 || rc.inputBuf.Load() == 0 {
				t.Fatalf("no input buffer handed over (taken %d, supplied %d)", rc.taken.Load(), rc.inputBuf.Load())
			}
		})
	}
}

// dialSmallWindow dials addr with a 4 KiB receive buffer, set before the
// connection is made so that the window stays small: what the server
// writes then waits in its output unless the test reads it.
func dialSmallWindow(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		return err
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestWriteRefReleasedOnClose closes connections whose output still holds
// references (the peer never reads, then goes away; or the server closes
// at once): each reference must be released once, on the owning loop.
func TestWriteRefReleasedOnClose(t *testing.T) {
	for _, migrate := range []bool{false, true} {
		t.Run(fmt.Sprintf("migrate=%v", migrate), func(t *testing.T) {
			rc := &refCounter{}
			h := refHandler(rc, migrate)
			h.open = func(c *Conn) {
				// A small send buffer, so that output stays queued.
				syscall.SetsockoptInt(int(c.fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, 8<<10)
			}
			_, addr := startServer(t, refOptions(rc, 2), h)
			src := refStream(3, 1)
			var wg sync.WaitGroup
			for i := range 4 {
				c := dialSmallWindow(t, addr)
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					c.Write(src) // stops when the server's output is congested
				}()
				waitFor(t, 10*time.Second, "references queued", func() bool { return rc.live.Load() > 0 })
				if i%2 == 0 {
					c.(*net.TCPConn).SetLinger(0) // a reset: the loop's write fails
				}
				c.Close()
			}
			wg.Wait()
			waitFor(t, 10*time.Second, "connections closed", func() bool { return h.closedN.Load() == 4 })
			checkRefs(t, rc)
		})
	}
}
