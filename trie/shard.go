package trie

import (
	"sync"
	"unsafe"
)

// shardCount is the number of shards keyed by a hash of the first topic level.
// 64 spreads device-style topic spaces over enough locks for a few dozen event
// loops while keeping the empty Index small (research/architecture.md 5.4).
const shardCount = 64

// smallChildren is how many literal children a node keeps in a slice before
// switching to a map. Most nodes in device-style topic trees have one child
// ("devices/<id>/telemetry"), and a one-entry slice is far smaller than a map.
const smallChildren = 8

// cacheLine pads shards apart so that two loops reading different shards do
// not share the cache line of a lock word.
const cacheLine = 64

// readerSlots is the most reader locks a shard of an Index has (shardLock).
const readerSlots = 8

// shardLock is an Index shard's readers-writer lock, split by reader. Match
// read-locks only its reader's slot: with one sync.RWMutex, two loops
// matching topics of one shard at once (devices/..., a whole fleet under
// one first level) both wrote its reader count: BenchmarkMatchOneShard
// with 2 goroutines took 211-221 ns per match against 99-117 ns with a
// slot each, on a day when one goroutine alone took 68-75 ns. Subscribe
// and Unsubscribe lock every slot in use, in order. n, the slots in use, is
// fixed when the Index is made.
type shardLock struct {
	// A line nobody writes first: a nil check of the lock's address loads
	// its first byte, which must not be reader 0's lock word (every other
	// reader would then miss on it; a perf annotate showed that load as
	// half of rlock's time).
	_     [cacheLine]byte
	slots [readerSlots]struct {
		sync.RWMutex
		_ [cacheLine - unsafe.Sizeof(sync.RWMutex{})]byte // one slot per cache line
	}
}

// rlock read-locks reader r's slot of the n in use and returns it, for
// RUnlock. Readers r and r+n share a slot. (r is below n unless there are
// more than 8 loops or the Index has fewer slots than readers; the
// division costs more than the lock itself, so it is done only then.)
func (l *shardLock) rlock(r, n int) *sync.RWMutex {
	if r >= n {
		r %= n
	}
	m := &l.slots[r].RWMutex
	m.RLock()
	return m
}

// lock write-locks the n slots in use.
func (l *shardLock) lock(n int) {
	for i := range n {
		l.slots[i].Lock()
	}
}

// unlock undoes lock.
func (l *shardLock) unlock(n int) {
	for i := range n {
		l.slots[i].Unlock()
	}
}

// hashLevel is FNV-1a over one topic level. It is generic so that a topic held
// as []byte is hashed without converting it to a string.
func hashLevel[T string | []byte](level T) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(level); i++ {
		h ^= uint32(level[i])
		h *= 16777619
	}
	return h
}

// firstLevel returns the first level of a topic or filter: everything before
// the first '/', or all of it.
func firstLevel[T string | []byte](topic T) T {
	for i := 0; i < len(topic); i++ {
		if topic[i] == '/' {
			return topic[:i]
		}
	}
	return topic
}

// shardOf maps a first level to its shard number.
func shardOf[T string | []byte](first T) int {
	return int(hashLevel(first) % shardCount)
}

// isWildcardLevel reports whether a filter level is "+" or "#".
func isWildcardLevel(level string) bool {
	return level == "+" || level == "#"
}

// nextLevel splits the level that starts at start off s. It returns the
// level, the start of the following level and whether this was the last one.
func nextLevel[T string | []byte](s T, start int) (level T, next int, last bool) {
	for i := start; i < len(s); i++ {
		if s[i] == '/' {
			return s[start:i], i + 1, false
		}
	}
	return s[start:], len(s), true
}

// edge is one literal child of a node.
type edge[N any] struct {
	level string
	node  *N
}

// children holds the literal (non-wildcard) children of a node: a short slice
// while there are few, a map once there are more than smallChildren. Not safe
// for concurrent use; the owning shard's lock protects it.
type children[N any] struct {
	small []edge[N]
	big   map[string]*N
}

// get returns the child for level, or nil.
func (c *children[N]) get(level string) *N {
	if c.big != nil {
		return c.big[level]
	}
	for i := range c.small {
		if c.small[i].level == level {
			return c.small[i].node
		}
	}
	return nil
}

// getBytes is get for a level held as bytes; it does not allocate.
func (c *children[N]) getBytes(level []byte) *N {
	if c.big != nil {
		return c.big[string(level)]
	}
	for i := range c.small {
		if c.small[i].level == string(level) {
			return c.small[i].node
		}
	}
	return nil
}

// put adds a child; level must not be present yet.
func (c *children[N]) put(level string, n *N) {
	if c.big != nil {
		c.big[level] = n
		return
	}
	if len(c.small) < smallChildren {
		c.small = append(c.small, edge[N]{level, n})
		return
	}
	c.big = make(map[string]*N, 2*smallChildren)
	for _, e := range c.small {
		c.big[e.level] = e.node
	}
	c.big[level] = n
	c.small = nil
}

// del removes the child for level, if any.
func (c *children[N]) del(level string) {
	if c.big != nil {
		delete(c.big, level)
		if len(c.big) == 0 {
			c.big = nil
		}
		return
	}
	for i := range c.small {
		if c.small[i].level == level {
			last := len(c.small) - 1
			c.small[i] = c.small[last]
			c.small[last] = edge[N]{}
			c.small = c.small[:last]
			if last == 0 {
				c.small = nil
			}
			return
		}
	}
}

// len returns the number of children.
func (c *children[N]) len() int {
	if c.big != nil {
		return len(c.big)
	}
	return len(c.small)
}

// each calls fn for every child until fn returns false.
func (c *children[N]) each(fn func(level string, n *N) bool) {
	if c.big != nil {
		for level, n := range c.big {
			if !fn(level, n) {
				return
			}
		}
		return
	}
	for _, e := range c.small {
		if !fn(e.level, e.node) {
			return
		}
	}
}
