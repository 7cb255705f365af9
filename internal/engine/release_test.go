package engine

import (
	"runtime"
	"testing"
	"unsafe"
)

func sameMemory(a, b []byte) bool { return unsafe.SliceData(a) == unsafe.SliceData(b) }

func TestReleaseReusesOwnMemory(t *testing.T) {
	var p releasePool
	b := p.get(64 << 10)
	p.release(Message{b})
	c := p.get(64 << 10)
	if !sameMemory(b, c) {
		t.Fatal("get after release: got new memory, want the released buffer")
	}
	if len(c) != 64<<10 {
		t.Fatalf("get(64 KiB): got %d bytes, want %d", len(c), 64<<10)
	}
	// A smaller frame of the same class fits the buffer; a larger one of
	// the class below takes it too.
	p.release(Message{c})
	d := p.get(40 << 10)
	if !sameMemory(c, d) || len(d) != 40<<10 {
		t.Fatalf("get(40 KiB) after releasing 64 KiB: same memory %v, %d bytes; want the released buffer, 40 KiB", sameMemory(c, d), len(d))
	}
}

func TestReleaseClearsTheMessage(t *testing.T) {
	var p releasePool
	m := Message{p.get(32 << 10), []byte("small")}
	p.release(m)
	if m[0] != nil || m[1] != nil {
		t.Fatalf("after release: got frames %v/%v, want nil", m[0] == nil, m[1] == nil)
	}
}

func TestReleaseIgnoresForeignMemory(t *testing.T) {
	var p releasePool
	mine := make([]byte, 64<<10) // the application's, or an inproc sender's
	p.release(Message{mine})
	if b := p.get(64 << 10); sameMemory(b, mine) {
		t.Fatal("get after releasing the application's memory: got that memory, want new")
	}
	if p.freeBytes != 0 {
		t.Fatalf("free lists: got %d bytes, want 0", p.freeBytes)
	}
}

func TestReleaseTwiceKeepsOneCopy(t *testing.T) {
	var p releasePool
	b := p.get(64 << 10)
	view := b // the same frame in a second message
	p.release(Message{b})
	p.release(Message{view})
	x, y := p.get(64<<10), p.get(64<<10)
	if sameMemory(x, y) {
		t.Fatal("two gets after a double release: got the same memory twice, want two buffers")
	}
}

func TestReleaseIgnoresSmallAndHugeFrames(t *testing.T) {
	var p releasePool
	small := p.get(1 << 10)
	huge := p.get(64 << 20)
	p.release(Message{small, huge})
	if p.freeBytes != 0 {
		t.Fatalf("free lists after releasing a 1 KiB and a 64 MiB frame: got %d bytes, want 0", p.freeBytes)
	}
}

func TestReleaseIsBounded(t *testing.T) {
	var p releasePool
	var m Message
	for range 2 * maxReleasedBytes / (1 << 20) {
		m = append(m, p.get(1<<20))
	}
	p.release(m)
	if p.freeBytes > maxReleasedBytes {
		t.Fatalf("free lists: got %d bytes, want at most %d", p.freeBytes, maxReleasedBytes)
	}
	if p.freeBytes < maxReleasedBytes-(1<<20) {
		t.Fatalf("free lists: got %d bytes, want them filled up to %d", p.freeBytes, maxReleasedBytes)
	}
}

// Records of memory the application dropped without releasing it go when
// the collector has taken that memory, so they do not pile up.
func TestReleaseRecordsOfDroppedMemoryAreSwept(t *testing.T) {
	var p releasePool
	for range 4 * minSweep {
		p.get(16 << 10)
		if len(p.owned)%minSweep == 0 {
			runtime.GC()
		}
	}
	if len(p.owned) > 2*minSweep {
		t.Fatalf("records after %d dropped frames: got %d, want at most %d", 4*minSweep, len(p.owned), 2*minSweep)
	}
}
