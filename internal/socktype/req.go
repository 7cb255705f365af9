package socktype

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/wispmq/wisp/internal/engine"
)

// Request-reply envelopes (wire/SPEC.md section 4.1). A request travels as
//
//	[routing frames...] [request id] [empty delimiter] [body frames...]
//
// REQ adds the 4-byte request id and the delimiter (only the delimiter
// under engine.Options.PlainRequests, libzmq's envelope); each ROUTER on the way
// adds, on receipt, the routing id that leads back to its sender; REP keeps
// every frame before the delimiter and puts them, and the delimiter, in
// front of its reply, which each ROUTER on the way back strips again.

// requestIDSize is the length of a REQ request id frame.
const requestIDSize = 4

// req is a REQ socket: one request at a time, each with an id, resent on
// a lost connection or a timer under WithRequestRetry. Every field is
// guarded by the engine's lock.
type req struct {
	e       *engine.Engine
	nextID  uint32
	active  bool         // a request awaits its reply
	gaveUp  bool         // a Recv waiting for it ended with its context: retries pause
	lost    bool         // its carrier was lost during the pause: resend when Recv resumes
	given   bool         // it was given to some peer at least once
	id      uint32       // the outstanding request's id
	m       engine.Msg   // the outstanding request, envelope included
	carrier *engine.Peer // the peer it was last given to, or nil while unsent
	timer   *time.Timer
	gen     uint64       // bumped per request, to void stale retry timers
	probe   engine.Probe // the carrier's connection asked for a sign of life, or the zero Probe
}

func newReq(e *engine.Engine) engine.Behavior { return &req{e: e, nextID: rand.Uint32()} }

func (b *req) Caps() engine.Caps {
	return engine.Caps{
		Peers:     []engine.Type{engine.Rep, engine.Router},
		SendsData: true, ReceivesData: true, DirectReads: true,
		CanSend: true, CanRecv: true,
	}
}

func (b *req) AdmitLocked(*engine.PeerInfo) error               { return nil }
func (b *req) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return true }

func (b *req) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(engine.Req, cmd)
}

func (b *req) CloseLocked() { b.stopTimer() }

// Send sends a request and never blocks: it fails with ErrState while the
// previous request awaits its reply (unless a Recv for it gave up), and
// otherwise queues the request for the next connected peer in turn, a
// connecting endpoint, or the first peer to arrive.
func (b *req) Send(_ context.Context, body engine.Msg) error {
	e := b.e
	if err := e.CheckMsg(body); err != nil {
		return err
	}
	if n := 1 + len(body.Rest); n+2 > engine.MaxFramesPerMessage {
		return fmt.Errorf("%w: %d frames and the envelope's 2, the most is %d", engine.ErrInvalidMessage, n, engine.MaxFramesPerMessage)
	}
	e.Lock()
	if e.ClosingLocked() {
		e.Unlock()
		return engine.ErrClosed
	}
	if b.active && !b.gaveUp {
		e.Unlock()
		return fmt.Errorf("%w: REQ must receive the reply to request %d before sending another", engine.ErrState, b.id)
	}
	if e.Options().FailFast && !e.AnyConnectedLocked() {
		e.Unlock()
		return engine.ErrNoPeer
	}
	id := b.nextID
	b.nextID++
	b.stopTimer()
	b.active, b.gaveUp, b.lost, b.given, b.id, b.carrier = true, false, false, false, id, nil
	b.probe = engine.Probe{}
	b.m = envelope(id, body, e.Options().PlainRequests)
	b.gen++
	k := b.dispatchLocked(false)
	b.armRetryLocked()
	e.Unlock()
	k.Flush()
	return nil
}

// dispatchLocked gives the outstanding request to the next peer in turn,
// connected ones first, unless that peer still holds it unacknowledged (it
// will deliver it). The caller flushes the returned Kick once it releases
// the lock, or wakes the writer when it cannot write itself.
func (b *req) dispatchLocked(retry bool) engine.Kick {
	e := b.e
	p := e.PickLocked(b.m.Size())
	if p == nil {
		if b.carrier == nil || !b.carrier.Connected() {
			b.carrier = nil // wait for a peer: AttachedLocked dispatches
		}
		return engine.Kick{}
	}
	var k engine.Kick
	if !p.Holds(b.m) {
		k = e.QueueLocked(p, b.m)
		if retry || b.given {
			e.Counters().Retries.Add(1)
		}
	}
	b.carrier, b.given = p, true
	return k
}

// redispatchLocked is dispatchLocked for callers that cannot write (timers,
// connection events): the writer sends the request.
func (b *req) redispatchLocked(retry bool) {
	b.dispatchLocked(retry).Wake()
}

func (b *req) stopTimer() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
}

// armRetryLocked starts the retry interval of the outstanding request.
func (b *req) armRetryLocked() {
	b.stopTimer()
	o := b.e.Options()
	if !o.RequestRetry || o.RetryInterval <= 0 || !b.active || b.gaveUp || b.e.ClosingLocked() {
		return
	}
	gen := b.gen
	b.timer = time.AfterFunc(o.RetryInterval, func() { b.retry(gen) })
}

// retry runs every retry interval while the request waits. It gives the
// request to the next peer in turn; and since a connection into a network
// partition stays open, resending only when the kernel's backoff allows, it
// checks the carrier's connection too: a PING, and at the next interval,
// if nothing at all came back, the connection ends and the request goes
// out on another one or a fresh one to the same endpoint. A slow server
// still answers the PING, and keeps its connection.
func (b *req) retry(gen uint64) {
	e := b.e
	e.Lock()
	defer e.Unlock()
	if b.gen != gen || !b.active || b.gaveUp || e.ClosingLocked() {
		return
	}
	b.timer = nil
	if pr := b.probe; pr != (engine.Probe{}) {
		b.probe = engine.Probe{}
		if pr.Silent() {
			pr.End(fmt.Errorf("%w: no answer to a PING within %v while a request waited for its reply",
				engine.ErrHeartbeatTimeout, e.Options().RetryInterval))
			// DetachedLocked sends the request again once the reader has
			// let the connection go.
			b.armRetryLocked()
			return
		}
	}
	b.redispatchLocked(true)
	if b.carrier != nil && b.carrier.Connected() {
		b.probe = b.carrier.ProbeLocked()
	} else {
		e.RedialLocked()
	}
	b.armRetryLocked()
}

// DetachedLocked: a request p carried goes out again at once.
func (b *req) DetachedLocked(p *engine.Peer) {
	if !b.active || b.carrier != p || !b.e.Options().RequestRetry || b.e.ClosingLocked() {
		return
	}
	if b.gaveUp {
		b.lost = true
		return
	}
	b.redispatchLocked(true)
}

// AttachedLocked: a request that found no peer goes out now; one whose
// carrier now leads to a new server session goes out again, since the old
// server took it with it.
func (b *req) AttachedLocked(p *engine.Peer, newSession bool) {
	if b.active && b.carrier != p && p.Holds(b.m) {
		// The request came along with what its endpoint's old peer held.
		b.carrier = p
	}
	retry := b.e.Options().RequestRetry
	switch {
	case !b.active || b.e.ClosingLocked():
	case b.carrier == nil:
		b.redispatchLocked(false)
	case b.carrier == p && newSession && retry && b.gaveUp:
		b.lost = true
	case b.carrier == p && newSession && retry:
		b.redispatchLocked(true)
	}
}

func (b *req) GoneLocked(p *engine.Peer) {
	if b.carrier == p {
		b.carrier = nil
	}
}

// Recv returns the body of the reply to the outstanding request and drops
// every other reply.
func (b *req) Recv(ctx context.Context) (engine.Message, error) {
	e := b.e
	e.Lock()
	if !b.active {
		e.Unlock()
		return nil, fmt.Errorf("%w: REQ has no request waiting for a reply", engine.ErrState)
	}
	if b.gaveUp {
		b.gaveUp = false
		if b.lost {
			// The server that had it went away while nobody waited.
			b.lost = false
			b.redispatchLocked(true)
		}
		b.armRetryLocked()
	}
	e.Unlock()
	for {
		m, p, err := e.Next(ctx)
		if err != nil {
			if ctx.Err() != nil && !engine.Polling(ctx) {
				e.Lock()
				if b.active {
					b.gaveUp = true
					b.stopTimer()
				}
				e.Unlock()
			}
			return nil, err
		}
		plain := e.Options().PlainRequests
		id, body, ok := parseReply(m, plain)
		if !ok {
			e.Counters().BadEnvelopes.Add(1)
			continue
		}
		e.Lock()
		// Without ids, the reply is whatever the peer asked sends next.
		if b.active && (b.id == id && !plain || plain && p == b.carrier) {
			b.active, b.m, b.carrier, b.probe = false, engine.Msg{}, nil, engine.Probe{}
			b.stopTimer()
			b.gen++
			e.Unlock()
			return body, nil
		}
		e.Unlock()
		e.Counters().StaleReplies.Add(1)
	}
}

// envelope is the request a REQ sends for body: [id] [empty] [body...],
// or [empty] [body...] when plain.
func envelope(id uint32, body engine.Msg, plain bool) engine.Msg {
	rest := make([][]byte, 0, len(body.Rest)+2)
	if plain {
		rest = append(rest, body.First)
		return engine.Msg{First: []byte{}, Rest: append(rest, body.Rest...)}
	}
	idFrame := binary.BigEndian.AppendUint32(make([]byte, 0, requestIDSize), id)
	rest = append(rest, []byte{}, body.First)
	rest = append(rest, body.Rest...)
	return engine.Msg{First: idFrame, Rest: rest}
}

// parseReply splits a reply that reached a REQ socket into its request id
// and body: [id] [empty] [body...], or [empty] [body...] when plain.
func parseReply(m engine.Message, plain bool) (uint32, engine.Message, bool) {
	if plain {
		if len(m) < 2 || len(m[0]) != 0 {
			return 0, nil, false
		}
		return 0, m[1:], true
	}
	if len(m) < 3 || len(m[0]) != requestIDSize || len(m[1]) != 0 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(m[0]), m[2:], true
}
