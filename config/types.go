package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is a byte count written in sol.conf as a number of bytes (1048576) or
// with a unit ("512KB", "1MB", "2GiB"). Units are powers of 1024, as in
// Mosquitto and the C sol. Its UnmarshalText rejects anything else, so the TOML
// decoder reports the key and line of a bad value.
type Size int64

// UnmarshalText parses a size such as "64KB" or "1048576".
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the size in the largest unit that divides it evenly.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// String formats the size with the largest unit that divides it evenly.
func (s Size) String() string {
	v := int64(s)
	for _, u := range []struct {
		n    int64
		name string
	}{{1 << 30, "GB"}, {1 << 20, "MB"}, {1 << 10, "KB"}} {
		if v != 0 && v%u.n == 0 {
			return strconv.FormatInt(v/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(v, 10)
}

// ParseSize parses "1MB", "512 KiB", "100B" or a plain number of bytes.
func ParseSize(text string) (Size, error) {
	t := strings.TrimSpace(text)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a number with a unit (B, KB, MB, GB)", text)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %w", text, err)
	}
	var mul int64
	switch strings.ToUpper(strings.TrimSpace(t[i:])) {
	case "", "B":
		mul = 1
	case "K", "KB", "KIB":
		mul = 1 << 10
	case "M", "MB", "MIB":
		mul = 1 << 20
	case "G", "GB", "GIB":
		mul = 1 << 30
	default:
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (want B, KB, MB or GB)", text, strings.TrimSpace(t[i:]))
	}
	if n > (1<<62)/mul {
		return 0, fmt.Errorf("invalid size %q: too large", text)
	}
	return Size(n * mul), nil
}

// Duration is a time span written in sol.conf as a Go duration string ("10s",
// "1m30s", "500ms"). Negative durations are rejected.
type Duration time.Duration

// UnmarshalText parses a duration such as "10s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a number with a unit such as 10s, 1m or 500ms", b)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go's notation.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// LogLevel is one of debug, info, warning (or warn) and error.
type LogLevel string

// UnmarshalText accepts the four level names, case-insensitively.
func (l *LogLevel) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(strings.TrimSpace(string(b))); v {
	case "debug", "info", "error":
		*l = LogLevel(v)
	case "warning", "warn":
		*l = "warning"
	default:
		return fmt.Errorf("invalid log level %q: want debug, info, warning or error", b)
	}
	return nil
}

// Protocol is what a listener speaks on its socket.
type Protocol string

// UnmarshalText accepts "mqtt". ("ws" arrives with the WebSocket transport.)
func (p *Protocol) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(strings.TrimSpace(string(b))); v {
	case "mqtt":
		*p = Protocol(v)
	case "ws", "websocket", "wss":
		return fmt.Errorf("protocol %q is not supported yet: want mqtt", b)
	default:
		return fmt.Errorf("invalid protocol %q: want mqtt", b)
	}
	return nil
}

// TLSVersion is "1.2" or "1.3".
type TLSVersion string

// UnmarshalText accepts 1.2 and 1.3 (with or without a "tlsv" prefix).
func (v *TLSVersion) UnmarshalText(b []byte) error {
	s := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(string(b))), "tlsv")
	switch s {
	case "1.2", "1.3":
		*v = TLSVersion(s)
	default:
		return fmt.Errorf("invalid TLS version %q: want \"1.2\" or \"1.3\" (older versions are insecure)", b)
	}
	return nil
}

// LogFormat is text or json.
type LogFormat string

// UnmarshalText accepts "text" and "json".
func (f *LogFormat) UnmarshalText(b []byte) error {
	switch v := strings.ToLower(strings.TrimSpace(string(b))); v {
	case "text", "json":
		*f = LogFormat(v)
	default:
		return fmt.Errorf("invalid log format %q: want text or json", b)
	}
	return nil
}
