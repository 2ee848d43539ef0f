package broker

import (
	"time"

	"github.com/sol-broker/sol/metrics"
	"github.com/sol-broker/sol/mqtt"
)

// Connect timeout and keep alive: each connection has one deadline (the
// connect timeout until CONNACK, then one and a half keep alive periods
// after its last whole packet [MQTT-3.1.2-22]), kept in its loop's deadline
// table rather than in a timer of its own. A loop sweeps the table every
// deadlineSweep while it is not empty and closes the connections past their
// deadline.
//
// Why not a loop.Timer per connection: a Timer, its pointer and its callback
// closure cost 72 bytes per connection, most of an idle client's memory
// once everything else was trimmed; a table entry costs 16, plus 4 for its
// index in the conn. The price is precision (a connection is closed up to
// deadlineSweep after its deadline, never before) and a sequential walk of
// the table ten times a second (16 bytes per connection: about 0.2 ms per
// sweep at 100,000 connections).

// deadlineSweep is how often a loop looks for connections past their
// deadline.
const deadlineSweep = 100 * time.Millisecond

// deadline is one connection's entry in its loop's table.
type deadline struct {
	cs  *conn
	due time.Duration // since Broker.startTime
}

// setDeadline sets cs's deadline to due, adding cs to the table if it is not
// in it. Owner loop only.
func (ls *loopState) setDeadline(cs *conn, due time.Duration) {
	if cs.dl != 0 {
		ls.deadlines[cs.dl-1].due = due
		return
	}
	ls.deadlines = append(ls.deadlines, deadline{cs: cs, due: due})
	cs.dl = int32(len(ls.deadlines))
	if !ls.sweeping {
		if ls.sweepTimer == nil {
			ls.sweepTimer = ls.l.NewTimer(ls.sweep)
		}
		ls.sweeping = true
		ls.sweepTimer.Reset(deadlineSweep)
	}
}

// touch moves a connected client's keep alive deadline to one and a half
// keep alive periods from now. Called for every whole packet, so it is one
// store.
func (ls *loopState) touch(cs *conn, now time.Duration) {
	if cs.dl != 0 && cs.state == stateConnected {
		ls.deadlines[cs.dl-1].due = now + cs.keepAliveLimit()
	}
}

// clearDeadline removes cs from the table (the last entry takes its place).
// Owner loop only; a conn not in the table is left alone.
func (ls *loopState) clearDeadline(cs *conn) {
	i := int(cs.dl) - 1
	if i < 0 {
		return
	}
	last := len(ls.deadlines) - 1
	if i != last {
		ls.deadlines[i] = ls.deadlines[last]
		ls.deadlines[i].cs.dl = int32(i + 1)
	}
	ls.deadlines[last] = deadline{}
	ls.deadlines = ls.deadlines[:last]
	cs.dl = 0
}

// sweep expires every connection past its deadline, then re-arms itself
// while the table holds any. The expired are collected first: closing one
// may change the table.
func (ls *loopState) sweep() {
	now := ls.sinceStart()
	exp := ls.expired[:0]
	for i := range ls.deadlines {
		if d := &ls.deadlines[i]; d.due <= now {
			exp = append(exp, d.cs)
		}
	}
	for i, cs := range exp {
		exp[i] = nil
		if cs.dl != 0 && cs.ls == ls && ls.deadlines[cs.dl-1].due <= now {
			if cs.held { // the broker stopped reading it (backpressure.go)
				ls.touch(cs, now)
				continue
			}
			ls.clearDeadline(cs)
			cs.expire()
		}
	}
	ls.expired = exp[:0]
	ls.sweeping = len(ls.deadlines) > 0
	if ls.sweeping {
		ls.sweepTimer.Reset(deadlineSweep)
	}
}

// keepAliveLimit is one and a half keep alive periods [MQTT-3.1.2-22].
func (cs *conn) keepAliveLimit() time.Duration {
	ka := time.Duration(cs.keepAlive) * time.Second
	return ka + ka/2
}

// startConnectTimer closes the connection if no CONNECT arrives in time.
func (cs *conn) startConnectTimer() {
	cs.ls.setDeadline(cs, cs.ls.sinceStart()+cs.ls.b.opts.ConnectTimeout)
}

// startKeepAlive replaces the connect timeout by the keep alive deadline
// once CONNACK is sent; a keep alive of 0 means none.
func (cs *conn) startKeepAlive() {
	if cs.keepAlive == 0 {
		cs.ls.clearDeadline(cs)
		return
	}
	cs.ls.setDeadline(cs, cs.ls.sinceStart()+cs.keepAliveLimit())
}

// expire closes a connection whose deadline passed: no CONNECT (or no
// CONNACK) in time, or nothing from the client for one and a half keep
// alive periods.
func (cs *conn) expire() {
	if cs.state == stateClosing || cs.c.Closed() {
		return
	}
	if cs.state != stateConnected {
		cs.ls.m.Refuse(metrics.RefuseConnectTimeout)
		cs.closeNow("connect timeout")
		return
	}
	cs.ls.b.log.Debug("keep alive timeout", "client", cs.clientID())
	cs.disconnect(mqtt.KeepAliveTimeout)
}
