package trie

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Retained is the retained-message store: at most one message per topic,
// looked up by exact topic or by a filter with wildcards. M is the broker's
// message type (normally a pointer); the store never looks inside it. size is
// whatever the broker wants counted in Bytes (normally the payload plus topic
// length).
//
// Topics are sharded by their first level, like the Index; each shard has an
// exact-topic map for Set, Delete and Get, and a level tree for wildcard
// lookups. All methods are safe for concurrent use by any goroutine; none
// holds more than one shard lock at a time, and none calls out while holding
// one. The zero Retained is empty and ready to use.
type Retained[M any] struct {
	shards [shardCount]retainedShard[M]
	count  atomic.Int64
	bytes  atomic.Int64
}

// retainedShard is one lock, its exact-topic map and its level tree.
type retainedShard[M any] struct {
	mu    sync.RWMutex
	exact map[string]*retainedMsg[M]
	root  rnode[M]
	_     [cacheLine]byte // keep neighbouring shards' lock words apart
}

// retainedMsg is one retained message and the topic it is stored under.
type retainedMsg[M any] struct {
	topic string
	msg   M
	size  int
}

// rnode is one topic level of the retained tree.
type rnode[M any] struct {
	kids children[rnode[M]]
	msg  *retainedMsg[M] // the message retained at exactly this topic, or nil
}

// NewRetained returns an empty store. It is equivalent to new(Retained[M]).
func NewRetained[M any]() *Retained[M] {
	return new(Retained[M])
}

// shardFor returns the shard that holds topic.
func (r *Retained[M]) shardFor(topic string) *retainedShard[M] {
	return &r.shards[shardOf(firstLevel(topic))]
}

// Set stores m as the retained message of topic, replacing any previous one,
// and counts size bytes for it in Bytes. Set does not interpret m or size: for
// a PUBLISH with RETAIN and an empty payload the broker calls Delete instead
// [MQTT-3.3.1-6]. topic must be a topic name (no wildcards); the store keeps
// its own copy. Safe for concurrent use; takes one shard's write lock.
func (r *Retained[M]) Set(topic string, m M, size int) {
	sh := r.shardFor(topic)
	sh.mu.Lock()
	if e := sh.exact[topic]; e != nil {
		old := e.size
		e.msg, e.size = m, size
		sh.mu.Unlock()
		r.bytes.Add(int64(size - old))
		return
	}
	own := strings.Clone(topic)
	e := &retainedMsg[M]{topic: own, msg: m, size: size}
	if sh.exact == nil {
		sh.exact = make(map[string]*retainedMsg[M])
	}
	sh.exact[own] = e
	n := &sh.root
	for start := 0; ; {
		level, next, last := nextLevel(own, start)
		c := n.kids.get(level)
		if c == nil {
			c = new(rnode[M])
			n.kids.put(level, c)
		}
		n = c
		if last {
			break
		}
		start = next
	}
	n.msg = e
	sh.mu.Unlock()
	r.count.Add(1)
	r.bytes.Add(int64(size))
}

// Delete removes the retained message of topic and reports whether there was
// one [MQTT-3.3.1-10]. Safe for concurrent use; takes one shard's write lock.
func (r *Retained[M]) Delete(topic string) bool {
	sh := r.shardFor(topic)
	sh.mu.Lock()
	e := sh.exact[topic]
	if e == nil {
		sh.mu.Unlock()
		return false
	}
	delete(sh.exact, topic)
	var buf [16]*rnode[M]
	path := buf[:0]
	n := &sh.root
	var levels [16]string
	names := levels[:0]
	for start := 0; n != nil; {
		level, next, last := nextLevel(topic, start)
		path = append(path, n)
		names = append(names, level)
		n = n.kids.get(level)
		if last {
			break
		}
		start = next
	}
	if n != nil && n.msg == e {
		n.msg = nil
		for i := len(path) - 1; i >= 0 && n.msg == nil && n.kids.len() == 0; i-- {
			path[i].kids.del(names[i])
			n = path[i]
		}
	}
	sh.mu.Unlock()
	r.count.Add(-1)
	r.bytes.Add(-int64(e.size))
	return true
}

// Get returns the retained message of topic, if any. Safe for concurrent use;
// takes one shard's read lock.
func (r *Retained[M]) Get(topic string) (M, bool) {
	sh := r.shardFor(topic)
	sh.mu.RLock()
	e := sh.exact[topic]
	var m M
	if e != nil {
		m = e.msg
	}
	sh.mu.RUnlock()
	return m, e != nil
}

// Count returns the number of retained messages. Safe for concurrent use.
func (r *Retained[M]) Count() int {
	return int(r.count.Load())
}

// Bytes returns the sum of the sizes given to Set for the messages currently
// retained. Safe for concurrent use.
func (r *Retained[M]) Bytes() int64 {
	return r.bytes.Load()
}

// retainedHit is a retained message copied out of a shard for Match.
type retainedHit[M any] struct {
	topic string
	msg   M
}

// Match calls fn for every retained message whose topic matches filter, until
// fn returns false. filter is an ordinary topic filter (the broker strips
// "$share/..." and does not send retained messages for shared subscriptions
// [MQTT-3.8.4-4]); topics starting with '$' do not match a filter starting
// with a wildcard [MQTT-4.7.2-1]. A filter whose first level is literal reads
// one shard; "+/..." and "#" read every shard. The matches of a shard are
// copied under its read lock and fn is called after it is released, so fn
// may call into the store; a message set or deleted meanwhile may or may not
// be seen. The order is unspecified. Safe for concurrent use.
func (r *Retained[M]) Match(filter string, fn func(topic string, m M) bool) {
	if filter == "" {
		return
	}
	var hits []retainedHit[M]
	first := firstLevel(filter)
	if !isWildcardLevel(first) {
		sh := &r.shards[shardOf(first)]
		sh.mu.RLock()
		hits = sh.root.collect(filter, 0, true, hits)
		sh.mu.RUnlock()
		callHits(hits, fn)
		return
	}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.RLock()
		hits = sh.root.collect(filter, 0, true, hits[:0])
		sh.mu.RUnlock()
		if !callHits(hits, fn) {
			return
		}
		clear(hits)
	}
}

// callHits calls fn for each hit; it reports false if fn stopped early.
func callHits[M any](hits []retainedHit[M], fn func(string, M) bool) bool {
	for _, h := range hits {
		if !fn(h.topic, h.msg) {
			return false
		}
	}
	return true
}

// collect appends the messages below n that match filter from the level at
// start on. atRoot says n is a shard root, where wildcards skip '$' topics.
func (n *rnode[M]) collect(filter string, start int, atRoot bool, hits []retainedHit[M]) []retainedHit[M] {
	level, next, last := nextLevel(filter, start)
	switch level {
	case "#":
		if !last {
			break // "#" must be the last level [MQTT-4.7.1-2]; this filter matches nothing
		}
		// "#" matches the parent level too: "a/#" matches "a"
		// [MQTT-4.7.1-2]; a shard root is no topic and holds no message.
		if n.msg != nil {
			hits = append(hits, retainedHit[M]{n.msg.topic, n.msg.msg})
		}
		n.kids.each(func(l string, c *rnode[M]) bool {
			if !atRoot || !strings.HasPrefix(l, "$") { // [MQTT-4.7.2-1]
				hits = c.all(hits)
			}
			return true
		})
	case "+":
		n.kids.each(func(l string, c *rnode[M]) bool {
			if atRoot && strings.HasPrefix(l, "$") { // [MQTT-4.7.2-1]
				return true
			}
			if last {
				if c.msg != nil {
					hits = append(hits, retainedHit[M]{c.msg.topic, c.msg.msg})
				}
			} else {
				hits = c.collect(filter, next, false, hits)
			}
			return true
		})
	default:
		c := n.kids.get(level)
		if c == nil {
			break
		}
		if last {
			if c.msg != nil {
				hits = append(hits, retainedHit[M]{c.msg.topic, c.msg.msg})
			}
		} else {
			hits = c.collect(filter, next, false, hits)
		}
	}
	return hits
}

// all appends every message at or below n.
func (n *rnode[M]) all(hits []retainedHit[M]) []retainedHit[M] {
	if n.msg != nil {
		hits = append(hits, retainedHit[M]{n.msg.topic, n.msg.msg})
	}
	n.kids.each(func(_ string, c *rnode[M]) bool {
		hits = c.all(hits)
		return true
	})
	return hits
}
