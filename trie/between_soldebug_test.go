//go:build soldebug

package trie

import "testing"

// TestWildShardCheckedAfterTopicShard: a subscriber adds "+/t" and then
// drops "rc/t" while a Match of "rc/t" stands between the two shards, and
// the wild shard was empty before. Match must look at the wild shard (and
// its count) only after the topic's shard, and so see both: had it read
// the count first, a client that subscribes "+/t" before it unsubscribes
// "rc/t" could miss a publish that met neither filter.
func TestWildShardCheckedAfterTopicShard(t *testing.T) {
	x := NewIndexFor[int](2)
	x.Subscribe("rc/t", 1, SubOptions{})
	hook := func([]byte) {
		x.Subscribe("+/t", 1, SubOptions{})
		x.Unsubscribe("rc/t", 1)
	}
	BetweenShardsHook.Store(&hook)
	defer BetweenShardsHook.Store(nil)
	got := x.MatchFrom(1, []byte("rc/t"), nil, nil)
	if len(got) != 2 {
		t.Fatalf("Match saw %+v, want both rc/t and +/t", got)
	}
}
