package trie

import "testing"

// FuzzMatch subscribes one filter and retains one topic, and checks that
// Index.Match and Retained.Match agree with naiveMatch for any strings a peer
// could send, invalid ones included, without panicking.
func FuzzMatch(f *testing.F) {
	for _, c := range edgeCases {
		f.Add(c.filter, c.topic)
	}
	f.Add("$share/g/a/+", "a/b")
	f.Add("a/#/b", "a/x/b")
	f.Add("a+/#", "a+")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if topic == "" {
			return // not a topic name [MQTT-4.7.3-1]; Match returns nothing
		}
		x := NewIndex[int]()
		x.Subscribe(filter, 1, SubOptions{})
		_, plain := splitShare(filter)
		want := naiveMatch(plain, topic)
		got := x.Match([]byte(topic), nil, nil)
		if want != (len(got) == 1) || len(got) > 1 {
			t.Fatalf("Index: filter %q topic %q: %d matches, want match=%v", filter, topic, len(got), want)
		}
		if !x.Unsubscribe(filter, 1) || x.Count() != 0 || x.wildSubs.Load() != 0 {
			t.Fatalf("Unsubscribe(%q) failed: Count %d, wildSubs %d", filter, x.Count(), x.wildSubs.Load())
		}
		assertIndexEmpty(t, x)

		r := NewRetained[int]()
		r.Set(topic, 1, len(topic))
		n := 0
		r.Match(plain, func(string, int) bool { n++; return true })
		if want != (n == 1) || n > 1 {
			t.Fatalf("Retained: filter %q topic %q: %d matches, want match=%v", plain, topic, n, want)
		}
		if !r.Delete(topic) {
			t.Fatalf("Delete(%q) failed", topic)
		}
		assertRetainedEmpty(t, r)
	})
}
