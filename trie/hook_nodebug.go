//go:build !soldebug

package trie

// betweenShards is a test hook in soldebug builds (hook_debug.go); nothing
// here.
func betweenShards([]byte) {}
