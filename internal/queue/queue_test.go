package queue

import "testing"

func TestFIFOOrderAcrossGrowth(t *testing.T) {
	var q FIFO[int]
	next, want := 0, 0
	// Interleave pushes and pops so the ring wraps before it grows.
	for round := 0; round < 50; round++ {
		for i := 0; i < round*3+1; i++ {
			q.Push(next)
			next++
		}
		for i := 0; i < round*2; i++ {
			if got := q.Pop(); got != want {
				t.Fatalf("round %d: got %d, want %d", round, got, want)
			}
			want++
		}
	}
	if got := q.Len(); got != next-want {
		t.Fatalf("Len: got %d, want %d", got, next-want)
	}
	for q.Len() > 0 {
		if got := q.Pop(); got != want {
			t.Fatalf("drain: got %d, want %d", got, want)
		}
		want++
	}
}

func TestFIFOClearReleasesReferences(t *testing.T) {
	var q FIFO[*int]
	for i := 0; i < 10; i++ {
		v := i
		q.Push(&v)
	}
	q.Clear()
	for i, p := range q.buf {
		if p != nil {
			t.Fatalf("slot %d still references a value after Clear", i)
		}
	}
	if q.Len() != 0 {
		t.Fatalf("Len after Clear: got %d, want 0", q.Len())
	}
}

func TestFIFOSteadyStateAllocatesNothing(t *testing.T) {
	var q FIFO[int]
	for i := 0; i < 64; i++ {
		q.Push(i)
	}
	for q.Len() > 0 {
		q.Pop()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 32; i++ {
			q.Push(i)
		}
		for i := 0; i < 32; i++ {
			q.Pop()
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs per run: got %v, want 0", allocs)
	}
}

// TestFIFOPopAppend takes batches of every size across the ring's wrap
// and growth, in order, leaving no reference behind in the ring.
func TestFIFOPopAppend(t *testing.T) {
	var q FIFO[*int]
	next, want := 0, 0
	var dst []*int
	for round := range 60 {
		for range round%7 + 3 {
			v := next
			q.Push(&v)
			next++
		}
		before := q.Len()
		dst = q.PopAppend(dst[:0], round%5+1)
		if len(dst) != min(round%5+1, before) || q.Len() != before-len(dst) {
			t.Fatalf("round %d: took %d of %d leaving %d, want %d", round, len(dst), before, q.Len(), min(round%5+1, before))
		}
		for _, p := range dst {
			if *p != want {
				t.Fatalf("round %d: got %d, want %d", round, *p, want)
			}
			want++
		}
	}
	dst = q.PopAppend(dst[:0], q.Len()+10)
	for _, p := range dst {
		if *p != want {
			t.Fatalf("drain: got %d, want %d", *p, want)
		}
		want++
	}
	if want != next || q.Len() != 0 {
		t.Fatalf("after draining: took up to %d of %d, %d left", want, next, q.Len())
	}
	for i, p := range q.buf {
		if p != nil {
			t.Fatalf("slot %d still references a value after PopAppend", i)
		}
	}
	if got := q.PopAppend(nil, 3); len(got) != 0 {
		t.Fatalf("PopAppend on an empty FIFO: got %d elements, want 0", len(got))
	}
}
