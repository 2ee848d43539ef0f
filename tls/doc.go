// Package tls (imported as soltls) serves MQTT over TLS inside the event loops:
// certificates and their reload, a bounded handshake pool, and a loop transport
// over a stock crypto/tls connection.
//
// # Files
//
//   - config.go: Options, Load, Config.Reload (certificate and CA swapped
//     atomically; handshakes read them through GetConfigForClient).
//   - handler.go: Wrap, a loop.Handler in front of the broker's that runs
//     handshakes and hands established connections over; TLSTag/TagConfig,
//     how a listener tag says "TLS".
//   - transport.go: Transport (loop.Transport over crypto/tls), PeerCommonName.
//
// # How a connection goes
//
// Open on a TLS listener installs a Transport in handshake state and starts
// one goroutine running tls.Conn.HandshakeContext with the handshake
// deadline. At most WrapOptions.MaxHandshakes run at once; beyond that the
// connection is closed at once and counted (Stats.Refused). crypto/tls cannot
// resume a handshake interrupted by "would block" (research/architecture.md
// 3.1), which is why the handshake has its own goroutine.
//
// The handshake goroutine does not read the socket. The loop keeps reading
// it: Decode appends the ciphertext to the transport's buffer and wakes the
// goroutine, whose net.Conn Read waits for it; the goroutine's writes are
// buffered and the transport is posted to the loop (at most one post in
// flight), where Mail writes them with Conn.WriteRaw. This differs from the
// dup(2)-the-fd plan in research/architecture.md 3.2 row C because loop.Conn
// exposes no descriptor; it has merits of its own: no second descriptor for
// the same socket (so none of the EPOLL_CTL_DEL subtleties), it works the
// same for unix sockets and kqueue, and Closed can abandon a handshake simply
// by closing the in-memory pipe. The buffer is bounded by maxHandshakeInput
// (reads pause above it until the handshake ends).
//
// When the goroutine finishes it posts once more. Mail then, on the loop:
// on failure closes the connection (gracefully, to flush the alert; at once
// on timeout) and logs at debug with remote and reason, never calling the
// inner handler; on success switches the transport to loop-fed mode (its
// Read returns a temporary net.Error when empty, which crypto/tls treats as
// resumable: pinned by TestRecordsFedOneByteAtATime), drains the records the
// client sent right after its Finished, calls the inner Open and hands it
// that plaintext once. What the inner Data leaves of it (an incomplete
// packet, or the rest after it paused or migrated the conn) is handed over
// first by the next Decode, or by Open after a migration.
//
// Known limit: loop has no way to put bytes into a connection's pending
// input, so those post-Finished bytes are handed to the inner Data once,
// not again as the loop does while Data keeps consuming (the wrapper cannot
// see whether Data paused reads). If Data leaves complete messages (it
// consumes one per call, or it paused reads and later resumes them), they
// wait for the client's next bytes (at the latest its keepalive PINGREQ). A loop method such as Conn.Feed(b) ("append to
// pending input and deliver as ResumeRead does") would close this gap; the
// broker only pauses for password checks, and only pipelined packets after
// CONNECT are affected.
//
// After the switch no goroutine remains: Decode feeds the bytes read(2)
// returned to crypto/tls without copying them and drains tls.Conn.Read into
// a per-loop plaintext buffer; Encode is tls.Conn.Write, whose records go out
// with Conn.WriteRaw; Closing queues close_notify. The transport holds no
// loop, so a connection migrates with it. crypto/tls itself allocates about
// one small object per record read (readFromUntil's atLeastReader) and keeps
// a record buffer of up to ~17 KiB per connection once a full-size record
// arrived.
package tls
