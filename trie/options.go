package trie

// SubOptions are the options a client gave with one subscription (MQTT 5.0
// SUBSCRIBE options byte and properties; a 3.1.1 subscription only sets QoS).
// The Index stores them beside the subscription and hands them back in every
// Match; it does not interpret them.
type SubOptions struct {
	// QoS is the granted maximum QoS (0, 1 or 2).
	QoS byte
	// NoLocal asks not to receive one's own publications [MQTT-3.8.3-3].
	NoLocal bool
	// RetainAsPublished keeps the RETAIN flag on forwarded messages.
	RetainAsPublished bool
	// RetainHandling is 0 (send retained on subscribe), 1 (only if the
	// subscription is new) or 2 (never).
	RetainHandling byte
	// SubscriptionID is the Subscription Identifier, 0 when absent.
	SubscriptionID uint32
}

// Match is one subscription that matched a topic, as appended by Index.Match.
// A subscriber with several overlapping filters appears once per matching
// filter, so the broker can apply MQTT-3.3.4-2/-3 (one copy at the highest QoS
// carrying every subscription identifier) itself.
type Match[S comparable] struct {
	// Sub is the subscriber.
	Sub S
	// Opts are the options stored with this subscription.
	Opts SubOptions
	// Filter is the filter exactly as given to Subscribe: "a/+/c" for an
	// ordinary subscription, "$share/g/a/+/c" for a shared one. The string is
	// owned by the Index and is immutable; it may be kept.
	Filter string
	// Group is the share name of a shared subscription ("g" in
	// "$share/g/a/+/c"), "" for an ordinary subscription. Exactly one member
	// of each matching group is reported.
	Group string

	// run is non-zero only while Match is running: on the first entry of a
	// shared group's candidate members it holds how many follow (itself
	// included). It is always zero in the slice Match returns.
	run uint32
}
