package loop

import (
	"bytes"
	"math/rand"
	"testing"
)

// The chunk queue returns exactly what was written, in order, through any
// mix of write, reserve/commit and partial consumes, and recycles chunks.
func TestOutputQueue(t *testing.T) {
	var p chunkPool
	var o output
	var want []byte
	rnd := rand.New(rand.NewSource(3))
	var got []byte
	for i := 0; i < 2000; i++ {
		switch rnd.Intn(3) {
		case 0:
			b := make([]byte, rnd.Intn(40000))
			rnd.Read(b)
			o.write(&p, b)
			want = append(want, b...)
		case 1:
			n := 1 + rnd.Intn(3*chunkSize)
			buf := o.reserve(&p, n)
			if len(buf) < n {
				t.Fatalf("reserve(%d) gave %d bytes", n, len(buf))
			}
			k := rnd.Intn(n + 1)
			rnd.Read(buf[:k])
			want = append(want, buf[:k]...)
			o.commit(k)
		case 2:
			n := rnd.Intn(o.size + 1)
			// read n bytes the way writeOut sees them
			left := n
			for i, c := range o.chunks {
				if i == 0 {
					c = c[o.head:]
				}
				m := min(left, len(c))
				got = append(got, c[:m]...)
				left -= m
				if left == 0 {
					break
				}
			}
			o.consume(&p, n)
		}
		if o.size != len(want)-len(got) {
			t.Fatalf("size %d, want %d", o.size, len(want)-len(got))
		}
	}
	if !bytes.Equal(got, want[:len(got)]) {
		t.Fatal("bytes reordered or lost")
	}
	o.release(&p)
	if o.size != 0 || len(o.chunks) != 0 {
		t.Fatal("release left data")
	}
	if len(p.free) == 0 {
		t.Fatal("no chunk recycled")
	}
}
