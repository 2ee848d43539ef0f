//go:build soak

package broker_test

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sol-broker/sol/broker"
	tb "github.com/sol-broker/sol/internal/testbroker"
	"github.com/sol-broker/sol/mqtt"
)

// Soak tolerances: after a warm-up of a fifth of the run, the live heap
// (after GC) may not grow by more than soakHeapGrowth over its warm-up
// value, nor the goroutine count by more than soakGoroutineGrowth.
const (
	soakHeapGrowth      = 8 << 20
	soakGoroutineGrowth = 5
)

// rssBytes reads VmRSS from /proc/self/status (0 when unavailable).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// TestSoak runs mixed traffic against an in-process broker for
// SOL_SOAK_DURATION (default 3m): publishers at QoS 0, 1 and 2 with some
// retained messages, subscribers on wildcards that disconnect and come back
// (half with persistent sessions, which queue meanwhile), and clients that
// only connect, subscribe and leave. It samples live heap, RSS, goroutines
// and the broker's counters every tenth of the run and fails if heap or
// goroutines grow beyond the tolerances above after the warm-up.
// scripts/soak.sh (make soak) runs it.
func TestSoak(t *testing.T) {
	dur := 3 * time.Minute
	if s := os.Getenv("SOL_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	b, addr := tb.StartBroker(t, broker.Options{Loops: 2, MaxQueuedMessages: 1000, MaxQueuedBytes: 1 << 20, MaxInflight: 100})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var firstErr atomic.Value
	fail := func(err error) { firstErr.CompareAndSwap(nil, err) }
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var published, received, sessions atomic.Int64

	// Publishers: windowed bursts, reconnecting every burst-count.
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := []byte{v311, v5}[i%2]
			for round := 0; !stopped(); round++ {
				p, err := dialPeer(addr, fmt.Sprintf("soak-pub-%d", i), v)
				if err != nil {
					fail(err)
					return
				}
				for k := 0; k < 50 && !stopped(); k++ {
					if err := floodPublisher(p, v, uint32(i), fmt.Sprintf("soak/%d/data", i), 20, 200+i*50, 10, nil); err != nil {
						fail(err)
						p.conn.Close()
						return
					}
					p.write(mqtt.AppendPublish(nil, v, &mqtt.Publish{Topic: []byte(fmt.Sprintf("soak/%d/state", i)), Retain: true, Payload: []byte(strconv.Itoa(round))}))
					published.Add(21)
					time.Sleep(5 * time.Millisecond) // pacing the load, not synchronisation
				}
				p.conn.Close()
			}
		}()
	}
	// Subscribers: read a while, leave, come back.
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := []byte{v311, v5}[i%2]
			persistent := i%4 < 2
			for !stopped() {
				p, err := dialSoak(addr, fmt.Sprintf("soak-sub-%d", i), v, !persistent)
				if err != nil {
					fail(err)
					return
				}
				sub := &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte("soak/+/data"), QoS: byte(i % 3)}, {Filter: []byte("soak/#"), QoS: 0}}}
				if err := p.write(mqtt.AppendSubscribe(nil, v, sub)); err != nil {
					fail(err)
					return
				}
				n := 0
				err = subscriberReader(p, v, 10*time.Second, func([]byte) bool {
					n++
					received.Add(1)
					return n >= 3000 || stopped()
				})
				p.conn.Close()
				if err != nil && !stopped() {
					fail(fmt.Errorf("subscriber %d: %w", i, err))
					return
				}
			}
		}()
	}
	// Churn: connect, subscribe, leave.
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; !stopped(); k++ {
				v := []byte{v311, v5}[k%2]
				p, err := dialPeer(addr, fmt.Sprintf("soak-churn-%d-%d", i, k%500), v)
				if err != nil {
					fail(err)
					return
				}
				p.write(mqtt.AppendSubscribe(nil, v, &mqtt.Subscribe{PacketID: 1, Filters: []mqtt.Subscription{{Filter: []byte("soak/+/state")}}}))
				p.write(mqtt.AppendDisconnect(nil, v, 0, nil))
				p.conn.Close()
				sessions.Add(1)
				time.Sleep(10 * time.Millisecond) // pacing
			}
		}()
	}

	type sample struct {
		at                time.Duration
		heap, rss         int64
		goroutines        int
		sockets, sessions int64
		queued            int64
		dropped           uint64
	}
	var samples []sample
	start := time.Now()
	for k := 0; k <= 10; k++ {
		if k > 0 {
			time.Sleep(dur / 10) // the sampling period
		}
		if e := firstErr.Load(); e != nil {
			close(stop)
			wg.Wait()
			t.Fatal(e)
		}
		st := b.Stats()
		samples = append(samples, sample{at: time.Since(start), heap: heapInUse(), rss: rssBytes(), goroutines: runtime.NumGoroutine(),
			sockets: st.Sockets, sessions: st.Sessions, queued: st.QueuedBytes, dropped: st.DroppedQueueFull})
	}
	close(stop)
	wg.Wait()
	t.Logf("soak %v: %d published, %d received, %d churned connections", dur, published.Load(), received.Load(), sessions.Load())
	t.Logf("%8s %10s %10s %10s %8s %8s %10s %10s", "at", "heap MiB", "RSS MiB", "goroutines", "sockets", "sessions", "queued B", "dropped")
	for _, s := range samples {
		t.Logf("%8v %10.2f %10.2f %10d %8d %8d %10d %10d", s.at.Round(time.Second), float64(s.heap)/(1<<20), float64(s.rss)/(1<<20), s.goroutines, s.sockets, s.sessions, s.queued, s.dropped)
	}
	warm := samples[2]
	for _, s := range samples[3:] {
		if s.heap-warm.heap > soakHeapGrowth {
			t.Errorf("at %v the live heap is %d bytes above its warm-up value (tolerance %d)", s.at, s.heap-warm.heap, soakHeapGrowth)
		}
		if s.goroutines-warm.goroutines > soakGoroutineGrowth {
			t.Errorf("at %v there are %d goroutines, %d at warm-up (tolerance +%d)", s.at, s.goroutines, warm.goroutines, soakGoroutineGrowth)
		}
	}
}

// dialSoak is dialPeer with a choice of clean start and a session expiry
// for persistent 5.0 sessions.
func dialSoak(addr, id string, v byte, clean bool) (*rawPeer, error) {
	if clean {
		return dialPeer(addr, id, v)
	}
	c := &mqtt.Connect{ProtocolName: []byte("MQTT"), ProtocolLevel: v, ClientID: []byte(id), KeepAlive: 60}
	if v == v5 {
		c.Props.SessionExpiry = 300
		c.Props.Set(mqtt.PropSessionExpiry)
	}
	p, err := dialRaw(addr)
	if err != nil {
		return nil, err
	}
	if err := p.write(mqtt.AppendConnect(nil, c)); err != nil {
		return nil, err
	}
	ack, err := p.read(v, 5*time.Second)
	if err != nil || ack.Type != mqtt.CONNACK || ack.Connack.Reason != 0 {
		return nil, fmt.Errorf("%s: CONNACK %v %v", id, ack, err)
	}
	return p, nil
}

func dialRaw(addr string) (*rawPeer, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawPeer{conn: c}, nil
}
