package engine

import (
	"math/bits"
	"sync"
	"unsafe"
	"weak"
)

// Released memory. A large frame (largeFrame bytes or more) read from a
// stream gets memory of its own, so the application may keep it; a stream
// of 64 KiB messages then allocates, zeroes and, once the collector has
// returned the pages, faults in 64 KiB per message. An application that is
// done with a message may give it back (Release), and the next large frame
// of the right size, on any connection of the process, is read into it.
//
// Only memory this package allocated for a large frame may be reused: the
// frames of an inproc message are the sender's, a message may be built by
// the application, and a message may be released twice. So every such
// allocation is recorded by its address with a weak pointer, and Release
// reuses a frame only if the record is there and still points at it (a
// weak pointer goes nil before its memory can be reused, so an address
// another object took later never matches a stale record). Releasing takes
// the record out: a second Release of the same frame finds none.

const (
	// minReleaseClass is the smallest free list: frames below largeFrame
	// share chunks and are never reused alone.
	minReleaseClass = 14 // 16 KiB
	// maxReleaseClass is the largest: a larger frame is left to the
	// collector.
	maxReleaseClass = 24 // 16 MiB, and buffers up to 32 MiB
	// maxReleasedBytes bounds the memory the free lists keep for the whole
	// process; what does not fit is left to the collector.
	maxReleasedBytes = 64 << 20
	// minSweep is how many records accumulate before the first sweep of
	// records whose memory was collected without a Release.
	minSweep = 1024
)

var released releasePool

// releasePool is the process's free lists of large-frame memory, by size
// class: class k holds buffers whose capacity is in [2^k, 2^(k+1)).
type releasePool struct {
	mu        sync.Mutex
	owned     map[uintptr]weak.Pointer[byte]
	nextSweep int
	free      [maxReleaseClass - minReleaseClass + 1][][]byte
	freeBytes int
}

// releaseClass returns the free list of a buffer of capacity c, or -1.
func releaseClass(c int) int {
	k := bits.Len(uint(c)) - 1
	if k < minReleaseClass || k > maxReleaseClass {
		return -1
	}
	return k - minReleaseClass
}

// largeBuffer returns n bytes for a large frame: released memory when
// there is some of the right size, else new. Either way it is recorded as
// this package's, so that the application can release it in turn.
func largeBuffer(n int) []byte { return released.get(n) }

func (p *releasePool) get(n int) []byte {
	k := releaseClass(n)
	if k < 0 {
		return make([]byte, n)
	}
	p.mu.Lock()
	b := p.takeLocked(k, n)
	if b == nil && k+1 < len(p.free) {
		b = p.takeLocked(k+1, n)
	}
	p.mu.Unlock()
	if b == nil {
		b = make([]byte, n)
	}
	p.record(b)
	return b[:n]
}

// takeLocked pops a buffer of at least n bytes from free list k. A list
// holds buffers of one size in a steady stream, so it looks at the most
// recent one only.
func (p *releasePool) takeLocked(k, n int) []byte {
	l := p.free[k]
	if len(l) == 0 || cap(l[len(l)-1]) < n {
		return nil
	}
	b := l[len(l)-1]
	l[len(l)-1] = nil
	p.free[k] = l[:len(l)-1]
	p.freeBytes -= cap(b)
	return b
}

func (p *releasePool) record(b []byte) {
	first := unsafe.SliceData(b)
	w := weak.Make(first)
	p.mu.Lock()
	if p.owned == nil {
		p.owned = make(map[uintptr]weak.Pointer[byte])
		p.nextSweep = minSweep
	}
	p.owned[uintptr(unsafe.Pointer(first))] = w
	if len(p.owned) >= p.nextSweep {
		p.sweepLocked()
	}
	p.mu.Unlock()
}

// sweepLocked drops the records of memory collected without a Release,
// and sets the next sweep at twice what is left, so sweeping costs O(1)
// per record.
func (p *releasePool) sweepLocked() {
	for addr, w := range p.owned {
		if w.Value() == nil {
			delete(p.owned, addr)
		}
	}
	p.nextSweep = max(minSweep, 2*len(p.owned))
}

// Release gives the memory of m's large frames back for reuse by later
// large frames (see above); other frames are left alone. The caller must
// not use any frame of m afterwards.
func Release(m Message) { released.release(m) }

func (p *releasePool) release(m Message) {
	for i, f := range m {
		if cap(f) >= 1<<minReleaseClass {
			p.put(f)
		}
		m[i] = nil
	}
}

func (p *releasePool) put(f []byte) {
	first := unsafe.SliceData(f)
	addr := uintptr(unsafe.Pointer(first))
	k := releaseClass(cap(f))
	p.mu.Lock()
	defer p.mu.Unlock()
	w, ok := p.owned[addr]
	if !ok || w.Value() != first {
		return // not ours, or released already
	}
	delete(p.owned, addr)
	if k < 0 || p.freeBytes+cap(f) > maxReleasedBytes {
		return
	}
	p.free[k] = append(p.free[k], f[:cap(f)])
	p.freeBytes += cap(f)
}
