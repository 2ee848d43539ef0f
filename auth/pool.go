package auth

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// defaultQueuePerWorker sizes the pool's queue when the caller does not: a
// connect storm may have this many verifications waiting per worker before
// new clients are refused with Server Busy.
const defaultQueuePerWorker = 256

// Request is one password verification handed to a Pool. The pool owns it from
// a successful Submit until Done returns; the caller must not touch it in
// between.
type Request struct {
	// Username and Password are the client's credentials. Password is
	// overwritten with zeros once checked, so it must be a copy the caller
	// owns, not a view into a read buffer.
	Username string
	Password []byte
	// Done receives the verdict, called exactly once on a worker goroutine
	// (false, without checking, when the pool is closed before the request
	// runs). It must not block for long: the broker posts to the connection's
	// loop mailbox from it.
	Done func(ok bool)
}

// Pool runs slow password verifications on a fixed set of worker goroutines
// with a bounded queue, so that hashing never runs on an event loop and a
// connect storm cannot queue unbounded work. All methods are safe for
// concurrent use.
type Pool struct {
	verify  func(username string, password []byte) bool
	queue   chan *Request
	mu      sync.RWMutex // guards closing queue against concurrent Submit
	closed  bool
	closing atomic.Bool // workers answer false without verifying
	wg      sync.WaitGroup
}

// NewPool starts workers goroutines (runtime.GOMAXPROCS(0) when workers <= 0)
// that call verify for each submitted request; at most queueLen requests wait
// (workers*256 when queueLen <= 0). verify must be safe for concurrent use.
func NewPool(workers, queueLen int, verify func(username string, password []byte) bool) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queueLen <= 0 {
		queueLen = workers * defaultQueuePerWorker
	}
	p := &Pool{verify: verify, queue: make(chan *Request, queueLen)}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// Submit queues req without ever blocking. It returns false when the queue is
// full or the pool is closed; req.Done is then never called and the caller
// still owns req (the broker refuses the client with Server Busy).
func (p *Pool) Submit(req *Request) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	select {
	case p.queue <- req:
		return true
	default:
		return false
	}
}

// Queued returns how many requests are waiting for a worker.
func (p *Pool) Queued() int { return len(p.queue) }

// Close stops the workers after answering every queued request with false,
// and returns when they have exited. Later Submits return false. Close is
// idempotent.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.closing.Store(true)
	close(p.queue)
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Pool) work() {
	defer p.wg.Done()
	for req := range p.queue {
		ok := false
		if !p.closing.Load() {
			ok = p.verify(req.Username, req.Password)
		}
		clear(req.Password)
		req.Done(ok)
	}
}
