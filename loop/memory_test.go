package loop

import (
	"testing"
	"time"
	"unsafe"

	"github.com/sol-broker/sol/internal/idleclients"
)

const idleConns = 10000

// TestIdleConnMemory measures the Go heap and stack memory the loop holds per
// idle connection with 10,000 connections open. The clients live in a child
// process (this test binary re-run as TestHelperIdleClients), so only the
// server side is measured and each process stays inside its fd limit.
func TestIdleConnMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections")
	}
	idleclients.RaiseFDLimit(t, idleConns)
	h := &testHandler{}
	s, addr := startServer(t, Options{Loops: 2}, h)
	_ = s
	before := idleclients.HeapAndStacks()
	idleclients.Spawn(t, "TestHelperIdleClients", addr, idleConns)
	waitFor(t, 30*time.Second, "10,000 connections opened", func() bool { return h.opened.Load() == idleConns })
	after := idleclients.HeapAndStacks()
	per := float64(after-before) / idleConns
	t.Logf("idle connections: %d, Go heap+stacks per connection: %.0f bytes (before %d, after %d)", idleConns, per, before, after)
	if per >= 1024 {
		t.Fatalf("%.0f bytes per idle connection, want < 1024", per)
	}
}

// TestHelperIdleClients is the client side of TestIdleConnMemory; it does
// nothing unless started by it.
func TestHelperIdleClients(t *testing.T) { idleclients.Serve(t, nil) }

// TestConnSize pins the size of a Conn: every idle connection holds one, and
// 96 bytes is the size class it fits in once what busy, TLS, migrating and
// closing connections need lives outside it (connIO, connExt).
func TestConnSize(t *testing.T) {
	if s := unsafe.Sizeof(Conn{}); s > 96 {
		t.Fatalf("Conn is %d bytes, want <= 96", s)
	}
}
