package metrics

import "sync/atomic"

// cacheLinePad is two cache lines: the line size of amd64 and arm64 is 64
// bytes, and the adjacent-line prefetcher of x86 pulls lines in pairs.
const cacheLinePad = 128

// Counter is a monotonically increasing count. The zero Counter is 0.
// Inc and Add are meant for one writer goroutine (the owning loop) but are
// atomic, so they are also correct with several; Load is safe from any
// goroutine at any time.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Add adds n.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the current count. Safe from any goroutine.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Gauge is a value that goes up and down. Per-loop gauges may be negative
// (see the package doc); only their sum over loops is meaningful. Inc, Dec,
// Add and Set are atomic; Load is safe from any goroutine.
type Gauge struct{ v atomic.Int64 }

// Inc adds one.
func (g *Gauge) Inc() { g.v.Add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.v.Add(-1) }

// Add adds n (which may be negative).
func (g *Gauge) Add(n int64) { g.v.Add(n) }

// Set replaces the value with n.
func (g *Gauge) Set(n int64) { g.v.Store(n) }

// Load returns the current value. Safe from any goroutine.
func (g *Gauge) Load() int64 { return g.v.Load() }

// RefuseReason says why a connection was refused before its session
// started. It indexes Loop.Refused; values outside 0..NumRefuseReasons-1
// are counted as RefuseOther.
type RefuseReason uint8

// Reasons for refusing a connection. Their String values are the
// Prometheus label values of sol_connections_refused_total{reason}.
const (
	RefuseOther           RefuseReason = iota // anything not listed below
	RefuseMaxConnections                      // max_connections reached (5.0: 0x97/0x9F)
	RefuseNotAuthorized                       // bad user name or password, or ACL (0x86/0x87; 3.1.1: 4/5)
	RefuseProtocolVersion                     // unsupported protocol level (0x84; 3.1.1: 1)
	RefuseClientID                            // client identifier not valid (0x85; 3.1.1: 2)
	RefuseMalformed                           // CONNECT malformed or a protocol error (0x81/0x82)
	RefuseConnectTimeout                      // no CONNECT within the connect timeout
	RefuseShuttingDown                        // server shutting down (0x8B)
	RefuseMemory                              // max_memory reached
	NumRefuseReasons                          // number of reasons; not a reason
)

var refuseNames = [NumRefuseReasons]string{
	"other", "max_connections", "not_authorized", "protocol_version",
	"client_id", "malformed", "connect_timeout", "shutting_down", "memory",
}

// String returns the reason's label value, or "other" when r is out of range.
func (r RefuseReason) String() string {
	if r >= NumRefuseReasons {
		return refuseNames[RefuseOther]
	}
	return refuseNames[r]
}

// DropReason says why a message was not delivered to a subscriber. It
// indexes Loop.Dropped; values out of range are counted as DropOther.
type DropReason uint8

// Reasons for dropping a message. Their String values are the Prometheus
// label values of sol_publish_dropped_total{reason}.
const (
	DropOther         DropReason = iota // anything not listed below
	DropQueueFull                       // session queue at max_queued_messages/bytes
	DropTooLarge                        // above the client's Maximum Packet Size
	DropExpired                         // Message Expiry Interval passed before sending
	DropNotAuthorized                   // ACL refused the publish or the delivery
	DropMemory                          // max_memory reached
	NumDropReasons                      // number of reasons; not a reason
)

var dropNames = [NumDropReasons]string{
	"other", "queue_full", "too_large", "expired", "not_authorized", "memory",
}

// String returns the reason's label value, or "other" when r is out of range.
func (r DropReason) String() string {
	if r >= NumDropReasons {
		return dropNames[DropOther]
	}
	return dropNames[r]
}

// NumPacketTypes is the number of MQTT control packet types, indexed by the
// high nibble of the fixed header's first byte (0 and out-of-range unused).
const NumPacketTypes = 16

// Loop holds the counters of one event loop. The recording methods run on
// that loop's goroutine only and add to plain, owner-only fields (no atomic
// instruction, no shared cache line on the hot path); Flush, called by the
// same goroutine once per loop iteration, adds them to the exported atomic
// Counters and Gauges, which any goroutine may Load. Readers therefore see
// values at most one iteration old. A loop may also Add to an exported
// field directly for anything the methods do not cover. Obtain a Loop from
// Registry.Loop; the zero Loop is also usable (all zero). Every method is
// safe on a nil *Loop and then records nothing (metrics off). No method
// allocates or panics, whatever the argument values.
type Loop struct {
	_ [cacheLinePad]byte

	// Connections: Connections is the number of open network connections
	// (gauge), ConnectionsTotal those ever accepted, Refused those refused
	// before a session started, by reason.
	Connections      Gauge
	ConnectionsTotal Counter
	Refused          [NumRefuseReasons]Counter

	// Clients (sessions): ClientsConnected are sessions with a connection,
	// ClientsDisconnected persistent sessions without one (gauges),
	// ClientsExpired sessions removed by session expiry.
	ClientsConnected    Gauge
	ClientsDisconnected Gauge
	ClientsExpired      Counter

	// Bytes on the wire (all packets) and packets by type.
	BytesReceived   Counter
	BytesSent       Counter
	PacketsReceived [NumPacketTypes]Counter
	PacketsSent     [NumPacketTypes]Counter

	// PUBLISH packets and their payload bytes by QoS (index 3 is unused but
	// keeps qos&3 in range).
	PublishReceived      [4]Counter
	PublishSent          [4]Counter
	PublishBytesReceived [4]Counter
	PublishBytesSent     [4]Counter

	// Dropped messages by reason.
	Dropped [NumDropReasons]Counter

	// Session state (gauges): messages waiting in session queues and their
	// bytes, and outbound QoS 1/2 messages awaiting acknowledgement.
	Queued      Gauge
	QueuedBytes Gauge
	Inflight    Gauge

	// AuthFailures counts failed authentications (bad credentials).
	AuthFailures Counter

	// Loop health: iterations of the event loop, and the mailbox backlog
	// seen at the last drain (gauge, Set by the loop).
	Iterations     Counter
	MailboxBacklog Gauge

	// The owner's side, kept on lines of its own so that readers loading
	// the fields above do not pull them away from the owner's core.
	_     [cacheLinePad]byte
	d     delta // recorded since the last Flush; owner only
	dirty bool  // d holds something
	_     [cacheLinePad]byte
}

// delta is what a loop recorded since its last Flush: plain fields, written
// and read by the owner only. Gauges are signed changes.
type delta struct {
	connections, clientsConnected, clientsDisconnected int64
	queued, queuedBytes, inflight                      int64
	backlog                                            int64

	connectionsTotal, clientsExpired uint64
	bytesReceived, bytesSent         uint64
	authFailures, iterations         uint64
	refused                          [NumRefuseReasons]uint64
	packetsReceived, packetsSent     [NumPacketTypes]uint64
	publishReceived, publishSent     [4]uint64
	publishBytesIn, publishBytesOut  [4]uint64
	dropped                          [NumDropReasons]uint64
	backlogSet                       bool
}

// Flush makes everything recorded since the last Flush visible to readers:
// it adds the owner-only counts to the exported atomic fields and clears
// them. Owning loop only, once per loop iteration (the broker calls it from
// its loop.Handler.Flush) and wherever values must not wait for the next
// iteration. Cheap when nothing was recorded.
func (l *Loop) Flush() {
	if l == nil || !l.dirty {
		return
	}
	d := &l.d
	addGauge(&l.Connections, d.connections)
	addCounter(&l.ConnectionsTotal, d.connectionsTotal)
	for i := range d.refused {
		addCounter(&l.Refused[i], d.refused[i])
	}
	addGauge(&l.ClientsConnected, d.clientsConnected)
	addGauge(&l.ClientsDisconnected, d.clientsDisconnected)
	addCounter(&l.ClientsExpired, d.clientsExpired)
	addCounter(&l.BytesReceived, d.bytesReceived)
	addCounter(&l.BytesSent, d.bytesSent)
	for i := range d.packetsReceived {
		addCounter(&l.PacketsReceived[i], d.packetsReceived[i])
		addCounter(&l.PacketsSent[i], d.packetsSent[i])
	}
	for q := range d.publishReceived {
		addCounter(&l.PublishReceived[q], d.publishReceived[q])
		addCounter(&l.PublishSent[q], d.publishSent[q])
		addCounter(&l.PublishBytesReceived[q], d.publishBytesIn[q])
		addCounter(&l.PublishBytesSent[q], d.publishBytesOut[q])
	}
	for i := range d.dropped {
		addCounter(&l.Dropped[i], d.dropped[i])
	}
	addGauge(&l.Queued, d.queued)
	addGauge(&l.QueuedBytes, d.queuedBytes)
	addGauge(&l.Inflight, d.inflight)
	addCounter(&l.AuthFailures, d.authFailures)
	addCounter(&l.Iterations, d.iterations)
	if d.backlogSet {
		l.MailboxBacklog.Set(d.backlog)
	}
	*d = delta{}
	l.dirty = false
}

// addCounter adds n to c unless n is 0 (an atomic Add saved).
func addCounter(c *Counter, n uint64) {
	if n != 0 {
		c.Add(n)
	}
}

// addGauge adds n to g unless n is 0.
func addGauge(g *Gauge, n int64) {
	if n != 0 {
		g.Add(n)
	}
}

// Accepted records a new network connection. Owning loop only.
func (l *Loop) Accepted() {
	if l == nil {
		return
	}
	l.d.connections++
	l.d.connectionsTotal++
	l.dirty = true
}

// Closed records a network connection closed (on whichever loop held it
// then). Owning loop only.
func (l *Loop) Closed() {
	if l == nil {
		return
	}
	l.d.connections--
	l.dirty = true
}

// Refuse records a connection refused for reason r. Owning loop only.
func (l *Loop) Refuse(r RefuseReason) {
	if l == nil {
		return
	}
	if r >= NumRefuseReasons {
		r = RefuseOther
	}
	l.d.refused[r]++
	l.dirty = true
}

// AuthFailed records a failed authentication. It does not count a refusal;
// call Refuse too when the connection is refused for it. Owning loop only.
func (l *Loop) AuthFailed() {
	if l == nil {
		return
	}
	l.d.authFailures++
	l.dirty = true
}

// Received records n bytes read from the network. Owning loop only.
func (l *Loop) Received(n int) {
	if l == nil {
		return
	}
	l.d.bytesReceived += uint64(n)
	l.dirty = true
}

// Sent records n bytes written to the network. Owning loop only.
func (l *Loop) Sent(n int) {
	if l == nil {
		return
	}
	l.d.bytesSent += uint64(n)
	l.dirty = true
}

// PacketIn records one packet received; header is the first byte of its
// fixed header. Owning loop only.
func (l *Loop) PacketIn(header byte) {
	if l == nil {
		return
	}
	l.d.packetsReceived[header>>4]++
	l.dirty = true
}

// PacketOut records one packet sent; header is the first byte of its fixed
// header. Owning loop only.
func (l *Loop) PacketOut(header byte) {
	if l == nil {
		return
	}
	l.d.packetsSent[header>>4]++
	l.dirty = true
}

// PublishIn records a PUBLISH received from a client at qos with a payload
// of payloadBytes. Owning loop only.
func (l *Loop) PublishIn(qos byte, payloadBytes int) {
	if l == nil {
		return
	}
	l.d.publishReceived[qos&3]++
	l.d.publishBytesIn[qos&3] += uint64(payloadBytes)
	l.dirty = true
}

// PublishOut records a PUBLISH sent to a client at qos with a payload of
// payloadBytes. Owning loop only.
func (l *Loop) PublishOut(qos byte, payloadBytes int) {
	if l == nil {
		return
	}
	l.d.publishSent[qos&3]++
	l.d.publishBytesOut[qos&3] += uint64(payloadBytes)
	l.dirty = true
}

// Drop records one message dropped for reason r. Owning loop only.
func (l *Loop) Drop(r DropReason) {
	if l == nil {
		return
	}
	if r >= NumDropReasons {
		r = DropOther
	}
	l.d.dropped[r]++
	l.dirty = true
}

// SessionOnline records a session gaining its connection; wasOffline says
// the session existed without one (a persistent session resumed), so
// ClientsDisconnected goes down. Owning loop only.
func (l *Loop) SessionOnline(wasOffline bool) {
	if l == nil {
		return
	}
	l.d.clientsConnected++
	if wasOffline {
		l.d.clientsDisconnected--
	}
	l.dirty = true
}

// SessionOffline records a session losing its connection; kept says the
// session stays (persistent) and now counts as disconnected. Owning loop
// only.
func (l *Loop) SessionOffline(kept bool) {
	if l == nil {
		return
	}
	l.d.clientsConnected--
	if kept {
		l.d.clientsDisconnected++
	}
	l.dirty = true
}

// SessionExpired records an offline session removed by session expiry.
// Owning loop only.
func (l *Loop) SessionExpired() {
	if l == nil {
		return
	}
	l.d.clientsDisconnected--
	l.d.clientsExpired++
	l.dirty = true
}

// QueueAdd changes the queued-message gauges by messages and bytes
// (negative when messages leave a queue). Owning loop only.
func (l *Loop) QueueAdd(messages, bytes int) {
	if l == nil {
		return
	}
	l.d.queued += int64(messages)
	l.d.queuedBytes += int64(bytes)
	l.dirty = true
}

// InflightAdd changes the inflight gauge by n (negative on acknowledgement).
// Owning loop only.
func (l *Loop) InflightAdd(n int) {
	if l == nil {
		return
	}
	l.d.inflight += int64(n)
	l.dirty = true
}

// Iteration records one event-loop iteration; backlog is the number of
// mail items it found waiting (the MailboxBacklog gauge after the next
// Flush). Owning loop only.
func (l *Loop) Iteration(backlog int) {
	if l == nil {
		return
	}
	l.d.iterations++
	l.d.backlog = int64(backlog)
	l.d.backlogSet = true
	l.dirty = true
}
