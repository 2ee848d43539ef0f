package metrics

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// snap flushes every loop (the test goroutine is their owner) and takes a
// snapshot.
func snap(r *Registry) Snapshot {
	for i := range r.Loops() {
		r.Loop(i).Flush()
	}
	return r.Snapshot()
}

// record drives a Loop through a small scripted session: one client
// connects, publishes n messages at QoS 1 with 10-byte payloads, receives m
// at QoS 0, has one message dropped for a full queue, and disconnects.
func record(l *Loop, n, m int) {
	l.Accepted()
	l.PacketIn(0x10) // CONNECT
	l.PacketOut(0x20)
	l.SessionOnline(false)
	for range n {
		l.Received(14)
		l.PacketIn(0x32)
		l.PublishIn(1, 10)
		l.PacketOut(0x40)
	}
	for range m {
		l.Sent(12)
		l.PacketOut(0x30)
		l.PublishOut(0, 10)
	}
	l.Drop(DropQueueFull)
	l.SessionOffline(true)
	l.Closed()
}

func TestSnapshotSumsLoops(t *testing.T) {
	r := NewRegistry(3, "1.2.3")
	record(r.Loop(0), 5, 2)
	record(r.Loop(2), 7, 1)
	r.Loop(1).Refuse(RefuseNotAuthorized)
	r.Loop(1).AuthFailed()
	r.Loop(1).Iteration(4)
	r.SetGauges(Gauges{RetainedMessages: func() int64 { return 9 }, Subscriptions: func() int64 { return 11 }})

	s := snap(r)
	if got := s.PublishReceived; got != [3]uint64{0, 12, 0} {
		t.Errorf("PublishReceived = %v, want [0 12 0]", got)
	}
	if got := s.PublishBytesReceived[1]; got != 120 {
		t.Errorf("PublishBytesReceived[1] = %d, want 120", got)
	}
	if got := s.PublishSentTotal(); got != 3 {
		t.Errorf("PublishSentTotal = %d, want 3", got)
	}
	if s.BytesReceived != 12*14 || s.BytesSent != 3*12 {
		t.Errorf("bytes = %d in %d out, want %d %d", s.BytesReceived, s.BytesSent, 12*14, 3*12)
	}
	if s.PacketsReceived[3] != 12 || s.PacketsReceived[1] != 2 || s.PacketsSent[4] != 12 {
		t.Errorf("packets in %v out %v", s.PacketsReceived, s.PacketsSent)
	}
	if s.Dropped[DropQueueFull] != 2 || s.DroppedTotal() != 2 {
		t.Errorf("Dropped = %v", s.Dropped)
	}
	if s.Connections != 0 || s.ConnectionsTotal != 2 || s.ClientsConnected != 0 || s.ClientsDisconnected != 2 {
		t.Errorf("connections %d total %d clients %d offline %d", s.Connections, s.ConnectionsTotal, s.ClientsConnected, s.ClientsDisconnected)
	}
	if s.Refused[RefuseNotAuthorized] != 1 || s.AuthFailures != 1 {
		t.Errorf("refused %v auth failures %d", s.Refused, s.AuthFailures)
	}
	if s.RetainedMessages != 9 || s.Subscriptions != 11 || s.SharedSubscriptions != 0 {
		t.Errorf("gauges %d %d %d", s.RetainedMessages, s.Subscriptions, s.SharedSubscriptions)
	}
	if len(s.PerLoop) != 3 || s.PerLoop[1].Iterations != 1 || s.PerLoop[1].MailboxBacklog != 4 || s.Iterations != 1 {
		t.Errorf("PerLoop = %+v", s.PerLoop)
	}
	if s.Version != "1.2.3" || s.Taken.Before(s.Start) {
		t.Errorf("version %q start %v taken %v", s.Version, s.Start, s.Taken)
	}
	if s.HeapBytes <= 0 || s.HeapMaximum < s.HeapBytes || s.Goroutines < 1 {
		t.Errorf("heap %d max %d goroutines %d", s.HeapBytes, s.HeapMaximum, s.Goroutines)
	}
}

// A connection accepted on one loop and closed on another (migration)
// leaves one loop negative; the sum is right.
func TestGaugeAcrossLoops(t *testing.T) {
	r := NewRegistry(2, "")
	r.Loop(0).Accepted()
	r.Loop(1).Closed()
	s := snap(r)
	if s.Connections != 0 || s.PerLoop[0].Connections != 1 || s.PerLoop[1].Connections != -1 {
		t.Errorf("connections %d per loop %+v", s.Connections, s.PerLoop)
	}
}

func TestClientsMaximumAndExpiry(t *testing.T) {
	r := NewRegistry(1, "")
	l := r.Loop(0)
	for range 3 {
		l.SessionOnline(false)
	}
	if got := snap(r).ClientsMaximum; got != 3 {
		t.Fatalf("ClientsMaximum = %d, want 3", got)
	}
	l.SessionOffline(true)
	l.SessionOffline(false)
	l.SessionExpired()
	s := snap(r)
	if s.ClientsMaximum != 3 || s.ClientsConnected != 1 || s.ClientsDisconnected != 0 || s.ClientsExpired != 1 {
		t.Errorf("max %d connected %d offline %d expired %d", s.ClientsMaximum, s.ClientsConnected, s.ClientsDisconnected, s.ClientsExpired)
	}
	l.SessionOnline(true) // would be a resumed session; offline goes to -1 here, which only the sum may show
	if got := snap(r).ClientsConnected; got != 2 {
		t.Errorf("ClientsConnected = %d, want 2", got)
	}
}

// Out-of-range arguments count as "other" or are masked; nothing panics.
func TestOutOfRangeArguments(t *testing.T) {
	r := NewRegistry(1, "")
	l := r.Loop(0)
	l.Refuse(200)
	l.Drop(200)
	l.PublishIn(7, 1) // qos 7 & 3 = 3: counted in the unused slot, never reported
	l.PacketIn(0xFF)
	s := snap(r)
	if s.Refused[RefuseOther] != 1 || s.Dropped[DropOther] != 1 || s.PublishReceivedTotal() != 0 || s.PacketsReceived[15] != 1 {
		t.Errorf("refused %v dropped %v publish %v packets %v", s.Refused, s.Dropped, s.PublishReceived, s.PacketsReceived)
	}
	if RefuseReason(99).String() != "other" || DropReason(99).String() != "other" {
		t.Error("out-of-range reason names are not \"other\"")
	}
	if r.Loop(-1) != nil || r.Loop(1) != nil {
		t.Error("out-of-range Loop is not nil")
	}
}

// Metrics off: a nil *Loop records nothing and does not panic.
func TestNilLoop(t *testing.T) {
	var r *Registry
	l := r.Loop(0)
	if l != nil {
		t.Fatal("nil registry returned a loop")
	}
	record(l, 3, 3)
	l.Refuse(RefuseMalformed)
	l.AuthFailed()
	l.QueueAdd(1, 1)
	l.InflightAdd(1)
	l.Iteration(1)
	l.SessionExpired()
	l.Flush()
}

// Writers on every loop and a reader summing concurrently: run with -race.
// After the writers stop, the sum is exact.
func TestConcurrentWritersAndSnapshots(t *testing.T) {
	const loops, per = 4, 5000
	r := NewRegistry(loops, "")
	var wg sync.WaitGroup
	for i := range loops {
		wg.Add(1)
		go func(l *Loop) {
			defer wg.Done()
			for range per {
				l.PublishIn(2, 3)
				l.QueueAdd(1, 3)
				l.QueueAdd(-1, -3)
				l.Flush() // as a loop does once per iteration
			}
		}(r.Loop(i))
	}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			s := r.Snapshot()
			if n := s.PublishReceived[2]; n < last {
				t.Errorf("counter went backwards: %d after %d", n, last)
				return
			} else {
				last = n
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	s := r.Snapshot()
	if s.PublishReceived[2] != loops*per || s.PublishBytesReceived[2] != 3*loops*per || s.Queued != 0 || s.QueuedBytes != 0 {
		t.Errorf("after writers: publish %d bytes %d queued %d/%d", s.PublishReceived[2], s.PublishBytesReceived[2], s.Queued, s.QueuedBytes)
	}
}

// Loops are padded: two loops' counters never share a cache line.
func TestLoopPadding(t *testing.T) {
	r := NewRegistry(2, "")
	a, b := r.Loop(0), r.Loop(1)
	if &a.Connections == &b.Connections {
		t.Fatal("loops share counters")
	}
	// The first and last counters sit at least a pad away from the ends.
	var l Loop
	first := uintptrOf(&l.Connections) - uintptrOf(&l)
	last := uintptrOf(&l) + sizeofLoop - uintptrOf(&l.MailboxBacklog)
	if first < cacheLinePad || last < cacheLinePad {
		t.Errorf("padding before %d after %d, want >= %d", first, last, cacheLinePad)
	}
	// The owner's pending counts sit a pad away from what readers load.
	if gap := uintptrOf(&l.d) - uintptrOf(&l.MailboxBacklog); gap < cacheLinePad {
		t.Errorf("pending counts %d bytes after the published ones, want >= %d", gap, cacheLinePad)
	}
}

// Recorded values reach readers at Flush, not before: the recording methods
// touch only the owner's plain fields.
func TestFlushPublishes(t *testing.T) {
	r := NewRegistry(1, "")
	l := r.Loop(0)
	l.PublishIn(1, 10)
	l.QueueAdd(2, 20)
	l.Iteration(7)
	if s := r.Snapshot(); s.PublishReceived[1] != 0 || s.Queued != 0 || s.Iterations != 0 {
		t.Fatalf("visible before Flush: %+v", s)
	}
	l.Flush()
	s := r.Snapshot()
	if s.PublishReceived[1] != 1 || s.PublishBytesReceived[1] != 10 || s.Queued != 2 || s.QueuedBytes != 20 ||
		s.Iterations != 1 || s.PerLoop[0].MailboxBacklog != 7 {
		t.Fatalf("after Flush: %+v", s)
	}
	// A second Flush with nothing new changes nothing (the deltas were
	// cleared); a gauge going back down is seen at the next one.
	l.Flush()
	l.QueueAdd(-2, -20)
	l.Flush()
	if s := r.Snapshot(); s.PublishReceived[1] != 1 || s.Queued != 0 || s.QueuedBytes != 0 || s.PerLoop[0].MailboxBacklog != 7 {
		t.Fatalf("after more Flushes: %+v", s)
	}
}

// The hot-path methods allocate nothing.
func TestRecordingAllocatesNothing(t *testing.T) {
	l := NewRegistry(1, "").Loop(0)
	if n := testing.AllocsPerRun(1000, func() {
		l.Received(100)
		l.PacketIn(0x30)
		l.PublishIn(0, 90)
		l.PublishOut(1, 90)
		l.Drop(DropExpired)
		l.QueueAdd(1, 90)
		l.Iteration(3)
		l.Flush()
	}); n != 0 {
		t.Errorf("recording allocates %v per run, want 0", n)
	}
}

func parse(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus text parser rejects the output: %v\n%s", err, text)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include every pair in want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("family %s missing", name)
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
		t.Fatalf("family %s has type %v", name, f.GetType())
	}
	t.Fatalf("family %s has no sample with labels %v", name, want)
	return 0
}

func TestPrometheusParses(t *testing.T) {
	r := NewRegistry(2, "v1.0 \"quoted\\\"\nÄ")
	record(r.Loop(0), 4, 3)
	r.Loop(1).Refuse(RefuseMaxConnections)
	r.Loop(1).Accepted()
	r.Loop(1).SessionOnline(false)
	r.Loop(1).Iteration(2)
	r.SetGauges(Gauges{RetainedMessages: func() int64 { return 5 }, RetainedBytes: func() int64 { return 500 },
		Subscriptions: func() int64 { return 7 }, SharedSubscriptions: func() int64 { return 2 }})
	s := snap(r)
	var buf bytes.Buffer
	if err := WritePrometheus(&buf, s); err != nil {
		t.Fatal(err)
	}
	fams := parse(t, buf.Bytes())

	for name, f := range fams {
		if !strings.HasPrefix(name, "sol_") {
			t.Errorf("%s lacks the sol_ prefix", name)
		}
		if (f.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: type %v; counters and only counters end in _total", name, f.GetType())
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sol_build_info", map[string]string{"version": "v1.0 \"quoted\\\"\nÄ"}, 1},
		{"sol_publish_received_total", map[string]string{"qos": "1"}, 4},
		{"sol_publish_received_total", map[string]string{"qos": "0"}, 0},
		{"sol_publish_received_bytes_total", map[string]string{"qos": "1"}, 40},
		{"sol_publish_sent_total", map[string]string{"qos": "0"}, 3},
		{"sol_publish_dropped_total", map[string]string{"reason": "queue_full"}, 1},
		{"sol_publish_dropped_total", map[string]string{"reason": "not_authorized"}, 0},
		{"sol_connections_refused_total", map[string]string{"reason": "max_connections"}, 1},
		{"sol_connections", nil, 1},
		{"sol_connections_total", nil, 2},
		{"sol_clients_connected", nil, 1},
		{"sol_clients_connected_max", nil, 1},
		{"sol_sessions", nil, 2},
		{"sol_sessions_offline", nil, 1},
		{"sol_received_bytes_total", nil, 4 * 14},
		{"sol_sent_bytes_total", nil, 3 * 12},
		{"sol_packets_received_total", map[string]string{"type": "publish"}, 4},
		{"sol_packets_received_total", map[string]string{"type": "connect"}, 1},
		{"sol_packets_sent_total", map[string]string{"type": "puback"}, 4},
		{"sol_retained_messages", nil, 5},
		{"sol_retained_message_bytes", nil, 500},
		{"sol_subscriptions", nil, 7},
		{"sol_shared_subscriptions", nil, 2},
		{"sol_loop_iterations_total", map[string]string{"loop": "1"}, 1},
		{"sol_loop_mailbox_backlog", map[string]string{"loop": "1"}, 2},
		{"sol_start_time_seconds", nil, float64(s.Start.UnixMilli()) / 1000},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["sol_packets_received_total"].GetMetric()); n != 15 {
		t.Errorf("sol_packets_received_total has %d types, want 15", n)
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("disk on fire")
	}
	return len(p), nil
}

func TestPrometheusWriteError(t *testing.T) {
	s := NewRegistry(1, "").Snapshot()
	err := WritePrometheus(&failWriter{after: 100}, s)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the writer's error wrapped", err)
	}
}

// Mosquitto 2.0's $SYS/broker names (research/users.md 6.2), minus the
// load/* moving averages, which sol leaves to Prometheus rate().
var mosquittoSys = []string{
	"version", "uptime", "bytes/received", "bytes/sent",
	"clients/connected", "clients/disconnected", "clients/expired", "clients/maximum",
	"clients/total", "clients/active", "clients/inactive", "heap/current", "heap/maximum",
	"messages/received", "messages/sent", "messages/stored", "messages/inflight",
	"publish/bytes/received", "publish/bytes/sent", "publish/messages/received",
	"publish/messages/sent", "publish/messages/dropped", "retained messages/count",
	"shared_subscriptions/count", "store/messages/count", "store/messages/bytes",
	"subscriptions/count",
}

func TestSysTopics(t *testing.T) {
	r := NewRegistry(2, "ignored")
	record(r.Loop(0), 4, 3)
	r.Loop(1).SessionOnline(false)
	r.Loop(1).QueueAdd(2, 30)
	r.Loop(1).InflightAdd(1)
	r.SetGauges(Gauges{RetainedMessages: func() int64 { return 5 }, RetainedBytes: func() int64 { return 500 },
		Subscriptions: func() int64 { return 7 }, SharedSubscriptions: func() int64 { return 2 }})
	s := snap(r)
	got := map[string]string{}
	for _, m := range SysTopics(s, 90*time.Second+999*time.Millisecond, "0.9.0") {
		if _, dup := got[m.Topic]; dup {
			t.Errorf("%s published twice", m.Topic)
		}
		got[m.Topic] = m.Payload
	}
	for _, name := range mosquittoSys {
		if _, ok := got["$SYS/broker/"+name]; !ok {
			t.Errorf("$SYS/broker/%s missing", name)
		}
	}
	if len(got) != len(mosquittoSys) {
		t.Errorf("%d topics, want %d: %v", len(got), len(mosquittoSys), got)
	}
	want := map[string]string{
		"version":                    "sol version 0.9.0",
		"uptime":                     "90 seconds",
		"retained messages/count":    "5",
		"subscriptions/count":        "7",
		"shared_subscriptions/count": "2",
		"clients/connected":          "1",
		"clients/disconnected":       "1",
		"clients/total":              "2",
		"clients/maximum":            "1",
		"publish/messages/received":  "4",
		"publish/messages/sent":      "3",
		"publish/messages/dropped":   "1",
		"publish/bytes/received":     "40",
		"publish/bytes/sent":         "30",
		"bytes/received":             "56",
		"bytes/sent":                 "36",
		"messages/received":          "5", // CONNECT + 4 PUBLISH
		"messages/sent":              "8", // CONNACK + 4 PUBACK + 3 PUBLISH
		"messages/inflight":          "1",
		"store/messages/count":       "7", // 5 retained + 2 queued
		"store/messages/bytes":       "530",
	}
	for name, v := range want {
		if p := got["$SYS/broker/"+name]; p != v {
			t.Errorf("$SYS/broker/%s = %q, want %q", name, p, v)
		}
	}
	if p := got["$SYS/broker/heap/current"]; p == "" || p == "0" || strings.Trim(p, "0123456789") != "" {
		t.Errorf("heap/current = %q, want a positive integer", p)
	}
}
