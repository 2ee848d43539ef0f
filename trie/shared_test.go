package trie

import (
	"testing"
)

func TestSplitShare(t *testing.T) {
	for _, c := range []struct{ in, group, filter string }{
		{"$share/g/a/b", "g", "a/b"},
		{"$share/g/#", "g", "#"},
		{"$share/g//", "g", "/"},
		{"$share/g/", "", "$share/g/"}, // no filter: left ordinary
		{"$share//a", "", "$share//a"}, // empty group: left ordinary
		{"$share/g", "", "$share/g"},   // no filter at all
		{"$shared/g/a", "", "$shared/g/a"},
		{"a/$share/g/b", "", "a/$share/g/b"},
	} {
		g, f := splitShare(c.in)
		if g != c.group || f != c.filter {
			t.Errorf("splitShare(%q) = %q, %q; want %q, %q", c.in, g, f, c.group, c.filter)
		}
	}
}

// chosen publishes n times to topic and returns the chosen member of group
// each time.
func chosen(t *testing.T, x *Index[string], topic, group string, n int, avail func(string) bool) []string {
	t.Helper()
	var out []string
	var dst []Match[string]
	for range n {
		dst = x.Match([]byte(topic), dst[:0], avail)
		k := 0
		for _, m := range dst {
			if m.Group == group {
				out = append(out, m.Sub)
				k++
			}
		}
		if k != 1 {
			t.Fatalf("group %q: %d members chosen, want 1 (%+v)", group, k, dst)
		}
	}
	return out
}

func TestSharedRoundRobin(t *testing.T) {
	for _, mode := range []struct {
		name  string
		avail func(string) bool
	}{{"avail nil", nil}, {"all available", func(string) bool { return true }}} {
		t.Run(mode.name, func(t *testing.T) {
			x := NewIndex[string]()
			for _, s := range []string{"m1", "m2", "m3"} {
				x.Subscribe("$share/g/jobs/+", s, SubOptions{QoS: 1})
			}
			x.Subscribe("jobs/+", "plain", SubOptions{})
			got := chosen(t, x, "jobs/1", "g", 6, mode.avail)
			count := map[string]int{}
			for i, s := range got {
				count[s]++
				if i >= 3 && s != got[i-3] {
					t.Fatalf("choices %v do not cycle through the members", got)
				}
			}
			if len(count) != 3 || count["m1"] != 2 || count["m2"] != 2 || count["m3"] != 2 {
				t.Fatalf("choices %v, want each member twice", got)
			}
			dst := x.Match([]byte("jobs/1"), nil, mode.avail)
			for _, m := range dst {
				if m.Group == "g" && (m.Filter != "$share/g/jobs/+" || m.Opts.QoS != 1) {
					t.Fatalf("shared match %+v", m)
				}
				if m.Sub == "plain" && (m.Group != "" || m.Filter != "jobs/+") {
					t.Fatalf("plain match %+v", m)
				}
			}
			if len(dst) != 2 {
				t.Fatalf("got %+v, want the plain subscriber and one member", dst)
			}
		})
	}
}

func TestSharedSkipsUnavailable(t *testing.T) {
	x := NewIndex[string]()
	for _, s := range []string{"m1", "m2", "m3", "m4"} {
		x.Subscribe("$share/g/a/#", s, SubOptions{})
	}
	down := map[string]bool{"m2": true, "m3": true}
	avail := func(s string) bool { return !down[s] }
	for _, s := range chosen(t, x, "a/b", "g", 8, avail) {
		if down[s] {
			t.Fatalf("chose unavailable member %s", s)
		}
	}
	// Only m4 up: always m4.
	down = map[string]bool{"m1": true, "m2": true, "m3": true}
	for _, s := range chosen(t, x, "a/b", "g", 5, avail) {
		if s != "m4" {
			t.Fatalf("chose %s, only m4 is available", s)
		}
	}
	// Nobody available: the member whose turn it is still gets the message,
	// and the turns still rotate.
	down = map[string]bool{"m1": true, "m2": true, "m3": true, "m4": true}
	count := map[string]int{}
	for _, s := range chosen(t, x, "a/b", "g", 8, avail) {
		count[s]++
	}
	if len(count) != 4 {
		t.Fatalf("with nobody available, choices %v do not rotate", count)
	}
}

func TestSharedGroupsAreIndependent(t *testing.T) {
	x := NewIndex[string]()
	x.Subscribe("$share/g/a/+", "m1", SubOptions{})
	x.Subscribe("$share/g/a/+", "m2", SubOptions{})
	x.Subscribe("$share/h/a/+", "m1", SubOptions{})
	x.Subscribe("$share/g/a/#", "m3", SubOptions{}) // same name, other filter: other group
	dst := x.Match([]byte("a/b"), nil, func(string) bool { return true })
	filters := map[string]int{}
	for _, m := range dst {
		filters[m.Filter]++
	}
	if len(dst) != 3 || filters["$share/g/a/+"] != 1 || filters["$share/h/a/+"] != 1 || filters["$share/g/a/#"] != 1 {
		t.Fatalf("got %+v", dst)
	}
	if x.Count() != 4 {
		t.Fatalf("Count = %d, want 4", x.Count())
	}
}

func TestSharedMembersLeave(t *testing.T) {
	x := NewIndex[string]()
	for _, s := range []string{"m1", "m2", "m3"} {
		x.Subscribe("$share/g/t", s, SubOptions{})
	}
	x.Subscribe("t", "plain", SubOptions{})
	if x.Unsubscribe("$share/g/t", "plain") || x.Unsubscribe("$share/h/t", "m1") || x.Unsubscribe("t", "m1") {
		t.Fatal("unsubscribe of a membership that does not exist reported existed")
	}
	if !x.Unsubscribe("$share/g/t", "m2") {
		t.Fatal("m2 not found")
	}
	for _, s := range chosen(t, x, "t", "g", 6, nil) {
		if s == "m2" {
			t.Fatal("chose a member that left")
		}
	}
	x.Unsubscribe("$share/g/t", "m1")
	x.Unsubscribe("$share/g/t", "m3")
	dst := x.Match([]byte("t"), nil, nil)
	if len(dst) != 1 || dst[0].Sub != "plain" {
		t.Fatalf("after the group emptied: %+v", dst)
	}
	x.Unsubscribe("t", "plain")
	assertIndexEmpty(t, x)
}

func TestAvailMayCallIntoIndex(t *testing.T) {
	// avail runs with no lock held, so it may use the Index itself.
	x := NewIndex[string]()
	x.Subscribe("$share/g/t", "m1", SubOptions{})
	x.Subscribe("$share/g/t", "m2", SubOptions{})
	avail := func(s string) bool {
		x.Subscribe("other/"+s, s, SubOptions{})
		return len(x.Match([]byte("other/"+s), nil, nil)) == 1
	}
	if dst := x.Match([]byte("t"), nil, avail); len(dst) != 1 {
		t.Fatalf("got %+v", dst)
	}
}
