package broker

import (
	"sync/atomic"
	"time"

	"github.com/sol-broker/sol/loop"
	"github.com/sol-broker/sol/trie"
)

// neverExpires is the Session Expiry Interval that means "never"
// [MQTT-3.1.2-23]; 3.1.1 persistent sessions get it too.
const neverExpires = 0xFFFFFFFF

// session is the MQTT session state of one client identifier. It lives on
// the loop its client identifier hashes to (owner), connected or not, and
// only that loop's goroutine reads or writes it after creation; flags is the
// one field other loops read (doc.go).
//
// Every connected client holds one, so it is kept to 80 bytes (the
// pointers first, then the small fields packed; TestSessionSize): what only
// some sessions need hangs off subs, st and off, allocated on first use.
type session struct {
	clientID string
	username string
	conn     *conn // nil while offline

	// subs is nil until the first subscription: an idle client costs no map.
	subs map[string]trie.SubOptions // filter as subscribed -> options

	// st is nil until the session first queues, sends or receives a QoS 1/2
	// message (stateOf): most idle sessions never need it.
	st *sessionState

	// off holds the timers of an offline session (expiry, a delayed will);
	// nil until the session first needs one.
	off *sessionTimers

	expiry     uint32        // Session Expiry Interval, seconds
	flags      atomic.Uint32 // flagOnline, flagMulti: written by the owner, read by every loop
	owner      uint16        // loop index; fixed for the session's life
	receiveMax uint16        // min(client Receive Maximum, Options.MaxInflight)
	version    byte
	cleanStart bool // as last connected, for the admin API
	gone       bool // ended: deliveries still in the mail are dropped
}

// Session flags (session.flags).
const (
	// flagOnline: the session has a connected client (shared subscriptions
	// pick among online members).
	flagOnline = 1 << iota
	// flagMulti is set, for good, before the session's second subscription
	// enters the trie and before any of its subscriptions leaves it: one
	// publish can match the session twice only if it held two
	// subscriptions at once, or if the publish's Match (which locks the
	// topic's shard and the wildcard shard one after the other) saw one
	// subscription before an UNSUBSCRIBE and another after a SUBSCRIBE.
	// Only sessions with the flag are looked up to merge deliveries.
	flagMulti
)

// isOnline reports whether s has a connected client. Any loop.
func (s *session) isOnline() bool { return s.flags.Load()&flagOnline != 0 }

// mayMatchTwice reports whether one publish can match s more than once.
// Any loop.
func (s *session) mayMatchTwice() bool { return s.flags.Load()&flagMulti != 0 }

// sessionTimers are what a session needs while offline.
type sessionTimers struct {
	expiryTimer *loop.Timer // runs while offline
	pendingWill *will       // a will waiting for its delay
	willTimer   *loop.Timer
}

// timers returns s's sessionTimers, allocating them on first use.
func (s *session) timers() *sessionTimers {
	if s.off == nil {
		s.off = &sessionTimers{}
	}
	return s.off
}

// sessionState is the delivery state of a session that has used QoS 1/2 or
// queued a message, allocated on first use (loopState.stateOf).
type sessionState struct {
	queue    sessionQueue
	inflight inflightOut
	qos2In   qos2In

	droppedTotal uint64 // for logging drops once in a while
}

// noState is the read-only view of a session without delivery state: an
// empty queue, inflight table and qos2In. Nothing may write to it.
var noState sessionState

// view returns s's delivery state for reading: &noState (empty) when s has
// none. Never mutate through it; use loopState.stateOf for that.
func (s *session) view() *sessionState {
	if s.st == nil {
		return &noState
	}
	return s.st
}

// stateOf returns s's delivery state, allocating it on first use. Owner loop
// only.
func (ls *loopState) stateOf(s *session) *sessionState {
	if s.st == nil {
		o := &ls.b.opts
		s.st = &sessionState{
			queue:    sessionQueue{maxMsgs: o.MaxQueuedMessages, maxBytes: o.MaxQueuedBytes, mem: &ls.queuedBytes, m: ls.m, blocks: &ls.blocks},
			inflight: inflightOut{receiveMax: int(s.receiveMax), m: ls.m},
		}
	}
	return s.st
}

func (ls *loopState) newSession(id string) *session {
	ls.b.sessionCount.Add(1)
	return &session{
		clientID:   id,
		owner:      uint16(ls.idx),
		receiveMax: uint16(ls.b.opts.MaxInflight),
	}
}

// stopTimers cancels session expiry and a delayed will: the client is back.
func (s *session) stopTimers() {
	t := s.off
	if t == nil {
		return
	}
	if t.expiryTimer != nil {
		t.expiryTimer.Stop()
	}
	if t.willTimer != nil {
		t.willTimer.Stop()
	}
	t.pendingWill = nil
}

// detach separates a closing connection from its session: the will is
// published or scheduled, and deliveries from shared subscriptions go to
// another member of their group. Loop goroutine only.
func (ls *loopState) detach(cs *conn) {
	s := cs.s
	if s == nil || s.conn != cs {
		return
	}
	s.conn = nil
	s.flags.And(^uint32(flagOnline))
	if w := cs.will; w != nil && !cs.normalDisconnect && !ls.b.stopping.Load() {
		cs.will = nil
		delay := w.delay
		if s.expiry < delay {
			delay = s.expiry // the session ends first: the will goes then [MQTT-3.1.3-9]
		}
		if delay == 0 {
			ls.publishWill(w)
		} else {
			t := s.timers()
			t.pendingWill = w
			if t.willTimer == nil {
				t.willTimer = ls.l.NewTimer(func() { ls.willDue(s) })
			}
			t.willTimer.Reset(time.Duration(delay) * time.Second)
		}
	}
	ls.redistributeShared(s)
}

// sessionOffline starts the expiry of a session whose connection is gone, or
// ends it at once when its expiry is 0.
func (ls *loopState) sessionOffline(s *session) {
	switch {
	case s.gone:
	case s.expiry == 0:
		ls.endSession(s)
	case s.expiry != neverExpires:
		t := s.timers()
		if t.expiryTimer == nil {
			t.expiryTimer = ls.l.NewTimer(func() { ls.expire(s) })
		}
		t.expiryTimer.Reset(time.Duration(s.expiry) * time.Second)
	}
}

// expire ends an offline session whose expiry interval has passed.
func (ls *loopState) expire(s *session) {
	if s.gone || s.conn != nil {
		return
	}
	ls.b.log.Debug("session expired", "client", s.clientID)
	ls.m.SessionExpired()
	ls.endSession(s)
}

// endSession discards a session: its subscriptions, queue and inflight state.
// A will still waiting for its delay is published now [MQTT-3.1.3-9].
func (ls *loopState) endSession(s *session) {
	if s.gone {
		return
	}
	if t := s.off; t != nil {
		if t.willTimer != nil {
			t.willTimer.Stop()
		}
		if t.expiryTimer != nil {
			t.expiryTimer.Stop()
		}
		if w := t.pendingWill; w != nil {
			t.pendingWill = nil
			ls.publishWill(w)
		}
	}
	if len(s.subs) > 0 {
		filters := make([]string, 0, len(s.subs))
		for f := range s.subs {
			filters = append(filters, f)
			if isSharedFilter([]byte(f)) {
				ls.b.sharedSubs.Add(-1)
			}
		}
		ls.b.subs.UnsubscribeAll(s, filters)
		clear(s.subs)
	}
	s.gone = true
	ls.b.sessionCount.Add(-1)
	ls.redistributeShared(s)
	if st := s.st; st != nil {
		st.queue.clear()
		ls.m.InflightAdd(-len(st.inflight.entries))
		st.inflight.reset()
		st.qos2In.pids = nil
	}
	ls.sessions.remove(s)
}
