package tls

import (
	stdtls "crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/sol-broker/sol/loop"
)

// errWouldBlock tells crypto/tls that no more ciphertext is buffered. It is a
// temporary net.Error, so tls.Conn keeps a partial record in its rawInput and
// resumes on the next Read instead of making the error sticky
// (crypto/tls conn.go readRecordOrCCS). TestRecordsFedOneByteAtATime pins it.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tls transport: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// errNoConn is returned if crypto/tls writes outside Decode/Encode/Closing
// after the handshake, which it does not do: there is no conn to write to.
var errNoConn = errors.New("tls transport: write outside a loop callback")

// maxHandshakeInput bounds the ciphertext buffered for a handshake in
// progress (the client's flights plus whatever it sends right after its
// Finished). Above it reads pause until the handshake ends; the largest
// legitimate flight (a 256 KiB certificate message) fits.
const maxHandshakeInput = 1 << 20

// minPlainRoom is the least free space handed to tls.Conn.Read: one TLS
// record's plaintext, so a record is never split over two calls.
const minPlainRoom = 16 << 10

// Transport states, owned by the loop goroutine holding the conn.
const (
	stateHandshake   = iota // the handshake goroutine owns tls.Conn
	stateEstablished        // loop-fed; the inner handler may have been opened
	stateFailed             // handshake failed or timed out; conn is closing
	stateRefused            // the handshake pool was full; conn is closing
	stateGone               // Closed ran during the handshake
)

// Transport is the loop.Transport of one TLS connection: a stock
// crypto/tls server connection over an in-memory net.Conn that the loop feeds.
// During the handshake the ciphertext Decode receives is handed to the
// handshake goroutine; afterwards Decode feeds crypto/tls directly and drains
// the plaintext, Encode encrypts into the connection's output with
// Conn.WriteRaw, and Closing sends close_notify.
//
// Nothing in it refers to a loop once the handshake is over, so a connection
// may migrate with it. Its methods are called by the loop on the goroutine
// owning the connection; ConnectionState is for that goroutine too.
type Transport struct {
	h     *Handler
	c     *loop.Conn // the conn, for Mail during the handshake only
	tc    *stdtls.Conn
	raw   rawConn
	state int
	// opened is true once the inner handler's Open ran: only then does it get
	// Data and Closed.
	opened bool
	// pausedByUs is true when Decode paused reads at maxHandshakeInput.
	pausedByUs bool
	// carry is plaintext left over at the switch that the inner handler did
	// not consume; the next Decode hands it over first.
	carry []byte
	// own is the plaintext buffer used when no Handler supplies a per-loop
	// one (tests of the transport alone).
	own []byte
}

// rawConn is the net.Conn under tls.Conn. During the handshake it is shared
// by the loop (which appends ciphertext and collects output) and the
// handshake goroutine (which reads and writes through tls.Conn), under mu.
// After the switch only the loop touches it.
type rawConn struct {
	mu          sync.Mutex
	in          []byte // ciphertext not yet read by tls.Conn
	off         int
	out         []byte // handshake output waiting for the loop to WriteRaw it
	spare       []byte // the loop's previous out, reused
	established bool   // Read returns errWouldBlock when empty instead of waiting
	posted      bool   // t is in the loop's mailbox
	done        bool   // the handshake goroutine finished with hsErr
	hsErr       error
	isClosed    bool
	gone        bool          // the conn closed: the handshake goroutine must not post
	wake        chan struct{} // cap 1: ciphertext arrived
	closed      chan struct{} // closed by Close: the handshake is abandoned

	post   func() // posts the transport to its loop; nil outside a handshake
	c      *loop.Conn
	local  net.Addr
	remote net.Addr
}

// newTransport returns a transport in handshake state serving cfg. post is
// called from the handshake goroutine when output or the result is ready.
func newTransport(cfg *stdtls.Config, local, remote net.Addr) *Transport {
	t := &Transport{}
	t.raw.wake = make(chan struct{}, 1)
	t.raw.closed = make(chan struct{})
	t.raw.local, t.raw.remote = local, remote
	t.tc = stdtls.Server(&t.raw, cfg)
	return t
}

// Read serves buffered ciphertext. During the handshake it waits for more
// (or for Close); afterwards it returns errWouldBlock when empty.
func (r *rawConn) Read(p []byte) (int, error) {
	for {
		r.mu.Lock()
		if r.off < len(r.in) {
			n := copy(p, r.in[r.off:])
			r.off += n
			if r.off == len(r.in) {
				r.in, r.off = r.in[:0], 0
			}
			r.mu.Unlock()
			return n, nil
		}
		if r.established {
			r.mu.Unlock()
			return 0, errWouldBlock
		}
		closed := r.isClosed
		r.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		select {
		case <-r.wake:
		case <-r.closed:
		}
	}
}

// Write queues handshake output for the loop, or after the switch appends
// it to the conn's output (the loop goroutine is the caller then).
func (r *rawConn) Write(p []byte) (int, error) {
	r.mu.Lock()
	if !r.established {
		if r.isClosed {
			r.mu.Unlock()
			return 0, net.ErrClosed
		}
		r.out = append(r.out, p...)
		post := !r.posted
		r.posted = true
		r.mu.Unlock()
		if post {
			r.post()
		}
		return len(p), nil
	}
	r.mu.Unlock()
	if r.c == nil {
		return 0, errNoConn
	}
	r.c.WriteRaw(p)
	return len(p), nil
}

// Close abandons a handshake in progress (crypto/tls calls it when the
// handshake context ends); the loop owns the socket, so nothing else closes.
func (r *rawConn) Close() error {
	r.mu.Lock()
	if !r.isClosed {
		r.isClosed = true
		close(r.closed)
	}
	r.mu.Unlock()
	return nil
}

func (r *rawConn) LocalAddr() net.Addr                { return r.local }
func (r *rawConn) RemoteAddr() net.Addr               { return r.remote }
func (r *rawConn) SetDeadline(t time.Time) error      { return nil }
func (r *rawConn) SetReadDeadline(t time.Time) error  { return nil }
func (r *rawConn) SetWriteDeadline(t time.Time) error { return nil }

// feed appends ciphertext for the handshake goroutine and reports whether
// the buffer reached maxHandshakeInput.
func (r *rawConn) feed(wire []byte) (full bool) {
	r.mu.Lock()
	r.in = append(r.in, wire...)
	full = len(r.in)-r.off >= maxHandshakeInput
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return full
}

// Decode implements loop.Transport. During the handshake it buffers wire for
// the handshake goroutine and returns no plaintext. Afterwards it feeds wire
// to crypto/tls (without copying it: tls.Conn reads all of it into its own
// record buffer before Decode returns) and returns the plaintext now
// available, which stays valid until the next Decode of any transport on
// this loop. A TLS alert or a malformed record is returned as the error;
// close_notify is io.EOF once the plaintext before it was handed over.
// Loop goroutine only.
func (t *Transport) Decode(c *loop.Conn, wire []byte) ([]byte, error) {
	switch t.state {
	case stateEstablished:
	case stateHandshake:
		if t.raw.feed(wire) && !t.pausedByUs {
			t.pausedByUs = true
			c.PauseRead()
		}
		return nil, nil
	default:
		return nil, nil // closing: input is discarded
	}
	t.raw.mu.Lock()
	t.raw.in, t.raw.off = wire, 0
	t.raw.mu.Unlock()
	plain, err := t.drain(c)
	t.raw.mu.Lock()
	t.raw.in, t.raw.off = nil, 0 // never keep the loop's read buffer
	t.raw.mu.Unlock()
	return plain, err
}

// drain reads every record crypto/tls can decrypt from the buffered
// ciphertext into the plaintext buffer, after any carry.
func (t *Transport) drain(c *loop.Conn) ([]byte, error) {
	plain := t.plainBuf(c)
	if len(t.carry) > 0 {
		plain = append(plain, t.carry...)
		t.carry = nil
	}
	t.raw.c = c
	defer func() { t.raw.c = nil }()
	for {
		if cap(plain)-len(plain) < minPlainRoom {
			plain = append(plain[:cap(plain)], make([]byte, minPlainRoom)...)[:len(plain)]
		}
		n, err := t.tc.Read(plain[len(plain):cap(plain)])
		plain = plain[:len(plain)+n]
		if err == nil {
			continue
		}
		t.keepPlainBuf(c, plain)
		if err == errWouldBlock {
			return plain, nil
		}
		if err == io.EOF && len(plain) > 0 {
			// close_notify after data: hand the data over now; the peer
			// closes the socket next, which the loop reports.
			return plain, nil
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("tls record from %s: %w", t.raw.remote, err)
	}
}

// plainBuf returns an empty plaintext buffer: the Handler's one for c's loop,
// or the transport's own.
func (t *Transport) plainBuf(c *loop.Conn) []byte {
	if t.h != nil {
		return t.h.scratch(c.Loop())[:0]
	}
	return t.own[:0]
}

func (t *Transport) keepPlainBuf(c *loop.Conn, b []byte) {
	if t.h != nil {
		t.h.keepScratch(c.Loop(), b)
		return
	}
	t.own = b
}

// Encode implements loop.Transport: it encrypts app into TLS records and
// queues them with c.WriteRaw (app is not retained). Before the handshake
// completed (which the Handler never lets happen) it fails. Loop goroutine
// only.
func (t *Transport) Encode(c *loop.Conn, app []byte) error {
	if t.state != stateEstablished {
		return fmt.Errorf("tls write to %s before the handshake completed", c.RemoteAddr())
	}
	t.raw.c = c
	_, err := t.tc.Write(app)
	t.raw.c = nil
	if err != nil {
		return fmt.Errorf("tls write to %s: %w", c.RemoteAddr(), err)
	}
	return nil
}

// Closing implements loop.Transport: on an established connection it queues
// a close_notify alert; during or after a failed handshake it adds nothing.
// Loop goroutine only.
func (t *Transport) Closing(c *loop.Conn) {
	if t.state != stateEstablished {
		return
	}
	t.raw.c = c
	_ = t.tc.CloseWrite() // close_notify; the loop owns the socket
	t.raw.c = nil
}

// ConnectionState returns the negotiated version, cipher suite and the
// verified peer certificates. Valid once the handshake completed (when the
// inner handler's Open has run). Loop goroutine only.
func (t *Transport) ConnectionState() stdtls.ConnectionState {
	return t.tc.ConnectionState()
}

// PeerCommonName returns the Common Name of the client certificate of c,
// for use_identity_as_username. ok is false when c is not a TLS connection
// whose handshake completed, or the client sent no certificate. Owner loop
// only.
func PeerCommonName(c *loop.Conn) (cn string, ok bool) {
	t, isTLS := c.Transport().(*Transport)
	if !isTLS || t.state != stateEstablished {
		return "", false
	}
	certs := t.tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", false
	}
	return certs[0].Subject.CommonName, true
}

// switchToLoop ends the handshake phase: after it Read returns errWouldBlock
// when the buffer is empty. Loop goroutine, after the handshake goroutine
// reported done.
func (t *Transport) switchToLoop() {
	t.raw.mu.Lock()
	t.raw.established = true
	t.raw.post = nil
	t.raw.spare = nil
	t.raw.mu.Unlock()
	t.state = stateEstablished
}
