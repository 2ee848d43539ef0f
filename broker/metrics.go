package broker

import (
	"bytes"

	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

// initMetrics creates the registry (unless Options.DisableMetrics), gives
// each loop its counters and installs the gauges read from the shared
// structures. Called by New before any loop runs.
func (b *Broker) initMetrics() {
	if b.opts.DisableMetrics {
		return
	}
	b.reg = metrics.NewRegistry(len(b.loops), b.opts.Version)
	for _, ls := range b.loops {
		ls.m = b.reg.Loop(ls.idx)
	}
	b.reg.SetGauges(metrics.Gauges{
		RetainedMessages: func() int64 { return int64(b.retained.Count()) },
		RetainedBytes:    b.retained.Bytes,
		Subscriptions:    func() int64 { return int64(b.subs.Count()) },
		SharedSubscriptions: func() int64 {
			return b.sharedSubs.Load()
		},
	})
}

// Metrics returns the broker's counters, or nil when Options.DisableMetrics
// is set. Safe from any goroutine; the registry's Snapshot never blocks a
// loop.
func (b *Broker) Metrics() *metrics.Registry { return b.reg }

// refuseReason maps the reason code of a refusing CONNACK to the label it is
// counted under.
func refuseReason(rc mqtt.ReasonCode) metrics.RefuseReason {
	switch rc {
	case mqtt.QuotaExceeded, mqtt.ConnectionRateExceeded:
		return metrics.RefuseMaxConnections
	case mqtt.NotAuthorized, mqtt.BadUserNameOrPassword, mqtt.BadAuthenticationMethod:
		return metrics.RefuseNotAuthorized
	case mqtt.UnsupportedProtocolVersion:
		return metrics.RefuseProtocolVersion
	case mqtt.ClientIdentifierNotValid:
		return metrics.RefuseClientID
	case mqtt.MalformedPacket, mqtt.ProtocolError:
		return metrics.RefuseMalformed
	case mqtt.ServerUnavailable, mqtt.ServerShuttingDown:
		return metrics.RefuseShuttingDown
	}
	return metrics.RefuseOther
}

// sharePrefix starts a shared subscription's filter.
var sharePrefix = []byte("$share/")

// isSharedFilter reports whether filter, as subscribed, is a $share one.
func isSharedFilter(filter []byte) bool { return bytes.HasPrefix(filter, sharePrefix) }
