// Package queue provides a FIFO that reuses its memory, for the engine's
// per-peer inbound queues. It is not safe for concurrent use: the caller
// holds the lock that guards it.
package queue

// FIFO is a first-in first-out queue backed by a ring buffer that grows by
// doubling. Steady-state Push and Pop allocate nothing.
type FIFO[T any] struct {
	buf  []T
	head int // index of the oldest element
	n    int // number of elements
}

// Len returns the number of queued elements.
func (q *FIFO[T]) Len() int { return q.n }

// Push appends v at the tail.
func (q *FIFO[T]) Push(v T) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	q.n++
}

// Pop removes and returns the oldest element. It panics on an empty queue,
// which is a bug in the caller.
func (q *FIFO[T]) Pop() T {
	if q.n == 0 {
		panic("queue: Pop on empty FIFO")
	}
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero // let the GC free what the element references
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return v
}

// PopAppend removes up to n of the oldest elements and appends them to dst,
// in order, with at most two copies: the ring's wrap splits them in two at
// most. It returns the extended dst.
func (q *FIFO[T]) PopAppend(dst []T, n int) []T {
	n = min(n, q.n)
	for n > 0 {
		k := min(n, len(q.buf)-q.head) // up to the end of the ring
		seg := q.buf[q.head : q.head+k]
		dst = append(dst, seg...)
		clear(seg) // let the GC free what the elements reference
		q.head = (q.head + k) & (len(q.buf) - 1)
		q.n -= k
		n -= k
	}
	return dst
}

// Front returns the oldest element, for the caller to change in place. It
// panics on an empty queue, which is a bug in the caller.
func (q *FIFO[T]) Front() *T {
	if q.n == 0 {
		panic("queue: Front on empty FIFO")
	}
	return &q.buf[q.head]
}

// Peek returns the oldest element without removing it.
func (q *FIFO[T]) Peek() T {
	if q.n == 0 {
		panic("queue: Peek on empty FIFO")
	}
	return q.buf[q.head]
}

// Clear drops every element, keeping the memory for reuse.
func (q *FIFO[T]) Clear() {
	var zero T
	for i := 0; i < q.n; i++ {
		q.buf[(q.head+i)&(len(q.buf)-1)] = zero
	}
	q.head, q.n = 0, 0
}

func (q *FIFO[T]) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 1 // most of a large socket's peers queue one read's messages at a time
	}
	buf := make([]T, size)
	// Unwrap the ring so the oldest element lands at index 0.
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf, q.head = buf, 0
}
