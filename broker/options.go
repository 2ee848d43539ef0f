package broker

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Options are the broker-wide settings. main.go fills them from sol.conf; tests
// fill them directly. The zero value of a field means its documented default.
type Options struct {
	// Loops is the number of event loops; 0 means one per CPU.
	Loops int
	// TCPBacklog is the accept queue length of each listening socket.
	TCPBacklog int
	// MaxConnections refuses connections beyond this many; 0 means no limit.
	MaxConnections int
	// MaxPacketSize is the largest packet accepted from or sent to a client
	// (default 1 MiB).
	MaxPacketSize int
	// MaxMemory bounds the bytes held in queued and in-flight messages; 0 means
	// no limit.
	MaxMemory int64
	// MaxInflight caps QoS 1/2 messages in flight to one client, and is the
	// Receive Maximum announced to 5.0 clients (default 20).
	MaxInflight int
	// MaxQueuedMessages and MaxQueuedBytes bound one session's queue beyond its
	// inflight window; 0 means no limit.
	MaxQueuedMessages int
	MaxQueuedBytes    int64
	// MaxKeepalive caps the keep alive a client may ask for, in seconds
	// (default 65535).
	MaxKeepalive int
	// MaxSessionExpiry caps the Session Expiry Interval; 0 means no cap.
	MaxSessionExpiry time.Duration
	// ConnectTimeout closes connections that send no CONNECT in time
	// (default 10s).
	ConnectTimeout time.Duration
	// MaxQoS is the highest QoS accepted from clients (default 2; set
	// MaxQoSSet when 0 is meant).
	MaxQoS    byte
	MaxQoSSet bool
	// Feature switches announced to 5.0 clients in CONNACK. Disable* so that
	// the zero value enables everything.
	DisableRetain                  bool
	DisableWildcardSubscriptions   bool
	DisableSubscriptionIdentifiers bool
	DisableSharedSubscriptions     bool
	// TopicAliasMaximum is how many topic aliases a 5.0 client may use
	// towards the broker; 0 means none.
	TopicAliasMaximum int
	// StatsInterval is how often $SYS topics are published; 0 means never.
	StatsInterval time.Duration
	// Auth checks passwords and ACLs; nil admits every client that its
	// listener's AllowAnonymous admits and authorises everything.
	Auth Authenticator
	// Logger receives the broker's logs; nil means slog.Default().
	Logger *slog.Logger
	// Version is the bare version ("1.2.0"), published as "sol version
	// 1.2.0" in $SYS/broker/version (Mosquitto's format) and as the
	// version label of sol_build_info.
	Version string
	// DisableMetrics turns the per-loop counters off (the zero value keeps
	// them on): Broker.Metrics returns nil, the $SYS topics and the admin
	// API's /metrics report zeros, and Stats reports only its gauges.
	DisableMetrics bool
}

// ListenerOptions describe one socket the broker accepts clients on.
type ListenerOptions struct {
	// Network is "tcp", "tcp4", "tcp6" or "unix".
	Network string
	// Address is host:port, or a path for unix sockets.
	Address string
	// AllowAnonymous admits clients that send no username.
	AllowAnonymous bool
	// TLS, when non-nil, serves MQTT over TLS with this configuration.
	TLS *tls.Config
	// UseIdentityAsUsername takes the username from the client certificate's
	// Common Name.
	UseIdentityAsUsername bool
}

// TLSConfig returns the listener's TLS configuration, nil for plain TCP. It
// makes *ListenerOptions, the loop listener's tag, a soltls.TLSTag.
func (o *ListenerOptions) TLSConfig() *tls.Config { return o.TLS }

// Authenticator is what the broker needs from the auth package. Implementations
// must be safe for concurrent use from every loop.
type Authenticator interface {
	// CheckPassword verifies a username and password off the event loops and
	// calls done with the verdict from another goroutine. It returns false
	// when the verification queue is full (the client is refused with Server
	// Busy).
	CheckPassword(username, password []byte, done func(ok bool)) bool
	// HasPasswords reports whether a password file is loaded.
	HasPasswords() bool
	// CanPublish, CanSubscribe and CanRead are the ACL checks; CanRead runs for
	// every delivered message and must not allocate.
	CanPublish(clientID, username string, topic []byte) bool
	CanSubscribe(clientID, username string, filter []byte) bool
	CanRead(clientID, username string, topic []byte) bool
}
