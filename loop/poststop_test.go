package loop

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingHandler is a slog.Handler that counts records whose message
// contains substr.
type countingHandler struct {
	substr string
	n      *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countingHandler) WithGroup(string) slog.Handler      { return h }

// TestPostDuringStop posts from several goroutines while the server stops,
// many times over. A Post whose item got in before the mailbox shut must not
// write its wake-up to the loop's eventfd once the loop has closed it: the
// write would fail, or land in whatever file took the descriptor number.
func TestPostDuringStop(t *testing.T) {
	var failed atomic.Int64
	log := slog.New(countingHandler{substr: "wake failed", n: &failed})
	rounds := 400
	for range rounds {
		s, err := NewServer(Options{Loops: 2, Logger: log}, &testHandler{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		var stop atomic.Bool
		var wg sync.WaitGroup
		for p := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					s.Post(p%2, p)
					runtime.Gosched() // let the loops drain and stop
				}
			}()
		}
		time.Sleep(time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		cancel()
		time.Sleep(100 * time.Microsecond)
		stop.Store(true)
		wg.Wait()
	}
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d wake-ups written after their loop closed its eventfd", n)
	}
}
