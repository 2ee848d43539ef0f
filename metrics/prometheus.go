package metrics

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
)

// ContentType is the Content-Type of WritePrometheus's output (the text
// exposition format, version 0.0.4).
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// packetNames are the label values of sol_packets_*_total{type}, indexed by
// MQTT control packet type; "" marks an index that is not a packet type.
var packetNames = [NumPacketTypes]string{
	"", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
	"subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp",
	"disconnect", "auth",
}

// promWriter writes metric families; the first write error sticks and later
// writes are skipped.
type promWriter struct {
	w   *bufio.Writer
	err error
}

func (p *promWriter) family(name, typ, help string) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) sample(name, labels string, v string) {
	if p.err != nil {
		return
	}
	if labels != "" {
		_, p.err = fmt.Fprintf(p.w, "%s{%s} %s\n", name, labels, v)
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%s %s\n", name, v)
}

// labelEscaper escapes a label value as the text format requires: only
// backslash, double quote and line feed.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(v string) string { return labelEscaper.Replace(v) }

func u(v uint64) string { return strconv.FormatUint(v, 10) }
func i(v int64) string  { return strconv.FormatInt(v, 10) }

func (p *promWriter) counter(name, help string, v uint64) {
	p.family(name, "counter", help)
	p.sample(name, "", u(v))
}

func (p *promWriter) gauge(name, help string, v int64) {
	p.family(name, "gauge", help)
	p.sample(name, "", i(v))
}

// WritePrometheus writes s to w in the Prometheus text exposition format
// (ContentType), with the naming conventions of research/users.md 6.7: the
// sol_ prefix, _total on counters, base units in names, labels only of low
// cardinality (qos, reason, type, loop; never a client). It returns the
// first write error, wrapped. It may be called from any goroutine; w is
// written through a buffer and flushed before return.
func WritePrometheus(w io.Writer, s Snapshot) error {
	p := &promWriter{w: bufio.NewWriterSize(w, 8<<10)}
	p.family("sol_build_info", "gauge", "Always 1; labels carry the broker and Go versions.")
	p.sample("sol_build_info", `version="`+escapeLabel(s.Version)+`",goversion="`+escapeLabel(runtime.Version())+`"`, "1")
	p.family("sol_start_time_seconds", "gauge", "Start time of the broker since the Unix epoch in seconds.")
	p.sample("sol_start_time_seconds", "", strconv.FormatFloat(float64(s.Start.UnixMilli())/1000, 'f', 3, 64))

	p.gauge("sol_connections", "Open network connections.", s.Connections)
	p.counter("sol_connections_total", "Network connections accepted.", s.ConnectionsTotal)
	p.family("sol_connections_refused_total", "counter", "Connections refused before a session started, by reason.")
	for r, v := range s.Refused {
		p.sample("sol_connections_refused_total", `reason="`+RefuseReason(r).String()+`"`, u(v))
	}

	p.gauge("sol_clients_connected", "Sessions with a connected client.", s.ClientsConnected)
	p.gauge("sol_clients_connected_max", "Highest number of connected clients seen.", s.ClientsMaximum)
	p.gauge("sol_sessions", "Sessions, connected or not.", s.ClientsConnected+s.ClientsDisconnected)
	p.gauge("sol_sessions_offline", "Persistent sessions without a connected client.", s.ClientsDisconnected)
	p.counter("sol_sessions_expired_total", "Sessions removed by session expiry.", s.ClientsExpired)

	p.counter("sol_received_bytes_total", "Bytes received from clients, all packets.", s.BytesReceived)
	p.counter("sol_sent_bytes_total", "Bytes sent to clients, all packets.", s.BytesSent)
	p.family("sol_packets_received_total", "counter", "MQTT packets received, by type.")
	for t, v := range s.PacketsReceived {
		if packetNames[t] != "" {
			p.sample("sol_packets_received_total", `type="`+packetNames[t]+`"`, u(v))
		}
	}
	p.family("sol_packets_sent_total", "counter", "MQTT packets sent, by type.")
	for t, v := range s.PacketsSent {
		if packetNames[t] != "" {
			p.sample("sol_packets_sent_total", `type="`+packetNames[t]+`"`, u(v))
		}
	}

	qos := [3]string{`qos="0"`, `qos="1"`, `qos="2"`}
	for _, f := range []struct {
		name, help string
		v          *[3]uint64
	}{
		{"sol_publish_received_total", "PUBLISH packets received from clients, by QoS.", &s.PublishReceived},
		{"sol_publish_sent_total", "PUBLISH packets sent to clients, by QoS.", &s.PublishSent},
		{"sol_publish_received_bytes_total", "Payload bytes of PUBLISH packets received, by QoS.", &s.PublishBytesReceived},
		{"sol_publish_sent_bytes_total", "Payload bytes of PUBLISH packets sent, by QoS.", &s.PublishBytesSent},
	} {
		p.family(f.name, "counter", f.help)
		for q, v := range f.v {
			p.sample(f.name, qos[q], u(v))
		}
	}
	p.family("sol_publish_dropped_total", "counter", "Messages not delivered to a subscriber, by reason.")
	for r, v := range s.Dropped {
		p.sample("sol_publish_dropped_total", `reason="`+DropReason(r).String()+`"`, u(v))
	}

	p.gauge("sol_queued_messages", "Messages waiting in session queues.", s.Queued)
	p.gauge("sol_queued_message_bytes", "Bytes of messages waiting in session queues.", s.QueuedBytes)
	p.gauge("sol_inflight_messages", "Outbound QoS 1 and 2 messages awaiting acknowledgement.", s.Inflight)
	p.gauge("sol_retained_messages", "Retained messages stored.", s.RetainedMessages)
	p.gauge("sol_retained_message_bytes", "Bytes of retained messages stored (topic and payload).", s.RetainedBytes)
	p.gauge("sol_subscriptions", "Subscriptions, shared ones included.", s.Subscriptions)
	p.gauge("sol_shared_subscriptions", "Shared ($share) subscriptions.", s.SharedSubscriptions)
	p.counter("sol_auth_failures_total", "Failed authentications.", s.AuthFailures)

	p.family("sol_loop_iterations_total", "counter", "Event-loop iterations, by loop.")
	for n, l := range s.PerLoop {
		p.sample("sol_loop_iterations_total", `loop="`+strconv.Itoa(n)+`"`, u(l.Iterations))
	}
	p.family("sol_loop_mailbox_backlog", "gauge", "Mail items waiting at a loop's last drain, by loop.")
	for n, l := range s.PerLoop {
		p.sample("sol_loop_mailbox_backlog", `loop="`+strconv.Itoa(n)+`"`, i(l.MailboxBacklog))
	}

	p.gauge("sol_heap_bytes", "Go heap bytes in use (objects, live or not yet swept).", s.HeapBytes)
	p.gauge("sol_goroutines", "Goroutines (does not grow with connections).", s.Goroutines)
	if p.err != nil {
		return fmt.Errorf("writing prometheus metrics: %w", p.err)
	}
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("writing prometheus metrics: %w", err)
	}
	return nil
}
