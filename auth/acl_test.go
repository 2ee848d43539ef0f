package auth

import (
	"path/filepath"
	"strings"
	"testing"
)

func loadTestACL(t testing.TB) *ACL {
	t.Helper()
	a, err := LoadACL(filepath.Join("testdata", "acl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestACLTopics(t *testing.T) {
	a := loadTestACL(t)
	type check struct {
		client, user, topic string
		read, write         bool
	}
	cases := []check{
		// Anonymous section.
		{"c1", "", "$SYS/broker/uptime", true, false},
		{"c1", "", "public/news", true, true},
		{"c1", "", "public", true, true}, // "public/#" matches its parent
		{"c1", "", "public/secret", false, false},
		{"c1", "", "public/secret/deeper", true, true}, // deny is exact
		{"c1", "", "foo/bar", false, false},
		// roger.
		{"c1", "roger", "foo/bar", true, true},
		{"c1", "roger", "foo/baz", false, false},
		{"c1", "roger", "sensors/t1", true, false},
		{"c1", "roger", "sensors/private/t1", false, false},
		{"c1", "roger", "cmd/lamp/set", false, true},
		{"c1", "roger", "cmd/lamp/get", false, false},
		{"c1", "roger", "cmd/a/b/set", false, false},
		{"c1", "roger", "topic with spaces/x", true, false},
		{"c1", "roger", "public/news", false, false}, // anonymous rules are not roger's
		{"c1", "roger", "$SYS/broker/uptime", false, false},
		// ops: '#' does not reach $ topics.
		{"c1", "ops", "anything/at/all", true, true},
		{"c1", "ops", "ops/locked", false, false},
		{"c1", "ops", "$SYS/broker/uptime", false, false},
		// A user with no section gets patterns only.
		{"c1", "stranger", "foo/bar", false, false},
		// Patterns.
		{"dev1", "roger", "devices/dev1/temp", true, true},
		{"dev1", "", "devices/dev1/temp", true, true},
		{"dev1", "roger", "devices/dev2/temp", false, false},
		{"dev1", "roger", "devices/dev1/firmware", false, false},
		{"dev1", "roger", "$SYS/broker/connection/dev1/state", false, true},
		{"dev1", "roger", "$SYS/broker/connection/dev2/state", false, false},
		{"dev1", "roger", "users/roger/inbox", true, false},
		{"dev1", "bob", "users/roger/inbox", false, false},
		{"dev1", "", "users//inbox", false, false},   // %u is skipped for anonymous clients
		{"dev1", "", "literal/adev1/b", true, false}, // %c inside a level, as Mosquitto 2.0.11
		{"dev1", "", "literal/a%c/b", false, false},
		{"dev1", "roger", "home/roger-dev1/x", true, false},
		{"dev1", "roger", "home/roger-dev2/x", false, false},
		{"dev1", "roger", "home/roger-dev1x/x", false, false},
		{"dev1", "", "home/-dev1/x", false, false}, // %u: skipped for anonymous clients
		{"a/b", "roger", "home/roger-a/b/x", false, false},
		// Identities that would act as wildcards or span levels get nothing
		// from patterns.
		{"dev+", "", "devices/dev+/temp", false, false},
		{"#", "", "devices/#/temp", false, false},
		{"dev1", "ro+ger", "devices/dev1/temp", false, false},
		{"a/b", "", "devices/a/b/temp", false, false},
		// Own rules still apply when patterns are refused.
		{"dev+", "roger", "foo/bar", true, true},
		// Levels: empty levels and trailing slashes are distinct.
		{"c1", "roger", "foo/bar/", false, false},
		{"c1", "roger", "/foo/bar", false, false},
	}
	for _, c := range cases {
		if got := a.CanRead(c.client, c.user, []byte(c.topic)); got != c.read {
			t.Errorf("CanRead(%q, %q, %q) = %v, want %v", c.client, c.user, c.topic, got, c.read)
		}
		if got := a.CanPublish(c.client, c.user, []byte(c.topic)); got != c.write {
			t.Errorf("CanPublish(%q, %q, %q) = %v, want %v", c.client, c.user, c.topic, got, c.write)
		}
	}
}

func TestACLSubscribe(t *testing.T) {
	a := loadTestACL(t)
	cases := []struct {
		client, user, filter string
		want                 bool
	}{
		{"c1", "roger", "sensors/#", true},
		{"c1", "roger", "sensors/+", true},
		{"c1", "roger", "#", true},        // overlaps sensors/#; CanRead filters per message
		{"c1", "roger", "+/bar", true},    // overlaps foo/bar
		{"c1", "roger", "foo/+/x", false}, // no readable topic has that shape
		{"c1", "roger", "cmd/+/set", false},
		{"c1", "roger", "sensors/private/#", false}, // wholly denied
		{"c1", "roger", "sensors/private/a", false},
		{"c1", "roger", "$SYS/#", false},
		{"c1", "", "$SYS/#", true},
		{"c1", "", "#", true},
		{"c1", "", "+/uptime", true},       // public/uptime
		{"c1", "", "public/secret", false}, // wholly denied
		{"c1", "", "public/+", true},       // denied in part only
		{"c1", "ops", "#", true},
		{"c1", "ops", "$SYS/#", false},
		{"dev1", "", "devices/dev1/#", true},
		{"dev1", "", "devices/+/temp", true},
		{"dev1", "", "devices/dev1/firmware", false},
		{"dev1", "", "devices/dev2/#", false},
		{"dev1", "stranger", "users/stranger/inbox", true},
		{"dev1", "stranger", "users/+/inbox", true},
		{"dev+", "stranger", "users/stranger/inbox", false},
		{"dev1", "", "literal/+/b", true},
		{"dev1", "", "literal/adev2/b", false},
		{"dev1", "roger", "home/+/x", true},
		{"dev1", "roger", "home/roger-dev1/#", true},
	}
	for _, c := range cases {
		if got := a.CanSubscribe(c.client, c.user, []byte(c.filter)); got != c.want {
			t.Errorf("CanSubscribe(%q, %q, %q) = %v, want %v", c.client, c.user, c.filter, got, c.want)
		}
	}
}

func TestACLDenyOrder(t *testing.T) {
	// A deny written after the allow still wins within its list.
	a, err := ParseACL(strings.NewReader("topic #\ntopic deny a/b\n"), "order")
	if err != nil {
		t.Fatal(err)
	}
	if a.CanRead("c", "", []byte("a/b")) || !a.CanRead("c", "", []byte("a/c")) {
		t.Error("deny did not override an earlier allow")
	}
}

// As in Mosquitto, a lone word after topic is the filter, even "read".
func TestACLLoneWordIsTopic(t *testing.T) {
	a, err := ParseACL(strings.NewReader("topic read \n"), "lone")
	if err != nil {
		t.Fatal(err)
	}
	if !a.CanPublish("c", "", []byte("read")) || !a.CanRead("c", "", []byte("read")) {
		t.Error(`"topic read" does not grant readwrite on the topic "read"`)
	}
}

func TestACLEmptyDeniesAll(t *testing.T) {
	a, err := ParseACL(strings.NewReader("# nothing\n\n"), "empty")
	if err != nil {
		t.Fatal(err)
	}
	if a.CanRead("c", "", []byte("a")) || a.CanPublish("c", "u", []byte("a")) || a.CanSubscribe("c", "u", []byte("#")) {
		t.Error("an empty ACL file allowed something")
	}
}

func TestACLParseErrors(t *testing.T) {
	for _, line := range []string{
		"topic",
		"topic ",
		"topic sometimes a/b",
		"topic read a/#/b",
		"topic read a+/b",
		"pattern write a/b#",
		"user",
		"users roger",
	} {
		_, err := ParseACL(strings.NewReader("# ok\ntopic read ok\n"+line+"\n"), "acl.conf")
		if err == nil {
			t.Errorf("%q: loaded", line)
			continue
		}
		if !strings.Contains(err.Error(), "acl file acl.conf line 3") {
			t.Errorf("%q: error %q does not name file and line", line, err)
		}
	}
}

// TestCanReadAllocs pins the promise that the per-delivery check allocates
// nothing, for own rules, patterns and refusals alike.
func TestCanReadAllocs(t *testing.T) {
	a := loadTestACL(t)
	topics := [][]byte{[]byte("sensors/t1"), []byte("devices/dev1/temp"), []byte("nowhere/x"), []byte("$SYS/broker/uptime"), []byte("home/roger-dev1/x")}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, topic := range topics {
			a.CanRead("dev1", "roger", topic)
			a.CanRead("dev1", "", topic)
			a.CanRead("dev+", "stranger", topic)
		}
	})
	if allocs != 0 {
		t.Errorf("CanRead allocates %.1f times per run", allocs)
	}
	var au Authenticator
	au.acl.Store(a)
	allocs = testing.AllocsPerRun(1000, func() { au.CanRead("dev1", "roger", topics[1]) })
	if allocs != 0 {
		t.Errorf("Authenticator.CanRead allocates %.1f times per run", allocs)
	}
}

func BenchmarkCanRead(b *testing.B) {
	a := loadTestACL(b)
	cases := []struct {
		name, client, user, topic string
	}{
		{"own-rule", "c1", "roger", "sensors/t1"},
		{"pattern", "dev1", "roger", "devices/dev1/temp"},
		{"refused", "dev1", "roger", "nowhere/x/y"},
		{"anonymous", "c1", "", "public/news"},
	}
	for _, c := range cases {
		topic := []byte(c.topic)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.CanRead(c.client, c.user, topic)
			}
		})
	}
	b.Run("no-acl", func(b *testing.B) {
		var au Authenticator
		topic := []byte("sensors/t1")
		b.ReportAllocs()
		for b.Loop() {
			au.CanRead("c1", "roger", topic)
		}
	})
}
