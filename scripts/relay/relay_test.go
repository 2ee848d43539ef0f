//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestWholePackets(t *testing.T) {
	pkt := func(body int) []byte {
		b := []byte{0x30}
		for n := body; ; {
			c := byte(n & 0x7f)
			n >>= 7
			if n > 0 {
				c |= 0x80
			}
			b = append(b, c)
			if n == 0 {
				break
			}
		}
		return append(b, make([]byte, body)...)
	}
	small, empty, big := pkt(5), pkt(0), pkt(200) // big has a two-byte length
	stream := append(append(append([]byte{}, small...), empty...), big...)
	for _, c := range []struct {
		n    int // bytes of stream given
		want int
	}{
		{0, 0}, {1, 0}, {len(small) - 1, 0}, {len(small), len(small)},
		{len(small) + 1, len(small)}, {len(small) + 2, len(small) + 2},
		{len(small) + 2 + 2, len(small) + 2}, {len(stream) - 1, len(small) + 2}, {len(stream), len(stream)},
	} {
		if got := wholePackets(stream[:c.n]); got != c.want {
			t.Errorf("wholePackets(first %d bytes) = %d, want %d", c.n, got, c.want)
		}
	}
	// A length of more than four bytes never completes: the relay waits rather than guess.
	if got := wholePackets([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0}); got != 0 {
		t.Errorf("five-byte length: %d whole bytes", got)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRelay runs a relay on free loopback ports. Its loop goroutine blocks in
// epoll_wait until the test binary exits.
func startRelay(t *testing.T, maxPending int) (in, out string) {
	t.Helper()
	in, out = freeAddr(t), freeAddr(t)
	r, err := newRelay(in, out, maxPending)
	if err != nil {
		t.Fatal(err)
	}
	go r.run()
	return in, out
}

func dialOutput(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	// A small receive buffer (set before connecting, so the window follows)
	// makes the relay's own pending bytes, not the kernel, absorb a backlog.
	d := net.Dialer{Timeout: 2 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<10) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if b, err := r.ReadByte(); err != nil || b != hello {
		t.Fatalf("hello byte: %q, %v", b, err)
	}
	return c, r
}

// frame is a PUBLISH-shaped packet whose body names its input and sequence.
func frame(input, seq, size int) []byte {
	body := make([]byte, size)
	binary.BigEndian.PutUint32(body, uint32(input))
	binary.BigEndian.PutUint32(body[4:], uint32(seq))
	for i := 8; i < size; i++ {
		body[i] = byte(input + seq + i)
	}
	b := []byte{0x30, byte(size)}
	if size >= 128 {
		b = []byte{0x30, byte(size&0x7f | 0x80), byte(size >> 7)}
	}
	return append(b, body...)
}

// readFrames reads n frames and checks each one is intact and in order per input.
func readFrames(t *testing.T, r *bufio.Reader, inputs, perInput int) {
	t.Helper()
	next := make([]int, inputs)
	for k := 0; k < inputs*perInput; k++ {
		h, err := r.ReadByte()
		if err != nil {
			t.Fatalf("frame %d: %v", k, err)
		}
		l1, _ := r.ReadByte()
		size := int(l1 & 0x7f)
		if l1&0x80 != 0 {
			l2, _ := r.ReadByte()
			size |= int(l2) << 7
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil || h != 0x30 {
			t.Fatalf("frame %d: header 0x%02x, %v", k, h, err)
		}
		in, seq := int(binary.BigEndian.Uint32(body)), int(binary.BigEndian.Uint32(body[4:]))
		if in >= inputs || seq != next[in] {
			t.Fatalf("frame %d: input %d sequence %d, want sequence %d", k, in, seq, next[in])
		}
		if want := frame(in, seq, size); !bytes.Equal(body, want[len(want)-size:]) {
			t.Fatalf("frame %d (input %d seq %d) corrupted", k, in, seq)
		}
		next[in]++
	}
}

// TestFanInWholeFrames: three inputs write frames cut at awkward places; two
// outputs each receive every frame whole, in each input's order.
func TestFanInWholeFrames(t *testing.T) {
	in, out := startRelay(t, 4<<20)
	_, r1 := dialOutput(t, out)
	_, r2 := dialOutput(t, out)
	const inputs, perInput = 3, 300
	var wg sync.WaitGroup
	for i := 0; i < inputs; i++ {
		c, err := net.DialTimeout("tcp", in, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			var stream []byte
			for s := 0; s < perInput; s++ {
				stream = append(stream, frame(i, s, 20+s%200)...)
			}
			// Cut into pieces of 1..97 bytes so frames straddle reads.
			for off, n := 0, 1; off < len(stream); off, n = off+n, n%97+1 {
				end := min(off+n, len(stream))
				if _, err := c.Write(stream[off:end]); err != nil {
					t.Errorf("input %d: %v", i, err)
					return
				}
			}
		}()
	}
	readFrames(t, r1, inputs, perInput)
	readFrames(t, r2, inputs, perInput)
	wg.Wait()
}

// TestSlowOutputLosesNothing: with a small pending bound the relay must pause
// its input rather than drop, and deliver everything once the output reads.
func TestSlowOutputLosesNothing(t *testing.T) {
	in, out := startRelay(t, 64<<10)
	oc, r := dialOutput(t, out)
	c, err := net.DialTimeout("tcp", in, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const perInput = 60000 // 12 MB, far beyond the bound and the socket buffers
	werr := make(chan error, 1)
	var written atomic.Int64
	go func() {
		w := bufio.NewWriter(c)
		for s := 0; s < perInput; s++ {
			w.Write(frame(0, s, 200))
			written.Add(203)
		}
		werr <- w.Flush()
	}()
	// Read only once the input has pushed well past the bound, so the relay
	// has had to hold back rather than forward as fast as it reads.
	// (Kernel buffers differ between machines: give up waiting after 2 s.)
	deadline := time.Now().Add(2 * time.Second)
	for written.Load() < 8<<20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	oc.SetDeadline(time.Now().Add(10 * time.Second))
	readFrames(t, r, 1, perInput)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
}

func TestListenRejectsBadAddress(t *testing.T) {
	for _, a := range []string{"localhost:1", "[::1]:1", "127.0.0.1"} {
		if _, err := listen(a); err == nil {
			t.Errorf("%q accepted", a)
		}
	}
}
