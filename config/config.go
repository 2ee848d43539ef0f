package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultAddress is where sol listens when the configuration names no
// listener: loopback only, so that a fresh install is not open to the network.
const DefaultAddress = "127.0.0.1:1883"

// Config is the whole of sol.conf. Every field has a default (see Default), so
// sol starts without a file. The TOML key of each field is in its tag; sol.conf
// at the repository root documents each one.
type Config struct {
	// Logging.
	LogLevel  LogLevel  `toml:"log_level"`
	LogPath   string    `toml:"log_path"`
	LogFormat LogFormat `toml:"log_format"`
	PidFile   string    `toml:"pid_file"`

	// Event loops and sockets.
	Loops      int `toml:"loops"`
	TCPBacklog int `toml:"tcp_backlog"`

	// Limits.
	MaxConnections      int      `toml:"max_connections"`
	MaxPacketSize       Size     `toml:"max_packet_size"`
	MaxMemory           Size     `toml:"max_memory"`
	MaxInflightMessages int      `toml:"max_inflight_messages"`
	MaxQueuedMessages   int      `toml:"max_queued_messages"`
	MaxQueuedBytes      Size     `toml:"max_queued_bytes"`
	MaxKeepalive        int      `toml:"max_keepalive"`
	MaxSessionExpiry    Duration `toml:"max_session_expiry"`
	ConnectTimeout      Duration `toml:"connect_timeout"`
	ShutdownTimeout     Duration `toml:"shutdown_timeout"`

	// MQTT features announced to clients.
	MaxQoS                  int  `toml:"max_qos"`
	RetainAvailable         bool `toml:"retain_available"`
	WildcardSubscriptions   bool `toml:"wildcard_subscriptions"`
	SubscriptionIdentifiers bool `toml:"subscription_identifiers"`
	SharedSubscriptions     bool `toml:"shared_subscriptions"`
	TopicAliasMaximum       int  `toml:"topic_alias_maximum"`

	// $SYS.
	StatsPublishInterval Duration `toml:"stats_publish_interval"`

	// Authentication and authorisation, shared by every listener.
	AllowAnonymous *bool  `toml:"allow_anonymous"`
	PasswordFile   string `toml:"password_file"`
	ACLFile        string `toml:"acl_file"`

	Listeners []Listener `toml:"listener"`
	Admin     Admin      `toml:"admin"`

	// File is the path the configuration was read from ("" for defaults).
	File string `toml:"-"`
}

// Listener is one [[listener]] table: a socket sol accepts clients on.
type Listener struct {
	// Address is "host:port" for TCP (IPv6 as "[::1]:1883") or "unix:/path"
	// for a unix-domain socket.
	Address  string   `toml:"address"`
	Protocol Protocol `toml:"protocol"`
	// AllowAnonymous overrides the global setting for this listener.
	AllowAnonymous *bool `toml:"allow_anonymous"`

	CertFile              string       `toml:"cert_file"`
	KeyFile               string       `toml:"key_file"`
	CAFile                string       `toml:"ca_file"`
	TLSVersions           []TLSVersion `toml:"tls_versions"`
	RequireCertificate    bool         `toml:"require_certificate"`
	UseIdentityAsUsername bool         `toml:"use_identity_as_username"`
}

// Admin is the [admin] table: the HTTP listener for metrics and the API.
type Admin struct {
	// Address is empty (off, the default) or "host:port".
	Address string `toml:"address"`
	// Token, when set, must be sent as "Authorization: Bearer <token>".
	Token string `toml:"token"`
}

// Default returns the configuration sol runs with when no file is given.
func Default() Config {
	return Config{
		LogLevel:                "info",
		LogFormat:               "text",
		Loops:                   0,
		TCPBacklog:              1024,
		MaxConnections:          100000,
		MaxPacketSize:           1 << 20,
		MaxMemory:               0,
		MaxInflightMessages:     20,
		MaxQueuedMessages:       1000,
		MaxQueuedBytes:          0,
		MaxKeepalive:            65535,
		MaxSessionExpiry:        0,
		ConnectTimeout:          Duration(10 * time.Second),
		ShutdownTimeout:         Duration(5 * time.Second),
		MaxQoS:                  2,
		RetainAvailable:         true,
		WildcardSubscriptions:   true,
		SubscriptionIdentifiers: true,
		SharedSubscriptions:     true,
		TopicAliasMaximum:       10,
		StatsPublishInterval:    Duration(10 * time.Second),
		Listeners:               []Listener{{Address: DefaultAddress, Protocol: "mqtt"}},
	}
}

// Error is a configuration error located in a file: it names the file, the
// line (0 when unknown) and the key.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, decodes and validates the file at path over the defaults. The
// error, if any, is an *Error naming the file, the key and the line.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("loading %s: %w", path, err)
	}
	return Parse(path, string(data))
}

// typeErr matches BurntSushi/toml's type-mismatch message, which carries the
// line and the key in its text rather than in fields.
var typeErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// Parse decodes and validates text as read from file (used in messages).
func Parse(file, text string) (Config, error) {
	cfg := Default()
	cfg.Listeners = nil
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, &Error{File: file, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}
		}
		if m := typeErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return Config{}, &Error{File: file, Line: line, Key: m[2], Msg: m[3]}
		}
		return Config{}, &Error{File: file, Msg: err.Error()}
	}
	loc := locateKeys(text)
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return Config{}, &Error{File: file, Line: loc.line(k), Key: k, Msg: "unknown key"}
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = []Listener{{Address: DefaultAddress, Protocol: "mqtt"}}
	}
	cfg.File = file
	if err := cfg.validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = file
			if ce.Line == 0 {
				ce.Line = loc.line(ce.Key)
			}
		}
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the combinations a single key's type cannot check. Call it on
// a Config built in code; Load and Parse already do.
func (c *Config) Validate() error {
	err := c.validate()
	var ce *Error
	if errors.As(err, &ce) && ce.File == "" {
		ce.File = "config"
	}
	return err
}

func (c *Config) validate() error {
	bad := func(key, format string, a ...any) error {
		return &Error{File: c.File, Key: key, Msg: fmt.Sprintf(format, a...)}
	}
	switch {
	case c.Loops < 0 || c.Loops > 1024:
		return bad("loops", "must be between 0 (one per CPU) and 1024, got %d", c.Loops)
	case c.TCPBacklog < 1:
		return bad("tcp_backlog", "must be at least 1, got %d", c.TCPBacklog)
	case c.MaxConnections < 0:
		return bad("max_connections", "must be 0 (no limit) or positive, got %d", c.MaxConnections)
	case c.MaxPacketSize < 16 || c.MaxPacketSize > 268435455:
		return bad("max_packet_size", "must be between 16B and 256MB (the MQTT maximum), got %s", c.MaxPacketSize)
	case c.MaxMemory != 0 && c.MaxMemory < 1<<20:
		return bad("max_memory", "must be 0 (no limit) or at least 1MB, got %s", c.MaxMemory)
	case c.MaxInflightMessages < 1 || c.MaxInflightMessages > 65535:
		return bad("max_inflight_messages", "must be between 1 and 65535, got %d", c.MaxInflightMessages)
	case c.MaxQueuedMessages < 0:
		return bad("max_queued_messages", "must be 0 (no limit) or positive, got %d", c.MaxQueuedMessages)
	case c.MaxQueuedBytes < 0:
		return bad("max_queued_bytes", "must not be negative")
	case c.MaxKeepalive < 0 || c.MaxKeepalive > 65535:
		return bad("max_keepalive", "must be between 0 and 65535 seconds, got %d", c.MaxKeepalive)
	case c.MaxSessionExpiry.D() > time.Duration(1<<32-1)*time.Second:
		return bad("max_session_expiry", "must be at most 4294967295s, got %s", c.MaxSessionExpiry.D())
	case c.ConnectTimeout.D() < 100*time.Millisecond:
		return bad("connect_timeout", "must be at least 100ms, got %s", c.ConnectTimeout.D())
	case c.ShutdownTimeout.D() <= 0:
		return bad("shutdown_timeout", "must be positive")
	case c.MaxQoS < 0 || c.MaxQoS > 2:
		return bad("max_qos", "must be 0, 1 or 2, got %d", c.MaxQoS)
	case c.TopicAliasMaximum < 0 || c.TopicAliasMaximum > 65535:
		return bad("topic_alias_maximum", "must be between 0 and 65535, got %d", c.TopicAliasMaximum)
	case c.StatsPublishInterval.D() != 0 && c.StatsPublishInterval.D() < time.Second:
		return bad("stats_publish_interval", "must be 0 (off) or at least 1s, got %s", c.StatsPublishInterval.D())
	}
	for _, f := range []struct{ key, path string }{{"password_file", c.PasswordFile}, {"acl_file", c.ACLFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				return bad(f.key, "%v", err)
			}
		}
	}
	seen := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := func(k string) string { return fmt.Sprintf("listener.%d.%s", i, k) }
		if l.Protocol == "" {
			l.Protocol = "mqtt"
		}
		canon, err := canonicalAddress(l.Address)
		if err != nil {
			return bad(key("address"), "%v", err)
		}
		if j, dup := seen[canon]; dup {
			return bad(key("address"), "%q is already used by listener %d", l.Address, j)
		}
		seen[canon] = i
		tls := l.CertFile != "" || l.KeyFile != "" || l.CAFile != "" || len(l.TLSVersions) > 0 ||
			l.RequireCertificate || l.UseIdentityAsUsername
		switch {
		case !tls:
		case l.CertFile == "":
			return bad(key("cert_file"), "missing: a TLS listener needs cert_file and key_file")
		case l.KeyFile == "":
			return bad(key("key_file"), "missing: a TLS listener needs cert_file and key_file")
		case l.RequireCertificate && l.CAFile == "":
			return bad(key("ca_file"), "missing: require_certificate needs ca_file to verify client certificates")
		case l.UseIdentityAsUsername && !l.RequireCertificate:
			return bad(key("use_identity_as_username"), "needs require_certificate = true")
		}
		for _, f := range []struct{ k, p string }{{"cert_file", l.CertFile}, {"key_file", l.KeyFile}, {"ca_file", l.CAFile}} {
			if f.p != "" {
				if _, err := os.Stat(f.p); err != nil {
					return bad(key(f.k), "%v", err)
				}
			}
		}
		if tls && len(l.TLSVersions) == 0 {
			l.TLSVersions = []TLSVersion{"1.2", "1.3"}
		}
		// Mosquitto 2's rule: anonymous clients only on loopback unless the
		// operator says so, and a network listener with nobody allowed in
		// would be useless, so refuse to start.
		if !l.Anonymous(c) && c.PasswordFile == "" && !l.UseIdentityAsUsername {
			k := key("allow_anonymous")
			if l.AllowAnonymous == nil {
				k = key("address")
				return bad(k, "%q is not a loopback address, so anonymous clients are refused there, and no password_file is set: nobody could connect. Set password_file, or allow_anonymous = true for this listener if that is really intended", l.Address)
			}
			return bad(k, "anonymous clients are refused and no password_file is set: nobody could connect")
		}
	}
	if c.Admin.Address != "" {
		if _, err := canonicalAddress(c.Admin.Address); err != nil || strings.HasPrefix(c.Admin.Address, "unix:") {
			return bad("admin.address", "want host:port, got %q", c.Admin.Address)
		}
		if seenAt, dup := seen[mustCanonical(c.Admin.Address)]; dup {
			return bad("admin.address", "%q is already used by listener %d", c.Admin.Address, seenAt)
		}
	}
	return nil
}

// Anonymous reports whether l admits clients without a username: the
// listener's own allow_anonymous, else the global one, else true only for a
// loopback address or a unix socket (Mosquitto 2's secure default).
func (l *Listener) Anonymous(c *Config) bool {
	if l.AllowAnonymous != nil {
		return *l.AllowAnonymous
	}
	if c.AllowAnonymous != nil {
		return *c.AllowAnonymous
	}
	return l.Loopback()
}

// Loopback reports whether the listener is reachable only from this machine.
func (l *Listener) Loopback() bool {
	if strings.HasPrefix(l.Address, "unix:") {
		return true
	}
	host, _, err := net.SplitHostPort(l.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// TLS reports whether the listener serves MQTT over TLS.
func (l *Listener) TLS() bool { return l.CertFile != "" }

// Network returns the network for the listener's address: "tcp" or "unix".
func (l *Listener) Network() (network, address string) {
	if p, ok := strings.CutPrefix(l.Address, "unix:"); ok {
		return "unix", p
	}
	return "tcp", l.Address
}

func mustCanonical(a string) string { s, _ := canonicalAddress(a); return s }

// canonicalAddress validates a listener address and returns a form in which two
// spellings of the same socket compare equal.
func canonicalAddress(a string) (string, error) {
	if a == "" {
		return "", errors.New("missing: want host:port or unix:/path")
	}
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		if p == "" {
			return "", errors.New("unix socket path is empty")
		}
		return "unix:" + p, nil
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", fmt.Errorf("want host:port (IPv6 as [::1]:1883) or unix:/path, got %q", a)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("invalid port %q", port)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else if host != "localhost" {
		return "", fmt.Errorf("host %q is not an IP address (name resolution is not done for listeners)", host)
	}
	if n == 0 {
		// Port 0 asks the kernel for a free port: never a clash.
		return fmt.Sprintf("%s:0#%p", host, &n), nil
	}
	return net.JoinHostPort(host, port), nil
}
