//go:build soldebug

package broker

// FailLoop makes loop i's next poll fail with err (loop.InjectPollFailure).
func FailLoop(b *Broker, i int, err error) { b.loops[i].l.InjectPollFailure(err) }
