//go:build soldebug

package broker

import "sync/atomic"

// Test hooks, in soldebug builds only: each is called at a moment where
// another goroutine's action must be noticed, so that a test can act
// exactly there (hook_nodebug.go compiles them to nothing).
var (
	// inboxCheckHook runs in checkInbox after it found the destination's
	// inbox full and before it registers as waiting.
	inboxCheckHook atomic.Pointer[func()]
	// trimSleepHook runs in trimNow after it emptied the free lists and
	// before it marks its home asleep.
	trimSleepHook atomic.Pointer[func()]
)

func afterInboxLoad() {
	if h := inboxCheckHook.Load(); h != nil {
		(*h)()
	}
}

func beforeTrimSleep() {
	if h := trimSleepHook.Load(); h != nil {
		(*h)()
	}
}
