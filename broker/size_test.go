package broker

import (
	"testing"
	"unsafe"
)

// TestSessionSize and TestConnSize pin the size classes of what every
// connected client holds in the broker (80 and 64 bytes): a field added to
// either moves every idle client up a class.
func TestSessionSize(t *testing.T) {
	if s := unsafe.Sizeof(session{}); s > 80 {
		t.Fatalf("session is %d bytes, want <= 80", s)
	}
}

func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(conn{}); s > 64 {
		t.Fatalf("conn is %d bytes, want <= 64", s)
	}
}
