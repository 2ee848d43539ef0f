//go:build soldebug

package loop

import "sync/atomic"

// faultHook holds a poll failure injected by a test (build tag soldebug), so
// that what a failed loop leaves behind can be tested in the packages above.
type faultHook struct{ err atomic.Pointer[error] }

// take returns the injected failure, once.
func (f *faultHook) take() error {
	if p := f.err.Swap(nil); p != nil {
		return *p
	}
	return nil
}

// InjectPollFailure makes l's next poll fail with err, as a failing
// epoll_wait or kevent would: l logs it, reports it through
// Server.Failed and exits. Only in soldebug builds, for tests. Any
// goroutine.
func (l *Loop) InjectPollFailure(err error) {
	l.fault.err.Store(&err)
	if werr := l.wake(); werr != nil {
		l.s.opts.Logger.Error("loop: wake failed", "loop", l.idx, "err", werr)
	}
}
