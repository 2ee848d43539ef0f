//go:build soldebug

package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoopFailureExits runs sol built with soldebug and SOL_TEST_FAIL_LOOP,
// which fails event loop 0 as soon as sol has started, as a failing
// epoll_wait would. sol must log the failure, tell systemd it is stopping,
// shut down and exit with status 1, so that Restart=on-failure starts it
// again; not serve on with a loop gone.
func TestLoopFailureExits(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sol")
	if out, err := exec.Command("go", "build", "-tags", "soldebug", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -tags soldebug: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "sol.conf")
	if err := os.WriteFile(conf, []byte("loops = 2\n[[listener]]\naddress = \"127.0.0.1:0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	cmd := exec.Command(bin, "-c", conf)
	cmd.Env = append(os.Environ(), "SOL_TEST_FAIL_LOOP=1", "NOTIFY_SOCKET="+sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("sol still ran 30 s after its loop failed; log:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("sol exited with %v, want status 1; log:\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{
		`msg="an event loop failed; shutting down" err="loop 0: injected by SOL_TEST_FAIL_LOOP"`,
		`msg="sol stopped" err="event loop failed: loop 0: injected by SOL_TEST_FAIL_LOOP"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s; log:\n%s", want, log)
		}
	}
	var states []string
	buf := make([]byte, 512)
	for {
		notify.SetReadDeadline(time.Now().Add(time.Second))
		n, err := notify.Read(buf)
		if err != nil {
			break
		}
		states = append(states, string(buf[:n]))
	}
	if got := strings.Join(states, " | "); !strings.Contains(got, "READY=1") || !strings.Contains(got, "STOPPING=1") {
		t.Errorf("systemd was told %q, want READY=1 then STOPPING=1", got)
	}
}
