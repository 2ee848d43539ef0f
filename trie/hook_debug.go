//go:build soldebug

package trie

import "sync/atomic"

// BetweenShardsHook, in soldebug builds only, is called by Index.MatchFrom
// (and so Match) after it has walked the topic's shard and before it looks
// at the wildcard shard (whether it is empty, then its lock), so that a test
// can change subscriptions at that moment.
var BetweenShardsHook atomic.Pointer[func(topic []byte)]

func betweenShards(topic []byte) {
	if h := BetweenShardsHook.Load(); h != nil {
		(*h)(topic)
	}
}
