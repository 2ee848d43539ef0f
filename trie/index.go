package trie

import (
	"strings"
	"sync/atomic"
)

// Index is the subscription index: topic filters with "+" and "#", ordinary
// and shared ("$share/{group}/{filter}"), each stored with its subscriber and
// SubOptions. S identifies a subscriber (the broker's session pointer or ID);
// the Index never looks inside it beyond ==.
//
// Filters are sharded by their first level into shardCount shards, plus one
// shard for filters whose first level is "+" or "#". Each shard has its own
// readers-writer lock, split into reader slots (NewIndexFor). All methods
// are safe for concurrent use by any goroutine; no method holds more than
// one shard lock at a time, and no lock is held while calling the avail
// callback given to Match.
//
// The Index does not validate filters: the broker checks them with the mqtt
// package first ([MQTT-4.7.1-1], [MQTT-4.7.1-2]). An invalid filter ("a/#/b",
// "a+") is stored without panicking and matches what its levels literally say
// ("#" in the middle matches nothing, "a+" is an ordinary level).
//
// The zero Index is empty and ready to use.
type Index[S comparable] struct {
	// readers is how many reader slots each shard's lock uses (see
	// NewIndexFor and MatchFrom); 0 in the zero Index means 1.
	readers int
	// wildSubs counts the subscriptions in the wild shard, changed under
	// its write lock: Match skips that shard's lock while it is 0.
	wildSubs atomic.Int64
	// Every Match reads the line above; count, below, is written by every
	// Subscribe and Unsubscribe, so it lives on a line of its own (the
	// shards are whole lines).
	_      [cacheLine - 16]byte
	shards [shardCount]indexShard[S]
	wild   indexShard[S]
	count  atomic.Int64
}

// indexShard is one lock, the filters without wildcards keyed by the whole
// filter, and the tree of the filters with wildcards.
type indexShard[S comparable] struct {
	mu shardLock
	// exact holds the filters without "+" or "#": most of a device fleet's
	// subscriptions. One map look-up by the whole topic finds them, and the
	// tree stays small, so a match touches fewer cache lines.
	exact map[string]*leaf[S]
	root  node[S]
	_     [cacheLine]byte // keep neighbouring shards' lock words apart
}

// node is one filter level. The root of a shard stands for the empty prefix.
type node[S comparable] struct {
	kids children[node[S]]
	plus *node[S] // the "+" child
	hash *node[S] // the "#" child
	leaf *leaf[S] // subscriptions whose filter ends here; nil when none
}

// leaf holds the subscriptions of one filter: ordinary ones in subs, shared
// ones in groups.
type leaf[S comparable] struct {
	filter string // the filter without any $share prefix
	subs   []entry[S]
	index  map[S]int32 // position in subs, kept once len(subs) > smallSubs
	groups []*group[S]
}

// entry is one subscriber and its options.
type entry[S comparable] struct {
	sub  S
	opts SubOptions
}

// smallSubs is how many subscribers of one filter are searched linearly on
// subscribe and unsubscribe before a position map is kept (NATS keeps a slice
// for iteration speed, which is what Match needs).
const smallSubs = 8

// NewIndex returns an empty Index. It is equivalent to new(Index[S]).
func NewIndex[S comparable]() *Index[S] {
	return new(Index[S])
}

// NewIndexFor returns an empty Index for readers goroutines that match at
// once, each with its own number (MatchFrom): their matches then share no
// lock word (up to 8 readers; more share slots). Subscribe and Unsubscribe
// take one lock per reader, up to 8.
func NewIndexFor[S comparable](readers int) *Index[S] {
	return &Index[S]{readers: min(max(readers, 1), readerSlots)}
}

// slots is the number of reader slots in use.
func (x *Index[S]) slots() int { return max(x.readers, 1) }

// shardFor returns the shard that holds filter (without any $share prefix).
func (x *Index[S]) shardFor(filter string) *indexShard[S] {
	first := firstLevel(filter)
	if isWildcardLevel(first) {
		return &x.wild
	}
	return &x.shards[shardOf(first)]
}

// Subscribe adds the subscription (filter, s) with options o, or, if s is
// already subscribed to exactly this filter, replaces its options and reports
// replaced=true [MQTT-3.8.4-3]. filter may be "$share/{group}/{filter}", which
// makes s a member of that group; the same group name with another filter is
// another group. The Index keeps its own copy of filter. Safe for concurrent
// use; write-locks one shard (every reader slot of it).
func (x *Index[S]) Subscribe(filter string, s S, o SubOptions) (replaced bool) {
	group, f := splitShare(filter)
	sh := x.shardFor(f)
	sh.mu.lock(x.slots())
	var l *leaf[S]
	if hasWildcard(f) {
		n, own := sh.root.descend(f, filter)
		if n.leaf == nil {
			if own == "" {
				own = strings.Clone(filter)
			}
			_, ownF := splitShare(own)
			n.leaf = &leaf[S]{filter: ownF}
		}
		l = n.leaf
	} else {
		l = sh.exact[f]
		if l == nil {
			if sh.exact == nil {
				sh.exact = make(map[string]*leaf[S])
			}
			_, ownF := splitShare(strings.Clone(filter))
			l = &leaf[S]{filter: ownF}
			sh.exact[ownF] = l
		}
	}
	if group == "" {
		replaced = l.add(s, o)
	} else {
		replaced = l.addMember(group, filter, s, o)
	}
	if !replaced && sh == &x.wild {
		x.wildSubs.Add(1)
	}
	sh.mu.unlock(x.slots())
	if !replaced {
		x.count.Add(1)
	}
	return replaced
}

// hasWildcard reports whether a filter has a "+" or "#" level.
func hasWildcard(f string) bool {
	for start := 0; ; {
		level, next, last := nextLevel(f, start)
		if isWildcardLevel(level) {
			return true
		}
		if last {
			return false
		}
		start = next
	}
}

// descend walks f from n, creating missing nodes. full is the whole filter
// (f is a suffix of it); the first time a node must be created full is cloned
// once, new keys are cut from the clone, and the clone is returned so the
// caller can reuse it ("" if nothing was created).
func (n *node[S]) descend(f, full string) (*node[S], string) {
	own := ""
	for start := 0; ; {
		level, next, last := nextLevel(f, start)
		var c *node[S]
		switch level {
		case "+":
			if n.plus == nil {
				n.plus = new(node[S])
			}
			c = n.plus
		case "#":
			if n.hash == nil {
				n.hash = new(node[S])
			}
			c = n.hash
		default:
			c = n.kids.get(level)
			if c == nil {
				if own == "" {
					own = strings.Clone(full)
				}
				off := len(full) - len(f)
				c = new(node[S])
				n.kids.put(own[off+start:off+start+len(level)], c)
			}
		}
		n = c
		if last {
			return n, own
		}
		start = next
	}
}

// add stores an ordinary subscription; it reports whether s was already there.
func (l *leaf[S]) add(s S, o SubOptions) (replaced bool) {
	if i, ok := l.find(s); ok {
		l.subs[i].opts = o
		return true
	}
	l.subs = append(l.subs, entry[S]{s, o})
	if l.index != nil {
		l.index[s] = int32(len(l.subs) - 1)
	} else if len(l.subs) > smallSubs {
		l.index = make(map[S]int32, len(l.subs))
		for i, e := range l.subs {
			l.index[e.sub] = int32(i)
		}
	}
	return false
}

// find returns the position of s in subs.
func (l *leaf[S]) find(s S) (int, bool) {
	if l.index != nil {
		i, ok := l.index[s]
		return int(i), ok
	}
	for i := range l.subs {
		if l.subs[i].sub == s {
			return i, true
		}
	}
	return 0, false
}

// remove deletes the ordinary subscription of s; it reports whether it existed.
func (l *leaf[S]) remove(s S) bool {
	i, ok := l.find(s)
	if !ok {
		return false
	}
	last := len(l.subs) - 1
	if i != last {
		l.subs[i] = l.subs[last]
		if l.index != nil {
			l.index[l.subs[i].sub] = int32(i)
		}
	}
	l.subs[last] = entry[S]{}
	l.subs = l.subs[:last]
	if l.index != nil {
		delete(l.index, s)
		if len(l.subs) <= smallSubs/2 {
			l.index = nil
		}
	}
	if len(l.subs) == 0 {
		l.subs = nil
	}
	return true
}

// empty reports whether the leaf holds no subscription at all.
func (l *leaf[S]) empty() bool {
	return len(l.subs) == 0 && len(l.groups) == 0
}

// empty reports whether a node can be removed from its parent.
func (n *node[S]) empty() bool {
	return n.leaf == nil && n.plus == nil && n.hash == nil && n.kids.len() == 0
}

// step is one edge on a path from a shard root, kept for pruning.
type step[S comparable] struct {
	parent *node[S]
	level  string
}

// Unsubscribe removes the subscription (filter, s), where filter is written
// exactly as it was given to Subscribe ("$share/g/..." for a shared one). It
// reports whether the subscription existed. Nodes left empty are freed. Safe
// for concurrent use; write-locks one shard (every reader slot of it).
func (x *Index[S]) Unsubscribe(filter string, s S) (existed bool) {
	group, f := splitShare(filter)
	sh := x.shardFor(f)
	sh.mu.lock(x.slots())
	if !hasWildcard(f) {
		if l := sh.exact[f]; l != nil {
			if group == "" {
				existed = l.remove(s)
			} else {
				existed = l.removeMember(group, s)
			}
			if existed && l.empty() {
				delete(sh.exact, f)
			}
		}
		sh.mu.unlock(x.slots())
		if existed {
			x.count.Add(-1)
		}
		return existed
	}
	var buf [16]step[S]
	path := buf[:0]
	n := &sh.root
	for start := 0; n != nil; {
		level, next, last := nextLevel(f, start)
		path = append(path, step[S]{n, level})
		switch level {
		case "+":
			n = n.plus
		case "#":
			n = n.hash
		default:
			n = n.kids.get(level)
		}
		if last {
			break
		}
		start = next
	}
	if n != nil && n.leaf != nil {
		if group == "" {
			existed = n.leaf.remove(s)
		} else {
			existed = n.leaf.removeMember(group, s)
		}
		if existed && n.leaf.empty() {
			n.leaf = nil
			prune(n, path)
		}
	}
	if existed && sh == &x.wild {
		x.wildSubs.Add(-1)
	}
	sh.mu.unlock(x.slots())
	if existed {
		x.count.Add(-1)
	}
	return existed
}

// prune unlinks n and then each of its ancestors on path while they are empty.
func prune[S comparable](n *node[S], path []step[S]) {
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		p := path[i]
		switch p.level {
		case "+":
			p.parent.plus = nil
		case "#":
			p.parent.hash = nil
		default:
			p.parent.kids.del(p.level)
		}
		n = p.parent
	}
}

// UnsubscribeAll removes every subscription of s among filters (written as
// given to Subscribe, "$share/..." included) and returns how many existed.
// The broker passes the filters its session holds at session end; the Index
// keeps no reverse index, which would cost memory on every subscription to
// save a lookup the broker can already do. Safe for concurrent use; takes one
// shard lock at a time.
func (x *Index[S]) UnsubscribeAll(s S, filters []string) (removed int) {
	for _, f := range filters {
		if x.Unsubscribe(f, s) {
			removed++
		}
	}
	return removed
}

// Count returns the number of subscriptions, shared-group memberships
// included. Safe for concurrent use.
func (x *Index[S]) Count() int {
	return int(x.count.Load())
}

// Match appends to dst one entry per ordinary subscription whose filter
// matches topic, and one chosen member per matching shared group, and returns
// the extended slice. topic is a topic name (no wildcards) and is only read
// during the call. A subscriber with overlapping filters appears once per
// filter; topics starting with '$' do not match filters starting with a
// wildcard [MQTT-4.7.2-1].
//
// Shared groups: members are tried in round-robin order starting at the
// group's cursor, which advances once per matching publish; the first member
// for which avail returns true is chosen. If avail is nil every member is
// available; if it returns false for all, the member at the cursor is chosen
// anyway so the message is not lost (the broker queues it). avail is called
// after every lock is released, on the calling goroutine, and may call back
// into the Index.
//
// Match does not allocate when dst has room for the result, counting every
// member of each matching shared group when avail is not nil. The order of the
// entries is unspecified. Safe for concurrent use; holds one shard's read
// lock at a time. It is MatchFrom for reader 0.
func (x *Index[S]) Match(topic []byte, dst []Match[S], avail func(S) bool) []Match[S] {
	return x.MatchFrom(0, topic, dst, avail)
}

// MatchFrom is Match for reader number reader (0 and up; see NewIndexFor):
// readers whose numbers differ modulo the slots in use take different
// slots of the shard locks (an Index from NewIndex has one slot).
func (x *Index[S]) MatchFrom(reader int, topic []byte, dst []Match[S], avail func(S) bool) []Match[S] {
	if len(topic) == 0 {
		return dst
	}
	n := x.slots()
	base := len(dst)
	m := matcher[S]{topic: topic, dst: dst, pickNow: avail == nil}
	sh := &x.shards[shardOf(firstLevel(topic))]
	mu := sh.mu.rlock(reader, n)
	if l := sh.exact[string(topic)]; l != nil {
		m.appendLeaf(l)
	}
	m.walk(&sh.root, 0, false)
	mu.RUnlock()
	// Between the two locks a subscriber may leave one shard and join the
	// other: one Match can return both (the broker copes, see its
	// flagMulti). Tests built with -tags soldebug can stop here.
	betweenShards(topic)
	// The wild shard, unless the topic starts with '$' [MQTT-4.7.2-1] or
	// the shard is empty (a subscription added from now on is later than
	// this Match, as if it had taken the lock first).
	if topic[0] != '$' && x.wildSubs.Load() != 0 {
		mu := x.wild.mu.rlock(reader, n)
		m.walk(&x.wild.root, 0, false)
		mu.RUnlock()
	}
	if !m.runs {
		return m.dst
	}
	return pickMembers(m.dst, base, avail)
}

// matcher carries the state of one Match through the recursive walk.
type matcher[S comparable] struct {
	topic   []byte
	dst     []Match[S]
	pickNow bool // no avail callback: choose group members under the lock
	runs    bool // some group's candidates were appended for pickMembers
}

// walk visits node n, which matched the topic's levels before start; done
// says that every level has been consumed.
func (m *matcher[S]) walk(n *node[S], start int, done bool) {
	// "#" matches the remaining levels, and also the parent level itself:
	// "a/#" matches "a" [MQTT-4.7.1-2].
	if n.hash != nil && n.hash.leaf != nil {
		m.appendLeaf(n.hash.leaf)
	}
	if done {
		if n.leaf != nil {
			m.appendLeaf(n.leaf)
		}
		return
	}
	level, next, last := nextLevel(m.topic, start)
	if c := n.kids.getBytes(level); c != nil {
		m.walk(c, next, last)
	}
	if n.plus != nil { // "+" matches one level, empty included
		m.walk(n.plus, next, last)
	}
}

// appendLeaf appends the subscriptions of one matching filter.
func (m *matcher[S]) appendLeaf(l *leaf[S]) {
	for i := range l.subs {
		m.dst = append(m.dst, Match[S]{Sub: l.subs[i].sub, Opts: l.subs[i].opts, Filter: l.filter})
	}
	for _, g := range l.groups {
		if m.pickNow {
			m.dst = g.appendChosen(m.dst)
		} else {
			m.dst = g.appendCandidates(m.dst)
			m.runs = true
		}
	}
}
