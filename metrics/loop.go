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

// Loop holds the counters of one event loop. Only that loop's goroutine
// writes them (through the methods, or the fields' Inc/Add for anything the
// methods do not cover); any goroutine may Load them. Obtain it from
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

	_ [cacheLinePad]byte
}

// Accepted records a new network connection. Owning loop only.
func (l *Loop) Accepted() {
	if l == nil {
		return
	}
	l.Connections.Inc()
	l.ConnectionsTotal.Inc()
}

// Closed records a network connection closed (on whichever loop held it
// then). Owning loop only.
func (l *Loop) Closed() {
	if l == nil {
		return
	}
	l.Connections.Dec()
}

// Refuse records a connection refused for reason r. Owning loop only.
func (l *Loop) Refuse(r RefuseReason) {
	if l == nil {
		return
	}
	if r >= NumRefuseReasons {
		r = RefuseOther
	}
	l.Refused[r].Inc()
}

// AuthFailed records a failed authentication. It does not count a refusal;
// call Refuse too when the connection is refused for it. Owning loop only.
func (l *Loop) AuthFailed() {
	if l == nil {
		return
	}
	l.AuthFailures.Inc()
}

// Received records n bytes read from the network. Owning loop only.
func (l *Loop) Received(n int) {
	if l == nil {
		return
	}
	l.BytesReceived.Add(uint64(n))
}

// Sent records n bytes written to the network. Owning loop only.
func (l *Loop) Sent(n int) {
	if l == nil {
		return
	}
	l.BytesSent.Add(uint64(n))
}

// PacketIn records one packet received; header is the first byte of its
// fixed header. Owning loop only.
func (l *Loop) PacketIn(header byte) {
	if l == nil {
		return
	}
	l.PacketsReceived[header>>4].Inc()
}

// PacketOut records one packet sent; header is the first byte of its fixed
// header. Owning loop only.
func (l *Loop) PacketOut(header byte) {
	if l == nil {
		return
	}
	l.PacketsSent[header>>4].Inc()
}

// PublishIn records a PUBLISH received from a client at qos with a payload
// of payloadBytes. Owning loop only.
func (l *Loop) PublishIn(qos byte, payloadBytes int) {
	if l == nil {
		return
	}
	l.PublishReceived[qos&3].Inc()
	l.PublishBytesReceived[qos&3].Add(uint64(payloadBytes))
}

// PublishOut records a PUBLISH sent to a client at qos with a payload of
// payloadBytes. Owning loop only.
func (l *Loop) PublishOut(qos byte, payloadBytes int) {
	if l == nil {
		return
	}
	l.PublishSent[qos&3].Inc()
	l.PublishBytesSent[qos&3].Add(uint64(payloadBytes))
}

// Drop records one message dropped for reason r. Owning loop only.
func (l *Loop) Drop(r DropReason) {
	if l == nil {
		return
	}
	if r >= NumDropReasons {
		r = DropOther
	}
	l.Dropped[r].Inc()
}

// SessionOnline records a session gaining its connection; wasOffline says
// the session existed without one (a persistent session resumed), so
// ClientsDisconnected goes down. Owning loop only.
func (l *Loop) SessionOnline(wasOffline bool) {
	if l == nil {
		return
	}
	l.ClientsConnected.Inc()
	if wasOffline {
		l.ClientsDisconnected.Dec()
	}
}

// SessionOffline records a session losing its connection; kept says the
// session stays (persistent) and now counts as disconnected. Owning loop
// only.
func (l *Loop) SessionOffline(kept bool) {
	if l == nil {
		return
	}
	l.ClientsConnected.Dec()
	if kept {
		l.ClientsDisconnected.Inc()
	}
}

// SessionExpired records an offline session removed by session expiry.
// Owning loop only.
func (l *Loop) SessionExpired() {
	if l == nil {
		return
	}
	l.ClientsDisconnected.Dec()
	l.ClientsExpired.Inc()
}

// QueueAdd changes the queued-message gauges by messages and bytes
// (negative when messages leave a queue). Owning loop only.
func (l *Loop) QueueAdd(messages, bytes int) {
	if l == nil {
		return
	}
	l.Queued.Add(int64(messages))
	l.QueuedBytes.Add(int64(bytes))
}

// InflightAdd changes the inflight gauge by n (negative on acknowledgement).
// Owning loop only.
func (l *Loop) InflightAdd(n int) {
	if l == nil {
		return
	}
	l.Inflight.Add(int64(n))
}

// Iteration records one event-loop iteration; backlog is the number of
// mail items it found waiting (stored as the MailboxBacklog gauge). Owning
// loop only.
func (l *Loop) Iteration(backlog int) {
	if l == nil {
		return
	}
	l.Iterations.Inc()
	l.MailboxBacklog.Set(int64(backlog))
}
