package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/sol-broker/sol/config"
)

// logging is sol's slog setup: a level that SIGHUP can change and an output
// file that SIGHUP reopens, so logrotate can move the old one away.
type logging struct {
	logger *slog.Logger
	level  *slog.LevelVar
	out    *reopener
}

func newLogging(cfg *config.Config, stderr io.Writer) (*logging, error) {
	l := &logging{level: new(slog.LevelVar), out: &reopener{path: cfg.LogPath, w: stderr}}
	l.level.Set(slogLevel(cfg.LogLevel))
	if cfg.LogPath != "" {
		if err := l.out.Reopen(); err != nil {
			return nil, err
		}
	}
	hopts := &slog.HandlerOptions{Level: l.level}
	var h slog.Handler = slog.NewTextHandler(l.out, hopts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(l.out, hopts)
	}
	l.logger = slog.New(h)
	slog.SetDefault(l.logger)
	return l, nil
}

// Reopen reopens the log file (a no-op when logging to stderr).
func (l *logging) Reopen() error { return l.out.Reopen() }

// Close closes the log file, if any.
func (l *logging) Close() error { return l.out.Close() }

func slogLevel(l config.LogLevel) slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// reopener is an io.Writer over a file that can be reopened by path while
// other goroutines log.
type reopener struct {
	mu   sync.Mutex
	path string
	w    io.Writer
	f    *os.File
}

func (r *reopener) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w.Write(p)
}

func (r *reopener) Reopen() error {
	if r.path == "" {
		return nil
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file: %w", err)
	}
	r.mu.Lock()
	old := r.f
	r.f, r.w = f, f
	r.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

func (r *reopener) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.w = nil, io.Discard
	return err
}
