package broker

import (
	"strconv"
	"time"

	"github.com/sol-broker/sol/loop"
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
// $SYS/broker/, with Mosquitto's names so existing dashboards work
// (research/users.md 6.2). It allocates per publication, which happens once
// per StatsInterval.
func (ls *loopState) publishSys() {
	b := ls.b
	st := &b.stats
	dropped := st.droppedQueueFull.Load() + st.droppedTooLarge.Load() + st.droppedExpired.Load() + st.droppedMemory.Load()
	version := b.opts.Version // published as given [Options.Version]
	if version == "" {
		version = "sol"
	}
	ls.sys("version", version)
	ls.sys("uptime", strconv.FormatInt(int64(ls.now().Sub(b.startTime)/time.Second), 10)+" seconds")
	ls.sys("clients/connected", strconv.FormatInt(b.connected.Load(), 10))
	ls.sys("clients/total", strconv.FormatInt(b.sessionCount.Load(), 10))
	ls.sys("messages/received", strconv.FormatUint(st.received.Load(), 10))
	ls.sys("messages/sent", strconv.FormatUint(st.sent.Load(), 10))
	ls.sys("publish/messages/received", strconv.FormatUint(st.received.Load(), 10))
	ls.sys("publish/messages/sent", strconv.FormatUint(st.sent.Load(), 10))
	ls.sys("publish/messages/dropped", strconv.FormatUint(dropped, 10))
	ls.sys("retained messages/count", strconv.Itoa(b.retained.Count()))
	ls.sys("subscriptions/count", strconv.Itoa(b.subs.Count()))
	ls.sys("store/messages/bytes", strconv.FormatInt(b.queuedBytes.Load(), 10))
}

// sys publishes one retained $SYS/broker/ topic.
func (ls *loopState) sys(name, value string) {
	ls.publish(newMsg(&msgFields{topic: []byte("$SYS/broker/" + name), payload: []byte(value), retain: true}))
}
