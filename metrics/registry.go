package metrics

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Gauges are values the registry does not count itself but asks for at
// Snapshot time, from shared structures that already know them (the
// retained store, the subscription index). Each func is called on the
// goroutine taking the snapshot, concurrently with the loops, so it must be
// safe for that (trie's Count and Bytes are). A nil func reports 0.
type Gauges struct {
	RetainedMessages    func() int64 // retained messages stored
	RetainedBytes       func() int64 // their topic plus payload bytes
	Subscriptions       func() int64 // subscriptions, shared ones included
	SharedSubscriptions func() int64 // $share subscriptions
}

// Registry holds every loop's counters plus the callback gauges. Create it
// with NewRegistry before the loops start; the set of loops is fixed.
// All methods are safe for concurrent use by any goroutine.
type Registry struct {
	loops   []*Loop
	gauges  atomic.Pointer[Gauges]
	version string
	start   time.Time

	maxConnected atomic.Int64 // highest ClientsConnected seen by Snapshot
	maxHeap      atomic.Int64 // highest heap seen by Snapshot
}

// NewRegistry returns a registry with loops Loops (at least one) for a
// broker of the given version, started now.
func NewRegistry(loops int, version string) *Registry {
	if loops < 1 {
		loops = 1
	}
	r := &Registry{loops: make([]*Loop, loops), version: version, start: time.Now()}
	for i := range r.loops {
		r.loops[i] = new(Loop)
	}
	r.gauges.Store(&Gauges{})
	return r
}

// Loop returns the counters of loop i, to be written only by that loop's
// goroutine. It returns nil (a valid, recording-nothing *Loop) when i is out
// of range or r is nil.
func (r *Registry) Loop(i int) *Loop {
	if r == nil || i < 0 || i >= len(r.loops) {
		return nil
	}
	return r.loops[i]
}

// Loops returns the number of loops.
func (r *Registry) Loops() int { return len(r.loops) }

// SetGauges installs the callback gauges, replacing any earlier ones. The
// struct is copied.
func (r *Registry) SetGauges(g Gauges) { r.gauges.Store(&g) }

// LoopSnapshot is one loop's share of the values that are worth seeing per
// loop (a loop that falls behind shows here).
type LoopSnapshot struct {
	Iterations     uint64
	MailboxBacklog int64
	Connections    int64 // may be negative on one loop; see the package doc
}

// Snapshot is the broker's counters summed over loops at one moment (see
// the package doc for what "moment" means), plus the callback gauges and
// process values. It is a plain value: keep it, compare it, print it.
type Snapshot struct {
	Version string    // broker version, for sol_build_info and $SYS/broker/version
	Start   time.Time // when the registry was created
	Taken   time.Time // when this snapshot was taken

	Connections      int64
	ConnectionsTotal uint64
	Refused          [NumRefuseReasons]uint64

	ClientsConnected    int64
	ClientsMaximum      int64 // highest ClientsConnected seen by any Snapshot
	ClientsDisconnected int64
	ClientsExpired      uint64

	BytesReceived   uint64
	BytesSent       uint64
	PacketsReceived [NumPacketTypes]uint64
	PacketsSent     [NumPacketTypes]uint64

	PublishReceived      [3]uint64 // by QoS
	PublishSent          [3]uint64
	PublishBytesReceived [3]uint64
	PublishBytesSent     [3]uint64

	Dropped [NumDropReasons]uint64

	Queued      int64
	QueuedBytes int64
	Inflight    int64

	AuthFailures uint64

	RetainedMessages    int64
	RetainedBytes       int64
	Subscriptions       int64
	SharedSubscriptions int64

	HeapBytes   int64 // Go heap in use (live and not yet swept objects)
	HeapMaximum int64 // highest HeapBytes seen by any Snapshot
	Goroutines  int64
	Iterations  uint64
	PerLoop     []LoopSnapshot
}

// Sum helpers for the totals $SYS wants.

// PublishReceivedTotal is PUBLISH packets received at any QoS.
func (s *Snapshot) PublishReceivedTotal() uint64 {
	return s.PublishReceived[0] + s.PublishReceived[1] + s.PublishReceived[2]
}

// PublishSentTotal is PUBLISH packets sent at any QoS.
func (s *Snapshot) PublishSentTotal() uint64 {
	return s.PublishSent[0] + s.PublishSent[1] + s.PublishSent[2]
}

// DroppedTotal is messages dropped for any reason.
func (s *Snapshot) DroppedTotal() uint64 {
	var n uint64
	for _, v := range s.Dropped {
		n += v
	}
	return n
}

// PacketsReceivedTotal is packets of every type received.
func (s *Snapshot) PacketsReceivedTotal() uint64 {
	var n uint64
	for _, v := range s.PacketsReceived {
		n += v
	}
	return n
}

// PacketsSentTotal is packets of every type sent.
func (s *Snapshot) PacketsSentTotal() uint64 {
	var n uint64
	for _, v := range s.PacketsSent {
		n += v
	}
	return n
}

var heapSample = "/memory/classes/heap/objects:bytes"

// Snapshot sums every loop's counters, calls the gauge callbacks and reads
// the Go heap size. It allocates the PerLoop slice and reads runtime
// metrics, so it is for scrapes and timers, not the hot path. Safe from any
// goroutine; it never blocks a loop.
func (r *Registry) Snapshot() Snapshot {
	s := Snapshot{Version: r.version, Start: r.start, Taken: time.Now()}
	s.PerLoop = make([]LoopSnapshot, len(r.loops))
	for i, l := range r.loops {
		s.Connections += l.Connections.Load()
		s.ConnectionsTotal += l.ConnectionsTotal.Load()
		for j := range l.Refused {
			s.Refused[j] += l.Refused[j].Load()
		}
		s.ClientsConnected += l.ClientsConnected.Load()
		s.ClientsDisconnected += l.ClientsDisconnected.Load()
		s.ClientsExpired += l.ClientsExpired.Load()
		s.BytesReceived += l.BytesReceived.Load()
		s.BytesSent += l.BytesSent.Load()
		for j := range l.PacketsReceived {
			s.PacketsReceived[j] += l.PacketsReceived[j].Load()
			s.PacketsSent[j] += l.PacketsSent[j].Load()
		}
		for q := range 3 {
			s.PublishReceived[q] += l.PublishReceived[q].Load()
			s.PublishSent[q] += l.PublishSent[q].Load()
			s.PublishBytesReceived[q] += l.PublishBytesReceived[q].Load()
			s.PublishBytesSent[q] += l.PublishBytesSent[q].Load()
		}
		for j := range l.Dropped {
			s.Dropped[j] += l.Dropped[j].Load()
		}
		s.Queued += l.Queued.Load()
		s.QueuedBytes += l.QueuedBytes.Load()
		s.Inflight += l.Inflight.Load()
		s.AuthFailures += l.AuthFailures.Load()
		it := l.Iterations.Load()
		s.Iterations += it
		s.PerLoop[i] = LoopSnapshot{Iterations: it, MailboxBacklog: l.MailboxBacklog.Load(), Connections: l.Connections.Load()}
	}
	g := r.gauges.Load()
	s.RetainedMessages = call(g.RetainedMessages)
	s.RetainedBytes = call(g.RetainedBytes)
	s.Subscriptions = call(g.Subscriptions)
	s.SharedSubscriptions = call(g.SharedSubscriptions)

	sample := []metrics.Sample{{Name: heapSample}}
	metrics.Read(sample)
	if sample[0].Value.Kind() == metrics.KindUint64 {
		s.HeapBytes = int64(sample[0].Value.Uint64())
	}
	s.Goroutines = int64(runtime.NumGoroutine())
	s.ClientsMaximum = raiseTo(&r.maxConnected, s.ClientsConnected)
	s.HeapMaximum = raiseTo(&r.maxHeap, s.HeapBytes)
	return s
}

// call returns f(), or 0 for a nil f.
func call(f func() int64) int64 {
	if f == nil {
		return 0
	}
	return f()
}

// raiseTo lifts m to at least v and returns the new maximum.
func raiseTo(m *atomic.Int64, v int64) int64 {
	for {
		old := m.Load()
		if v <= old {
			return old
		}
		if m.CompareAndSwap(old, v) {
			return v
		}
	}
}
