package engine

import (
	"fmt"
	"slices"
	"testing"
)

// placedDelivery describes msgs (each a list of frames) the way a read
// does: their bytes in a chunk, the frames' places after them.
func placedDelivery(msgs [][]string, seq uint64) delivery {
	var data []byte
	type ref struct {
		start, end int
		more       bool
	}
	var refs []ref
	for _, m := range msgs {
		for j, f := range m {
			data = append(data, 0xee) // a header byte the places skip
			refs = append(refs, ref{len(data), len(data) + len(f), j < len(m)-1})
			data = append(data, f...)
		}
	}
	d := delivery{chunk: make([]byte, len(data)+placeSize*len(refs)), hdrs: make([][]byte, len(refs)), seq: seq}
	copy(d.chunk, data)
	for i, r := range refs {
		d.setPlace(i, r.start, r.end, r.more)
		d.bytes += r.end - r.start
		if !r.more {
			d.msgs++
		}
	}
	return d
}

func frames(m Message) []string {
	var out []string
	for _, f := range m {
		out = append(out, string(f))
	}
	return out
}

// deliveryCase is a delivery of five messages numbered from 7, and the
// frames each of them must come out with.
type deliveryCase struct {
	name string
	d    delivery
	want [][]string
}

// deliveryCases are the two kinds of delivery with several messages: one
// a read describes in its chunk (one to three frames each), and an inproc
// run of one-frame messages.
func deliveryCases() []deliveryCase {
	msgs := [][]string{{"a"}, {"bc", "", "def"}, {""}, {"gh", "i"}, {"jklm"}}
	filled := delivery{hdrs: [][]byte{[]byte("a"), []byte("bc"), []byte(""), []byte("gh"), []byte("jklm")}, msgs: 5, bytes: 9, seq: 7}
	return []deliveryCase{
		{"placed", placedDelivery(msgs, 7), msgs},
		{"filled", filled, [][]string{{"a"}, {"bc"}, {""}, {"gh"}, {"jklm"}}},
	}
}

// TestDeliveryTakeSplitSkip takes messages from both kinds of delivery,
// splitting one off and skipping duplicates between, and checks each
// message's frames, size and sequence number and what the delivery has
// left.
func TestDeliveryTakeSplitSkip(t *testing.T) {
	for _, tc := range deliveryCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			size := func(m []string) (n int) {
				for _, f := range m {
					n += len(f)
				}
				return n
			}
			check := func(what string, m Message, gotSize int, gotSeq uint64, i int) {
				t.Helper()
				if !slices.Equal(frames(m), tc.want[i]) || gotSize != size(tc.want[i]) || gotSeq != 7+uint64(i) {
					t.Fatalf("%s: got %q size %d seq %d, want %q size %d seq %d", what, frames(m), gotSize, gotSeq, tc.want[i], size(tc.want[i]), 7+i)
				}
				if cap(m) != len(m) {
					t.Fatalf("%s: frame list has room to append into the next message's (len %d cap %d)", what, len(m), cap(m))
				}
			}
			m, sz, seq := d.take()
			check("take", m, sz, seq, 0)

			one := d.split(1)
			if one.msgs != 1 || one.bytes != size(tc.want[1]) {
				t.Fatalf("split: got %d messages of %d bytes, want 1 of %d", one.msgs, one.bytes, size(tc.want[1]))
			}
			m, sz, seq = one.take()
			check("split off", m, sz, seq, 1)
			if one.msgs != 0 || one.bytes != 0 {
				t.Fatalf("split off, taken: %d messages and %d bytes left, want none", one.msgs, one.bytes)
			}

			d.skip(1)
			if d.msgs != 2 || d.bytes != size(tc.want[3])+size(tc.want[4]) || d.seq != 10 {
				t.Fatalf("after skip: got %d messages, %d bytes, seq %d; want 2, %d, 10", d.msgs, d.bytes, d.seq, size(tc.want[3])+size(tc.want[4]))
			}
			for i := 3; i < 5; i++ {
				m, sz, seq = d.take()
				check(fmt.Sprintf("take %d", i), m, sz, seq, i)
			}
			if d.msgs != 0 || d.bytes != 0 {
				t.Fatalf("all taken: %d messages and %d bytes left, want none", d.msgs, d.bytes)
			}
		})
	}
}

// TestDeliveryOneOwnMessage takes the one message of a delivery with a
// frame list of its own.
func TestDeliveryOneOwnMessage(t *testing.T) {
	d := delivery{hdrs: [][]byte{[]byte("x"), []byte("yz")}, msgs: 1, bytes: 3}
	m, size, seq := d.take()
	if got := frames(m); !slices.Equal(got, []string{"x", "yz"}) || size != 3 || seq != 0 {
		t.Fatalf("got %q size %d seq %d, want [x yz] size 3 seq 0", got, size, seq)
	}
}

// TestDeliverySplitSeveral splits the first messages off as one delivery,
// as Recv does when one peer has a long run queued, and takes both parts.
func TestDeliverySplitSeveral(t *testing.T) {
	for _, tc := range deliveryCases() {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.d
			part := d.split(3)
			if part.msgs != 3 || d.msgs != 2 || part.bytes+d.bytes != tc.d.bytes {
				t.Fatalf("split(3): got %d and %d messages, %d and %d bytes; want 3 and 2 of %d in all", part.msgs, d.msgs, part.bytes, d.bytes, tc.d.bytes)
			}
			i := 0
			for _, from := range []*delivery{&part, &d} {
				for from.msgs > 0 {
					m, _, seq := from.take()
					if got := frames(m); !slices.Equal(got, tc.want[i]) || seq != 7+uint64(i) {
						t.Fatalf("message %d: got %q seq %d, want %q seq %d", i, got, seq, tc.want[i], 7+i)
					}
					i++
				}
			}
			if i != 5 || part.bytes != 0 || d.bytes != 0 {
				t.Fatalf("took %d messages, %d and %d bytes left; want 5 and none", i, part.bytes, d.bytes)
			}
		})
	}
}
