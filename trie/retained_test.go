package trie

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

type msg struct{ payload string }

// retainedTopics returns the topics Match reports for filter, sorted.
func retainedTopics(r *Retained[*msg], filter string) []string {
	var got []string
	r.Match(filter, func(topic string, m *msg) bool {
		if m.payload != "p:"+topic {
			panic(fmt.Sprintf("topic %q carries %q", topic, m.payload))
		}
		got = append(got, topic)
		return true
	})
	slices.Sort(got)
	return got
}

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[*msg]()
	if _, ok := r.Get("a"); ok {
		t.Fatal("empty store returned a message")
	}
	m1, m2 := &msg{"one"}, &msg{"two"}
	r.Set("a/b", m1, 10)
	r.Set("a/c", m1, 5)
	if got, ok := r.Get("a/b"); !ok || got != m1 {
		t.Fatalf("Get(a/b) = %v, %v", got, ok)
	}
	if r.Count() != 2 || r.Bytes() != 15 {
		t.Fatalf("Count %d Bytes %d, want 2, 15", r.Count(), r.Bytes())
	}
	r.Set("a/b", m2, 3) // replace
	if got, _ := r.Get("a/b"); got != m2 || r.Count() != 2 || r.Bytes() != 8 {
		t.Fatalf("after replace: %v, Count %d Bytes %d", got, r.Count(), r.Bytes())
	}
	if _, ok := r.Get("a"); ok {
		t.Fatal("Get(a) found a message only a/b and a/c have")
	}
	if r.Delete("a") || r.Delete("a/b/c") || r.Delete("x") {
		t.Fatal("Delete of an absent topic reported true")
	}
	if !r.Delete("a/b") || r.Delete("a/b") {
		t.Fatal("Delete(a/b): want true once")
	}
	if _, ok := r.Get("a/b"); ok || r.Count() != 1 || r.Bytes() != 5 {
		t.Fatalf("after delete: Count %d Bytes %d", r.Count(), r.Bytes())
	}
	r.Delete("a/c")
	assertRetainedEmpty(t, r)
}

func assertRetainedEmpty[M any](t *testing.T, r *Retained[M]) {
	t.Helper()
	if r.Count() != 0 || r.Bytes() != 0 {
		t.Fatalf("Count %d Bytes %d, want 0", r.Count(), r.Bytes())
	}
	for i := range r.shards {
		sh := &r.shards[i]
		if len(sh.exact) != 0 || sh.root.kids.len() != 0 {
			t.Fatalf("shard %d not empty: %d exact, %d children", i, len(sh.exact), sh.root.kids.len())
		}
	}
}

func TestRetainedMatchEdgeCases(t *testing.T) {
	for _, c := range edgeCases {
		r := NewRetained[*msg]()
		r.Set(c.topic, &msg{"p:" + c.topic}, 1)
		got := retainedTopics(r, c.filter)
		if c.want != (len(got) == 1) || len(got) > 1 {
			t.Errorf("filter %q topic %q: got %v, want match=%v", c.filter, c.topic, got, c.want)
		}
	}
}

func TestRetainedMatchStops(t *testing.T) {
	r := NewRetained[*msg]()
	for i := range 100 {
		topic := fmt.Sprintf("t%d/x", i) // spread over shards
		r.Set(topic, &msg{"p:" + topic}, 1)
	}
	for _, filter := range []string{"#", "+/x"} {
		n := 0
		r.Match(filter, func(string, *msg) bool { n++; return n < 5 })
		if n != 5 {
			t.Fatalf("%s: fn called %d times after returning false at 5", filter, n)
		}
	}
}

func TestRetainedDifferential(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := NewRetained[*msg]()
	model := map[string]int{}
	for round := range 5 {
		for range 1000 {
			topic := randomTopic(rnd)
			size := rnd.IntN(100)
			r.Set(topic, &msg{"p:" + topic}, size)
			model[topic] = size
		}
		for topic := range model {
			if rnd.IntN(3) == 0 {
				if !r.Delete(topic) {
					t.Fatalf("Delete(%q): not found", topic)
				}
				delete(model, topic)
			}
		}
		var bytes int64
		for _, s := range model {
			bytes += int64(s)
		}
		if r.Count() != len(model) || r.Bytes() != bytes {
			t.Fatalf("round %d: Count %d Bytes %d, model %d %d", round, r.Count(), r.Bytes(), len(model), bytes)
		}
		for range 300 {
			filter := randomFilter(rnd)
			var want []string
			for topic := range model {
				if naiveMatch(filter, topic) {
					want = append(want, topic)
				}
			}
			slices.Sort(want)
			if got := retainedTopics(r, filter); !slices.Equal(got, want) {
				t.Fatalf("round %d filter %q:\n got %v\nwant %v", round, filter, got, want)
			}
		}
	}
	for topic := range model {
		r.Delete(topic)
	}
	assertRetainedEmpty(t, r)
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[*msg]()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 9))
			for range 2000 {
				topic := fmt.Sprintf("w%d/%s", w, randomTopic(rnd))
				switch rnd.IntN(3) {
				case 0:
					r.Set(topic, &msg{"p:" + topic}, 1)
				case 1:
					r.Delete(topic)
				default:
					// fn runs with no lock held, so it may call into the store.
					r.Match(randomFilter(rnd), func(topic string, m *msg) bool {
						r.Get(topic)
						return m.payload == "p:"+topic
					})
				}
			}
			r.Match(fmt.Sprintf("w%d/#", w), func(topic string, _ *msg) bool {
				r.Delete(topic)
				return true
			})
		}()
	}
	wg.Wait()
	assertRetainedEmpty(t, r)
}
