package tls

import (
	"context"
	stdtls "crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sol-broker/sol/loop"
)

// Defaults of WrapOptions.
const (
	DefaultMaxHandshakes    = 1024             // handshakes in progress, server-wide
	DefaultHandshakeTimeout = 10 * time.Second // per handshake, from accept
)

// TLSTag is implemented by listener tags (loop.Listener.Tag) that serve TLS:
// TLSConfig returns the configuration, or nil for a plain listener. The
// broker's *ListenerOptions implements it with one method returning its TLS
// field. A tag that is itself a *crypto/tls.Config or a *Config also counts.
type TLSTag interface {
	TLSConfig() *stdtls.Config
}

// TagConfig returns the TLS configuration a listener's tag carries (see
// TLSTag), or nil. Any goroutine.
func TagConfig(ln *loop.Listener) *stdtls.Config {
	if ln == nil {
		return nil
	}
	switch tag := ln.Tag.(type) {
	case *stdtls.Config:
		return tag
	case *Config:
		if tag == nil {
			return nil
		}
		return tag.Config()
	case TLSTag:
		return tag.TLSConfig()
	}
	return nil
}

// WrapOptions configure Wrap. The zero value is usable.
type WrapOptions struct {
	// MaxHandshakes bounds the handshakes in progress across the server;
	// a connection accepted beyond it is closed at once and counted in
	// Stats.Refused. 0 means DefaultMaxHandshakes.
	MaxHandshakes int
	// HandshakeTimeout bounds each handshake; a client that has not finished
	// by then is closed and counted in Stats.TimedOut. 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// ConfigFor returns the TLS configuration for connections accepted on
	// ln, nil for plain TCP. Nil means TagConfig. Called once per accepted
	// connection, on its loop.
	ConfigFor func(ln *loop.Listener) *stdtls.Config
	// Logger receives handshake failures at debug level (keys remote,
	// reason). Nil means slog.Default().
	Logger *slog.Logger
}

// Stats are the handshake counters of a Handler since Wrap.
type Stats struct {
	InProgress int64 // handshakes running now
	Completed  int64 // handshakes that succeeded
	Failed     int64 // handshakes that failed (bad certificate, protocol error, peer gone)
	TimedOut   int64 // handshakes cut at HandshakeTimeout
	Refused    int64 // connections closed because MaxHandshakes were running
}

// Handler is a loop.Handler in front of another one: it runs the TLS
// handshake of connections from TLS listeners and then installs their
// Transport, so the inner handler only ever sees plaintext and only sees
// connections whose handshake succeeded. Connections from plain listeners,
// and every callback for established connections, pass through unchanged,
// as do Mail items that are not its own.
//
// A handshake runs on its own goroutine (at most MaxHandshakes at once),
// fed by the loop: the loop keeps reading the socket and hands the
// ciphertext over, and the goroutine's output is posted back to the loop,
// which writes it. When it ends, the loop switches the connection to the
// loop-fed Transport and calls the inner Open, then its Data once with
// the plaintext the client sent right after its Finished, if any (the inner
// Data should consume every whole message it can per call; see the package
// doc for what waits otherwise). No goroutine remains per established
// connection. Failure or timeout: the connection is closed and the inner
// handler never hears of it.
type Handler struct {
	inner     loop.Handler
	max       int64
	timeout   time.Duration
	configFor func(*loop.Listener) *stdtls.Config
	log       *slog.Logger

	inProgress, completed, failed, timedOut, refused atomic.Int64

	scratchOnce sync.Once
	scratches   [][]byte // plaintext buffer per loop index
}

// Wrap returns a Handler serving TLS in front of inner. Give it to
// loop.NewServer instead of inner. Any goroutine.
func Wrap(inner loop.Handler, o WrapOptions) *Handler {
	h := &Handler{
		inner:     inner,
		max:       int64(o.MaxHandshakes),
		timeout:   o.HandshakeTimeout,
		configFor: o.ConfigFor,
		log:       o.Logger,
	}
	if h.max <= 0 {
		h.max = DefaultMaxHandshakes
	}
	if h.timeout <= 0 {
		h.timeout = DefaultHandshakeTimeout
	}
	if h.configFor == nil {
		h.configFor = TagConfig
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// Stats returns the handshake counters. Any goroutine.
func (h *Handler) Stats() Stats {
	return Stats{
		InProgress: h.inProgress.Load(),
		Completed:  h.completed.Load(),
		Failed:     h.failed.Load(),
		TimedOut:   h.timedOut.Load(),
		Refused:    h.refused.Load(),
	}
}

// scratch returns l's plaintext buffer. Loop goroutine of l only.
func (h *Handler) scratch(l *loop.Loop) []byte {
	h.scratchOnce.Do(func() { h.scratches = make([][]byte, len(l.Server().Loops())) })
	return h.scratches[l.Index()]
}

func (h *Handler) keepScratch(l *loop.Loop, b []byte) { h.scratches[l.Index()] = b[:0] }

// ours returns c's transport if this Handler installed it.
func (h *Handler) ours(c *loop.Conn) *Transport {
	if t, ok := c.Transport().(*Transport); ok && t.h == h {
		return t
	}
	return nil
}

// Open implements loop.Handler. For a TLS listener it starts the handshake
// (or refuses the connection when MaxHandshakes are running); for a
// connection arriving by migration after its handshake, and for plain
// listeners, it calls the inner Open.
func (h *Handler) Open(c *loop.Conn) {
	if t := h.ours(c); t != nil {
		if t.opened { // migrated with its transport
			h.inner.Open(c)
			h.deliverCarry(c, t)
		}
		return
	}
	cfg := h.configFor(c.Listener())
	if cfg == nil {
		h.inner.Open(c)
		return
	}
	t := newTransport(cfg, c.LocalAddr(), c.RemoteAddr())
	t.h, t.c = h, c
	c.SetTransport(t)
	if h.inProgress.Add(1) > h.max {
		h.inProgress.Add(-1)
		h.refused.Add(1)
		t.state = stateRefused
		h.log.Debug("tls handshake refused", "remote", c.RemoteAddr(), "reason", "too many handshakes in progress")
		c.CloseNow()
		return
	}
	l := c.Loop()
	t.raw.post = func() { l.Post(t) }
	go h.handshake(t)
}

// handshake runs on its own goroutine. It touches only t.tc and t.raw, and
// reports to the loop by posting t.
func (h *Handler) handshake(t *Transport) {
	defer h.inProgress.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	err := t.tc.HandshakeContext(ctx)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = errHandshakeTimeout
	}
	cancel()
	// Counted here, not when the loop takes the result: the alert crypto/tls
	// wrote may reach the peer first, and a peer that closes on it closes
	// the connection before the loop sees the result (Closed then abandons
	// it), so a count in Mail would miss the failure.
	switch {
	case err == errHandshakeTimeout:
		h.timedOut.Add(1)
	case err != nil:
		h.failed.Add(1)
	}
	r := &t.raw
	r.mu.Lock()
	r.done, r.hsErr = true, err
	post := !r.posted && !r.gone
	r.posted = true
	r.mu.Unlock()
	if post {
		r.post()
	}
}

var errHandshakeTimeout = errors.New("handshake timed out")

// Mail implements loop.Handler: handshake output and results are handled
// here; any other item goes to the inner handler.
func (h *Handler) Mail(l *loop.Loop, m any) {
	t, ok := m.(*Transport)
	if !ok || t.h != h {
		h.inner.Mail(l, m)
		return
	}
	r := &t.raw
	r.mu.Lock()
	out := r.out
	r.out = r.spare[:0]
	r.spare = out
	r.posted = false
	done, err := r.done, r.hsErr
	r.mu.Unlock()
	c := t.c
	if t.state != stateHandshake || c.Closed() {
		return
	}
	if len(out) > 0 {
		c.WriteRaw(out)
	}
	if !done {
		return
	}
	if err != nil {
		t.state = stateFailed
		t.c = nil
		if err == errHandshakeTimeout {
			h.log.Debug("tls handshake failed", "remote", c.RemoteAddr(), "reason", err)
			c.CloseNow()
			return
		}
		h.log.Debug("tls handshake failed", "remote", c.RemoteAddr(), "reason", err)
		c.Close() // flush the alert crypto/tls queued
		return
	}
	h.completed.Add(1)
	t.switchToLoop()
	t.c = nil
	// Records the client sent right after its Finished are buffered already.
	plain, err := t.drain(c)
	if err != nil {
		h.log.Debug("tls record after handshake", "remote", c.RemoteAddr(), "reason", err)
		c.CloseNow()
		return
	}
	if t.pausedByUs {
		t.pausedByUs = false
		c.ResumeRead()
	}
	t.opened = true
	h.inner.Open(c)
	if len(plain) > 0 {
		t.carry = append(t.carry[:0], plain...)
		h.deliverCarry(c, t)
	}
}

// deliverCarry hands leftover plaintext to the inner Data once, as the loop
// would hand pending input. Unlike the loop it does not call Data again when
// Data consumed part of it, because it cannot see whether Data paused reads
// or migrated c; what Data leaves is handed over first by the next Decode
// (or by Open after a migration). An inner handler that consumes every whole
// message per call, as the broker does, loses nothing by this.
func (h *Handler) deliverCarry(c *loop.Conn, t *Transport) {
	if len(t.carry) == 0 || c.Closed() {
		return
	}
	k := h.inner.Data(c, t.carry)
	k = max(0, min(k, len(t.carry)))
	if k == len(t.carry) || c.Closed() {
		t.carry = nil
		return
	}
	t.carry = append([]byte(nil), t.carry[k:]...)
}

// Data implements loop.Handler by passing through to the inner handler for
// connections it opened.
func (h *Handler) Data(c *loop.Conn, in []byte) int {
	if t := h.ours(c); t != nil && !t.opened {
		return len(in)
	}
	return h.inner.Data(c, in)
}

// Writable implements loop.Handler by passing through.
func (h *Handler) Writable(c *loop.Conn) {
	if t := h.ours(c); t != nil && !t.opened {
		return
	}
	h.inner.Writable(c)
}

// Closed implements loop.Handler. A connection closed during its handshake
// abandons it (the goroutine ends without touching the conn) and is not
// reported to the inner handler; others are.
func (h *Handler) Closed(c *loop.Conn, err error) {
	t := h.ours(c)
	if t == nil || t.opened {
		h.inner.Closed(c, err)
		return
	}
	if t.state == stateHandshake {
		t.state = stateGone
		t.raw.mu.Lock()
		t.raw.gone = true
		t.raw.mu.Unlock()
		_ = t.raw.Close()
	}
	t.c = nil
}

// Flush implements loop.Handler by passing through.
func (h *Handler) Flush(l *loop.Loop) { h.inner.Flush(l) }
