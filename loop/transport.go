package loop

// Transport sits between a connection's socket and the Handler: TLS and
// WebSocket implement it. The loop reads wire bytes and hands them to Decode,
// whose result goes to Handler.Data; Conn.Write hands application bytes to
// Encode, which appends wire bytes with Conn.WriteRaw. All methods are
// called on the owning loop's goroutine. Connections without a transport
// (plain TCP) pay nothing for this layer: the loop checks for nil.
//
// A TLS transport over stock crypto/tls keeps the ciphertext from Decode in
// its own buffer, has its net.Conn-side Read return a temporary error when
// that buffer is empty, and drains tls.Conn.Read into its plaintext buffer.
type Transport interface {
	// Decode receives bytes read from the socket (valid only during the
	// call) and returns the application bytes now available, possibly
	// none. The returned slice must stay valid until the next call on this
	// transport; the loop copies what the handler does not consume. A
	// non-nil error closes the connection at once with that error.
	Decode(c *Conn, wire []byte) (app []byte, err error)
	// Encode receives application bytes from Conn.Write (valid only during
	// the call) and writes the wire form with c.WriteRaw. A non-nil error
	// closes the connection at once with that error.
	Encode(c *Conn, app []byte) error
	// Closing is called once when a graceful close starts (Conn.Close,
	// Shutdown, Server.Stop), before output is flushed, so the transport can
	// append a closing record (TLS close_notify, WebSocket close frame) with
	// c.WriteRaw. It is not called by CloseNow.
	Closing(c *Conn)
}

// SetTransport installs t (nil removes it) for all later input and output.
// Bytes already pending as input are not passed through t. Loop goroutine
// only.
func (c *Conn) SetTransport(t Transport) {
	if t != nil || c.x != nil {
		c.ext().tr = t
	}
}

// Transport returns the installed transport or nil. Loop goroutine only.
func (c *Conn) Transport() Transport { return c.transport() }
