package patterns

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
)

// trieModel is the obvious implementation Trie must agree with.
type trieModel map[string]map[int]bool

func (m trieModel) matches(topic []byte) []int {
	var out []int
	for p, keys := range m {
		if bytes.HasPrefix(topic, []byte(p)) {
			for k := range keys {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func checkTrie(t *testing.T, tr *Trie[int], m trieModel, topics [][]byte) {
	t.Helper()
	pairs := 0
	for p, keys := range m {
		pairs += len(keys)
		if got := tr.Count([]byte(p)); got != len(keys) {
			t.Fatalf("Count(%q): got %d, want %d", p, got, len(keys))
		}
	}
	if tr.Len() != pairs {
		t.Fatalf("Len: got %d, want %d", tr.Len(), pairs)
	}
	for _, topic := range topics {
		got := tr.AppendMatches(nil, topic)
		slices.Sort(got)
		want := m.matches(topic)
		if !slices.Equal(got, want) {
			t.Fatalf("AppendMatches(%q): got %v, want %v", topic, got, want)
		}
		if tr.Matches(topic) != (len(want) > 0) {
			t.Fatalf("Matches(%q): got %v, want %v", topic, !(len(want) > 0), len(want) > 0)
		}
	}
}

func TestTrie(t *testing.T) {
	var tr Trie[int]
	m := trieModel{}
	add := func(p string, k int) {
		t.Helper()
		isNew := !m[p][k]
		if got := tr.Add([]byte(p), k); got != isNew {
			t.Fatalf("Add(%q, %d): got %v, want %v", p, k, got, isNew)
		}
		if m[p] == nil {
			m[p] = map[int]bool{}
		}
		m[p][k] = true
	}
	remove := func(p string, k int) {
		t.Helper()
		held := m[p][k]
		if got := tr.Remove([]byte(p), k); got != held {
			t.Fatalf("Remove(%q, %d): got %v, want %v", p, k, got, held)
		}
		delete(m[p], k)
		if len(m[p]) == 0 {
			delete(m, p)
		}
	}
	topics := [][]byte{nil, []byte("a"), []byte("ab"), []byte("abc"), []byte("b"), []byte("weather.paris"), {0, 255}}
	checkTrie(t, &tr, m, topics)
	add("", 1)
	add("a", 2)
	add("ab", 2)
	add("ab", 2)
	add("abc", 3)
	add("weather.", 4)
	add(string([]byte{0}), 5)
	checkTrie(t, &tr, m, topics)
	remove("ab", 2)
	remove("ab", 2)
	remove("zzz", 1)
	remove("", 1)
	checkTrie(t, &tr, m, topics)
	remove("a", 2)
	remove("abc", 3)
	remove("weather.", 4)
	remove(string([]byte{0}), 5)
	checkTrie(t, &tr, m, topics)
	if len(tr.root.kids) != 0 {
		t.Fatalf("root children after removing everything: got %d, want 0 (nodes are freed)", len(tr.root.kids))
	}
}

// FuzzTrie applies arbitrary adds and removes and compares every answer
// with the model. Each op is 3 bytes: kind|key, prefix length, then that
// many bytes of prefix from the input (a small alphabet makes overlaps
// likely).
func FuzzTrie(f *testing.F) {
	f.Add([]byte{0x01, 2, 'a', 'b', 0x81, 2, 'a', 'b'})
	f.Add([]byte{0x00, 0, 0x01, 1, 'a', 0x02, 3, 'a', 'b', 'c', 0x80, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 2048 {
			ops = ops[:2048]
		}
		var tr Trie[int]
		m := trieModel{}
		var topics [][]byte
		for len(ops) >= 2 {
			op, n := ops[0], int(ops[1])%8
			ops = ops[2:]
			n = min(n, len(ops))
			p := make([]byte, n)
			for i := range p {
				p[i] = 'a' + ops[i]%3
			}
			ops = ops[n:]
			k := int(op & 0x7f % 4)
			topics = append(topics, p, append(slices.Clone(p), 'a'))
			if op&0x80 == 0 {
				isNew := !m[string(p)][k]
				if tr.Add(p, k) != isNew {
					t.Fatalf("Add(%q, %d): got %v, want %v", p, k, !isNew, isNew)
				}
				if m[string(p)] == nil {
					m[string(p)] = map[int]bool{}
				}
				m[string(p)][k] = true
			} else {
				held := m[string(p)][k]
				if tr.Remove(p, k) != held {
					t.Fatalf("Remove(%q, %d): got %v, want %v", p, k, !held, held)
				}
				delete(m[string(p)], k)
				if len(m[string(p)]) == 0 {
					delete(m, string(p))
				}
			}
		}
		checkTrie(t, &tr, m, topics)
	})
}

// BenchmarkTrieMatch compares the cost of matching a topic against one
// subscription and against 10,000 distinct ones.
func BenchmarkTrieMatch(b *testing.B) {
	for _, subs := range []int{1, 10000} {
		var tr Trie[int]
		for i := range subs {
			tr.Add(fmt.Appendf(nil, "topic-%05d", i), i%4)
		}
		for _, topic := range []string{"topic-00000 payload", "other topic"} {
			b.Run(fmt.Sprintf("subs=%d/%s", subs, topic[:5]), func(b *testing.B) {
				var dst []int
				t := []byte(topic)
				b.ReportAllocs()
				for b.Loop() {
					dst = tr.AppendMatches(dst[:0], t)
				}
			})
		}
	}
}
