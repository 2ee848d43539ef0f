package loop

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// xorTransport is a toy transport: wire bytes are application bytes XOR key,
// and a graceful close appends an encoded "BYE".
type xorTransport struct {
	key   byte
	plain []byte
	wire  []byte
}

func (x *xorTransport) Decode(c *Conn, wire []byte) ([]byte, error) {
	x.plain = x.plain[:0]
	for _, b := range wire {
		x.plain = append(x.plain, b^x.key)
	}
	return x.plain, nil
}

func (x *xorTransport) Encode(c *Conn, app []byte) error {
	x.wire = x.wire[:0]
	for _, b := range app {
		x.wire = append(x.wire, b^x.key)
	}
	c.WriteRaw(x.wire)
	return nil
}

func (x *xorTransport) Closing(c *Conn) { x.Encode(c, []byte("BYE")) }

func xor(b []byte, k byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[i] = b[i] ^ k
	}
	return out
}

func TestTransportWrapsInputAndOutput(t *testing.T) {
	const key = 0x5a
	h := &testHandler{open: func(c *Conn) { c.SetTransport(&xorTransport{key: key}) }}
	h.data = func(c *Conn, in []byte) int {
		i := bytes.IndexByte(in, '\n') // line framing: partial lines stay pending
		if i < 0 {
			return 0
		}
		line := in[:i+1]
		if string(line) == "quit\n" {
			c.Close()
			return len(line)
		}
		buf := c.Reserve(len(line)) // through the transport via the scratch buffer
		n := copy(buf, line)
		c.Commit(n)
		return len(line)
	}
	_, addr := startServer(t, Options{Loops: 1}, h)
	c := dial(t, addr)
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(xor([]byte("hel"), key))
	c.Write(xor([]byte("lo\nquit\n"), key))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := "hello\nBYE"; string(xor(got, key)) != want {
		t.Fatalf("got %q, want %q", xor(got, key), want)
	}
}

type postProbe struct{ n int }

// Posting a pointer does not allocate (once the queue has grown).
func TestPostPointerDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	done := make(chan struct{}, 1)
	h := &testHandler{mail: func(l *Loop, m any) {
		if m.(*postProbe).n < 0 {
			done <- struct{}{}
		}
	}}
	s, _ := startServer(t, Options{Loops: 1}, h)
	p := &postProbe{n: 1}
	end := &postProbe{n: -1}
	for i := 0; i < 10000; i++ {
		s.Post(0, p)
	}
	if a := testing.AllocsPerRun(1000, func() { s.Post(0, p) }); a != 0 {
		t.Fatalf("Post allocates %v per call", a)
	}
	s.Post(0, end)
	<-done
}

// Re-arming a timer does not allocate.
func TestTimerResetDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	res := make(chan float64, 1)
	h := &testHandler{mail: func(l *Loop, m any) {
		tm := l.NewTimer(func() {})
		res <- testing.AllocsPerRun(1000, func() { tm.Reset(time.Second); tm.Stop() })
	}}
	s, _ := startServer(t, Options{Loops: 1}, h)
	s.Post(0, &postProbe{})
	if a := <-res; a != 0 {
		t.Fatalf("Timer.Reset+Stop allocates %v", a)
	}
}

var sinkAny any

// Shutdown's request is a one-pointer struct, stored in an interface
// without allocating.
func TestCloseRequestDoesNotAllocate(t *testing.T) {
	c := &Conn{}
	if a := testing.AllocsPerRun(100, func() { sinkAny = closeReq{c} }); a != 0 {
		t.Fatalf("closeReq boxing allocates %v", a)
	}
}
