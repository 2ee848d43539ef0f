package broker

import (
	"github.com/sol-broker/sol/loop"
	"github.com/sol-broker/sol/metrics"
)

// sysStart asks loop 0 to start the $SYS timer.
type sysStart struct{}

// startSys arms the $SYS publisher on loop 0 when Options.StatsInterval is
// set. Loop 0's goroutine only (through Mail).
func (ls *loopState) startSys() {
	iv := ls.b.opts.StatsInterval
	if iv <= 0 {
		return
	}
	var tm *loop.Timer
	tm = ls.l.NewTimer(func() {
		ls.publishSys()
		tm.Reset(iv)
	})
	ls.publishSys()
	tm.Reset(iv)
}

// publishSys publishes the broker's counters as retained messages under
// $SYS/broker/, with Mosquitto's names and formats so existing dashboards
// work (research/users.md 6.2, metrics.SysTopics). With metrics off only
// the version and uptime carry information; the counters read zero. It
// allocates per publication, which happens once per StatsInterval.
func (ls *loopState) publishSys() {
	b := ls.b
	version := b.opts.Version // "sol version <Version>" [Options.Version]
	if version == "" {
		version = "unknown"
	}
	var snap metrics.Snapshot
	if b.reg != nil {
		snap = b.reg.Snapshot()
	}
	for _, t := range metrics.SysTopics(snap, ls.now().Sub(b.startTime), version) {
		ls.publish(newMsg(&msgFields{topic: []byte(t.Topic), payload: []byte(t.Payload), retain: true}))
	}
}
