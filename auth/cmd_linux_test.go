//go:build linux

package auth

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the master end (a raw non-blocking fd, outside Go's
// poller) and the slave end of a new pseudo-terminal.
func openPTY(t *testing.T) (master int, slave *os.File) {
	t.Helper()
	m, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(m, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(m)
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(m, unix.TIOCGPTN)
	if err != nil {
		unix.Close(m)
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		unix.Close(m)
		t.Skipf("open slave: %v", err)
	}
	t.Cleanup(func() { s.Close(); unix.Close(m) })
	return m, s
}

// TestPasswdTerminal types the password twice on a pseudo-terminal and checks
// that the terminal echoed none of it and that its settings were restored.
func TestPasswdTerminal(t *testing.T) {
	master, slave := openPTY(t)
	before, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag&unix.ECHO == 0 {
		t.Skip("pseudo-terminal starts without echo")
	}
	file := filepath.Join(t.TempDir(), "passwd")
	stderr := &lockedBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- PasswdCommand([]string{"-c", file, "alice"}, slave, &bytes.Buffer{}, stderr) }()

	// Type each line once its prompt is out and echo is off, as a person
	// would; typing earlier would be echoed by design. Each prompt is
	// printed before echo goes off, so both together mean this prompt's
	// read is waiting.
	for i, prompt := range []string{"Password: ", "Reenter password: "} {
		waitFor(t, 5*time.Second, fmt.Sprintf("prompt %d with echo off", i+1), func() bool {
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0 && strings.Contains(stderr.String(), prompt)
		})
		if _, err := unix.Write(master, []byte("typed secret\n")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("passwd on a terminal: %v (stderr %q)", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("passwd did not finish")
	}
	after, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag {
		t.Errorf("terminal flags not restored: %#x, were %#x", after.Lflag, before.Lflag)
	}
	// The line discipline echoes while processing the write, so whatever
	// it echoed is waiting on the master side now.
	if echoed := readAvailable(master); strings.Contains(echoed, "secret") {
		t.Errorf("the terminal echoed the password: %q", echoed)
	}
	if !strings.Contains(stderr.String(), "Password: ") || !strings.Contains(stderr.String(), "Reenter password: ") {
		t.Errorf("prompts missing: %q", stderr.String())
	}
	if p := mustLoad(t, file); !p.Verify("alice", []byte("typed secret")) {
		t.Error("the typed password does not verify")
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one poller.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// readAvailable drains the non-blocking fd.
func readAvailable(fd int) string {
	var out []byte
	buf := make([]byte, 256)
	for range 1000 {
		n, err := unix.Read(fd, buf)
		if n <= 0 || err != nil {
			break
		}
		out = append(out, buf[:n]...)
	}
	return string(out)
}
