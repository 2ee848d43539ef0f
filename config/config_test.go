package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNoFileIsDefault(t *testing.T) {
	cfg, err := Parse("empty.conf", "")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	def.File = "empty.conf"
	if !reflect.DeepEqual(cfg, def) {
		t.Fatalf("empty file:\n got %+v\nwant %+v", cfg, def)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != "127.0.0.1:1883" || !cfg.Listeners[0].Anonymous(&cfg) {
		t.Fatalf("default listener = %+v, want anonymous 127.0.0.1:1883", cfg.Listeners)
	}
}

// The sol.conf shipped at the root documents the defaults: loading it must give
// exactly what sol runs with when no file is given.
func TestShippedConfIsDefault(t *testing.T) {
	cfg, err := Load("../sol.conf")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	def.File = "../sol.conf"
	if !reflect.DeepEqual(cfg, def) {
		t.Fatalf("sol.conf differs from the defaults:\n got %+v\nwant %+v", cfg, def)
	}
}

// Every key the shipped file documents must be a key the schema knows, and the
// other way round, so the documentation cannot drift from the code.
func TestShippedConfDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../sol.conf")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if eq := strings.Index(line, " = "); eq > 0 && !strings.Contains(line[:eq], " ") {
			documented[line[:eq]] = true
		}
	}
	known := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeOf(Config{}), reflect.TypeOf(Listener{}), reflect.TypeOf(Admin{})} {
		for i := 0; i < typ.NumField(); i++ {
			tag := typ.Field(i).Tag.Get("toml")
			if tag == "-" || tag == "listener" || tag == "admin" {
				continue
			}
			if !documented[tag] {
				t.Errorf("key %s is not documented in sol.conf", tag)
			}
			known[tag] = true
		}
	}
	for k := range documented {
		if !known[k] {
			t.Errorf("sol.conf documents %s, which the schema does not know", k)
		}
	}
}

func TestEveryKey(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	acl := filepath.Join(dir, "acl")
	crt := filepath.Join(dir, "server.crt")
	key := filepath.Join(dir, "server.key")
	ca := filepath.Join(dir, "ca.crt")
	for _, f := range []string{pw, acl, crt, key, ca} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	text := `
log_level = "debug"
log_path = "/tmp/sol.log"
log_format = "json"
pid_file = "/tmp/sol.pid"
loops = 3
tcp_backlog = 64
max_connections = 500
max_packet_size = "256KB"
max_memory = "2GB"
max_inflight_messages = 100
max_queued_messages = 5000
max_queued_bytes = "64MB"
max_keepalive = 600
max_session_expiry = "24h"
connect_timeout = "3s"
shutdown_timeout = "2s"
max_qos = 1
retain_available = false
wildcard_subscriptions = false
subscription_identifiers = false
shared_subscriptions = false
topic_alias_maximum = 0
stats_publish_interval = "0s"
allow_anonymous = false
password_file = "` + pw + `"
acl_file = "` + acl + `"

[[listener]]
address = "127.0.0.1:1883"
protocol = "mqtt"
allow_anonymous = true

[[listener]]
address = "[::1]:8883"
cert_file = "` + crt + `"
key_file = "` + key + `"
ca_file = "` + ca + `"
tls_versions = ["1.3"]
require_certificate = true
use_identity_as_username = true

[[listener]]
address = "unix:/tmp/sol.sock"

[admin]
address = "127.0.0.1:8081"
token = "s3cret"
`
	cfg, err := Parse("every.conf", text)
	if err != nil {
		t.Fatal(err)
	}
	no, yes := false, true
	want := Config{
		LogLevel: "debug", LogPath: "/tmp/sol.log", LogFormat: "json", PidFile: "/tmp/sol.pid",
		Loops: 3, TCPBacklog: 64, MaxConnections: 500, MaxPacketSize: 256 << 10, MaxMemory: 2 << 30,
		MaxInflightMessages: 100, MaxQueuedMessages: 5000, MaxQueuedBytes: 64 << 20, MaxKeepalive: 600,
		MaxSessionExpiry: Duration(24 * time.Hour), ConnectTimeout: Duration(3 * time.Second),
		ShutdownTimeout: Duration(2 * time.Second), MaxQoS: 1, TopicAliasMaximum: 0,
		AllowAnonymous: &no, PasswordFile: pw, ACLFile: acl,
		Listeners: []Listener{
			{Address: "127.0.0.1:1883", Protocol: "mqtt", AllowAnonymous: &yes},
			{Address: "[::1]:8883", Protocol: "mqtt", CertFile: crt, KeyFile: key, CAFile: ca,
				TLSVersions: []TLSVersion{"1.3"}, RequireCertificate: true, UseIdentityAsUsername: true},
			{Address: "unix:/tmp/sol.sock", Protocol: "mqtt"},
		},
		Admin: Admin{Address: "127.0.0.1:8081", Token: "s3cret"},
		File:  "every.conf",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}
	if !cfg.Listeners[0].Anonymous(&cfg) || cfg.Listeners[1].Anonymous(&cfg) || cfg.Listeners[2].Anonymous(&cfg) {
		t.Error("allow_anonymous: listener override or global default not applied")
	}
	if n, a := cfg.Listeners[2].Network(); n != "unix" || a != "/tmp/sol.sock" {
		t.Errorf("unix listener network = %s %s", n, a)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	crt := filepath.Join(dir, "server.crt")
	if err := os.WriteFile(crt, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, text string
		line       int
		key, msg   string
	}{
		{"bad size", "loops = 1\nmax_packet_size = \"2XB\"\n", 2, "max_packet_size", "unknown unit"},
		{"wrong type", "loops = \"four\"\n", 1, "loops", "incompatible types"},
		{"wrong type in listener", "[[listener]]\naddress = 1883\n", 2, "listener.address", "incompatible types"},
		{"unknown key", "log_level = \"info\"\nmax_packets = 3\n", 2, "max_packets", "unknown key"},
		{"unknown key in listener", "[[listener]]\naddress = \"127.0.0.1:1883\"\nport = 1\n", 3, "listener.port", "unknown key"},
		{"bad duration", "connect_timeout = \"ten\"\n", 1, "connect_timeout", "invalid duration"},
		{"bad log level", "\nlog_level = \"loud\"\n", 2, "log_level", "invalid log level"},
		{"syntax", "loops = \n", 1, "loops", "expected value"},
		{"out of range", "# comment\nmax_qos = 3\n", 2, "max_qos", "must be 0, 1 or 2"},
		{"tls key without cert", "[[listener]]\naddress = \"127.0.0.1:8883\"\nkey_file = \"x\"\n", 1, "listener.0.cert_file", "needs cert_file and key_file"},
		{"cert without key", "[[listener]]\naddress = \"127.0.0.1:1883\"\n[[listener]]\naddress = \"127.0.0.1:8883\"\ncert_file = \"" + crt + "\"\n", 3, "listener.1.key_file", "needs cert_file and key_file"},
		{"two listeners one address", "[[listener]]\naddress = \"127.0.0.1:1883\"\n\n[[listener]]\naddress = \"127.0.0.1:1883\"\n", 5, "listener.1.address", "already used by listener 0"},
		{"same address spelled twice", "[[listener]]\naddress = \"[::1]:1883\"\n[[listener]]\naddress = \"[0:0::1]:1883\"\n", 4, "listener.1.address", "already used"},
		{"bad address", "[[listener]]\naddress = \"localhost\"\n", 2, "listener.0.address", "want host:port"},
		{"open listener without passwords", "[[listener]]\naddress = \"0.0.0.0:1883\"\n", 2, "listener.0.address", "not a loopback address"},
		{"missing password file", "password_file = \"/nonexistent/sol.passwd\"\n", 1, "password_file", "no such file"},
		{"bad tls version", "[[listener]]\naddress = \"127.0.0.1:8883\"\ntls_versions = [\"1.0\"]\n", 3, "listener.tls_versions", "older versions are insecure"},
		{"unsupported protocol", "[[listener]]\naddress = \"127.0.0.1:8083\"\nprotocol = \"ws\"\n", 3, "listener.protocol", "not supported yet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.conf", c.text)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if ce.File != "bad.conf" || ce.Line != c.line || ce.Key != c.key || !strings.Contains(ce.Msg, c.msg) {
				t.Fatalf("got %q (line %d key %q), want line %d key %q containing %q", err, ce.Line, ce.Key, c.line, c.key, c.msg)
			}
			if s := err.Error(); !strings.HasPrefix(s, "bad.conf:") || strings.Contains(s, "\n") {
				t.Fatalf("message %q must be one line starting with the file name", s)
			}
		})
	}
}

func TestOpenListenerAllowedExplicitly(t *testing.T) {
	for _, text := range []string{
		"[[listener]]\naddress = \"0.0.0.0:1883\"\nallow_anonymous = true\n",
		"allow_anonymous = true\n[[listener]]\naddress = \"0.0.0.0:1883\"\n",
	} {
		if _, err := Parse("open.conf", text); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "100": 100, "100B": 100, "64KB": 64 << 10, "1 MB": 1 << 20, "2GiB": 2 << 30, "3k": 3 << 10} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MB", "-1", "1.5MB", "1TB", "99999999999999999999"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if s := Size(1 << 20).String(); s != "1MB" {
		t.Errorf("String = %s", s)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/sol.conf")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/sol.conf") {
		t.Fatalf("err = %v, want it to name the file", err)
	}
}
