// Package metrics keeps the broker's counters and turns them into the
// Prometheus text format and Mosquitto's $SYS/broker/... topics.
//
// # Ownership
//
// Each event loop gets its own Loop (Registry.Loop(i)) and is the only
// goroutine that writes it. The recording methods add to plain fields only
// the owner touches; Loop.Flush, which the loop calls once per iteration
// (the broker's loop.Handler.Flush), adds what accumulated to atomic
// counters, one Add per non-zero count. Readers therefore see values at
// most one loop iteration old.
//
// Why not an atomic Add per event: an uncontended LOCK XADD measured 6 to
// 12 ns on the 2-core development VM (BenchmarkCounterInc), about 7 of them
// per message routed (in: packet, publish count and bytes; out: packet,
// bytes, publish count and bytes), and broker.BenchmarkPublishMetricsPaired
// measured that at 7 to 10% of publish throughput, over the 3% budget of
// issue 8. Plain additions cost under 1 ns, and Flush's Adds are shared by
// every event of an iteration (BenchmarkPublishPath).
//
// Readers (Registry.Snapshot, on the admin HTTP server's or the $SYS
// timer's goroutine) Load every loop's atomic counters and sum them, so a
// snapshot never blocks a loop and is race-free.
// A Loop is padded on both sides so that two loops' counters never share a
// cache line (no false sharing between loops).
//
// A snapshot is not one instant: it sums loops one after another while they
// keep running, so two related values (connections opened and closed) may
// disagree by what happened during the read. Gauges kept per loop (current
// connections, queued messages) may be negative on one loop, because a
// connection accepted on one loop can be closed on another after migration;
// only their sum means anything, and Snapshot only reports sums.
//
// # Off
//
// Every recording method of *Loop is safe on a nil *Loop and then does
// nothing, so a broker with metrics off holds nil Loops and pays one
// predictable branch per call site.
//
// # Files
//
//   - loop.go: Counter, Gauge, Loop and the reasons for refusals and drops.
//   - registry.go: Registry (all loops plus callback gauges) and Snapshot.
//   - prometheus.go: WritePrometheus, the text exposition format 0.0.4.
//   - sys.go: SysTopics, Mosquitto's $SYS/broker names and formats.
package metrics
