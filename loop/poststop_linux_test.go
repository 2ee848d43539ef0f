package loop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestWakeAfterCloseWritesNothing: once a loop has closed its poller, a
// late wake-up (from a Post whose item got in before the mailbox shut) must
// not write to the descriptor number the eventfd had, which by then may be
// another file's: here a pipe's, put on that number on purpose.
func TestWakeAfterCloseWritesNothing(t *testing.T) {
	s, err := NewServer(Options{Loops: 1}, &testHandler{})
	if err != nil {
		t.Fatal(err)
	}
	l := s.loops[0]
	if _, ok := l.mb.post(1); !ok {
		t.Fatal("post refused before shut")
	}
	num := l.p.wakefd
	l.mb.shut()
	l.closePoller()

	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if fds[1] != num { // else the pipe took the number by itself
		if err := unix.Dup3(fds[1], num, unix.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(num)
	}

	if err := l.wake(); err != nil {
		t.Fatalf("wake after close: %v", err)
	}
	var b [16]byte
	if n, err := unix.Read(fds[0], b[:]); err != unix.EAGAIN {
		t.Fatalf("the late wake-up wrote %d bytes into the file that took the eventfd's number (read err %v)", n, err)
	}
}
