// Package trie holds the subscription index and the retained-message store,
// shared by every event loop: sharded by first topic level, a readers-writer
// lock per shard (split by reader in the Index),
// generic over the subscriber type so that it never imports the broker.
//
// # Index
//
// Index[S] maps topic filters to subscribers. A filter lives in the shard of
// its first level, or in the wild shard when its first level is "+" or "#".
// In its shard, a filter without wildcards is kept in a map keyed by the whole
// filter (one look-up by the whole topic finds them all); a filter with
// wildcards is kept in a tree of levels whose nodes have literal children (a
// short slice while there are at most 8, then a map), a "+" child and a "#"
// child. Keeping exact filters out of the tree saves the dependent node
// loads of an exact match and cut memory from 225 to 165 bytes per
// subscription (BenchmarkIndexMemory); its effect on BenchmarkMatch was
// within the noise of the shared machine it was measured on. Match takes the read
// lock of the topic's first-level shard, then (unless the topic starts with
// '$', [MQTT-4.7.2-1], or the wild shard holds no subscription) the wild
// shard's, one at a time, and copies what
// matched into the caller's slice. Level look-ups index maps with m[string(b)], so a
// match allocates nothing once the caller's slice has grown.
//
// Shared subscriptions ($share/{group}/{filter}) are stored at their filter's
// node as groups of members with a round-robin cursor. Match picks one member
// per matching group: with a nil avail callback it picks under the read lock;
// otherwise it copies the group's members in round-robin order and lets avail
// choose after every lock is released.
//
// # Retained
//
// Retained[M] keeps one message per topic. Each of its shards (same hash of
// the first level) has a map from topic to message for Set, Delete and Get,
// and a level tree for Match with wildcards. Match copies the hits of one
// shard under its read lock and calls back with the lock released.
//
// # Locks
//
// Every Retained shard has one sync.RWMutex. Every Index shard has a
// shardLock: one sync.RWMutex per reader slot, each on its own cache line.
// NewIndexFor(n) gives the broker a slot per event loop (up to 8), and each
// loop matches as its own reader (MatchFrom), so loops matching topics of
// one shard at once (a fleet under "devices/") write no common lock word;
// with one RWMutex both wrote its reader count. In a 2-loop fan-in at QoS 0
// (mqload, 10 publishers, one subscriber) the trie's share of the broker's
// CPU went from 19-20% to 14-17% with the split; it costs the Index 36 KB.
// Subscribe and Unsubscribe write-lock all of one shard's slots in order.
// No code path holds locks of two shards, and none calls out (avail, the
// Retained.Match callback) while holding one. Counters are atomics outside
// the locks, so Count and Bytes may briefly disagree with a concurrent walk.
//
// # Decisions beyond DESIGN.md
//
//   - Match.Filter is the filter as subscribed, "$share/g/f" included, so it
//     is the key the broker passes back to Unsubscribe; Match.Group is "g".
//   - UnsubscribeAll takes the subscriber's filters from the broker (which
//     keeps them in the session anyway) instead of a reverse index, which
//     would cost memory on every subscription.
//   - When avail rejects every member of a group, the member whose turn it is
//     is still reported: the broker queues for it rather than losing the
//     message.
//   - The Index and Retained do not validate filters or topics; the broker
//     does that with the mqtt package. Nothing they are given makes them
//     panic.
//   - Publishes to one first level ("devices/...") all read-lock the same
//     shard. Instead of the per-loop match cache of research/architecture.md
//     5.4, each loop read-locks its own slot of the shard's lock (see Locks),
//     so they share no lock word; BenchmarkMatchOneShard measures it.
package trie
