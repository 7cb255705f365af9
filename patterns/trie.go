package patterns

import "bytes"

// Trie maps byte prefixes to sets of keys (subscribers), for publish-
// subscribe filtering: [Trie.Match] finds every key with a prefix that a
// topic starts with by walking the topic's bytes once, so its cost depends
// on the topic and on how many keys match, not on how many prefixes the
// trie holds.
//
// A (prefix, key) pair is held at most once; adding it again changes
// nothing. The empty prefix matches every topic. The zero value is an empty
// trie. A Trie is not safe for concurrent use.
type Trie[K comparable] struct {
	root  trieNode[K]
	pairs int
}

type trieNode[K comparable] struct {
	keys   []K
	labels []byte // labels[i] is the byte leading to kids[i]; unsorted
	kids   []*trieNode[K]
}

func (n *trieNode[K]) child(b byte) *trieNode[K] {
	if len(n.labels) > 8 {
		if i := bytes.IndexByte(n.labels, b); i >= 0 {
			return n.kids[i]
		}
		return nil
	}
	// Most nodes have a child or two: a loop beats the call.
	for i, l := range n.labels {
		if l == b {
			return n.kids[i]
		}
	}
	return nil
}

// Add records that key wants topics starting with prefix. It reports
// whether the pair is new.
func (t *Trie[K]) Add(prefix []byte, key K) bool {
	n := &t.root
	for _, b := range prefix {
		next := n.child(b)
		if next == nil {
			next = &trieNode[K]{}
			n.labels = append(n.labels, b)
			n.kids = append(n.kids, next)
		}
		n = next
	}
	for _, k := range n.keys {
		if k == key {
			return false
		}
	}
	n.keys = append(n.keys, key)
	t.pairs++
	return true
}

// Remove forgets the pair (prefix, key) and reports whether it was held.
// Nodes left without keys or children are freed.
func (t *Trie[K]) Remove(prefix []byte, key K) bool {
	return t.remove(&t.root, prefix, key)
}

func (t *Trie[K]) remove(n *trieNode[K], rest []byte, key K) bool {
	if len(rest) == 0 {
		for i, k := range n.keys {
			if k == key {
				last := len(n.keys) - 1
				n.keys[i] = n.keys[last]
				var zero K
				n.keys[last] = zero
				n.keys = n.keys[:last]
				t.pairs--
				return true
			}
		}
		return false
	}
	i := bytes.IndexByte(n.labels, rest[0])
	if i < 0 || !t.remove(n.kids[i], rest[1:], key) {
		return false
	}
	if kid := n.kids[i]; len(kid.keys) == 0 && len(kid.kids) == 0 {
		last := len(n.kids) - 1
		n.labels[i], n.kids[i] = n.labels[last], n.kids[last]
		n.kids[last] = nil
		n.labels, n.kids = n.labels[:last], n.kids[:last]
	}
	return true
}

// Count returns how many keys hold exactly this prefix.
func (t *Trie[K]) Count(prefix []byte) int {
	n := &t.root
	for _, b := range prefix {
		if n = n.child(b); n == nil {
			return 0
		}
	}
	return len(n.keys)
}

// Len returns how many (prefix, key) pairs the trie holds.
func (t *Trie[K]) Len() int { return t.pairs }

// AppendMatches appends to dst the key of every pair whose prefix topic
// starts with, shortest prefix first, and returns the extended slice. A key
// with several matching prefixes appears once per prefix; callers that need
// each key once mark what they have seen.
func (t *Trie[K]) AppendMatches(dst []K, topic []byte) []K {
	n := &t.root
	for i := 0; ; i++ {
		dst = append(dst, n.keys...)
		if i == len(topic) {
			return dst
		}
		if n = n.child(topic[i]); n == nil {
			return dst
		}
	}
}

// Matches reports whether some prefix in the trie is a prefix of topic.
func (t *Trie[K]) Matches(topic []byte) bool {
	n := &t.root
	for i := 0; ; i++ {
		if len(n.keys) > 0 {
			return true
		}
		if i == len(topic) {
			return false
		}
		if n = n.child(topic[i]); n == nil {
			return false
		}
	}
}
