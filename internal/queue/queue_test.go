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
