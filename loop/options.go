package loop

import (
	"log/slog"
	"runtime"
	"time"
)

// Defaults applied by NewServer to zero-valued Options fields.
const (
	defaultReadBufferSize = 64 << 10  // per loop, not per conn
	defaultHighWatermark  = 256 << 10 // per conn output bytes before Congested
	defaultTimerTick      = 10 * time.Millisecond
	defaultAcceptBudget   = 64   // accepts per listener per iteration
	defaultReadBudget     = 512  // readiness events (one read each) per iteration
	defaultMailBudget     = 1024 // mailbox items per iteration
	defaultCloseTimeout   = 2 * time.Second
	defaultBacklog        = 4096
)

// Options configure a Server. The zero value is usable: every zero field gets
// the default named in its comment.
type Options struct {
	// Loops is the number of event loops; 0 means runtime.GOMAXPROCS(0).
	Loops int
	// ReadBufferSize is the size of each loop's read buffer (one per loop,
	// shared by its connections); default 64 KiB. It bounds one read(2).
	ReadBufferSize int
	// HighWatermark is the per-connection output size in bytes at or above
	// which Conn.Congested reports true; default 256 KiB. Output is never
	// dropped: the handler is expected to stop producing.
	HighWatermark int
	// LowWatermark: Handler.Writable fires when output drains below it after
	// the connection was congested; default HighWatermark/2.
	LowWatermark int
	// TimerTick is the timer wheel resolution; default 10ms. Timers never
	// fire early and fire at most about one tick late.
	TimerTick time.Duration
	// AcceptBudget is the number of accepts per listener per iteration;
	// default 64.
	AcceptBudget int
	// ReadBudget is the number of readiness events (each at most one read per
	// connection) handled per iteration; default 512. It sizes the event
	// array handed to epoll_wait/kevent.
	ReadBudget int
	// MailBudget is the number of mailbox items handled per iteration;
	// default 1024. The rest wait for the next iteration, which then polls
	// without blocking.
	MailBudget int
	// Backlog is the accept queue length passed to listen(2) for each
	// listening socket; the kernel caps it at net.core.somaxconn. Default
	// 4096.
	Backlog int
	// CloseTimeout bounds a graceful close (Conn.Close, Server.Stop): flushing
	// output and draining input after the write side is shut down. When it
	// expires the connection is closed at once; default 2s.
	CloseTimeout time.Duration
	// InputBuffer, if set, supplies the buffers the loop reads large
	// messages into (one announced with Conn.ExpectInput that does not fit
	// the read buffer whole or straddles reads): an empty buffer of capacity
	// n to 2n, or nil to let the loop allocate one. The loop keeps such a
	// buffer until its message is consumed, then reuses it, or gives it
	// away for good with Conn.TakeInput. It lets a handler that keeps
	// messages in buffers of its own (the broker's pooled messages) read
	// them in place: a taken buffer comes back through InputBuffer once the
	// handler is done with it. Called on l's goroutine.
	InputBuffer func(l *Loop, n int) []byte
	// Logger receives operator-level events (listener errors, accept
	// back-off). Nil means slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Loops <= 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = defaultReadBufferSize
	}
	if o.HighWatermark <= 0 {
		o.HighWatermark = defaultHighWatermark
	}
	if o.LowWatermark <= 0 || o.LowWatermark > o.HighWatermark {
		o.LowWatermark = o.HighWatermark / 2
	}
	if o.TimerTick <= 0 {
		o.TimerTick = defaultTimerTick
	}
	if o.AcceptBudget <= 0 {
		o.AcceptBudget = defaultAcceptBudget
	}
	if o.ReadBudget <= 0 {
		o.ReadBudget = defaultReadBudget
	}
	if o.MailBudget <= 0 {
		o.MailBudget = defaultMailBudget
	}
	if o.Backlog <= 0 {
		o.Backlog = defaultBacklog
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = defaultCloseTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
