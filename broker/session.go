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
// only that loop's goroutine reads or writes it after creation; online is the
// one field other loops read (doc.go).
type session struct {
	clientID   string
	owner      int // loop index; fixed for the session's life
	username   string
	version    byte
	cleanStart bool // as last connected, for the admin API

	conn   *conn // nil while offline
	online atomic.Bool
	gone   bool // ended: deliveries still in the mail are dropped

	subs map[string]trie.SubOptions // filter as subscribed -> options

	queue    sessionQueue
	inflight inflightOut
	qos2In   qos2In

	expiry       uint32      // Session Expiry Interval, seconds
	expiryTimer  *loop.Timer // runs while offline
	pendingWill  *will       // a will waiting for its delay
	willTimer    *loop.Timer
	droppedTotal uint64 // for logging drops once in a while
}

func (ls *loopState) newSession(id string) *session {
	o := &ls.b.opts
	ls.b.sessionCount.Add(1)
	return &session{
		clientID: id,
		owner:    ls.idx,
		subs:     make(map[string]trie.SubOptions),
		queue:    sessionQueue{maxMsgs: o.MaxQueuedMessages, maxBytes: o.MaxQueuedBytes, mem: &ls.queuedBytes, m: ls.m},
		inflight: inflightOut{receiveMax: o.MaxInflight, m: ls.m},
	}
}

// stopTimers cancels session expiry and a delayed will: the client is back.
func (s *session) stopTimers() {
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
	}
	if s.willTimer != nil {
		s.willTimer.Stop()
	}
	s.pendingWill = nil
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
	s.online.Store(false)
	if w := cs.will; w != nil && !cs.normalDisconnect && !ls.b.stopping.Load() {
		cs.will = nil
		delay := w.delay
		if s.expiry < delay {
			delay = s.expiry // the session ends first: the will goes then [MQTT-3.1.3-9]
		}
		if delay == 0 {
			ls.publishWill(w)
		} else {
			s.pendingWill = w
			if s.willTimer == nil {
				s.willTimer = ls.l.NewTimer(func() { ls.willDue(s) })
			}
			s.willTimer.Reset(time.Duration(delay) * time.Second)
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
		if s.expiryTimer == nil {
			s.expiryTimer = ls.l.NewTimer(func() { ls.expire(s) })
		}
		s.expiryTimer.Reset(time.Duration(s.expiry) * time.Second)
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
	if s.willTimer != nil {
		s.willTimer.Stop()
	}
	if s.expiryTimer != nil {
		s.expiryTimer.Stop()
	}
	if w := s.pendingWill; w != nil {
		s.pendingWill = nil
		ls.publishWill(w)
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
	s.queue.clear()
	ls.m.InflightAdd(-len(s.inflight.entries))
	s.inflight.reset()
	s.qos2In.pids = nil
	if ls.sessions[s.clientID] == s {
		delete(ls.sessions, s.clientID)
	}
}
