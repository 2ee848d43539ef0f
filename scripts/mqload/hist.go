//go:build linux

package main

import "math/bits"

// histogram counts latencies in nanoseconds with under 1.6% relative error:
// values below 128 ns are exact, above that each power of two is split into 64
// buckets. Recording never allocates; one histogram belongs to one goroutine.
type histogram struct {
	counts [128 + 64*57]uint64
	total  uint64
}

func bucketOf(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // v>>shift is in [64, 128)
	return 128 + (shift-1)*64 + int(v>>uint(shift)) - 64
}

// lowerBound is the smallest value that falls in bucket i.
func lowerBound(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	shift := (i-128)/64 + 1
	m := uint64((i-128)%64 + 64)
	return m << uint(shift)
}

func (h *histogram) record(ns int64) {
	if ns < 0 {
		ns = 0
	}
	i := bucketOf(uint64(ns))
	if i >= len(h.counts) {
		i = len(h.counts) - 1
	}
	h.counts[i]++
	h.total++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// quantile returns the lower bound, in nanoseconds, of the bucket holding
// quantile q (0 < q <= 1); 0 when empty.
func (h *histogram) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return lowerBound(i)
		}
	}
	return lowerBound(len(h.counts) - 1)
}
