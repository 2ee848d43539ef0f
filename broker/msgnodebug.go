//go:build !soldebug

package broker

// msgDebug turns on the checks of pooled messages (build tag soldebug).
const msgDebug = false

// poison is a no-op without soldebug.
func poison(*Msg) {}

// msgRefPanic is silent without soldebug: a counting bug must not take the
// broker down; the message is then left to the GC or recycled early.
func msgRefPanic(*Msg, string) {}
