package auth

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond) // polling interval, not synchronisation
	}
}

// slowPasswords is a password file of crypt(3) SHA-512 hashes at the default
// 5000 rounds: milliseconds per check, like the C sol's passwd.py output.
func slowPasswords(t testing.TB, n int) *Passwords {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "user%d:%s\n", i, HashSHA512Crypt(fmt.Sprintf("pass%d", i)))
	}
	p, err := ParsePasswords(strings.NewReader(b.String()), "slow")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPoolStormRunsInParallel proves that the workers verify concurrently: the
// verify function does not start hashing until all workers are inside it at
// once, which a serial pool never achieves.
func TestPoolStormRunsInParallel(t *testing.T) {
	const workers, users, storm = 2, 4, 64
	pw := slowPasswords(t, users)
	var inside atomic.Int32
	allIn := make(chan struct{})
	var once sync.Once
	verify := func(user string, password []byte) bool {
		if inside.Add(1) == workers {
			once.Do(func() { close(allIn) })
		}
		select {
		case <-allIn:
		case <-time.After(10 * time.Second):
			return false // never all in parallel: the verdicts below fail
		}
		ok := pw.Verify(user, password)
		inside.Add(-1)
		return ok
	}
	p := NewPool(workers, storm, verify)
	defer p.Close()

	var wrongVerdicts, answered atomic.Int32
	for i := range storm {
		user := fmt.Sprintf("user%d", i%users)
		password := fmt.Sprintf("pass%d", i%users)
		want := i%3 != 0
		if !want {
			password += "-wrong"
		}
		req := &Request{Username: user, Password: []byte(password), Done: func(ok bool) {
			if ok != want {
				wrongVerdicts.Add(1)
			}
			answered.Add(1)
		}}
		if !p.Submit(req) {
			t.Fatalf("Submit %d refused with a queue of %d", i, storm)
		}
	}
	waitFor(t, 30*time.Second, "every verdict", func() bool { return answered.Load() == storm })
	if n := wrongVerdicts.Load(); n != 0 {
		t.Errorf("%d of %d verdicts wrong", n, storm)
	}
}

// TestPoolSubmitNeverBlocks fills the queue while every worker is stuck and
// checks that Submit then refuses at once instead of waiting.
func TestPoolSubmitNeverBlocks(t *testing.T) {
	const workers, queue = 2, 8
	release := make(chan struct{})
	var started atomic.Int32
	p := NewPool(workers, queue, func(string, []byte) bool {
		started.Add(1)
		<-release
		return true
	})
	defer p.Close()
	var answered atomic.Int32
	done := func(ok bool) { answered.Add(1) }
	for range workers {
		if !p.Submit(&Request{Password: []byte("x"), Done: done}) {
			t.Fatal("Submit refused with idle workers")
		}
	}
	waitFor(t, 5*time.Second, "workers busy", func() bool { return started.Load() == workers })
	for i := range queue {
		if !p.Submit(&Request{Password: []byte("x"), Done: done}) {
			t.Fatalf("Submit %d refused below the queue bound", i)
		}
	}
	refused := make(chan bool)
	go func() {
		refused <- !p.Submit(&Request{Password: []byte("x"), Done: done})
	}()
	select {
	case ok := <-refused:
		if !ok {
			t.Fatal("Submit accepted beyond the queue bound")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Submit blocked on a full queue")
	}
	if p.Queued() != queue {
		t.Errorf("Queued() = %d, want %d", p.Queued(), queue)
	}
	close(release)
	waitFor(t, 5*time.Second, "queued requests answered", func() bool { return answered.Load() == workers+queue })
}

func TestPoolZeroesPassword(t *testing.T) {
	p := NewPool(1, 1, func(_ string, pw []byte) bool { return string(pw) == "secret" })
	defer p.Close()
	pw := []byte("secret")
	verdict := make(chan bool, 1)
	if !p.Submit(&Request{Username: "u", Password: pw, Done: func(ok bool) { verdict <- ok }}) {
		t.Fatal("refused")
	}
	select {
	case ok := <-verdict:
		if !ok {
			t.Error("right password refused")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no verdict")
	}
	if !bytes.Equal(pw, make([]byte, len(pw))) {
		t.Errorf("password not zeroed after the check: %q", pw)
	}
}

func TestPoolCloseAnswersQueued(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	p := NewPool(1, 4, func(string, []byte) bool {
		started.Add(1)
		<-release
		return true
	})
	verdicts := make(chan bool, 5)
	done := func(ok bool) { verdicts <- ok }
	for i := range 5 {
		if !p.Submit(&Request{Password: []byte("x"), Done: done}) {
			t.Fatal("refused")
		}
		if i == 0 {
			waitFor(t, 5*time.Second, "worker busy", func() bool { return started.Load() == 1 })
		}
	}
	closed := make(chan struct{})
	go func() { p.Close(); close(closed) }()
	// Close must wait for the running check; let it finish once Close has
	// marked the pool closed.
	waitFor(t, 5*time.Second, "Close to mark the pool closed", p.closing.Load)
	if p.Submit(&Request{Password: []byte("x"), Done: done}) {
		t.Error("Submit accepted after Close")
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	trues := 0
	for range 5 {
		if <-verdicts {
			trues++
		}
	}
	if trues != 1 {
		t.Errorf("%d requests verified; want only the running one, the 4 queued answered false", trues)
	}
	p.Close() // idempotent
}

func BenchmarkPoolSubmit(b *testing.B) {
	p := NewPool(2, 1024, func(string, []byte) bool { return true })
	defer p.Close()
	var wg sync.WaitGroup
	done := func(bool) { wg.Done() }
	b.ReportAllocs()
	for b.Loop() {
		wg.Add(1)
		req := &Request{Password: []byte("pw"), Done: done}
		for !p.Submit(req) {
			runtime.Gosched() // queue full: let a worker drain it
		}
	}
	wg.Wait()
}
