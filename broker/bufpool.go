package broker

import (
	"math/bits"
	"sync"
)

// Request frames of produce requests are read into pooled buffers. A
// produce request is almost all record data, which the append copies into
// the segment file before the handler returns, so its frame can be reused
// at once: no allocation (and clearing) of up to a megabyte per request,
// and far less garbage for the collector at hundreds of MB/s.
//
// Buffers come in power-of-two sizes from 4 KiB to 16 MiB; other sizes are
// plain allocations.
const (
	minFrameShift = 12
	maxFrameShift = 24
)

var framePools [maxFrameShift - minFrameShift + 1]sync.Pool

// frameClass is the pool whose buffers hold n bytes, or -1.
func frameClass(n int) int {
	if n > 1<<maxFrameShift {
		return -1
	}
	shift := bits.Len(uint(n - 1)) // smallest power of two >= n
	return max(shift, minFrameShift) - minFrameShift
}

// getFrame returns a buffer of n bytes, with unspecified contents.
func getFrame(n int) []byte {
	c := frameClass(n)
	if c < 0 || n < 1<<minFrameShift {
		return make([]byte, n)
	}
	if p, ok := framePools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<(c+minFrameShift))
}

// putFrame gives a buffer from getFrame back. Nothing may use it after.
func putFrame(b []byte) {
	c := frameClass(cap(b))
	if c < 0 || cap(b) != 1<<(c+minFrameShift) {
		return // not from a pool
	}
	framePools[c].Put(&b)
}
