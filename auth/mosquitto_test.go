package auth

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startMosquitto runs a real Mosquitto on 127.0.0.1 with the given password
// and ACL files and returns its port. It is stopped when the test ends.
func startMosquitto(t *testing.T, passwordFile, aclFile string) string {
	t.Helper()
	broker, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skip("mosquitto not installed")
	}
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub", "stdbuf"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	settings := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npassword_file %s\nacl_file %s\n", port, passwordFile, aclFile)
	if os.Getuid() == 0 {
		// Started as root, Mosquitto drops to user mosquitto, which cannot
		// read our 0600 files in a 0700 directory.
		settings += "user root\n"
	}
	writeFile(t, conf, settings)
	cmd := exec.Command(broker, "-c", conf)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logs.String())
		}
	})
	waitFor(t, 10*time.Second, "mosquitto to listen", func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return port
}

func identityArgs(port, clientID, user string) []string {
	args := []string{"-h", "127.0.0.1", "-p", port, "-i", clientID}
	if user != "" {
		args = append(args, "-u", user, "-P", "pw-"+user)
	}
	return args
}

func mosquittoPub(port, clientID, user, password, topic string) error {
	args := []string{"-h", "127.0.0.1", "-p", port, "-i", clientID, "-q", "1", "-t", topic, "-m", "x"}
	if user != "" {
		args = append(args, "-u", user, "-P", password)
	}
	out, err := exec.Command("mosquitto_pub", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// startSub runs mosquitto_sub on "#" as the given identity and waits for its
// SUBACK. It runs under stdbuf -oL: its stdout is a pipe here, and without
// line buffering nothing would arrive until it exits.
func startSub(t *testing.T, port, clientID, user string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	args := append([]string{"-oL", "mosquitto_sub"}, identityArgs(port, clientID, user)...)
	args = append(args, "-t", "#", "-v", "-d")
	out := &syncBuffer{}
	sub := exec.Command("stdbuf", args...)
	sub.Stdout, sub.Stderr = out, out
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Process.Kill(); sub.Wait() })
	waitFor(t, 10*time.Second, "SUBACK", func() bool { return strings.Contains(out.String(), "SUBACK") })
	return sub, out
}

// syncBuffer collects a subprocess's output while the test polls it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMosquittoInterop runs the same password file and ACL through Mosquitto
// and through this package: a file written by `sol passwd` admits the right
// password and refuses a wrong one in Mosquitto, and for several identities
// the set of topics Mosquitto delivers (and accepts publishes on) equals what
// CanRead (and CanPublish) say.
func TestMosquittoInterop(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	for i, u := range []string{"admin", "roger", "ops", "stranger"} {
		args := []string{"-b", pwFile, u, "pw-" + u}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := runPasswd(t, "", args...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	base, err := os.ReadFile(filepath.Join("testdata", "acl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(dir, "acl")
	writeFile(t, aclFile, string(base)+"\nuser admin\ntopic readwrite #\n")
	acl, err := LoadACL(aclFile)
	if err != nil {
		t.Fatal(err)
	}
	port := startMosquitto(t, pwFile, aclFile)

	// Passwords written by HashPBKDF2 are Mosquitto's.
	if err := mosquittoPub(port, "pw-ok", "roger", "pw-roger", "foo/bar"); err != nil {
		t.Errorf("mosquitto refused sol passwd's hash with the right password: %v", err)
	}
	if err := mosquittoPub(port, "pw-bad", "roger", "wrong", "foo/bar"); err == nil {
		t.Error("mosquitto accepted a wrong password")
	}

	topics := []string{
		"foo/bar", "foo/baz", "sensors/t1", "sensors/private/t1", "cmd/lamp/set",
		"public/news", "public/secret", "public/secret/deeper", "anything/at/all",
		"ops/locked", "devices/dev1/temp", "devices/dev2/temp", "devices/dev1/firmware",
		"users/roger/inbox", "users/ops/inbox", "literal/a%c/b", "literal/adev1/b",
		"topic with spaces/x", "foo/bar/", "home/roger-dev1/x", "home/-dev1/x",
		"home/stranger-dev1/x", "home/roger-c1/x", "home/ops-c1/x",
	}
	identities := []struct{ clientID, user, marker string }{
		{"dev1", "roger", "foo/bar"},
		{"dev1", "", "public/news"},
		{"c1", "ops", "anything/at/all"},
		{"dev1", "stranger", "devices/dev1/temp"},
	}

	t.Run("read", func(t *testing.T) {
		for _, id := range identities {
			sub, out := startSub(t, port, id.clientID, id.user)
			for _, topic := range append(topics, id.marker+"/end") {
				if topic == id.marker+"/end" {
					topic = id.marker
				}
				if err := mosquittoPub(port, "admin-pub", "admin", "pw-admin", topic); err != nil {
					t.Fatal(err)
				}
			}
			// The marker is published last and readable by this identity;
			// counting its second copy means every earlier publish is in.
			waitFor(t, 10*time.Second, "the end marker", func() bool {
				return strings.Count(out.String(), "\n"+id.marker+" x") == 2
			})
			sub.Process.Kill()
			sub.Wait()
			got := map[string]bool{}
			for _, line := range strings.Split(out.String(), "\n") {
				if topic, ok := strings.CutSuffix(line, " x"); ok && !strings.Contains(line, "Client ") {
					got[topic] = true
				}
			}
			for _, topic := range topics {
				if want := acl.CanRead(id.clientID, id.user, []byte(topic)); got[topic] != want {
					t.Errorf("client %q user %q topic %q: mosquitto delivers %v, CanRead says %v", id.clientID, id.user, topic, got[topic], want)
				}
			}
		}
	})

	t.Run("publish", func(t *testing.T) {
		sub, out := startSub(t, port, "admin-sub", "admin")
		defer func() { sub.Process.Kill(); sub.Wait() }()
		var want []string
		for _, id := range identities {
			for _, topic := range topics {
				tagged := topic // publishes of each identity are told apart by order only
				if err := mosquittoPub(port, id.clientID, id.user, "pw-"+id.user, topic); err != nil {
					t.Fatal(err)
				}
				if acl.CanPublish(id.clientID, id.user, []byte(topic)) {
					want = append(want, tagged)
				}
			}
		}
		if err := mosquittoPub(port, "admin-pub", "admin", "pw-admin", "end/marker"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the end marker", func() bool { return strings.Contains(out.String(), "\nend/marker x") })
		var got []string
		for _, line := range strings.Split(out.String(), "\n") {
			if topic, ok := strings.CutSuffix(line, " x"); ok && !strings.Contains(line, "Client ") && topic != "end/marker" {
				got = append(got, topic)
			}
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("publishes mosquitto accepted:\n  %q\nCanPublish allows:\n  %q", got, want)
		}
	})
}
