//go:build soldebug

package broker

// LoopExited is closed once loop i has exited (loop.Loop.Exited).
func LoopExited(b *Broker, i int) <-chan struct{} { return b.loops[i].l.Exited() }
