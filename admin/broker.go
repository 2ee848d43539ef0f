package admin

import (
	"context"
	"errors"

	"github.com/sol-broker/sol/metrics"
)

// Broker is what the admin server needs from the broker. Every method may be
// called from any goroutine, concurrently with the others and with the
// event loops; an implementation answers by posting to the owning loop(s)
// and waiting for the reply or ctx.Done(), returning ctx.Err() (wrapped) on
// timeout. Returned slices and values belong to the caller.
//
// Errors wrapping ErrInvalid become 400, ErrNotFound 404,
// context.DeadlineExceeded or context.Canceled 503, anything else 500.
type Broker interface {
	// Clients returns the clients (sessions, connected or not) in a stable
	// order (by client identifier), skipping offset and returning at most
	// limit, plus the total number of clients.
	Clients(ctx context.Context, offset, limit int) (page []ClientInfo, total int, err error)
	// Client returns one client by identifier, or an error wrapping
	// ErrNotFound.
	Client(ctx context.Context, id string) (ClientInfo, error)
	// Disconnect closes the connection of client id; a 5.0 client first
	// gets DISCONNECT with reason 0x98 (Administrative action). The session
	// is kept or ended as its Session Expiry says. It returns an error
	// wrapping ErrNotFound when no such client is connected.
	Disconnect(ctx context.Context, id string) error
	// Subscriptions returns subscriptions ordered by client identifier then
	// filter, only those of client clientID when it is not empty, paged like
	// Clients, plus the total matching.
	Subscriptions(ctx context.Context, clientID string, offset, limit int) (page []SubscriptionInfo, total int, err error)
	// Retained returns the retained messages whose topic matches filter (a
	// valid topic filter; the server checks it), ordered by topic, paged
	// like Clients, plus the total matching.
	Retained(ctx context.Context, filter string, offset, limit int) (page []RetainedInfo, total int, err error)
	// DeleteRetained removes the retained message of topic (a topic name,
	// no wildcards; the server checks it). It returns an error wrapping
	// ErrNotFound when there was none.
	DeleteRetained(ctx context.Context, topic string) error
	// Metrics returns a snapshot of the counters. It must not block on the
	// loops (metrics.Registry.Snapshot does not).
	Metrics() metrics.Snapshot
}

// Errors a Broker wraps to choose the HTTP status.
var (
	ErrNotFound = errors.New("not found")       // 404
	ErrInvalid  = errors.New("invalid request") // 400
)

// ClientInfo describes one client (session) for GET /api/v1/clients.
type ClientInfo struct {
	ID              string `json:"id"`
	Username        string `json:"username,omitempty"`
	ProtocolVersion int    `json:"protocol_version"`         // 3 (3.1), 4 (3.1.1) or 5
	RemoteAddr      string `json:"remote_address,omitempty"` // empty when not connected
	Listener        string `json:"listener,omitempty"`
	Loop            int    `json:"loop"` // index of the owning event loop
	Connected       bool   `json:"connected"`
	CleanStart      bool   `json:"clean_start"`
	KeepAlive       int    `json:"keep_alive"`     // seconds
	SessionExpiry   int64  `json:"session_expiry"` // seconds; 0xFFFFFFFF: never
	Subscriptions   int    `json:"subscriptions"`
	Queued          int    `json:"queue_length"` // messages waiting in the session queue
	Inflight        int    `json:"inflight"`     // outbound QoS 1/2 awaiting acknowledgement
}

// SubscriptionInfo describes one subscription for GET /api/v1/subscriptions.
type SubscriptionInfo struct {
	ClientID          string `json:"client_id"`
	Filter            string `json:"filter"` // as subscribed, "$share/group/..." included
	QoS               int    `json:"qos"`
	NoLocal           bool   `json:"no_local,omitempty"`
	RetainAsPublished bool   `json:"retain_as_published,omitempty"`
	RetainHandling    int    `json:"retain_handling,omitempty"`
	Identifier        int    `json:"subscription_identifier,omitempty"`
}

// RetainedInfo describes one retained message for GET /api/v1/retained.
// Payload is base64 in JSON (encoding/json's []byte form).
type RetainedInfo struct {
	Topic       string `json:"topic"`
	QoS         int    `json:"qos"`
	PayloadSize int    `json:"payload_size"`
	Payload     []byte `json:"payload"`
}
