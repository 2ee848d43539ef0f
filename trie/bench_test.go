package trie

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// deviceKinds are the per-device topics of the benchmark's device fleet.
var deviceKinds = []string{"telemetry", "status", "config", "events"}

// benchFilters returns n filters in a realistic mix for an IoT fleet: mostly
// exact device topics, some per-device "+" and "#" filters, some filters with
// a wildcard first level (the wild shard) and a few fleet-wide ones.
func benchFilters(n int) []string {
	out := make([]string, 0, n)
	devices := n * 85 / 100 / len(deviceKinds)
	for i := 0; len(out) < n*85/100; i++ {
		out = append(out, "devices/"+strconv.Itoa(i/len(deviceKinds))+"/"+deviceKinds[i%len(deviceKinds)])
	}
	r := rand.New(rand.NewPCG(5, 6))
	for len(out) < n-4 {
		id := strconv.Itoa(r.IntN(devices))
		switch r.IntN(6) {
		case 0, 1:
			out = append(out, "devices/"+id+"/+") // a device's own dashboard
		case 2:
			out = append(out, "devices/"+id+"/#")
		case 3:
			out = append(out, "+/"+id+"/telemetry") // wild shard
		case 4:
			out = append(out, "sites/"+strconv.Itoa(r.IntN(1000))+"/+/temperature")
		case 5:
			out = append(out, "alerts/"+id+"/#")
		}
	}
	// Fleet-wide subscribers every device topic reaches.
	out = append(out, "#", "devices/+/telemetry", "devices/#", "$share/ingest/devices/+/telemetry")
	return out
}

// benchIndex builds (once per size) an index holding n subscriptions from
// benchFilters, and the topics the match benchmarks publish to.
type benchIndex struct {
	once   sync.Once
	x      *Index[int]
	topics [][]byte
}

var benchIndexes = map[int]*benchIndex{10_000: {}, 1_000_000: {}}

func getBenchIndex(b *testing.B, n int) *benchIndex {
	bi := benchIndexes[n]
	bi.once.Do(func() {
		bi.x = NewIndex[int]()
		for i, f := range benchFilters(n) {
			bi.x.Subscribe(f, i, SubOptions{QoS: byte(i % 3)})
		}
		for i := range 4 { // more members for the shared group
			bi.x.Subscribe("$share/ingest/devices/+/telemetry", n+i, SubOptions{QoS: 1})
		}
		devices := n * 85 / 100 / len(deviceKinds)
		r := rand.New(rand.NewPCG(7, 8))
		for range 4096 {
			id := r.IntN(devices)
			bi.topics = append(bi.topics, []byte("devices/"+strconv.Itoa(id)+"/"+deviceKinds[r.IntN(len(deviceKinds))]))
		}
	})
	b.ResetTimer()
	return bi
}

var benchSizes = []int{10_000, 1_000_000}

// BenchmarkMatch publishes to device topics of an index of 10k and 1M
// subscriptions; dst is reused, so a match must not allocate.
func BenchmarkMatch(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			bi := getBenchIndex(b, n)
			dst := make([]Match[int], 0, 64)
			matches := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst = bi.x.Match(bi.topics[i%len(bi.topics)], dst[:0], nil)
				matches += len(dst)
			}
			b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
		})
	}
}

// BenchmarkMatchAvail is BenchmarkMatch with an avail callback, which makes
// shared groups collect their candidates and choose after the locks.
func BenchmarkMatchAvail(b *testing.B) {
	avail := func(s int) bool { return s%2 == 0 }
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			bi := getBenchIndex(b, n)
			dst := make([]Match[int], 0, 64)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				dst = bi.x.Match(bi.topics[i%len(bi.topics)], dst[:0], avail)
			}
		})
	}
}

// BenchmarkMatchParallel matches from GOMAXPROCS goroutines at once, as the
// event loops do.
func BenchmarkMatchParallel(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			bi := getBenchIndex(b, n)
			b.ReportAllocs()
			var seed sync.Mutex
			next := 0
			b.RunParallel(func(pb *testing.PB) {
				seed.Lock()
				i := next * 997
				next++
				seed.Unlock()
				dst := make([]Match[int], 0, 64)
				for pb.Next() {
					dst = bi.x.Match(bi.topics[i%len(bi.topics)], dst[:0], nil)
					i++
				}
			})
		})
	}
}

// BenchmarkMatchOneShard matches one topic from GOMAXPROCS goroutines at
// once, all in the same shard (a fleet under one first level), on an Index
// with one reader slot and on one with a slot per goroutine (as the broker
// makes it: one per loop). ns/op is wall time per match over all
// goroutines, so with free slots it should fall as goroutines are added.
func BenchmarkMatchOneShard(b *testing.B) {
	for _, perReader := range []bool{false, true} {
		b.Run(fmt.Sprintf("slot-per-reader=%v", perReader), func(b *testing.B) {
			readers := 1
			if perReader {
				readers = runtime.GOMAXPROCS(0)
			}
			x := NewIndexFor[int](readers)
			x.Subscribe("devices/#", 1, SubOptions{})
			x.Subscribe("devices/+/telemetry", 2, SubOptions{})
			b.ReportAllocs()
			var next atomic.Int32
			b.RunParallel(func(pb *testing.PB) {
				r := int(next.Add(1)) - 1
				topic := []byte("devices/42/telemetry")
				dst := make([]Match[int], 0, 4)
				for pb.Next() {
					dst = x.MatchFrom(r, topic, dst[:0], nil)
				}
			})
		})
	}
}

// BenchmarkSubscribe measures adding then removing one exact device filter on
// an index that already holds 1M subscriptions (the steady state of clients
// coming and going).
func BenchmarkSubscribe(b *testing.B) {
	bi := getBenchIndex(b, 1_000_000)
	filters := make([]string, 4096)
	for i := range filters {
		filters[i] = "devices/new-" + strconv.Itoa(i) + "/telemetry"
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := filters[i%len(filters)]
		bi.x.Subscribe(f, -1, SubOptions{QoS: 1})
		bi.x.Unsubscribe(f, -1)
	}
}

// BenchmarkSubscribeFresh measures building an index: b.N distinct filters
// from the realistic mix subscribed into a new index.
func BenchmarkSubscribeFresh(b *testing.B) {
	filters := benchFilters(100_000)
	x := NewIndex[int]()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(filters) == 0 && i > 0 {
			x = NewIndex[int]()
		}
		x.Subscribe(filters[i%len(filters)], i, SubOptions{})
	}
}

// BenchmarkRetainedMatch collects the retained messages of one device (a
// literal-first filter) and of "+/<id>/telemetry" (every shard) from a store
// of 100k retained device topics.
func BenchmarkRetainedMatch(b *testing.B) {
	r := NewRetained[*msg]()
	const devices = 25_000
	for i := range devices * len(deviceKinds) {
		r.Set("devices/"+strconv.Itoa(i/len(deviceKinds))+"/"+deviceKinds[i%len(deviceKinds)], &msg{}, 100)
	}
	for _, filter := range []string{"devices/123/+", "+/123/telemetry"} {
		b.Run(filter, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				r.Match(filter, func(string, *msg) bool { n++; return true })
			}
			b.ReportMetric(float64(n)/float64(b.N), "msgs/op")
		})
	}
}

// BenchmarkIndexMemory builds an index of 10k or 1M subscriptions from
// benchFilters per iteration and reports the live heap it holds per
// subscription (B/sub). Its ns/op includes two forced garbage collections
// (of everything live, other benchmarks' indexes too); BenchmarkSubscribeFresh
// measures the build cost.
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) {
			filters := benchFilters(n)
			var perSub float64
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				x := NewIndex[int]()
				for i, f := range filters {
					x.Subscribe(f, i, SubOptions{})
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perSub = float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
				runtime.KeepAlive(x)
			}
			b.ReportMetric(perSub, "B/sub")
		})
	}
}
