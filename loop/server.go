package loop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Server is a group of loops sharing listeners and a Handler.
type Server struct {
	opts  Options
	h     Handler
	loops []*Loop

	live     atomic.Int64 // open connections, including ones between loops
	stopping atomic.Bool

	failed   chan struct{} // closed at the first loop failure; see Failed
	failure  error         // that failure, set before failed is closed
	failOnce sync.Once

	mu        sync.Mutex
	listeners []*Listener
	started   bool
	stopped   bool
	accepting bool
	rr        atomic.Uint32 // acceptor hand-off cursor
}

// NewServer creates the loops (pollers and read buffers) without starting
// them. Call Stop to release them even if Start is never called. Any
// goroutine.
func NewServer(opts Options, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("loop: NewServer: nil Handler")
	}
	s := &Server{opts: opts.withDefaults(), h: h, accepting: true, failed: make(chan struct{})}
	for i := 0; i < s.opts.Loops; i++ {
		l, err := newLoop(s, i)
		if err != nil {
			for _, x := range s.loops {
				x.p.close()
			}
			return nil, fmt.Errorf("loop: NewServer: loop %d: %w", i, err)
		}
		s.loops = append(s.loops, l)
	}
	return s, nil
}

// Options returns the options in effect, defaults filled in. Any goroutine.
func (s *Server) Options() Options { return s.opts }

// Loops returns the loops, indexed by Loop.Index. Any goroutine; do not
// modify the slice.
func (s *Server) Loops() []*Loop { return s.loops }

// Post posts m to loop loopIndex (see Loop.Post). Any goroutine.
func (s *Server) Post(loopIndex int, m any) { s.loops[loopIndex].Post(m) }

// Failed is closed when a loop has stopped on its own (its poller failed)
// and has closed its connections and listening sockets; Failure says why.
// It stays open through Stop. The rest of the server goes on, but every
// client whose work hashes to the dead loop is refused from then on, so the
// owner should stop the server and exit, and let its supervisor start it
// again. Any goroutine.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Failure returns the first loop failure once Failed is closed, else nil.
// Any goroutine.
func (s *Server) Failure() error {
	select {
	case <-s.failed:
		return s.failure
	default:
		return nil
	}
}

// fail records a loop's failure for Failed; only the first is kept.
func (s *Server) fail(err error) {
	s.failOnce.Do(func() {
		s.failure = err
		close(s.failed)
	})
}

// Start starts one goroutine per loop. Listeners added before or after Start
// are served. It fails if called twice or after Stop. Any goroutine.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopped {
		return errors.New("loop: Start: already started or stopped")
	}
	s.started = true
	for _, l := range s.loops {
		go l.run()
	}
	return nil
}

// StopAccepting stops every listener on every loop at once: the listening
// sockets are shut down here (so no loop accepts another connection after it
// returns) and closed by their loops. Connections the kernel completed but no
// loop accepted yet are reset. Open connections are untouched. Idempotent.
// Any goroutine.
func (s *Server) StopAccepting() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.accepting {
		return
	}
	s.accepting = false
	for _, ln := range s.listeners {
		ln.shutdown()
	}
	if !s.started {
		for _, ln := range s.listeners {
			ln.closeAll()
		}
		return
	}
	for _, l := range s.loops {
		l.Post(stopListenMsg{})
	}
}

// Stop stops accepting, closes every connection gracefully (flushing output;
// Handler.Closed gets ErrStopped), and returns when every loop goroutine has
// exited and every descriptor the server opened is closed. If ctx ends
// first, the remaining connections are closed at once and Stop returns
// ctx.Err() after the loops exit. Mail posted after Stop is dropped. Any
// goroutine except a loop's own.
func (s *Server) Stop(ctx context.Context) error {
	s.StopAccepting()
	s.mu.Lock()
	first := !s.stopped
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if !started {
		if first {
			for _, l := range s.loops {
				l.mb.shut()
				l.closePoller()
			}
		}
		return nil
	}
	if first {
		s.stopping.Store(true)
		for _, l := range s.loops {
			l.Post(stopMsg{})
		}
	}
	var err error
	for _, l := range s.loops {
		select {
		case <-l.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		for _, l := range s.loops {
			l.Post(forceMsg{})
		}
		for _, l := range s.loops {
			<-l.done
		}
	}
	return err
}

// wakeAll wakes every loop (so they notice the server drained). Any
// goroutine.
func (s *Server) wakeAll() {
	for _, l := range s.loops {
		l.wake()
	}
}
