//go:build !soldebug

package broker

// afterInboxLoad and beforeTrimSleep are test hooks in soldebug builds
// (hook_debug.go); nothing here.
func afterInboxLoad()  {}
func beforeTrimSleep() {}
