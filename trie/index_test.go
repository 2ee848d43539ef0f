package trie

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

// naiveMatch is the reference matcher for the tests: it splits both strings on
// '/' and compares level by level, written from the specification (4.7)
// rather than from the trie.
func naiveMatch(filter, topic string) bool {
	fl := strings.Split(filter, "/")
	tl := strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fl[0] == "+" || fl[0] == "#") {
		return false
	}
	for i, f := range fl {
		if f == "#" {
			return i == len(fl)-1
		}
		if i >= len(tl) {
			return false
		}
		if f != "+" && f != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}

// edgeCases are filter/topic pairs for the corners of topic matching.
var edgeCases = []struct {
	filter, topic string
	want          bool
}{
	{"a/b/c", "a/b/c", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"A", "a", false},
	// "#" matches the parent level and any number of levels below.
	{"a/#", "a", true},
	{"a/#", "a/b", true},
	{"a/#", "a/b/c", true},
	{"a/b/#", "a/b", true},
	{"a/b/#", "a", false},
	{"a/#", "ab", false},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"#", "/a", true},
	// "+" matches exactly one level, an empty one included.
	{"+", "a", true},
	{"+", "a/b", false},
	{"+", "/", false},
	{"+/+", "/", true},
	{"a/+", "a/", true},
	{"a/+", "a", false},
	{"a/+/c", "a//c", true},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a/b/d", false},
	{"+/#", "a", true},
	{"+/+/#", "a", false},
	// Empty levels are levels.
	{"a//b", "a//b", true},
	{"a/b", "a//b", false},
	{"/a", "/a", true},
	{"+/a", "/a", true},
	{"/+", "/a", true},
	{"a", "/a", false},
	{"a/", "a/", true},
	{"a", "a/", false},
	{"//", "//", true},
	// Topics starting with '$' are not matched by wildcard-first filters.
	{"#", "$SYS/x", false},
	{"+/x", "$SYS/x", false},
	{"+", "$SYS", false},
	{"$SYS/#", "$SYS/x", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+", "$SYS/x", true},
	{"$SYS/x", "$SYS/x", true},
	{"a/#", "a/$x", true},
	{"a/+", "a/$x", true},
}

func TestNaiveMatchAgreesWithEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		if got := naiveMatch(c.filter, c.topic); got != c.want {
			t.Errorf("naiveMatch(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestMatchEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		x := NewIndex[int]()
		x.Subscribe(c.filter, 1, SubOptions{QoS: 1})
		got := x.Match([]byte(c.topic), nil, nil)
		if c.want != (len(got) == 1) || len(got) > 1 {
			t.Errorf("filter %q topic %q: got %d matches, want match=%v", c.filter, c.topic, len(got), c.want)
			continue
		}
		if c.want && (got[0].Sub != 1 || got[0].Filter != c.filter || got[0].Opts.QoS != 1 || got[0].Group != "") {
			t.Errorf("filter %q topic %q: got %+v", c.filter, c.topic, got[0])
		}
		// The same filter as a shared subscription matches the same topics.
		x.Subscribe("$share/g/"+c.filter, 2, SubOptions{})
		got = x.Match([]byte(c.topic), got[:0], nil)
		if c.want != (len(got) == 2) || (!c.want && len(got) != 0) {
			t.Errorf("shared filter %q topic %q: got %d matches, want match=%v", c.filter, c.topic, len(got), c.want)
		}
	}
}

func TestEmptyTopicMatchesNothing(t *testing.T) {
	x := NewIndex[int]()
	x.Subscribe("#", 1, SubOptions{})
	x.Subscribe("+", 1, SubOptions{})
	if got := x.Match(nil, nil, nil); len(got) != 0 {
		t.Fatalf("empty topic matched %v", got)
	}
}

func TestOverlappingFiltersReportedOncePerFilter(t *testing.T) {
	x := NewIndex[string]()
	x.Subscribe("a/b", "s1", SubOptions{QoS: 0, SubscriptionID: 1})
	x.Subscribe("a/+", "s1", SubOptions{QoS: 1, SubscriptionID: 2})
	x.Subscribe("#", "s1", SubOptions{QoS: 2, SubscriptionID: 3})
	x.Subscribe("a/#", "s2", SubOptions{QoS: 1})
	x.Subscribe("a/c", "s3", SubOptions{})
	got := x.Match([]byte("a/b"), nil, nil)
	ids := map[uint32]bool{}
	var s2 int
	for _, m := range got {
		switch m.Sub {
		case "s1":
			if ids[m.Opts.SubscriptionID] {
				t.Errorf("subscription %d reported twice", m.Opts.SubscriptionID)
			}
			ids[m.Opts.SubscriptionID] = true
			if want := byte(m.Opts.SubscriptionID - 1); m.Opts.QoS != want {
				t.Errorf("filter %q: QoS %d, want %d", m.Filter, m.Opts.QoS, want)
			}
		case "s2":
			s2++
		default:
			t.Errorf("unexpected match %+v", m)
		}
	}
	if len(ids) != 3 || s2 != 1 || len(got) != 4 {
		t.Fatalf("got %+v", got)
	}
}

func TestSubscribeReplacesOptions(t *testing.T) {
	x := NewIndex[int]()
	if x.Subscribe("a/+", 7, SubOptions{QoS: 0}) {
		t.Fatal("first subscribe reported replaced")
	}
	want := SubOptions{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, SubscriptionID: 99}
	if !x.Subscribe("a/+", 7, want) {
		t.Fatal("second subscribe did not report replaced")
	}
	if x.Count() != 1 {
		t.Fatalf("Count = %d after replace, want 1", x.Count())
	}
	got := x.Match([]byte("a/x"), nil, nil)
	if len(got) != 1 || got[0].Opts != want {
		t.Fatalf("got %+v, want options %+v", got, want)
	}
	// Same for a shared membership.
	x.Subscribe("$share/g/a/+", 7, SubOptions{QoS: 1})
	if !x.Subscribe("$share/g/a/+", 7, want) || x.Count() != 2 {
		t.Fatalf("shared replace: Count = %d", x.Count())
	}
}

func TestUnsubscribe(t *testing.T) {
	x := NewIndex[int]()
	x.Subscribe("a/b", 1, SubOptions{})
	x.Subscribe("a/b", 2, SubOptions{})
	x.Subscribe("a/#", 1, SubOptions{})
	if x.Unsubscribe("a/b", 3) || x.Unsubscribe("a/c", 1) || x.Unsubscribe("a/b/c", 1) || x.Unsubscribe("a/+", 1) {
		t.Fatal("unsubscribing something never subscribed reported existed")
	}
	if !x.Unsubscribe("a/b", 1) || x.Unsubscribe("a/b", 1) {
		t.Fatal("unsubscribe a/b for 1: want existed once")
	}
	got := x.Match([]byte("a/b"), nil, nil)
	if len(got) != 2 || x.Count() != 2 {
		t.Fatalf("after unsubscribe: %+v, Count %d", got, x.Count())
	}
}

func TestUnsubscribeAllAndPruning(t *testing.T) {
	x := NewIndex[int]()
	filters := []string{"a/b/c", "a/+/c", "#", "+/x", "$share/g/a/#", "$share/h/+", "a//", "/", "$SYS/#"}
	for _, f := range filters {
		x.Subscribe(f, 1, SubOptions{})
		x.Subscribe(f, 2, SubOptions{})
	}
	if n := x.UnsubscribeAll(1, append(filters, "never/subscribed")); n != len(filters) {
		t.Fatalf("UnsubscribeAll removed %d, want %d", n, len(filters))
	}
	for _, topic := range []string{"a/b/c", "q/x", "a/", "$SYS/x", "/"} {
		for _, m := range x.Match([]byte(topic), nil, nil) {
			if m.Sub == 1 {
				t.Fatalf("topic %q still matches removed subscriber: %+v", topic, m)
			}
		}
	}
	if x.UnsubscribeAll(2, filters) != len(filters) || x.Count() != 0 {
		t.Fatalf("Count = %d after removing everything", x.Count())
	}
	assertIndexEmpty(t, x)
}

// assertIndexEmpty checks that every node was pruned.
func assertIndexEmpty[S comparable](t *testing.T, x *Index[S]) {
	t.Helper()
	for i := range x.shards {
		if len(x.shards[i].exact) != 0 {
			t.Fatalf("shard %d holds %d exact filters", i, len(x.shards[i].exact))
		}
		if r := &x.shards[i].root; !r.empty() {
			t.Fatalf("shard %d not empty: %d children", i, r.kids.len())
		}
	}
	if !x.wild.root.empty() {
		t.Fatal("wildcard shard not empty")
	}
}

func TestManySubscribersOnOneFilter(t *testing.T) {
	// Enough to switch the leaf to its position map, then back.
	x := NewIndex[int]()
	const n = 100
	for i := range n {
		x.Subscribe("a/b", i, SubOptions{QoS: byte(i % 3)})
	}
	for i := 0; i < n; i += 2 {
		if !x.Unsubscribe("a/b", i) {
			t.Fatalf("unsubscribe %d: not found", i)
		}
	}
	got := x.Match([]byte("a/b"), nil, nil)
	seen := map[int]bool{}
	for _, m := range got {
		if m.Sub%2 == 0 || seen[m.Sub] || m.Opts.QoS != byte(m.Sub%3) {
			t.Fatalf("bad match %+v", m)
		}
		seen[m.Sub] = true
	}
	if len(seen) != n/2 {
		t.Fatalf("got %d subscribers, want %d", len(seen), n/2)
	}
	for i := 1; i < n; i += 2 {
		if !x.Subscribe("a/b", i, SubOptions{QoS: 2}) {
			t.Fatalf("resubscribe %d: not reported as replaced", i)
		}
		if !x.Unsubscribe("a/b", i) {
			t.Fatalf("unsubscribe %d: not found", i)
		}
	}
	assertIndexEmpty(t, x)
}

// randomFilter and randomTopic draw from a small alphabet so that random
// filters and topics match often, empty levels and '$' included.
func randomFilter(r *rand.Rand) string {
	levels := []string{"a", "b", "c", "", "+", "+", "$s"}
	n := 1 + r.IntN(4)
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte('/')
		}
		if i == n-1 && r.IntN(4) == 0 {
			sb.WriteByte('#')
			break
		}
		sb.WriteString(levels[r.IntN(len(levels))])
	}
	return sb.String()
}

func randomTopic(r *rand.Rand) string {
	levels := []string{"a", "b", "c", "", "$s"}
	n := 1 + r.IntN(5)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = levels[r.IntN(len(levels))]
	}
	if n == 1 && parts[0] == "" {
		return "/" // a topic name is at least one character [MQTT-4.7.3-1]
	}
	return strings.Join(parts, "/")
}

type subKey struct {
	filter string
	sub    int
}

// TestDifferential compares the Index against naiveMatch over thousands of
// random filters and topics, through subscribes, replaces and unsubscribes.
func TestDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := NewIndex[int]()
	model := map[subKey]SubOptions{}
	check := func(round int) {
		if x.Count() != len(model) {
			t.Fatalf("round %d: Count = %d, model has %d", round, x.Count(), len(model))
		}
		wild := 0
		for k := range model {
			if _, f := splitShare(k.filter); isWildcardLevel(firstLevel(f)) {
				wild++
			}
		}
		if n := x.wildSubs.Load(); n != int64(wild) {
			t.Fatalf("round %d: wildSubs = %d, model has %d filters starting with + or #", round, n, wild)
		}
		var dst []Match[int]
		for range 300 {
			topic := randomTopic(r)
			dst = x.Match([]byte(topic), dst[:0], nil)
			var want []string
			groups := map[string][]int{}
			for k, o := range model {
				g, f := splitShare(k.filter)
				if !naiveMatch(f, topic) {
					continue
				}
				if g != "" {
					groups[k.filter] = append(groups[k.filter], k.sub)
					continue
				}
				want = append(want, fmt.Sprintf("%s|%d|%d", k.filter, k.sub, o.SubscriptionID))
			}
			var got []string
			gotGroups := map[string]int{}
			for _, m := range dst {
				if m.Group != "" {
					if gotGroups[m.Filter]++; !slices.Contains(groups[m.Filter], m.Sub) {
						t.Fatalf("topic %q: chose %d, not a member of %s", topic, m.Sub, m.Filter)
					}
					if m.Opts != model[subKey{m.Filter, m.Sub}] {
						t.Fatalf("topic %q: member %d of %s has options %+v", topic, m.Sub, m.Filter, m.Opts)
					}
					continue
				}
				got = append(got, fmt.Sprintf("%s|%d|%d", m.Filter, m.Sub, m.Opts.SubscriptionID))
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("round %d topic %q:\n got %v\nwant %v", round, topic, got, want)
			}
			if len(gotGroups) != len(groups) {
				t.Fatalf("topic %q: %d groups chosen from, want %d", topic, len(gotGroups), len(groups))
			}
			for f, n := range gotGroups {
				if n != 1 {
					t.Fatalf("topic %q: group %s reported %d times", topic, f, n)
				}
			}
		}
	}
	for round := range 6 {
		for range 1500 {
			f := randomFilter(r)
			if r.IntN(5) == 0 {
				f = "$share/" + []string{"g", "h"}[r.IntN(2)] + "/" + f
			}
			k := subKey{f, r.IntN(50)}
			o := SubOptions{QoS: byte(r.IntN(3)), SubscriptionID: r.Uint32()}
			_, had := model[k]
			if x.Subscribe(k.filter, k.sub, o) != had {
				t.Fatalf("Subscribe(%q, %d) replaced=%v, model says %v", k.filter, k.sub, !had, had)
			}
			model[k] = o
		}
		check(round)
		// Remove about half, checking the existed answer.
		for k := range model {
			if r.IntN(2) == 0 {
				continue
			}
			if !x.Unsubscribe(k.filter, k.sub) {
				t.Fatalf("Unsubscribe(%q, %d): not found", k.filter, k.sub)
			}
			delete(model, k)
			if x.Unsubscribe(k.filter, k.sub) {
				t.Fatalf("Unsubscribe(%q, %d) twice: found", k.filter, k.sub)
			}
		}
		check(round)
	}
	for k := range model {
		x.Unsubscribe(k.filter, k.sub)
	}
	assertIndexEmpty(t, x)
}

// TestConcurrent subscribes, unsubscribes and matches from many goroutines
// (run it with -race), then checks that the index ends exactly empty. It
// runs on an Index with one reader slot and on one with 4, where the 8
// workers match as readers 0 to 7 (two to a slot), so that a writer that
// failed to lock some slot would race with the readers on it.
func TestConcurrent(t *testing.T) {
	for _, readers := range []int{1, 4} {
		t.Run(fmt.Sprintf("readers=%d", readers), func(t *testing.T) { testConcurrent(t, NewIndexFor[int](readers)) })
	}
}

func testConcurrent(t *testing.T, x *Index[int]) {
	const workers = 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			var dst []Match[int]
			var mine []string
			busy := func(s int) bool { return s%2 == 0 }
			for i := range 3000 {
				switch r.IntN(4) {
				case 0:
					f := randomFilter(r)
					if r.IntN(4) == 0 {
						f = "$share/g/" + f
					}
					if !x.Subscribe(f, w, SubOptions{QoS: 1}) {
						mine = append(mine, f)
					}
				case 1:
					if len(mine) > 0 {
						j := r.IntN(len(mine))
						if !x.Unsubscribe(mine[j], w) {
							t.Errorf("worker %d: lost subscription %q", w, mine[j])
							return
						}
						mine = slices.Delete(mine, j, j+1)
					}
				default:
					avail := busy
					if i%2 == 0 {
						avail = nil
					}
					dst = x.MatchFrom(w, []byte(randomTopic(r)), dst[:0], avail)
					for _, m := range dst {
						if m.Sub < 0 || m.Sub >= workers || m.run != 0 {
							t.Errorf("bad match %+v", m)
							return
						}
					}
				}
			}
			if n := x.UnsubscribeAll(w, mine); n != len(mine) {
				t.Errorf("worker %d: UnsubscribeAll removed %d of %d", w, n, len(mine))
			}
		}()
	}
	wg.Wait()
	if x.Count() != 0 {
		t.Fatalf("Count = %d after every worker left", x.Count())
	}
	assertIndexEmpty(t, x)
}

func TestMatchDoesNotAllocate(t *testing.T) {
	x := NewIndex[int]()
	for i := range 1000 {
		x.Subscribe(fmt.Sprintf("devices/%d/telemetry", i), i, SubOptions{})
		x.Subscribe(fmt.Sprintf("devices/%d/+", i%50), i, SubOptions{})
	}
	x.Subscribe("devices/#", 1, SubOptions{})
	x.Subscribe("+/+/telemetry", 2, SubOptions{})
	for i := range 20 {
		x.Subscribe("$share/workers/devices/+/telemetry", i, SubOptions{})
		x.Subscribe("$share/all/#", i, SubOptions{})
	}
	dst := make([]Match[int], 0, 256)
	avail := func(s int) bool { return s%3 == 0 }
	topic := []byte("devices/7/telemetry")
	for _, tc := range []struct {
		name  string
		avail func(int) bool
		want  int
	}{{"avail nil", nil, 25}, {"avail", avail, 25}} { // 1 exact, 20 "devices/7/+", 2 wildcard, 2 groups
		if got := len(x.Match(topic, dst[:0], tc.avail)); got != tc.want {
			t.Fatalf("%s: %d matches, want %d", tc.name, got, tc.want)
		}
		allocs := testing.AllocsPerRun(100, func() {
			dst = x.Match(topic, dst[:0], tc.avail)
		})
		if allocs != 0 {
			t.Fatalf("%s: Match allocates %.1f times per call", tc.name, allocs)
		}
	}
}

func TestDeepFilters(t *testing.T) {
	// More levels than the on-stack path buffers of Unsubscribe and Delete.
	deep := strings.Repeat("l/", 40) + "end"
	x := NewIndex[int]()
	for _, f := range []string{deep, strings.Repeat("+/", 40) + "#", strings.Repeat("l/", 20) + "#"} {
		x.Subscribe(f, 1, SubOptions{})
	}
	if got := x.Match([]byte(deep), nil, nil); len(got) != 3 {
		t.Fatalf("deep topic: %d matches, want 3", len(got))
	}
	for _, f := range []string{deep, strings.Repeat("+/", 40) + "#", strings.Repeat("l/", 20) + "#"} {
		if !x.Unsubscribe(f, 1) {
			t.Fatalf("Unsubscribe(%q): not found", f)
		}
	}
	assertIndexEmpty(t, x)

	r := NewRetained[int]()
	r.Set(deep, 1, 1)
	r.Set(deep+"/more", 2, 1)
	if !r.Delete(deep) {
		t.Fatal("Delete(deep): not found")
	}
	if _, ok := r.Get(deep + "/more"); !ok {
		t.Fatal("deleting a parent topic lost its child")
	}
	if !r.Delete(deep + "/more") {
		t.Fatal("Delete(deep/more): not found")
	}
	assertRetainedEmpty(t, r)
}

// TestIndexLayout pins what the Index's layout promises: every Match reads
// readers and wildSubs, so no Subscribe-side counter shares their cache
// line, and each reader slot of a shard lock is a whole line of its own.
func TestIndexLayout(t *testing.T) {
	var x Index[int]
	if unsafe.Offsetof(x.count)/cacheLine == unsafe.Offsetof(x.wildSubs)/cacheLine ||
		unsafe.Offsetof(x.count)/cacheLine == unsafe.Offsetof(x.readers)/cacheLine {
		t.Errorf("count at %d shares a cache line with readers (%d) or wildSubs (%d)",
			unsafe.Offsetof(x.count), unsafe.Offsetof(x.readers), unsafe.Offsetof(x.wildSubs))
	}
	if off := unsafe.Offsetof(x.shards); off%cacheLine != 0 || unsafe.Sizeof(x.shards[0])%cacheLine != 0 {
		t.Errorf("shards at %d, %d bytes each: not whole cache lines", off, unsafe.Sizeof(x.shards[0]))
	}
	var l shardLock
	if n := unsafe.Sizeof(l.slots[0]); n != cacheLine {
		t.Errorf("a reader slot is %d bytes, want %d", n, cacheLine)
	}
}
