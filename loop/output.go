package loop

import "slices"

// Output chunks come in two sizes. A connection with nothing queued starts
// with a small chunk when the first write fits in one, and continues with
// large ones: most writes are acknowledgements and small messages (a
// CONNACK is 4 bytes), and a connection storm or a crowd of slow
// subscribers should not hold 16 KiB per connection for them, nor leave
// the pools full of 16 KiB chunks afterwards.
const (
	smallChunkSize = 1 << 10
	chunkSize      = 16 << 10
)

// maxFreeChunks and maxFreeSmall bound each loop's free lists (4 MiB and
// 1 MiB per loop).
const (
	maxFreeChunks = 256
	maxFreeSmall  = 1024
)

// maxIovecs caps one writev call (IOV_MAX is 1024 on Linux and the BSDs).
const maxIovecs = 1024

// output is a connection's pending output: a queue of chunks, the first read
// from head. Chunks come from the owning loop's free list and go back to it
// when written; the output itself lives in a connIO that the connection
// gives back to its loop once drained, so an idle connection holds no output
// memory at all.
type output struct {
	chunks [][]byte // each len = bytes filled, cap = chunkSize (a reference: its own length)
	// refs marks the chunks queued by reference (writeRef), parallel to
	// chunks as far as it reaches: a nil entry (or none) is a pooled chunk.
	// It stays empty for a connection that never queues a reference.
	refs []Releaser
	head int // bytes of chunks[0] already written
	size int // bytes pending
}

// Releaser is told, once, that the output no longer needs a buffer queued by
// reference (Conn.WriteRef): its bytes were written to the socket, or dropped
// because the connection closed. It is called on the loop's goroutine of
// the connection at that time (which differs from the one that queued it
// after a Migrate).
type Releaser interface{ Release() }

// noRelease marks a reference chunk whose owner needs no call (WriteRef
// with a nil Releaser: memory the garbage collector keeps alive).
type noRelease struct{}

func (noRelease) Release() {}

// isRef reports whether chunk i is queued by reference.
func (o *output) isRef(i int) bool { return i < len(o.refs) && o.refs[i] != nil }

// lastIsRef reports whether the tail chunk is a reference, which write and
// reserve must not append to.
func (o *output) lastIsRef() bool { return o.isRef(len(o.chunks) - 1) }

// chunkPool is a loop's free lists of chunks, one per size. Loop goroutine
// only.
type chunkPool struct {
	free  [][]byte // chunkSize
	small [][]byte // smallChunkSize
}

// getFor returns a chunk for a write of n bytes to an output that has
// chunks already (large) or none (small when n fits).
func (p *chunkPool) getFor(first bool, n int) []byte {
	if first && n <= smallChunkSize {
		return pop(&p.small, smallChunkSize)
	}
	return p.get()
}

func (p *chunkPool) get() []byte { return pop(&p.free, chunkSize) }

// pop takes the last chunk of a free list, or makes one of size bytes.
func pop(list *[][]byte, size int) []byte {
	if n := len(*list); n > 0 {
		b := (*list)[n-1]
		(*list)[n-1] = nil
		*list = (*list)[:n-1]
		return b[:0]
	}
	return make([]byte, 0, size)
}

func (p *chunkPool) put(b []byte) {
	switch {
	case cap(b) == chunkSize && len(p.free) < maxFreeChunks:
		p.free = append(p.free, b[:0])
	case cap(b) == smallChunkSize && len(p.small) < maxFreeSmall:
		p.small = append(p.small, b[:0])
	}
}

// writeRef queues b itself, not a copy, as a chunk of its own; r (never
// nil) is released once b is written or dropped. Chunks written after it
// start afresh, with a small chunk when they fit one (typically the header
// of the next message).
func (o *output) writeRef(b []byte, r Releaser) {
	if n := len(o.chunks); len(o.refs) < n {
		k := len(o.refs)
		o.refs = slices.Grow(o.refs, n+1-k)[:n]
		clear(o.refs[k:])
	}
	o.chunks = append(o.chunks, b[:len(b):len(b)])
	o.refs = append(o.refs, r)
	o.size += len(b)
}

// write copies b to the tail of the queue.
func (o *output) write(p *chunkPool, b []byte) {
	o.size += len(b)
	for len(b) > 0 {
		n := len(o.chunks)
		// After a reference the queue starts afresh, as when empty.
		if fresh := n == 0 || o.lastIsRef(); fresh || len(o.chunks[n-1]) == cap(o.chunks[n-1]) {
			o.chunks = append(o.chunks, p.getFor(fresh, len(b)))
			n++
		}
		t := o.chunks[n-1]
		k := copy(t[len(t):cap(t)], b)
		o.chunks[n-1] = t[:len(t)+k]
		b = b[k:]
	}
}

// reserve returns at least n bytes of writable space at the tail. commit(k)
// appends k bytes written into it. Above chunkSize the chunk is a one-off
// allocation that the pool does not keep.
func (o *output) reserve(p *chunkPool, n int) []byte {
	k := len(o.chunks)
	if fresh := k == 0 || o.lastIsRef(); fresh || cap(o.chunks[k-1])-len(o.chunks[k-1]) < n {
		if n > chunkSize {
			o.chunks = append(o.chunks, make([]byte, 0, n))
		} else {
			o.chunks = append(o.chunks, p.getFor(fresh, n))
		}
		k++
	}
	t := o.chunks[k-1]
	return t[len(t):cap(t)]
}

func (o *output) commit(k int) {
	t := o.chunks[len(o.chunks)-1]
	o.chunks[len(o.chunks)-1] = t[:len(t)+k]
	o.size += k
}

// consume drops n written bytes from the front, recycling finished chunks.
func (o *output) consume(p *chunkPool, n int) {
	o.size -= n
	i := 0
	for n > 0 {
		avail := len(o.chunks[i]) - o.head
		if n < avail {
			o.head += n
			break
		}
		n -= avail
		o.drop(p, i)
		o.head = 0
		i++
	}
	if i > 0 {
		k := copy(o.chunks, o.chunks[i:])
		clear(o.chunks[k:])
		o.chunks = o.chunks[:k]
		if len(o.refs) > 0 {
			k := copy(o.refs, o.refs[min(i, len(o.refs)):])
			clear(o.refs[k:])
			o.refs = o.refs[:k]
		}
	}
	if len(o.chunks) == 0 {
		o.head = 0
	}
}

// drop gives chunk i back: a pooled chunk to p, a reference to its owner.
func (o *output) drop(p *chunkPool, i int) {
	if o.isRef(i) {
		r := o.refs[i]
		o.refs[i] = nil
		r.Release()
	} else {
		p.put(o.chunks[i])
	}
	o.chunks[i] = nil
}

// release returns every chunk to p (references to their owners) and empties
// the queue, keeping the lists' capacity.
func (o *output) release(p *chunkPool) {
	for i := range o.chunks {
		o.drop(p, i)
	}
	o.chunks = o.chunks[:0]
	o.refs = o.refs[:0] // drop cleared every entry
	o.head, o.size = 0, 0
}
