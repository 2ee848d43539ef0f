package metrics

import "testing"

// sink keeps the compiler from discarding the baseline loop's work.
var sink uint64

// BenchmarkCounterInc is one uncontended atomic Add on a loop's own counter
// (what Flush pays per non-zero count, and what every recording call paid
// before the counts were buffered).
func BenchmarkCounterInc(b *testing.B) {
	l := NewRegistry(1, "").Loop(0)
	for b.Loop() {
		l.PublishReceived[0].Inc()
	}
}

// BenchmarkPublishPath is what the broker records per PUBLISH received:
// bytes read, the packet type, and the publish count and payload bytes by
// QoS (4 plain additions to the owner's pending counts), against the same
// loop recording nothing (nil Loop, metrics off), against no call at all,
// and against the four atomic Adds the counts cost before they were
// buffered ("atomic").
func BenchmarkPublishPath(b *testing.B) {
	b.Run("none", func(b *testing.B) {
		var n uint64
		for b.Loop() {
			n++
		}
		sink = n
	})
	b.Run("off", func(b *testing.B) {
		var l *Loop
		for b.Loop() {
			l.Received(120)
			l.PacketIn(0x32)
			l.PublishIn(1, 100)
		}
	})
	// plain is the floor: the same four additions inline.
	b.Run("plain", func(b *testing.B) {
		var c struct{ bytes, packets, pubs, pubBytes [4]uint64 }
		for b.Loop() {
			c.bytes[0] += 120
			c.packets[3]++
			c.pubs[1]++
			c.pubBytes[1] += 100
		}
		sink = c.bytes[0] + c.packets[3] + c.pubs[1] + c.pubBytes[1]
	})
	b.Run("on", func(b *testing.B) {
		l := NewRegistry(1, "").Loop(0)
		for b.Loop() {
			l.Received(120)
			l.PacketIn(0x32)
			l.PublishIn(1, 100)
		}
		l.Flush()
	})
	b.Run("atomic", func(b *testing.B) {
		l := NewRegistry(1, "").Loop(0)
		for b.Loop() {
			l.BytesReceived.Add(120)
			l.PacketsReceived[3].Inc()
			l.PublishReceived[1].Inc()
			l.PublishBytesReceived[1].Add(100)
		}
	})
	// flush is one loop iteration's Flush after a PUBLISH was recorded.
	b.Run("flush", func(b *testing.B) {
		l := NewRegistry(1, "").Loop(0)
		for b.Loop() {
			l.Received(120)
			l.PacketIn(0x32)
			l.PublishIn(1, 100)
			l.Flush()
		}
	})
}

// BenchmarkSnapshot is a scrape's cost of summing 8 loops.
func BenchmarkSnapshot(b *testing.B) {
	r := NewRegistry(8, "")
	for b.Loop() {
		s := r.Snapshot()
		sink = s.ConnectionsTotal
	}
}

// BenchmarkWritePrometheus is a scrape's cost of formatting.
func BenchmarkWritePrometheus(b *testing.B) {
	s := NewRegistry(8, "").Snapshot()
	for b.Loop() {
		if err := WritePrometheus(discard{}, s); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
