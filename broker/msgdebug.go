//go:build soldebug

package broker

import (
	"fmt"
	"sync/atomic"
)

// msgDebug turns on the checks of pooled messages (build tag soldebug).
const msgDebug = true

// poison overwrites a freed message's bytes so that a use after free shows
// as garbage, and keeps it out of the pool.
func poison(m *Msg) {
	b := m.buf[:cap(m.buf)]
	for i := range b {
		b[i] = 0xDB
	}
}

// msgRefPanic reports a reference-counting bug.
func msgRefPanic(m *Msg, what string) {
	panic(fmt.Sprintf("broker: %s (Msg %p, refs %d, topic %q)", what, m, m.refs.Load(), m.Topic))
}

// liveMsgs counts pooled messages with references outstanding (created and
// not yet released to zero), for tests that check no reference leaks.
var liveMsgs atomic.Int64
