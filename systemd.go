package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/sol-broker/sol/config"
)

// notifySystemd sends state to systemd's notification socket when sol runs as
// a Type=notify service. Without NOTIFY_SOCKET it does nothing, so Type=simple
// and a plain terminal work too. Errors are ignored: readiness reporting must
// never stop the broker.
func notifySystemd(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract socket namespace
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte(state))
}

// detachedEnv marks the child process started by -d.
const detachedEnv = "SOL_DETACHED"

// daemonize starts sol again in a new session with standard input and output
// on /dev/null, and returns once the child is running. Go cannot fork, so this
// is a re-exec; the child writes the pid file.
func daemonize(cfg *config.Config, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "sol: -d: %v\n", err)
		return 1
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "sol: -d: %v\n", err)
		return 1
	}
	defer null.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), detachedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "sol: -d: %v\n", err)
		return 1
	}
	fmt.Fprintf(stderr, "sol: running detached as pid %d (pid file %s)\n", cmd.Process.Pid, pidFilePath(cfg))
	_ = cmd.Process.Release()
	return 0
}

func pidFilePath(cfg *config.Config) string {
	if cfg.PidFile != "" {
		return cfg.PidFile
	}
	return "sol.pid"
}

func writePidFile(cfg *config.Config) error {
	p := pidFilePath(cfg)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("pid file %s: %w", p, err)
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("pid file %s: %w", p, err)
	}
	return nil
}
