//go:build soldebug

package broker

// FailLoop makes loop i's next poll fail with err (loop.InjectPollFailure).
func FailLoop(b *Broker, i int, err error) { b.loops[i].l.InjectPollFailure(err) }

// LoopExited is closed once loop i has exited (loop.Loop.Exited).
func LoopExited(b *Broker, i int) <-chan struct{} { return b.loops[i].l.Exited() }
