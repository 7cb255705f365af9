package rendezvous

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wispmq/wisp/socket"
)

// An Introducer is the rendezvous server: a ROUTER socket both peers can
// reach. It records, for each peer that registers, the address its
// connection comes from (the peer's public endpoint, after its NAT),
// introduces two peers to each other by sending each the other's endpoint
// in the same moment, and relays messages between two peers that could not
// connect directly. Relayed traffic passes through the introducer twice
// (in and out), on its bandwidth.
//
// Serve runs it; Close ends it. Its methods are safe for concurrent use.
type Introducer struct {
	s *socket.Socket

	mu     sync.Mutex
	byName map[string]*member
	byID   map[string]*member // key: the routing id's bytes
	stats  IntroducerStats
}

// member is a registered peer.
type member struct {
	id      []byte
	name    string
	public  string  // the address its connection comes from
	partner *member // the peer it was introduced to, if any
}

// IntroducerStats are an Introducer's counters.
type IntroducerStats struct {
	Registered    int    // peers registered now
	Introductions uint64 // pairs introduced
	Relayed       uint64 // messages relayed between peers
	RelayedBytes  uint64 // their payload bytes
	RelayDrops    uint64 // relayed messages the receiving peer could not take in time
	Refused       uint64 // requests refused with an ERROR (malformed ones included)
}

// relayWait bounds how long the introducer waits for one peer's queue to
// take a relayed message: a stalled peer must not stall everyone else's
// introductions.
const relayWait = time.Second

// NewIntroducer creates an introducer; opts are the ROUTER's socket
// options. Bind it, then Serve it.
func NewIntroducer(opts ...socket.Option) (*Introducer, error) {
	s, err := socket.New(socket.Router, opts...)
	if err != nil {
		return nil, err
	}
	return &Introducer{s: s, byName: map[string]*member{}, byID: map[string]*member{}}, nil
}

// Bind makes the introducer accept peers on a tcp:// endpoint (see
// socket.Socket.Bind) and returns the endpoint bound. Peers must reach it
// by TCP from their bound ports: that is what shows the introducer their
// NATs' mappings.
func (in *Introducer) Bind(endpoint string) (string, error) { return in.s.Bind(endpoint) }

// Serve answers peers until ctx is done or the introducer is closed, and
// returns why it stopped.
func (in *Introducer) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { in.watch(ctx) })
	for {
		m, err := in.s.Recv(ctx)
		if err != nil {
			return err
		}
		if len(m) < 1 {
			continue
		}
		in.handle(ctx, m[0], m[1:])
	}
}

// watch unregisters peers whose sockets are gone for good.
func (in *Introducer) watch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-in.s.Events():
			if !ok {
				return
			}
			if ev.Kind == socket.EventPeerGone && ev.RoutingID != nil {
				in.mu.Lock()
				in.dropLocked(string(ev.RoutingID))
				in.mu.Unlock()
			}
		}
	}
}

// dropLocked forgets the member with routing id key, and unlinks its
// partner so that the partner can be introduced again.
func (in *Introducer) dropLocked(key string) {
	m := in.byID[key]
	if m == nil {
		return
	}
	delete(in.byID, key)
	delete(in.byName, m.name)
	if m.partner != nil {
		m.partner.partner = nil
	}
}

// handle answers one message from the peer with routing id id.
func (in *Introducer) handle(ctx context.Context, id []byte, frames [][]byte) {
	msg, err := parse(frames)
	if err != nil {
		// Malformed input ends that peer's registration (and its link,
		// if it had one). Its connection stays, to carry the ERROR:
		// ROUTER's Forget would drop it unsent. The bytes themselves were
		// well-formed WISP/1, or the socket would have ended the
		// connection already.
		in.mu.Lock()
		in.dropLocked(string(id))
		in.mu.Unlock()
		in.refuse(ctx, id, codeProtocol, err.Error())
		return
	}
	switch msg.kind {
	case kindRegister:
		in.register(ctx, id, msg.name)
	case kindConnect:
		in.introduce(ctx, id, msg.name)
	case kindPath, kindRelay:
		in.forward(ctx, id, msg)
	default:
		in.refuse(ctx, id, codeProtocol, msg.kind.String()+" is not for the introducer")
	}
}

func (in *Introducer) register(ctx context.Context, id []byte, name string) {
	ps, err := in.s.Peer(id)
	if err != nil || ps.Remote == "" {
		return // gone already
	}
	public, err := parseEndpoint([]byte(ps.Remote))
	if err != nil {
		in.refuse(ctx, id, codeProtocol, "connection is not over TCP/IP")
		return
	}
	in.mu.Lock()
	if m := in.byName[name]; m != nil && string(m.id) != string(id) {
		in.mu.Unlock()
		in.refuse(ctx, id, codeNameTaken, name)
		return
	}
	in.dropLocked(string(id)) // a peer registering again, maybe under a new name
	m := &member{id: append([]byte(nil), id...), name: name, public: public}
	in.byName[name], in.byID[string(id)] = m, m
	in.mu.Unlock()
	in.send(ctx, id, message{kind: kindRegistered, endpoint: public})
}

// introduce sends each of the two peers the other's name and endpoint, one
// right after the other, so that they dial at once.
func (in *Introducer) introduce(ctx context.Context, id []byte, name string) {
	in.mu.Lock()
	a, b := in.byID[string(id)], in.byName[name]
	var code string
	switch {
	case a == nil:
		code = codeNotRegistered
	case b == nil:
		code = codeUnknownPeer
	case a == b || a.partner != nil || b.partner != nil:
		code = codeBusy
	}
	if code != "" {
		in.mu.Unlock()
		in.refuse(ctx, id, code, name)
		return
	}
	a.partner, b.partner = b, a
	in.stats.Introductions++
	toA := message{kind: kindPeer, name: b.name, endpoint: b.public}
	toB := message{kind: kindPeer, name: a.name, endpoint: a.public}
	aID, bID := a.id, b.id
	in.mu.Unlock()
	in.send(ctx, bID, toB)
	in.send(ctx, aID, toA)
}

// forward passes PATH and RELAY to the sender's partner.
func (in *Introducer) forward(ctx context.Context, id []byte, msg message) {
	in.mu.Lock()
	m := in.byID[string(id)]
	if m == nil || m.partner == nil {
		in.mu.Unlock()
		in.refuse(ctx, id, codeNotRegistered, "no partner to relay to")
		return
	}
	to := m.partner.id
	in.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, relayWait)
	err := in.s.Send(sctx, append([][]byte{to}, msg.frames()...)...)
	cancel()
	if msg.kind != kindRelay {
		return
	}
	in.mu.Lock()
	if err != nil {
		in.stats.RelayDrops++
	} else {
		in.stats.Relayed++
		for _, f := range msg.payload {
			in.stats.RelayedBytes += uint64(len(f))
		}
	}
	in.mu.Unlock()
}

func (in *Introducer) refuse(ctx context.Context, id []byte, code, text string) {
	in.mu.Lock()
	in.stats.Refused++
	in.mu.Unlock()
	in.send(ctx, id, message{kind: kindError, code: code, text: cleanText(text)})
}

// cleanText makes text a valid ERROR text: UTF-8, no control characters,
// at most maxTextLen bytes.
func cleanText(text string) string {
	text = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(text, "?"))
	for len(text) > maxTextLen {
		_, n := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-n]
	}
	return text
}

// send sends a reply, bounded like a relayed message; a peer that cannot
// take it is one that will time out its own request.
func (in *Introducer) send(ctx context.Context, id []byte, m message) {
	sctx, cancel := context.WithTimeout(ctx, relayWait)
	defer cancel()
	in.s.Send(sctx, append([][]byte{id}, m.frames()...)...)
}

// Stats returns a snapshot of the introducer's counters.
func (in *Introducer) Stats() IntroducerStats {
	in.mu.Lock()
	defer in.mu.Unlock()
	st := in.stats
	st.Registered = len(in.byID)
	return st
}

// Close closes the introducer's socket; Serve returns.
func (in *Introducer) Close() error {
	err := in.s.Close()
	if errors.Is(err, socket.ErrClosed) {
		return nil
	}
	return err
}
