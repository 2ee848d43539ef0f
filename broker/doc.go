// Package broker implements MQTT 3.1, 3.1.1 and 5.0 semantics on top of loop
// (event loops), mqtt (the codec) and trie (subscriptions and retained
// messages): connections, sessions, routing, QoS flows, retained messages,
// wills, keep alive and expiry.
//
// # Ownership
//
// Every session belongs to the loop its client identifier hashes to
// (ownerOf), connected or not, for its whole life. Only that loop's
// goroutine reads or writes a session's fields after it is created; the one
// exception is session.flags, an atomic that other loops read: whether the
// session is online (to steer shared-subscription delivery) and whether a
// publish may match it twice (to merge overlapping subscriptions). Each
// loop keeps the sessions it owns in its own table (loopState.sessions,
// sessions.go), so the registry needs no lock.
//
// A connection is accepted by whichever loop the kernel picks. That loop
// reads the CONNECT; if it does not own the client identifier it migrates
// the connection (loop.Conn.Migrate) with the CONNECT still unread, and the
// owner decodes it again. After CONNECT every packet of the connection is
// handled on its session's loop, so takeover, resend and expiry are local to
// one goroutine. A client without an identifier gets one that hashes to the
// loop already holding the connection.
//
// # Publishing
//
// A PUBLISH is decoded in place, copied once into an immutable *Msg, matched
// against the trie into the loop's scratch slice, and delivered: to sessions
// of this loop by encoding into their connection's output (or their queue),
// to sessions of other loops by appending a delivery value to the batch for
// that loop. Handler.Flush posts each non-empty batch once per loop
// iteration; batches are pointers that the receiving loop hands back to the
// sender's free list (a buffered channel), so a steady flow allocates nothing
// per delivery. Mail from one loop to another is FIFO
// and a publisher lives on one loop, so per-publisher order holds
// [MQTT-4.6.0-5].
//
// Large messages (packets of adoptMin, 16 KiB, and more) skip both user-space
// copies where they can: a PUBLISH the loop read into a buffer of its own is
// not copied but adopted, the Msg keeping that buffer (loop.Conn.TakeInput;
// the loop reads such messages into buffers of pooled Msgs,
// Broker.inputBuffer), and a payload of refPayload or more goes into a
// subscriber's output by reference (loop.Conn.WriteRef), the output holding
// a Msg reference until the bytes are written or the connection closes.
// Over TLS the transport copies the payload and the reference is given back
// at once.
//
// Overlapping subscriptions of one session yield one delivery at the highest
// granted QoS carrying every matching subscription identifier (the option
// [MQTT-3.3.4-3] leaves open). Each shared subscription is delivered
// separately, to one member of its group.
//
// # Metrics and the admin API
//
// Each loop records into its own metrics.Loop (loopState.m; nil when
// Options.DisableMetrics) with plain additions, and Handler.Flush (plus
// Handler.Closed, since a connection can be reaped after Flush) publishes
// them to the atomics readers sum, so counters are at most one loop
// iteration old and the publish path does no atomic write for them
// (BenchmarkPublishMetricsPaired). Gauges of shared structures (retained
// messages, subscriptions) are read from trie at snapshot time. $SYS
// topics are published from loop 0's timer (sys.go).
//
// Broker.Admin (admin.go) answers the admin HTTP API: a question about a
// client goes to its owner loop's mailbox, a list to every loop's, and the
// loop answers on a channel with room for the answer, so it never waits for
// a caller that has given up (ctx ended). The retained store is read and
// changed directly, being safe from any goroutine.
//
// A loop whose poller fails closes its clients and exits, and Broker.Failed
// closes: the clients whose identifiers hash to that loop could no longer
// connect, so sol's main shuts down and exits 1 for its supervisor to start
// it again. Shutdown and the admin API wait for each loop's answer or its
// exit, never for mail a dead loop dropped.
//
// # Locks
//
// The broker holds no lock of its own on the publish path. trie.Index and
// trie.Retained lock their shards internally and call no broker code with a
// lock held. Broker.mu guards only the lifecycle fields (listeners, started,
// stopped) and is never held while calling into loop, trie or auth. Lock
// order, for completeness: Broker.mu, then nothing.
//
// # Bounds
//
// Packet size is Options.MaxPacketSize in both directions (a client's own
// Maximum Packet Size further limits what it is sent: larger messages are
// dropped and counted). Outbound QoS 1/2 in flight per session is
// min(client Receive Maximum, Options.MaxInflight); the rest waits in the
// session queue, bounded by MaxQueuedMessages and MaxQueuedBytes with the
// drop policy of sessionQueue. QoS 0 messages are not queued for offline
// sessions (as Mosquitto's default). A connection whose output is above the
// loop's high watermark stops draining its session's queue until Writable.
//
// Options.MaxConnections counts clients past CONNECT (conn.admit), not open
// sockets; sockets that never send CONNECT are closed at ConnectTimeout.
// Options.MaxMemory is checked against the bytes in session queues plus the
// retained store before each PUBLISH is accepted: above it QoS 0 is dropped
// and QoS 1/2 refused with 0x97 (3.1.1: acknowledged and dropped).
//
// A 5.0 publisher hears of drops only where the broker knows the outcome
// before it acknowledges: 0x97 when MaxMemory refuses the message, or when
// every subscriber it matched is on the publisher's loop and each of their
// queues refused it. Deliveries to other loops travel by mailbox after the
// PUBACK is written, so their drops are only counted (Broker.Stats). The
// way there is bounded too: with more than 16 MiB of deliveries waiting
// for a loop, the loops that feed it stop reading PUBLISH packets until it
// has worked down to half (backpressure.go). A
// Payload Format Indicator of 1 with a payload that is not UTF-8 gets
// PUBACK/PUBREC 0x99 at QoS 1/2 and DISCONNECT 0x99 at QoS 0.
package broker
