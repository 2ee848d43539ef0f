package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckShippedConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-c", "sol.conf"}, &out, &errOut); code != 0 {
		t.Fatalf("sol -t -c sol.conf exited %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "listener 127.0.0.1:1883 (mqtt, anonymous allowed)") {
		t.Fatalf("sol -t output does not describe the default listener:\n%s", out.String())
	}
}

func TestCheckBrokenConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.conf")
	if err := os.WriteFile(path, []byte("loops = 2\nmax_packet_size = \"2XB\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-t", "-c", path}, &out, &errOut); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	want := path + ":2: max_packet_size: "
	if got := errOut.String(); !strings.Contains(got, want) || strings.Count(got, "\n") != 1 {
		t.Fatalf("stderr %q, want one line containing %q", got, want)
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-version"}, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "sol ") {
		t.Fatalf("-version: code %d, out %q", code, out.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"-nosuchflag"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "usage: sol") {
		t.Fatalf("bad flag: code %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := run([]string{"extra"}, &out, &errOut); code != 2 {
		t.Fatalf("stray argument: code %d", code)
	}
}
