package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sol-broker/sol/internal/testcerts"
)

// buildSol compiles the sol binary once for the process tests.
var buildSol = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sol-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "sol")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &exec.Error{Name: "go build: " + string(out), Err: err}
	}
	return bin, nil
})

// lineLog collects a process's stderr lines and lets a test wait for one.
type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) add(s string) { l.mu.Lock(); l.lines = append(l.lines, s); l.mu.Unlock() }

func (l *lineLog) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, s := range l.lines {
			if m := re.FindStringSubmatch(s); m != nil {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no log line matching %q; log so far:\n%s", re, strings.Join(l.lines, "\n"))
	return nil
}

var listeningRe = regexp.MustCompile(`msg=listening listener=(\S+)`)

// startSol runs the binary with conf and NOTIFY_SOCKET, returning the process,
// its log and the address of its first listener.
func startSol(t *testing.T, conf string, env ...string) (*exec.Cmd, *lineLog, string) {
	t.Helper()
	bin, err := buildSol()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sol.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", path)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	log := &lineLog{}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.add(sc.Text())
		}
	}()
	addr := log.waitFor(t, listeningRe)[1]
	return cmd, log, addr
}

// TestServeSignalsAndSystemd runs the real binary: readiness and stopping go to
// NOTIFY_SOCKET, MQTT is served, SIGHUP reloads without a restart, and SIGTERM
// exits 0.
func TestServeSignalsAndSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	states := make(chan string, 8)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := notify.Read(buf)
			if err != nil {
				return
			}
			states <- string(buf[:n])
		}
	}()
	cmd, log, addr := startSol(t, "log_level = \"debug\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n", "NOTIFY_SOCKET="+sock)

	select {
	case s := <-states:
		if !strings.Contains(s, "READY=1") {
			t.Fatalf("first notification %q, want READY=1", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no READY=1 on NOTIFY_SOCKET")
	}

	// A CONNECT (3.1.1, clean session, client "p") gets a CONNACK accepted.
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'p'}
	if _, err := c.Write(connect); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := c.Read(ack); err != nil || !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("CONNACK %x, %v; want 20020000", ack, err)
	}

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, regexp.MustCompile(`reloaded on SIGHUP`))
	// Still serving the same client after the reload: PINGREQ, PINGRESP.
	if _, err := c.Write([]byte{0xC0, 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ack[:2]); err != nil || !bytes.Equal(ack[:2], []byte{0xD0, 0}) {
		t.Fatalf("PINGRESP after SIGHUP: %x, %v", ack[:2], err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sol exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sol did not exit within 10s of SIGTERM")
	}
	select {
	case s := <-states:
		if !strings.Contains(s, "STOPPING=1") {
			t.Fatalf("notification %q, want STOPPING=1", s)
		}
	case <-time.After(time.Second):
		t.Fatal("no STOPPING=1 on NOTIFY_SOCKET")
	}
}

// TestSecondSolOnBusyPortFails: a second broker on a port the first one holds
// must fail with EADDRINUSE rather than silently share it through SO_REUSEPORT.
func TestSecondSolOnBusyPortFails(t *testing.T) {
	_, _, addr := startSol(t, "[[listener]]\naddress = \"127.0.0.1:0\"\n")
	bin, _ := buildSol()
	path := filepath.Join(t.TempDir(), "second.conf")
	if err := os.WriteFile(path, []byte("[[listener]]\naddress = \""+addr+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-c", path).CombinedOutput()
	if err == nil {
		t.Fatalf("second sol on %s started; output:\n%s", addr, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Fatalf("second sol failed without saying the address is in use:\n%s", out)
	}
}

// TestDetach: -d returns at once, leaving a detached sol that writes its pid
// file, serves, logs to log_path, and removes the pid file on SIGTERM.
func TestDetach(t *testing.T) {
	bin, err := buildSol()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "sol.pid")
	logFile := filepath.Join(dir, "sol.log")
	conf := filepath.Join(dir, "sol.conf")
	text := "pid_file = \"" + pidFile + "\"\nlog_path = \"" + logFile + "\"\n[[listener]]\naddress = \"127.0.0.1:0\"\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-d", "-c", conf).CombinedOutput()
	if err != nil {
		t.Fatalf("sol -d: %v\n%s", err, out)
	}
	var pid int
	deadline := time.Now().Add(10 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidFile); err == nil {
			fmt.Sscanf(string(b), "%d", &pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatalf("no pid file %s; sol -d said: %s", pidFile, out)
	}
	proc, _ := os.FindProcess(pid)
	defer proc.Kill()
	var addr string
	for addr == "" && time.Now().Before(deadline) {
		b, _ := os.ReadFile(logFile)
		if m := listeningRe.FindSubmatch(b); m != nil {
			addr = string(m[1])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addr == "" {
		t.Fatal("the detached sol logged no listener to log_path")
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("detached sol does not serve: %v", err)
	}
	c.Close()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		if _, err := os.Stat(pidFile); os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("pid file still there after SIGTERM")
}

// TestSighupSwapsCertificate: a TLS listener's certificate replaced on disk is
// served to new clients after SIGHUP, while a client connected before keeps
// its session.
func TestSighupSwapsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.New(t)
	cert, key := ca.Issue(t, dir, "server", 100, true)
	conf := "[[listener]]\naddress = \"127.0.0.1:0\"\ncert_file = \"" + cert + "\"\nkey_file = \"" + key + "\"\n"
	cmd, log, addr := startSol(t, conf)
	dialTLS := func() (*tls.Conn, int64) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		return c, c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	mqttPing := func(c *tls.Conn, connect bool) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		want := []byte{0xD0, 0}
		out := []byte{0xC0, 0}
		if connect {
			out = []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'k'}
			want = []byte{0x20, 2, 0, 0}
		}
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %x, %v; want %x", got, err, want)
		}
	}
	old, serial := dialTLS()
	defer old.Close()
	if serial != 100 {
		t.Fatalf("serial %d, want 100", serial)
	}
	mqttPing(old, true)

	c2, k2 := ca.Issue(t, dir, "server-next", 200, true)
	for src, dst := range map[string]string{c2: cert, k2: key} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, regexp.MustCompile(`reloaded on SIGHUP.*certificate`))
	fresh, serial := dialTLS()
	defer fresh.Close()
	if serial != 200 {
		t.Fatalf("after SIGHUP serial %d, want 200", serial)
	}
	mqttPing(old, false) // the client from before the reload is still served
}
