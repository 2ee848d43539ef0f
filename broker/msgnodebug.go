//go:build !soldebug

package broker

// msgDebug turns on the checks of pooled messages (build tag soldebug).
const msgDebug = false

// poison is a no-op without soldebug.
func poison(*Msg) {}

// msgRefPanic is silent without soldebug: a counting bug must not take the
// broker down; the message is then left to the GC or recycled early.
func msgRefPanic(*Msg, string) {}

// liveMsgs is a stand-in without soldebug: the counting is compiled out
// (msgDebug is false), so the pooled path pays no shared atomic.
var liveMsgs noCount

// noCount is an atomic.Int64 look-alike that counts nothing.
type noCount struct{}

func (noCount) Add(int64) int64 { return 0 }
func (noCount) Load() int64     { return 0 }
