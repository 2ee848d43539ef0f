package loop

// Handler is implemented by the layer above (the broker). Every method is
// called on the owning loop's goroutine, never concurrently for one loop, and
// never re-entrantly: a Conn closed or migrated inside a callback is reported
// (Closed) or handed over only after that callback returns.
type Handler interface {
	// Open is called when c is registered on c.Loop(): after accept, or on
	// the destination loop after Migrate. Open is called once per loop that
	// receives c.
	Open(c *Conn)
	// Data hands over input. in is valid only during the call (it aliases
	// the loop's read buffer or c's pending input). Data returns how many
	// bytes it consumed. While it consumes something and bytes remain, the
	// loop calls it again with the rest (so consuming one message per call
	// is correct, if slower); when it consumes nothing, the rest is kept as
	// pending input and presented again, followed by new bytes, after the
	// next read. Pending input is kept
	// only while unconsumed bytes exist, so a handler that consumes whole
	// messages keeps no per-connection input buffer. The handler bounds it:
	// the loop does not limit pending input (MQTT checks announced lengths).
	Data(c *Conn, in []byte) (consumed int)
	// Writable is called after c.Congested() was true and buffered output
	// fell below Options.LowWatermark.
	Writable(c *Conn)
	// Closed is called exactly once when c is gone. err is nil for a local
	// Close/CloseNow/Shutdown, ErrStopped for Server.Stop, io.EOF when the
	// peer closed, or a wrapped syscall error.
	Closed(c *Conn, err error)
	// Mail delivers one item posted with l.Post, in post order per poster.
	Mail(l *Loop, m any)
	// Flush is called at the end of each iteration's batch of events, mail
	// and timers, before the loop writes out the connections written to.
	Flush(l *Loop)
}
