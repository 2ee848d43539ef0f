package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sol-broker/sol/loop"
	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
	soltls "github.com/sol-broker/sol/tls"
	"github.com/sol-broker/sol/trie"
)

// Defaults for the zero values of Options.
const (
	defaultMaxPacketSize  = 1 << 20 // 1 MiB, DESIGN.md section 5
	defaultMaxInflight    = 20      // Mosquitto's max_inflight_messages
	maxLoops              = 1 << 16 // session.owner is a uint16
	defaultMaxKeepalive   = 65535   // the largest value CONNECT can carry
	defaultConnectTimeout = 10 * time.Second
)

// Broker is an MQTT 3.1, 3.1.1 and 5.0 broker running on event loops.
// New, Listen, Start and Shutdown may be called from any goroutine, in that
// order; Addrs from any goroutine after Listen.
type Broker struct {
	opts Options
	log  *slog.Logger

	srv      *loop.Server
	loops    []*loopState // indexed by loop index; fixed after New
	subs     *trie.Index[*session]
	retained *trie.Retained[*Msg]

	conns    atomic.Int64      // open sockets, accepted and not yet closed
	admitted atomic.Int64      // connections past CONNECT (or reserving a place), for MaxConnections
	stopping atomic.Bool       // Shutdown has begun: no wills, no new CONNECTs
	reg      *metrics.Registry // per-loop counters; nil when Options.DisableMetrics

	sessionCount atomic.Int64 // live sessions, connected or not
	connected    atomic.Int64 // sessions with a connection
	sharedSubs   atomic.Int64 // $share subscriptions, for metrics
	startTime    time.Time

	mu        sync.Mutex // guards the lifecycle fields below; never held while calling out
	addrs     []net.Addr
	listeners []*ListenerOptions
	started   bool
	stopped   bool
}

// New checks o, fills in defaults, creates the event loops (not yet running)
// and returns the broker. It returns an error naming the offending option
// when o is invalid, or the loop package's error.
func New(o Options) (*Broker, error) {
	if err := o.normalize(); err != nil {
		return nil, fmt.Errorf("broker options: %w", err)
	}
	b := &Broker{
		opts:     o,
		log:      o.Logger,
		subs:     trie.NewIndexFor[*session](o.Loops), // each loop matches as its own reader
		retained: trie.NewRetained[*Msg](),
	}
	// TLS listeners handshake in soltls's wrapper before the broker's
	// handler hears of a connection; plain listeners pass straight through.
	srv, err := loop.NewServer(loop.Options{Loops: o.Loops, Backlog: o.TCPBacklog, Logger: o.Logger, InputBuffer: b.inputBuffer},
		soltls.Wrap(&handler{b: b}, soltls.WrapOptions{Logger: o.Logger}))
	if err != nil {
		return nil, fmt.Errorf("creating event loops: %w", err)
	}
	b.srv = srv
	for _, l := range srv.Loops() {
		b.loops = append(b.loops, newLoopState(b, l))
	}
	b.initMetrics()
	return b, nil
}

// normalize replaces zero values with their documented defaults and rejects
// values that cannot work.
func (o *Options) normalize() error {
	if o.Loops < 0 {
		return fmt.Errorf("loops %d is negative", o.Loops)
	}
	if o.Loops == 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.Loops > maxLoops {
		return fmt.Errorf("loops %d is above %d", o.Loops, maxLoops)
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = defaultMaxPacketSize
	}
	if o.MaxPacketSize < 16 {
		return fmt.Errorf("max packet size %d is too small", o.MaxPacketSize)
	}
	// No packet can be larger; conn keeps the limit in an int32.
	o.MaxPacketSize = min(o.MaxPacketSize, mqtt.MaxPacketSize)
	if o.MaxInflight == 0 {
		o.MaxInflight = defaultMaxInflight
	}
	if o.MaxInflight < 0 || o.MaxInflight > 65535 {
		return fmt.Errorf("max inflight %d is outside 1..65535", o.MaxInflight)
	}
	if o.MaxKeepalive == 0 {
		o.MaxKeepalive = defaultMaxKeepalive
	}
	if o.MaxKeepalive < 0 || o.MaxKeepalive > 65535 {
		return fmt.Errorf("max keepalive %d is outside 1..65535", o.MaxKeepalive)
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if !o.MaxQoSSet && o.MaxQoS == 0 {
		o.MaxQoS = 2
	}
	if o.MaxQoS > 2 {
		return fmt.Errorf("max qos %d is above 2", o.MaxQoS)
	}
	if o.TopicAliasMaximum < 0 || o.TopicAliasMaximum > 65535 {
		return fmt.Errorf("topic alias maximum %d is outside 0..65535", o.TopicAliasMaximum)
	}
	if o.MaxQueuedMessages < 0 || o.MaxQueuedBytes < 0 {
		return errors.New("max queued messages and bytes must not be negative")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Listen opens a listening socket described by l and returns its address
// (with the port chosen when l.Address asks for port 0). Call it before
// Start. With l.TLS set, clients handshake TLS before MQTT.
func (b *Broker) Listen(l ListenerOptions) (net.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return nil, fmt.Errorf("listen %s %s: broker already started", l.Network, l.Address)
	}
	network := l.Network
	if network == "" {
		network = "tcp"
	}
	if l.TLS != nil && len(l.TLS.Certificates) == 0 && l.TLS.GetCertificate == nil && l.TLS.GetConfigForClient == nil {
		return nil, fmt.Errorf("listen %s %s: TLS configuration has no certificate", l.Network, l.Address)
	}
	lo := l
	addr, err := b.srv.Listen(network, l.Address, &lo)
	if err != nil {
		return nil, fmt.Errorf("listen %s %s: %w", network, l.Address, err)
	}
	b.addrs = append(b.addrs, addr)
	b.listeners = append(b.listeners, &lo)
	return addr, nil
}

// Start starts the event loops. It returns an error if the broker was started
// before or has no listener.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("broker already started")
	}
	if len(b.addrs) == 0 {
		return errors.New("broker has no listener")
	}
	// Set before the loops run: they read it (keep alive, $SYS uptime).
	b.startTime = time.Now()
	if err := b.srv.Start(); err != nil {
		return fmt.Errorf("starting event loops: %w", err)
	}
	b.started = true
	b.loops[0].l.Post(&sysStart{})
	b.log.Info("broker started", "loops", len(b.loops), "listeners", len(b.addrs))
	return nil
}

// shutdownMsg asks a loop to tell its 5.0 clients the server is shutting
// down and close every connection. The loop closes its own handled channel.
type shutdownMsg struct{ handled []chan struct{} }

// Failed is closed when an event loop has stopped on its own (its poller
// failed) and closed its clients; Failure says why. That loop serves no
// more, so clients whose identifiers hash to it can no longer connect. The
// owner should call Shutdown and exit, so that a supervisor (systemd's
// Restart=on-failure) starts a whole broker again; sol does. Any goroutine.
func (b *Broker) Failed() <-chan struct{} { return b.srv.Failed() }

// Failure returns the first event loop failure once Failed is closed, else
// nil. Any goroutine.
func (b *Broker) Failure() error { return b.srv.Failure() }

// Shutdown stops accepting connections, tells 5.0 clients the server is
// shutting down (DISCONNECT 0x8B), flushes and closes every connection and
// waits for the loops to exit. It returns ctx's error if ctx ends first. A
// broker that never started only releases its sockets. Safe to call more
// than once; later calls return nil.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil
	}
	if !b.started {
		b.stopped = true
		b.mu.Unlock()
		return b.srv.Stop(ctx)
	}
	b.stopped = true
	b.mu.Unlock()

	b.stopping.Store(true)
	b.srv.StopAccepting()
	m := &shutdownMsg{handled: make([]chan struct{}, len(b.loops))}
	for i := range m.handled {
		m.handled[i] = make(chan struct{})
	}
	for _, ls := range b.loops {
		ls.l.Post(m)
	}
	// A loop that failed (Failed) has exited and drops its mail: wait for
	// each loop's answer or its exit, not for an answer that cannot come.
wait:
	for i, ls := range b.loops {
		select {
		case <-m.handled[i]:
		case <-ls.l.Exited():
		case <-ctx.Done():
			break wait
		}
	}
	if err := b.srv.Stop(ctx); err != nil {
		return fmt.Errorf("stopping event loops: %w", err)
	}
	b.log.Info("broker stopped")
	return nil
}

// Stats is a snapshot of the broker's counters and gauges. Counters only
// grow; gauges are current values. Each field is read atomically on its own,
// so fields may be a few events apart from one another.
type Stats struct {
	// Sockets is the number of open client sockets, CONNECT or not.
	Sockets int64
	// Connected is the number of sessions with a connection.
	Connected int64
	// Sessions is the number of live sessions, connected or not.
	Sessions int64
	// QueuedBytes is the size of every message waiting in a session queue.
	QueuedBytes int64
	// Received and Sent count PUBLISH packets from and to clients.
	Received, Sent uint64
	// DroppedQueueFull counts deliveries dropped by a session queue's bounds
	// (Options.MaxQueuedMessages, MaxQueuedBytes): slow or offline
	// subscribers.
	DroppedQueueFull uint64
	// DroppedTooLarge counts deliveries above a client's Maximum Packet Size.
	DroppedTooLarge uint64
	// DroppedExpired counts deliveries whose Message Expiry passed first.
	DroppedExpired uint64
	// DroppedMemory counts PUBLISH packets refused over Options.MaxMemory.
	DroppedMemory uint64
	// RefusedConnections counts CONNECTs refused at Options.MaxConnections.
	RefusedConnections uint64
}

// queuedBytes is the size of every message in a session queue, summed over
// the loops' counters. Any goroutine.
func (b *Broker) queuedBytes() int64 {
	var n int64
	for _, ls := range b.loops {
		n += ls.queuedBytes.Load()
	}
	return n
}

// Stats returns a snapshot of the counters. Any goroutine; it does not
// allocate or block on the loops. The counters come from the per-loop
// metrics (summed here) and read zero when Options.DisableMetrics is set.
func (b *Broker) Stats() Stats {
	st := Stats{
		Sockets:     b.conns.Load(),
		Connected:   b.connected.Load(),
		Sessions:    b.sessionCount.Load(),
		QueuedBytes: b.queuedBytes(),
	}
	for i := range b.loops {
		m := b.reg.Loop(i)
		if m == nil {
			break
		}
		for q := range 3 {
			st.Received += m.PublishReceived[q].Load()
			st.Sent += m.PublishSent[q].Load()
		}
		st.DroppedQueueFull += m.Dropped[metrics.DropQueueFull].Load()
		st.DroppedTooLarge += m.Dropped[metrics.DropTooLarge].Load()
		st.DroppedExpired += m.Dropped[metrics.DropExpired].Load()
		st.DroppedMemory += m.Dropped[metrics.DropMemory].Load()
		st.RefusedConnections += m.Refused[metrics.RefuseMaxConnections].Load()
	}
	return st
}

// Addrs returns the addresses of the listening sockets, in Listen order.
// Safe for concurrent use.
func (b *Broker) Addrs() []net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]net.Addr(nil), b.addrs...)
}

// ownerOf returns the index of the loop that owns client identifier id.
func (b *Broker) ownerOf(id []byte) int {
	return int(fnv1a(id) % uint32(len(b.loops)))
}

// fnv1a is the 32-bit FNV-1a hash, inline so that hashing allocates nothing.
func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
