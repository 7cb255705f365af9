package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/wispmq/wisp/internal/lockorder"
)

const (
	// errorWriteTimeout bounds how long a connection that broke the protocol
	// may take to accept our ERROR before we hang up.
	errorWriteTimeout = 100 * time.Millisecond
	// ackDelay bounds how long taken messages may wait for their ACK when
	// fewer than an ack interval are pending: the latency a Flush can see,
	// traded for one ACK per interval instead of one per read.
	ackDelay      = time.Millisecond
	maxBatchMsgs  = 4096
	maxBatchBytes = 1 << 20
	// Frames at least this large are written from the caller's memory with
	// writev instead of being copied into the write buffer.
	largeFrame = 16 << 10
	largePeek  = 4 << 10 // how much to read after a large frame
	hdrChunk   = 256     // frame-list entries an inproc link allocates at a time
)

// conn is one connection to a peer socket: a byte stream (tcp, ipc, a
// user's net.Conn) or an in-process link. Ownership of its fields:
//   - fixed before the connection's goroutines start: s, endpoint, remote,
//     dialer, binding, nc, link, info, codec, p, pingEvery, readTimeout,
//     ackTimer, inlineOK, noWait;
//   - the reader role, held with rmu (the serve goroutine, or a Recv reading
//     directly, for streams; the peer's writer for inproc links): codec,
//     rbuf, small, mid, lastN, pooled, filled, r, w, seqOn, nextSeq, refs,
//     partial, direct, readReady, and for inproc links units and hdrs;
//   - the writer role, held with wmu (the writer goroutine, a Send
//     writing inline, or a PULL's Recv writing an ACK, tryAck): wbuf,
//     wpooled, carry, bufs, batch, cmds, ackLooked, finishedClosed;
//   - idle, needResume, streaming, cmdPending and cmdOrder are guarded by
//     Engine.mu;
//     pongPending and pongCtx by pongMu; wantRead, stopDirect and
//     deadlineSet by dlMu; the rest is atomic or set once.
type conn struct {
	s           *Engine
	endpoint    string
	remote      string
	dialer      *dialer
	binding     *binding
	nc          net.Conn
	link        *conn    // inproc: the peer socket's end of the link
	info        PeerInfo // what the peer stated in its handshake
	codec       Codec    // the protocol chosen at the handshake; nil for inproc links
	p           *Peer    // the peer session the connection belongs to; set at attach
	pingEvery   time.Duration
	readTimeout time.Duration

	idle       bool
	needResume bool                   // the next data must be preceded by RESUME
	inlineOK   bool                   // a kernel socket: Send may write small messages itself
	streaming  bool                   // the last batch taken held more than one message; guarded by Engine.mu
	wbufHeld   atomic.Bool            // the writer keeps a small write buffer (see spareWrite)
	cmdPending map[string]CommandKind // commands queued by a behaviour, by Data; guarded by Engine.mu
	cmdOrder   []string               // the keys of cmdPending, oldest first
	cmdsQueued atomic.Bool            // cmdOrder is not empty
	finishing  atomic.Bool            // Close wants the final ACK written before the connection ends
	fatal      atomic.Pointer[error]  // set by the reader: the writer sends ERROR with it and stops
	ackArmed   atomic.Bool            // the delayed-ack timer is running
	ackWanted  atomic.Bool            // the delayed ACK fired, or Recv found one due: the writer must look
	ackTimer   *time.Timer            // the delayed ACK; set in attach
	noWait     *noWaitConn            // the kernel socket, for writes and reads that never wait; nil for others
	finished   chan struct{}          // closed by the writer once that ACK is written; made with finishing
	wstate     atomic.Int32           // the writer's state (see signal)
	pingWanted atomic.Bool            // the heart asks the writer for a PING
	pingAfter  time.Duration          // how long without writing before a PING; set by heart.add
	lastWrite  atomic.Int64           // nanotime of the last write
	readSince  atomic.Int64           // while reading, nanotime the peer's silence began; 0 when not reading
	quietSince atomic.Int64           // nanotime the reads since the last data began; 0 after data
	midHeld    atomic.Bool            // the reader has a medium read buffer (see restRead)
	dropMid    atomic.Bool            // the heart asks the reader to give its medium buffer up
	beatIdx    int                    // where the heart keeps the connection; guarded by heart.mu
	ready      chan struct{}          // inproc: closed when both ends are attached
	done       chan struct{}          // closed when the connection is closing
	writerDone chan struct{}
	writer     func() // c.runWriter, the writer goroutine's body
	closeOnce  sync.Once
	closeErr   error // first reason; set before done is closed

	pongMu      lockorder.Mutex
	pongPending bool
	pongCtx     [MaxPingContext]byte
	pongLen     int

	// The read side belongs to whoever holds rmu: the serving goroutine,
	// or a Recv reading directly (readDirect).
	rmu         lockorder.Mutex
	lastDirect  atomic.Int64
	directErr   chan error      // capacity 1: the error a direct read ended the connection with; nil without direct reads
	dlMu        lockorder.Mutex // orders yield requests with read deadlines
	wantRead    int             // guarded by dlMu: Recvs waiting to take the read side
	budgetGrant *budgetWaiter   // the receive budget's room granted to the reader; guarded by inbox.mu
	// Eight bools together, so that they take one word, not four.
	stopDirect  bool // guarded by dlMu: the Recv reading directly must return
	deadlineSet bool // guarded by dlMu: nc has a read deadline
	readDone    bool // reader role: the serving goroutine gave up reading
	readReady   bool // readInit ran
	direct      bool // a Recv is reading: deliver must not wait for room
	afterLarge  bool // the last frame was read by readLarge
	filled      bool // the last read filled rbuf: more is likely waiting
	seqOn       bool
	small       []byte  // the read buffer of an idle connection (see buffers.go)
	mid         []byte  // the read buffer of a connection with medium-sized messages
	lastN       int     // what the last read brought
	pooled      *[]byte // the pooled buffer rbuf is, if it is one
	rbuf        []byte
	r, w        int
	nextSeq     uint64
	units       []delivery
	refs        []FrameRef
	partial     [][]byte
	hdrs        [][]byte

	// Writing, by the writer goroutine or an inline Send, guarded by wmu.
	wmu            lockorder.Mutex
	wbuf           []byte  // small; a larger one is pooled (see buffers.go)
	wpooled        *[]byte // the pooled buffer being written, if any
	carry          []byte  // the part of a command tryCommand could not write
	bufs           net.Buffers
	batch          []Msg
	cmds           []Command
	ackLooked      bool // the writer has looked at the window since the connection began
	finishedClosed bool // finished is closed
}

func (s *Engine) newConn(endpoint string) *conn {
	c := &conn{
		s:          s,
		endpoint:   endpoint,
		beatIdx:    -1,
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	c.writer = c.runWriter
	if s.caps.DirectReads {
		c.directErr = make(chan error, 1) // nil for the others: never ready
	}
	c.rmu.Init(rankReader, "conn.rmu")
	c.wmu.Init(rankWriter, "conn.wmu")
	c.dlMu.Init(rankDeadline, "conn.dlMu")
	c.pongMu.Init(rankPong, "conn.pongMu")
	return c
}

// protocolError marks a reason that is the peer's fault after the
// handshake, so it is counted in Stats.ProtocolErrors.
type protocolError struct{ err error }

func (e *protocolError) Error() string   { return ErrProtocol.Error() + ": " + e.err.Error() }
func (e *protocolError) Unwrap() []error { return []error{ErrProtocol, e.err} }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{fmt.Errorf(format, args...)}
}

// refuse tells a stream peer, best effort, why this socket will not take
// it after a complete handshake (a PAIR that has a peer, a routing id in
// use), so its dialer reports the reason rather than a bare EOF.
func (c *conn) refuse(err error) {
	if c.nc == nil || errors.Is(err, ErrClosed) {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	c.nc.Write(c.codec.AppendCommand(nil, errorCommand(err)))
}

// errorCommand is the ERROR that tells a peer err, cut to the longest
// reason a command carries.
func errorCommand(err error) Command {
	reason := []byte(err.Error())
	if len(reason) > MaxErrorReason {
		// Cut before the character that crosses the limit: a reason is
		// UTF-8 (SPEC.md section 5), and routing ids it quotes may not be
		// ASCII.
		n := MaxErrorReason
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return Command{Kind: CmdError, Data: reason}
}

// close ends the connection with reason err; only the first reason is kept.
func (c *conn) close(err error) {
	first := false
	c.closeOnce.Do(func() {
		first = true
		c.closeErr = err
		close(c.done)
		if c.nc != nil {
			c.nc.Close()
		}
	})
	// Outside the Once: the link's close calls back into this one.
	if first && c.link != nil {
		c.link.close(fmt.Errorf("inproc peer closed the link: %w", io.EOF))
	}
}

func (c *conn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// handshake runs the protocol's handshake on a stream connection within
// the handshake timeout, and checks the peer it found. Bytes the peer sent
// after its greeting stay in rbuf.
func (c *conn) handshake() error {
	s, nc := c.s, c.nc
	deadline := time.Now().Add(s.opts.HandshakeTimeout)
	nc.SetDeadline(deadline)
	tlsState, err := tlsHandshake(nc, deadline)
	if err != nil {
		return err
	}
	h, err := s.proto.Handshake(nc, &s.self)
	if err != nil {
		if tlsState != nil && isTLSAlert(err) {
			// TLS 1.3 lets a client finish its handshake before the
			// server has checked the client's certificate: the refusal
			// comes as an alert on the first read.
			return fmt.Errorf("%w: %w", ErrTLSHandshake, err)
		}
		return err
	}
	c.info, c.codec = h.Peer, h.Codec
	c.info.TLS = tlsState
	c.rbuf = append([]byte(nil), h.Rest...)
	c.w = len(c.rbuf)
	if reason := s.checkPeer(&c.info); reason != nil {
		// Tell the peer why before hanging up.
		nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
		nc.Write(c.codec.AppendCommand(nil, errorCommand(reason)))
		return reason
	}
	nc.SetDeadline(time.Time{})
	return nil
}

// tlsHandshake runs a TLS connection's handshake before the protocol's,
// within the same deadline, so that a failure is reported as the
// handshake's, on both sides, rather than surfacing as a read error. It
// returns the connection's TLS state, or nil for a connection without
// TLS.
func tlsHandshake(nc net.Conn, deadline time.Time) (*tls.ConnectionState, error) {
	tc, ok := nc.(interface {
		HandshakeContext(context.Context) error
		ConnectionState() tls.ConnectionState
	})
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w during the TLS handshake", ErrTLSHandshake, ErrHandshakeTimeout)
		}
		return nil, fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	st := tc.ConnectionState()
	return &st, nil
}

// isTLSAlert reports whether err is an alert the TLS peer sent.
func isTLSAlert(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "remote error"
}

// checkPeer validates a peer's handshake against this socket.
func (s *Engine) checkPeer(g *PeerInfo) error {
	if !slices.Contains(s.caps.Peers, g.Type) {
		return fmt.Errorf("%w: %v cannot talk to %v", ErrIncompatiblePeer, s.typ, g.Type)
	}
	if g.Session == s.session {
		return fmt.Errorf("%w: connected to itself", ErrIncompatiblePeer)
	}
	return nil
}

// setTimers derives the connection's ping interval and read timeout from
// both greetings: we ping often enough for the peer's timeout even if we
// chose not to ping.
func (c *conn) setTimers() {
	o := &c.s.opts
	c.pingEvery = o.HeartbeatInterval
	if t := c.info.HeartbeatTimeout; t > 0 && (c.pingEvery == 0 || t/3 < c.pingEvery) {
		c.pingEvery = t / 3 // SPEC.md section 7
	}
	c.readTimeout = o.HeartbeatTimeout
	if c.link != nil || c.info.NoHeartbeats {
		// An in-process peer cannot vanish silently; a peer without PING
		// could not answer one.
		c.pingEvery, c.readTimeout = 0, 0
	}
}
