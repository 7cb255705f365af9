package socket

import (
	"net"
	"sync"
	"testing"
)

// udpRelay forwards UDP datagrams, flow by flow, between clients and a
// target: what cutProxy and freezeProxy do for TCP, for quic://. A flow is
// a client address and the relay's own socket towards the target for it.
//
// UDP has no reset to send, so a cut is silence: the relay forgets every
// flow and drops whatever comes later on one, in both directions, so the
// QUIC connections on them hear nothing more and wisp's heartbeat, not a
// closed connection, is what notices. A client's next connection comes
// from a new port, a new flow, and passes.
type udpRelay struct {
	pc     *net.UDPConn // clients send here
	target *net.UDPAddr
	wg     sync.WaitGroup

	mu     sync.Mutex
	flows  map[string]*udpFlow // by client address
	dead   map[string]bool     // client addresses of flows cut
	frozen bool
	closed bool
	cuts   int
}

type udpFlow struct {
	client *net.UDPAddr
	up     *net.UDPConn // connected to the target
}

// newUDPRelay starts a relay to target (host:port) on loopback, and stops
// it when the test ends.
func newUDPRelay(t *testing.T, target string) *udpRelay {
	t.Helper()
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatalf("relay target %q: got error %v, want nil", target, err)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("relay listen: got error %v, want nil", err)
	}
	r := &udpRelay{pc: pc, target: ta, flows: map[string]*udpFlow{}, dead: map[string]bool{}}
	r.wg.Add(1)
	go r.run()
	t.Cleanup(r.close)
	return r
}

// addr is the relay's address, for clients to dial.
func (r *udpRelay) addr() string { return r.pc.LocalAddr().String() }

// run forwards clients' datagrams until the relay closes.
func (r *udpRelay) run() {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.pc.ReadFromUDP(buf)
		if err != nil {
			return
		}
		key := from.String()
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		if r.frozen || r.dead[key] {
			r.mu.Unlock()
			continue
		}
		f := r.flows[key]
		if f == nil {
			up, err := net.DialUDP("udp", nil, r.target)
			if err != nil {
				r.mu.Unlock()
				continue
			}
			f = &udpFlow{client: from, up: up}
			r.flows[key] = f
			r.wg.Add(1)
			go r.back(f)
		}
		r.mu.Unlock()
		f.up.Write(buf[:n])
	}
}

// back forwards the target's datagrams of one flow to its client until
// the flow is cut.
func (r *udpRelay) back(f *udpFlow) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	key := f.client.String()
	for {
		n, err := f.up.Read(buf)
		if err != nil {
			return
		}
		r.mu.Lock()
		drop := r.frozen || r.dead[key]
		r.mu.Unlock()
		if !drop {
			r.pc.WriteToUDP(buf[:n], f.client)
		}
	}
}

// cut forgets every flow: nothing passes on them any more.
func (r *udpRelay) cut() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cutLocked()
	r.cuts++
}

func (r *udpRelay) cutLocked() {
	for key, f := range r.flows {
		r.dead[key] = true
		f.up.Close()
		delete(r.flows, key)
	}
}

// freeze passes nothing, in either direction, on old flows or new ones.
func (r *udpRelay) freeze() {
	r.mu.Lock()
	r.frozen = true
	r.mu.Unlock()
}

// unfreeze cuts every flow, as a middlebox that lost its state would, and
// passes new ones again.
func (r *udpRelay) unfreeze() {
	r.mu.Lock()
	r.cutLocked()
	r.frozen = false
	r.mu.Unlock()
}

func (r *udpRelay) close() {
	r.pc.Close()
	r.mu.Lock()
	r.closed = true
	r.cutLocked()
	r.mu.Unlock()
	r.wg.Wait()
}
