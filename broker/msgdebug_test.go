//go:build soldebug

package broker

import "testing"

// TestMsgDebugCatchesMisuse checks what -tags soldebug promises: a freed
// pooled message is poisoned, and a release too many or a use after free
// panics.
func TestMsgDebugCatchesMisuse(t *testing.T) {
	mustPanic := func(what string, fn func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Fatalf("%s did not panic", what)
			}
		}()
		fn()
	}
	m := newPooledMsg(&msgFields{topic: []byte("a/b"), payload: []byte("hello")})
	payload := m.Payload
	m.release()
	if string(payload) == "hello" || payload[0] != 0xDB {
		t.Fatalf("freed payload not poisoned: %q", payload)
	}
	mustPanic("use after free", m.checkLive)
	mustPanic("ref after free", m.ref)
	mustPanic("second release", m.release)
}
