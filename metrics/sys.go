package metrics

import (
	"strconv"
	"time"
)

// SysPrefix is the topic prefix of every SysTopic.
const SysPrefix = "$SYS/broker/"

// SysTopic is one $SYS message: a full topic name and its payload.
type SysTopic struct {
	Topic   string
	Payload string
}

// SysTopics returns the $SYS/broker/... messages for s with Mosquitto's
// names and formats (research/users.md 6.2), so existing dashboards and
// exporters read them: integers in decimal, "uptime" as "N seconds",
// "version" as "sol version <version>", and "retained messages/count" with
// its space. The broker publishes each as a retained message every
// stats_publish_interval. Mosquitto's load/* moving averages are not
// produced (Prometheus's rate() replaces them). It allocates the result; it
// is meant for a timer, not the hot path. Safe from any goroutine.
func SysTopics(s Snapshot, uptime time.Duration, version string) []SysTopic {
	d := func(v int64) string { return strconv.FormatInt(v, 10) }
	du := func(v uint64) string { return strconv.FormatUint(v, 10) }
	stored := s.RetainedMessages + s.Queued
	storedBytes := s.RetainedBytes + s.QueuedBytes
	pubBytesIn := s.PublishBytesReceived[0] + s.PublishBytesReceived[1] + s.PublishBytesReceived[2]
	pubBytesOut := s.PublishBytesSent[0] + s.PublishBytesSent[1] + s.PublishBytesSent[2]
	list := []SysTopic{
		{"version", "sol version " + version},
		{"uptime", d(int64(uptime/time.Second)) + " seconds"},
		{"bytes/received", du(s.BytesReceived)},
		{"bytes/sent", du(s.BytesSent)},
		{"clients/connected", d(s.ClientsConnected)},
		{"clients/active", d(s.ClientsConnected)}, // deprecated in Mosquitto, still published
		{"clients/disconnected", d(s.ClientsDisconnected)},
		{"clients/inactive", d(s.ClientsDisconnected)}, // deprecated in Mosquitto, still published
		{"clients/expired", du(s.ClientsExpired)},
		{"clients/maximum", d(s.ClientsMaximum)},
		{"clients/total", d(s.ClientsConnected + s.ClientsDisconnected)},
		{"heap/current", d(s.HeapBytes)},
		{"heap/maximum", d(s.HeapMaximum)},
		{"messages/received", du(s.PacketsReceivedTotal())},
		{"messages/sent", du(s.PacketsSentTotal())},
		{"messages/inflight", d(s.Inflight)},
		{"messages/stored", d(stored)}, // deprecated in Mosquitto, still published
		{"publish/bytes/received", du(pubBytesIn)},
		{"publish/bytes/sent", du(pubBytesOut)},
		{"publish/messages/received", du(s.PublishReceivedTotal())},
		{"publish/messages/sent", du(s.PublishSentTotal())},
		{"publish/messages/dropped", du(s.DroppedTotal())},
		{"retained messages/count", d(s.RetainedMessages)},
		{"shared_subscriptions/count", d(s.SharedSubscriptions)},
		{"store/messages/count", d(stored)},
		{"store/messages/bytes", d(storedBytes)},
		{"subscriptions/count", d(s.Subscriptions)},
	}
	for n := range list {
		list[n].Topic = SysPrefix + list[n].Topic
	}
	return list
}
