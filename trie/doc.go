// Package trie holds the subscription index and the retained-message store,
// shared by every event loop: sharded by first topic level, an RWMutex per shard,
// generic over the subscriber type so that it never imports the broker.
package trie
