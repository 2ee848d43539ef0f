//go:build soldebug

package broker

// InjectLoopFailure makes event loop i's next poll fail with err, as a
// failing epoll_wait would (loop.Loop.InjectPollFailure): the loop exits
// and Failed closes. Only in soldebug builds, for tests of what sol does
// then. Any goroutine.
func (b *Broker) InjectLoopFailure(i int, err error) { b.loops[i].l.InjectPollFailure(err) }
