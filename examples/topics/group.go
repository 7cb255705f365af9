package main

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"time"
)

// coordinator keeps the consumer groups' membership at the leader, as
// Kafka's group coordinator does. A member joins and stays by sending
// heartbeats; one silent for the session timeout is dropped, and one that
// leaves says so. Every change of membership starts a new generation with a
// new assignment, in which each partition has exactly one member. The
// broker serves a partition's records and takes its commits only from its
// member of the current generation, so a member that was dropped (perhaps
// only slow, not dead) is fenced off as soon as the next generation starts.
// Membership lives in memory only: after a failover the members join the
// new leader, which starts the group over.
type coordinator struct {
	partitions int
	session    time.Duration
	nextGen    int64
	groups     map[string]*group
}

type group struct {
	gen     int64
	members map[string]time.Time // last heartbeat
	owner   []string             // owner[p]: the member consuming partition p
}

func newCoordinator(partitions int, session time.Duration) *coordinator {
	// Generations start at a random number, so that those of a leader
	// that took over do not repeat those a member saw from the one
	// before (which would make it keep its old assignment's workers).
	var b [8]byte
	rand.Read(b[:])
	return &coordinator{partitions: partitions, session: session,
		nextGen: int64(binary.BigEndian.Uint64(b[:]) >> 24), groups: make(map[string]*group)}
}

// heartbeat records that member of name is alive, and returns the group's
// generation and the partitions member owns in it.
func (c *coordinator) heartbeat(name, member string, now time.Time) (int64, []int) {
	g := c.group(name)
	_, known := g.members[member]
	g.members[member] = now
	changed := c.expire(g, now) || !known
	if changed {
		c.rebalance(g)
	}
	var mine []int
	for p, m := range g.owner {
		if m == member {
			mine = append(mine, p)
		}
	}
	return g.gen, mine
}

// leave removes member from the group at once.
func (c *coordinator) leave(name, member string) {
	g := c.group(name)
	if _, ok := g.members[member]; ok {
		delete(g.members, member)
		c.rebalance(g)
	}
}

// owns says whether member owns partition p in generation gen.
func (c *coordinator) owns(name, member string, gen int64, p int, now time.Time) bool {
	g := c.group(name)
	if c.expire(g, now) {
		c.rebalance(g)
	}
	return g.gen == gen && p < len(g.owner) && g.owner[p] == member
}

func (c *coordinator) group(name string) *group {
	g := c.groups[name]
	if g == nil {
		g = &group{members: make(map[string]time.Time)}
		c.groups[name] = g
	}
	return g
}

// expire drops the members silent for longer than the session timeout.
func (c *coordinator) expire(g *group, now time.Time) bool {
	dropped := false
	for m, seen := range g.members {
		if now.Sub(seen) > c.session {
			delete(g.members, m)
			dropped = true
		}
	}
	return dropped
}

// rebalance starts a new generation: the members in name order, and
// partition p to member p mod n (Kafka's round-robin assignor).
func (c *coordinator) rebalance(g *group) {
	c.nextGen++
	g.gen = c.nextGen
	names := make([]string, 0, len(g.members))
	for m := range g.members {
		names = append(names, m)
	}
	slices.Sort(names)
	g.owner = make([]string, c.partitions)
	for p := range g.owner {
		if len(names) > 0 {
			g.owner[p] = names[p%len(names)]
		}
	}
}
