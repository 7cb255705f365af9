//go:build linux

package faulttest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The kernel this suite was written on has no netem qdisc, so loss, delay,
// reordering and duplication happen here, in user space: every IP packet
// between A and B leaves one namespace through a TUN device, passes through
// this relay, and enters the other namespace through the other TUN device.

// impairment says what the relay does to the packets, the same in both
// directions. Zero is a clean wire.
type impairment struct {
	loss      float64       // fraction of packets dropped
	delayMin  time.Duration // each packet waits between delayMin and
	delayMax  time.Duration // delayMax, uniformly: the jitter reorders too
	reorder   float64       // fraction held back another delayMax, so later packets overtake them
	duplicate float64       // fraction sent twice, the copy with its own delay
	// corrupt is the fraction of TCP segments with a payload that get one
	// payload byte flipped and their TCP checksum recomputed, so the
	// corruption gets past TCP to the application's protocol.
	corrupt float64
	seed    uint64 // of the random choices, logged so a run can be repeated
}

func (m impairment) String() string {
	return fmt.Sprintf("loss=%g%% delay=%v-%v reorder=%g%% duplicate=%g%% corrupt=%g%% seed=%d",
		100*m.loss, m.delayMin, m.delayMax, 100*m.reorder, 100*m.duplicate, 100*m.corrupt, m.seed)
}

// relayStats counts what the relay did, over both directions.
type relayStats struct {
	packets, dropped, duplicated, reordered, corrupted, writeErrors atomic.Uint64
}

func (s *relayStats) String() string {
	return fmt.Sprintf("packets=%d dropped=%d duplicated=%d reordered=%d corrupted=%d write_errors=%d",
		s.packets.Load(), s.dropped.Load(), s.duplicated.Load(), s.reordered.Load(), s.corrupted.Load(), s.writeErrors.Load())
}

// relay copies packets between two TUN devices, impaired.
type relay struct {
	imp     impairment
	a, b    *os.File
	stats   relayStats
	readers sync.WaitGroup
	pending sync.WaitGroup // delayed packets not yet written

	mu     sync.Mutex // guards rng, shared by the two directions
	rng    *rand.Rand
	closed atomic.Bool
}

// startRelay copies packets from a to b and from b to a until stop.
func startRelay(a, b *os.File, imp impairment) *relay {
	r := &relay{imp: imp, a: a, b: b, rng: rand.New(rand.NewPCG(imp.seed, imp.seed^0x9e3779b97f4a7c15))}
	r.readers.Add(2)
	go r.copy(a, b)
	go r.copy(b, a)
	return r
}

// stop closes both devices, which removes them and ends the readers, and
// waits for the delayed packets' timers, so no goroutine outlives it.
func (r *relay) stop() {
	if r.closed.Swap(true) {
		return
	}
	r.a.Close()
	r.b.Close()
	r.readers.Wait()
	r.pending.Wait()
}

// copy reads packets from src and passes them, impaired, to dst.
func (r *relay) copy(src, dst *os.File) {
	defer r.readers.Done()
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return // closed by stop
		}
		r.stats.packets.Add(1)
		pkt := append([]byte(nil), buf[:n]...)
		d := r.decide(pkt)
		if d.drop {
			r.stats.dropped.Add(1)
			continue
		}
		if d.corruptAt >= 0 && corruptTCP(pkt, d.corruptAt) {
			r.stats.corrupted.Add(1)
		}
		r.send(dst, pkt, d.delay)
		if d.dup {
			r.stats.duplicated.Add(1)
			r.send(dst, pkt, d.dupDelay)
		}
	}
}

// decision is what happens to one packet.
type decision struct {
	drop, dup       bool
	delay, dupDelay time.Duration
	corruptAt       int // a random number the payload offset derives from; -1 for none
}

func (r *relay) decide(pkt []byte) decision {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.imp
	d := decision{corruptAt: -1}
	if r.rng.Float64() < m.loss {
		d.drop = true
		return d
	}
	jitter := func() time.Duration {
		if m.delayMax <= m.delayMin {
			return m.delayMin
		}
		return m.delayMin + time.Duration(r.rng.Int64N(int64(m.delayMax-m.delayMin)))
	}
	d.delay = jitter()
	if r.rng.Float64() < m.reorder {
		d.delay += max(m.delayMax, time.Millisecond)
		r.stats.reordered.Add(1)
	}
	if r.rng.Float64() < m.duplicate {
		d.dup, d.dupDelay = true, jitter()
	}
	if m.corrupt > 0 && r.rng.Float64() < m.corrupt {
		d.corruptAt = r.rng.IntN(1 << 30)
	}
	return d
}

// send writes pkt to dst after delay, from a timer so that the reader goes
// on at once and packets with shorter delays overtake it.
func (r *relay) send(dst *os.File, pkt []byte, delay time.Duration) {
	if delay <= 0 {
		r.write(dst, pkt)
		return
	}
	r.pending.Add(1)
	time.AfterFunc(delay, func() {
		defer r.pending.Done()
		r.write(dst, pkt)
	})
}

func (r *relay) write(dst *os.File, pkt []byte) {
	if r.closed.Load() {
		return
	}
	// A TUN device that is down refuses packets; that is loss too.
	if _, err := dst.Write(pkt); err != nil {
		r.stats.writeErrors.Add(1)
	}
}

// tcpSegment returns the TCP segment of an IPv4 packet and the offset of
// its payload within it, or ok false for anything else (other protocols,
// fragments, malformed headers).
func tcpSegment(pkt []byte) (seg []byte, payload int, ok bool) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 || pkt[9] != 6 {
		return nil, 0, false
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < 20 || total > len(pkt) || total < ihl+20 {
		return nil, 0, false
	}
	if binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 { // more fragments, or an offset
		return nil, 0, false
	}
	seg = pkt[ihl:total]
	doff := int(seg[12]>>4) * 4
	if doff < 20 || doff > len(seg) {
		return nil, 0, false
	}
	return seg, doff, true
}

// corruptTCP flips every bit of one byte of the TCP payload of pkt (which
// one derives from at) and recomputes the TCP checksum, so the receiving
// kernel accepts the segment and hands the wrong byte to the application.
// It reports whether it changed pkt: not for non-TCP packets, nor for
// segments without payload (a flipped header byte would be a different
// fault).
func corruptTCP(pkt []byte, at int) bool {
	seg, off, ok := tcpSegment(pkt)
	if !ok || off == len(seg) {
		return false
	}
	seg[off+at%(len(seg)-off)] ^= 0xff
	binary.BigEndian.PutUint16(seg[16:18], 0)
	binary.BigEndian.PutUint16(seg[16:18], tcpChecksum(pkt))
	return true
}

// tcpChecksum computes the checksum of pkt's TCP segment as it stands
// (RFC 793: the ones' complement of the ones' complement sum of the
// pseudo-header and the segment). Over a segment whose checksum field holds
// a correct checksum it returns 0.
func tcpChecksum(pkt []byte) uint16 {
	seg, _, ok := tcpSegment(pkt)
	if !ok {
		return 0
	}
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	add(pkt[12:20]) // source and destination addresses
	sum += 6 + uint32(len(seg))
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
