package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// errorWriteTimeout bounds how long a connection that broke the protocol
	// may take to accept our ERROR before we hang up.
	errorWriteTimeout = 100 * time.Millisecond
	// ackDelay bounds how long taken messages may wait for their ACK when
	// fewer than an ack interval are pending: the latency a Flush can see,
	// traded for one ACK per interval instead of one per read.
	ackDelay      = time.Millisecond
	readBufSize   = 64 << 10
	maxBatchMsgs  = 4096
	maxBatchBytes = 1 << 20
	// Frames at least this large are written from the caller's memory with
	// writev instead of being copied into the write buffer.
	largeFrame = 16 << 10
	largePeek  = 4 << 10 // how much to read after a large frame
	hdrChunk   = 256
)

// conn is one connection to a peer socket: a byte stream (tcp, ipc, a
// user's net.Conn) or an in-process link. Ownership of its fields:
//   - fixed before the connection's goroutines start: s, endpoint, remote,
//     dialer, binding, nc, link, info, codec, p, pingEvery, readTimeout,
//     ackTimer, inlineOK;
//   - the reader role, held with rmu (the serve goroutine, or a Recv reading
//     directly, for streams; the peer's writer for inproc links): dec,
//     rbuf, r, w, seqOn, nextSeq, msgs, partial, hdrs, direct, readReady;
//   - the writer role, held with wmu (the writer goroutine, or a Send
//     writing inline): wbuf, bufs, batch, cmds, pong, wrote, pingDue,
//     finishedClosed;
//   - idle, needResume, cmdPending and cmdOrder are guarded by Engine.mu;
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
	cmdPending map[string]CommandKind // commands queued by a behaviour, by Data; guarded by Engine.mu
	cmdOrder   []string               // the keys of cmdPending, oldest first
	cmdsQueued atomic.Bool            // cmdOrder is not empty
	finishing  atomic.Bool            // Close wants the final ACK written before the connection ends
	fatal      atomic.Pointer[error]  // set by the reader: the writer sends ERROR with it and stops
	ackArmed   atomic.Bool            // the delayed-ack timer is running
	ackFired   atomic.Bool            // the delayed-ack timer fired: the ACK is due
	ackTimer   *time.Timer            // the delayed ACK; set in attach
	inlineOK   bool                   // a kernel socket: Send may write small messages itself
	finished   chan struct{}          // closed by the writer once that ACK is written
	wake       chan struct{}          // capacity 1: the writer has work
	ready      chan struct{}          // inproc: closed when both ends are attached
	done       chan struct{}          // closed when the connection is closing
	writerDone chan struct{}
	closeOnce  sync.Once
	closeErr   error // first reason; set before done is closed

	pongMu      sync.Mutex
	pongPending bool
	pongCtx     [MaxPingContext]byte
	pongLen     int

	// The read side belongs to whoever holds rmu: the serving goroutine,
	// or a Recv reading directly (readDirect).
	rmu         sync.Mutex
	readReady   bool        // readInit ran
	direct      bool        // a Recv is reading: deliver must not wait for room
	lent        atomic.Bool // the serving goroutine lent the read side and waits in lend
	lastDirect  atomic.Int64
	directErr   chan error // capacity 1: the error a direct read ended the connection with
	dlMu        sync.Mutex // orders yield requests with read deadlines
	wantRead    int        // guarded by dlMu: Recvs waiting to take the read side
	stopDirect  bool       // guarded by dlMu: the Recv reading directly must return
	deadlineSet bool       // guarded by dlMu: nc has a read deadline
	hbDeadline  time.Time  // guarded by dlMu: the heartbeat deadline last set
	readDone    bool       // reader role: the serving goroutine gave up reading

	afterLarge bool // the last frame was read by readLarge
	rbuf       []byte
	r, w       int
	seqOn      bool
	nextSeq    uint64
	msgs       []Message
	refs       []FrameRef
	partial    [][]byte
	hdrs       [][]byte

	// Writing, by the writer goroutine or an inline Send, guarded by wmu.
	wmu            sync.Mutex
	wbuf           []byte
	bufs           net.Buffers
	batch          []Msg
	cmds           []Command
	pong           [MaxPingContext]byte
	wrote          bool // something was written since the last ping tick
	pingDue        bool
	finishedClosed bool // finished is closed
}

func (s *Engine) newConn(endpoint string) *conn {
	c := &conn{
		s:          s,
		endpoint:   endpoint,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		finished:   make(chan struct{}),
		directErr:  make(chan error, 1),
	}
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

// signal wakes the writer. It never blocks.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// kickLocked tells p's connection that p has a new message of size bytes,
// and returns the connection when the caller should write it itself after
// releasing s.mu (see inlineFlush). Callers hold s.mu.
func (s *Engine) kickLocked(p *Peer, size int) *conn {
	c := p.conn.Load()
	if c == nil {
		return nil
	}
	if c.idle && c.inlineOK && s.opts.Acks && size <= maxInlineWrite &&
		p.ledger.Unacked() == 0 && p.ledger.Unsent() == 1 {
		c.idle = false // the caller writes; nobody needs to wake the writer
		return c
	}
	c.wakeLocked()
	return nil
}

// wakeLocked wakes the writer if it is waiting for work. Callers hold s.mu.
func (c *conn) wakeLocked() {
	if c.idle {
		c.idle = false
		c.signal()
	}
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
	return Command{Kind: CmdError, Data: reason[:min(len(reason), MaxErrorReason)]}
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
	nc.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	h, err := s.proto.Handshake(nc, &s.self)
	if err != nil {
		return err
	}
	c.info, c.codec = h.Peer, h.Codec
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
	if c.link != nil {
		c.pingEvery, c.readTimeout = 0, 0 // an in-process peer cannot vanish silently
	}
}

// readLoop reads and dispatches frames until the connection fails. It
// lends the read side to a Recv that asks for it (see readDirect).
func (c *conn) readLoop() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	defer func() { c.readDone = true }() // before the unlock: no Recv reads on
	if err := c.readInit(); err != nil {
		return err
	}
	for {
		select {
		case err := <-c.directErr:
			return err // a Recv reading directly ended the connection
		default:
		}
		err := c.readStep()
		if err == nil {
			continue
		}
		if err != errYield {
			return err
		}
		if err := c.lend(); err != nil {
			return err
		}
	}
}

// readInit sizes the read buffer and dispatches what arrived with the
// greeting. It runs once, by whoever reads first. Callers hold rmu.
func (c *conn) readInit() error {
	if c.readReady {
		return nil
	}
	c.readReady = true
	if len(c.rbuf) < readBufSize {
		nb := make([]byte, readBufSize)
		c.w = copy(nb, c.rbuf[c.r:c.w])
		c.rbuf, c.r = nb, 0
	}
	return c.parse()
}

// readStep reads once (or one large frame's payload) and dispatches every
// whole frame it completed. It returns errYield when another reader asked
// for the read side. Callers hold rmu.
func (c *conn) readStep() error {
	if c.r > 0 {
		n := copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r, c.w = 0, n
	}
	if c.largeFramePending() {
		return c.readLarge()
	}
	if need := c.codec.Need(); need > len(c.rbuf) {
		// Bounded: the decoder already checked the frame against the
		// maximum message size.
		nb := make([]byte, max(need, 2*len(c.rbuf)))
		copy(nb, c.rbuf[:c.w])
		c.rbuf = nb
	}
	end := len(c.rbuf)
	if c.afterLarge {
		// Large messages tend to follow each other: read little, so the
		// next one's payload goes straight to its own memory rather than
		// through rbuf and a copy.
		end = min(end, c.w+largePeek)
		c.afterLarge = false
	}
	n, err := c.read(c.rbuf[c.w:end], c.direct)
	c.w += n
	if n > 0 {
		if perr := c.parse(); perr != nil {
			return perr
		}
	}
	if err == errYield {
		return err
	}
	if err != nil {
		return c.readError(err)
	}
	return nil
}

// read reads once, under the heartbeat deadline. It returns errYield
// instead when the reader must hand over the read side: the serving
// goroutine when a Recv wants to read (direct false), a Recv reading
// directly when it must return (direct true).
func (c *conn) read(b []byte, direct bool) (int, error) {
	c.dlMu.Lock()
	if c.mustYieldLocked(direct) {
		c.dlMu.Unlock()
		return 0, errYield
	}
	c.armReadDeadlineLocked()
	c.dlMu.Unlock()
	n, err := c.nc.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.dlMu.Lock()
		yield := c.mustYieldLocked(direct)
		spurious := c.interruptedLocked()
		c.dlMu.Unlock()
		if yield {
			return n, errYield
		}
		if spurious {
			return n, nil // an interrupt meant for another reader: read again
		}
	}
	return n, err
}

// armReadDeadlineLocked sets the heartbeat deadline for the next read, or
// clears a deadline an interrupt left. Callers hold dlMu.
func (c *conn) armReadDeadlineLocked() {
	if c.readTimeout > 0 {
		c.hbDeadline = time.Now().Add(c.readTimeout)
		c.nc.SetReadDeadline(c.hbDeadline)
		c.deadlineSet = true
	} else if c.deadlineSet {
		c.nc.SetReadDeadline(time.Time{})
		c.deadlineSet = false
	}
}

// interruptedLocked reports whether a read that failed with a deadline
// error was interrupted (see interruptLocked) rather than timed out: the
// heartbeat deadline has not passed, or there is none. Callers hold dlMu.
func (c *conn) interruptedLocked() bool {
	return c.readTimeout == 0 || time.Now().Before(c.hbDeadline)
}

// readPayload reads part of a large frame's payload. Nobody takes the read
// side in the middle of a frame.
func (c *conn) readPayload(b []byte) (int, error) {
	c.dlMu.Lock()
	c.armReadDeadlineLocked()
	c.dlMu.Unlock()
	n, err := c.nc.Read(b)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.dlMu.Lock()
		spurious := c.interruptedLocked()
		c.dlMu.Unlock()
		if spurious {
			return n, nil // someone wants the read side: after this frame
		}
	}
	return n, err
}

// readError turns a failed read into the reason the connection ends.
func (c *conn) readError(err error) error {
	switch {
	case c.closing():
		return c.closeErr
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: nothing received for %v", ErrHeartbeatTimeout, c.readTimeout)
	case errors.Is(err, io.EOF):
		if c.codec.Need() > 0 || len(c.partial) > 0 || c.w > c.r {
			return protocolErrorf("peer closed the connection in the middle of a message: %w", io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("connection closed by peer: %w", io.EOF)
	}
	return err
}

// largeFramePending reports whether rbuf starts with the complete header of
// an incomplete data frame of at least largeFrame bytes.
func (c *conn) largeFramePending() bool {
	if c.codec.Need() <= c.w-c.r {
		return false
	}
	length, ok := c.codec.DataHeader(c.rbuf[c.r:c.w])
	return ok && length >= largeFrame
}

// readLarge reads a large frame's payload from the connection straight into
// the memory the application will receive, instead of through rbuf and a
// copy.
func (c *conn) readLarge() error {
	length, more, h, err := c.codec.DecodeHeader(c.rbuf[c.r:c.w])
	if err != nil {
		return &protocolError{err}
	}
	payload := make([]byte, length)
	k := copy(payload, c.rbuf[c.r+h:c.w])
	c.r, c.w = 0, 0
	for k < length {
		n, err := c.readPayload(payload[k:])
		k += n
		if err != nil && k < length {
			c.partial = append(c.partial, nil) // mid-message, for readError
			return c.readError(err)
		}
	}
	c.partial = append(c.partial, payload)
	c.afterLarge = true
	if more {
		return nil
	}
	msgs := append(c.msgs[:0], c.takeMessage())
	err = c.receive(msgs)
	clear(msgs)
	c.msgs = msgs[:0]
	return err
}

// parse dispatches every whole frame in rbuf[r:w]. The payloads of a run of
// data frames are copied out together into one new chunk, so the read
// buffer can be reused and a message costs no allocation of its own.
func (c *conn) parse() error {
	refs := c.refs[:0]
	for c.r < c.w {
		var n int
		var err error
		refs, n, err = c.codec.DecodeData(c.rbuf[c.r:c.w], c.r, refs)
		c.r += n
		if err == io.ErrUnexpectedEOF || c.r == c.w {
			break
		}
		if err != nil {
			return &protocolError{err}
		}
		it, n, err := c.codec.Decode(c.rbuf[c.r:c.w])
		if err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return &protocolError{err}
		}
		if !it.IsCommand {
			// DecodeData stops only before commands; a codec that stops
			// early loses nothing.
			end := c.r + n
			refs = append(refs, FrameRef{Start: end - len(it.Frame), End: end, More: it.More})
			c.r = end
			continue
		}
		if it.Command.Kind == CmdResume && len(refs) > 0 {
			// Messages before a RESUME belong to the old numbering.
			if err := c.deliverRefs(refs); err != nil {
				return err
			}
			refs = refs[:0]
		}
		c.r += n
		if err := c.handleCommand(it.Command); err != nil {
			return err
		}
	}
	err := c.deliverRefs(refs)
	c.refs = refs[:0]
	return err
}

// deliverRefs copies the frames refs point at into one chunk and hands the
// complete messages among them to the inbox.
func (c *conn) deliverRefs(refs []FrameRef) error {
	if len(refs) == 0 {
		return nil
	}
	lo, hi := refs[0].Start, refs[len(refs)-1].End
	chunk := append([]byte(nil), c.rbuf[lo:hi]...) // one copy, no zeroing
	msgs := c.msgs[:0]
	for _, r := range refs {
		c.partial = append(c.partial, chunk[r.Start-lo:r.End-lo:r.End-lo])
		if !r.More {
			msgs = append(msgs, c.takeMessage())
		}
	}
	var err error
	if len(msgs) > 0 {
		err = c.receive(msgs)
	}
	clear(msgs)
	c.msgs = msgs[:0]
	return err
}

// takeMessage turns the frames gathered in partial into a Message whose
// frame list is carved from a shared chunk.
func (c *conn) takeMessage() Message {
	n := len(c.partial)
	if cap(c.hdrs)-len(c.hdrs) < n {
		c.hdrs = make([][]byte, 0, max(hdrChunk, n))
	}
	start := len(c.hdrs)
	c.hdrs = append(c.hdrs, c.partial...)
	clear(c.partial)
	c.partial = c.partial[:0]
	return Message(c.hdrs[start:len(c.hdrs):len(c.hdrs)])
}

// messageOf converts a sender's msg into a Message without copying payload,
// for inproc links. Reader role.
func (c *conn) messageOf(m Msg) Message {
	if len(m.Rest) == 0 {
		if cap(c.hdrs) == len(c.hdrs) {
			c.hdrs = make([][]byte, 0, hdrChunk)
		}
		c.hdrs = append(c.hdrs, m.First)
		n := len(c.hdrs)
		return Message(c.hdrs[n-1 : n : n])
	}
	c.partial = append(c.partial, m.First)
	c.partial = append(c.partial, m.Rest...)
	return c.takeMessage()
}

// receive queues complete messages. Reader role.
func (c *conn) receive(msgs []Message) error {
	if !c.s.caps.ReceivesData {
		return protocolErrorf("%v peer sent a message to a %v socket, which receives none", c.info.Type, c.s.typ)
	}
	if c.info.Acks && !c.seqOn {
		return protocolErrorf("data before RESUME from a peer that asked for acknowledgements")
	}
	return c.s.in.deliver(c, c.p, msgs, c.seqOn, &c.nextSeq)
}

// handleCommand acts on one command from the peer. Reader role.
func (c *conn) handleCommand(cmd Command) error {
	switch cmd.Kind {
	case CmdResume:
		if !c.s.caps.ReceivesData || !c.info.Acks {
			return protocolErrorf("unexpected RESUME")
		}
		if cmd.Seq == 0 {
			return protocolErrorf("RESUME 0, want a sequence number of at least 1")
		}
		c.seqOn, c.nextSeq = true, cmd.Seq
	case CmdAck:
		if !c.s.caps.SendsData || !c.s.opts.Acks {
			return protocolErrorf("unexpected ACK")
		}
		return c.s.handleAck(c, cmd.Seq)
	case CmdPing:
		c.pongMu.Lock()
		c.pongPending = true
		c.pongLen = copy(c.pongCtx[:], cmd.Data)
		c.pongMu.Unlock()
		c.signal()
	case CmdPong:
		// Liveness only: receiving anything already counts.
	case CmdError:
		return fmt.Errorf("%w: %q", ErrPeerError, cmd.Data)
	default:
		return c.s.behaviorCommand(c, cmd)
	}
	return nil
}

// behaviorCommand hands a command the engine does not handle to the
// socket's behaviour.
func (s *Engine) behaviorCommand(c *conn, cmd Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.p.conn.Load() != c {
		return nil // the connection is being replaced
	}
	return s.b.CommandLocked(c.p, cmd)
}

// handleAck releases acknowledged messages and wakes senders waiting for
// room.
func (s *Engine) handleAck(c *conn, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.p
	if p.conn.Load() != c {
		return nil // a late ack on a replaced connection
	}
	n, err := p.ack(seq)
	if err != nil {
		return &protocolError{err}
	}
	if n > 0 {
		s.pumpOrphansLocked()
		s.broadcastRoomLocked()
	}
	return nil
}

// writeLoop sends commands and queued messages, draining everything that is
// ready into one write, until the connection ends.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	defer c.stopAckTimer()
	var tick <-chan time.Time
	if c.pingEvery > 0 {
		// Ticking at half the interval bounds the silence to one interval.
		t := time.NewTicker(c.pingEvery / 2)
		defer t.Stop()
		tick = t.C
	}
	for {
		c.wmu.Lock()
		wrote, stop := c.writeOnce(false)
		c.wmu.Unlock()
		if stop {
			return
		}
		if wrote {
			continue
		}
		select {
		case <-c.wake:
		case <-tick:
			c.wmu.Lock()
			c.pingDue, c.wrote = !c.wrote, false
			c.wmu.Unlock()
		case <-c.done:
			return
		}
	}
}

// maxInlineWrite bounds the messages Send writes itself (see inlineFlush).
const maxInlineWrite = 8 << 10

// inlineFlush writes what the pipe holds from the sending goroutine instead
// of waking the writer. Handing work between goroutines makes the runtime
// wake another thread, which costs more than the write itself: a
// request-reply round trip without handoffs takes a third of the time. Send
// asks for it only when the writer was idle and the peer had acknowledged
// everything sent before, so it has read it all, the socket buffer has room
// and a small write does not block.
func (c *conn) inlineFlush() {
	if !c.wmu.TryLock() {
		c.signal() // the writer is busy and takes the message along
		return
	}
	for range 2 {
		wrote, stop := c.writeOnce(true)
		if stop || !wrote {
			c.wmu.Unlock()
			if stop {
				c.signal()
			}
			return // nothing more: takeBatch marked the writer idle
		}
	}
	c.wmu.Unlock()
	c.signal() // more came in meanwhile: the writer takes it from here
}

// writeOnce writes one round of commands and messages and reports whether
// it wrote anything and whether the writer must stop (the connection is
// over). inline says the caller is a sending goroutine, which leaves the
// end of the connection to the writer. Callers hold wmu.
func (c *conn) writeOnce(inline bool) (wrote, stop bool) {
	if f := c.fatal.Load(); f != nil {
		if inline {
			return false, true
		}
		// The peer broke the protocol: tell it why, best effort (the
		// reader set a write deadline), then stop.
		c.flushStream([]Command{errorCommand(*f)}, nil)
		return false, true
	}
	acking := c.s.caps.ReceivesData && c.info.Acks
	if !c.finishedClosed && c.finishing.Load() && (!acking || c.settled()) {
		// Everything the application took is acknowledged: the socket
		// may now close this connection.
		close(c.finished)
		c.finishedClosed = true
	}
	cmds := c.cmds[:0]
	acked := false
	if acking {
		seq, ok, owed := c.ackNow(c.ackFired.Swap(false) || c.finishing.Load())
		if ok {
			cmds = append(cmds, Command{Kind: CmdAck, Seq: seq})
			acked = true
		} else if owed {
			// Armed stays armed and finds nothing to do: stopping and
			// re-arming a timer for every reply would wake the runtime's
			// poller each time.
			c.armAck()
		}
	}
	c.pongMu.Lock()
	if c.pongPending {
		// Copied: the reader may overwrite pongCtx before the write.
		n := copy(c.pong[:], c.pongCtx[:c.pongLen])
		cmds = append(cmds, Command{Kind: CmdPong, Data: c.pong[:n]})
		c.pongPending = false
	}
	c.pongMu.Unlock()
	if c.pingDue {
		cmds = append(cmds, Command{Kind: CmdPing})
		c.pingDue = false
	}
	if c.cmdsQueued.Load() {
		cmds = c.takeQueuedCommands(cmds)
	}
	batch := c.batch[:0]
	if c.s.caps.SendsData {
		var resumeAt uint64
		batch, resumeAt = c.takeBatch(batch, len(cmds) == 0)
		if resumeAt != 0 {
			// Commands go out before data, so RESUME precedes its batch.
			cmds = append(cmds, Command{Kind: CmdResume, Seq: resumeAt})
		}
	}
	if acking && !acked && len(batch) > 0 {
		// Data goes out anyway (a reply, say): an ACK riding along costs
		// no write of its own, unlike the delayed one.
		if seq, ok, _ := c.ackNow(true); ok {
			cmds = append(cmds, Command{Kind: CmdAck, Seq: seq})
		}
	}
	c.cmds = cmds
	if len(batch) == 0 && len(cmds) == 0 {
		return false, false
	}
	err := c.flush(cmds, batch)
	wroteMsgs := len(batch) > 0
	clear(batch) // the ledger keeps what it needs; drop our references
	c.batch = batch[:0]
	if err != nil {
		if c.fatal.Load() == nil { // else the reader closes with the better reason
			c.close(err)
		}
		return false, true
	}
	if wroteMsgs && !c.s.opts.Acks {
		c.s.writtenLocked(c)
	}
	c.wrote = true
	return true, false
}

// writtenLocked releases what c's writer has written, for a socket without
// acks: such a message is done once written, and not before, so Flush and
// Close's linger wait for the write. The name says the caller holds wmu.
func (s *Engine) writtenLocked(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := c.p; p.conn.Load() == c {
		p.ack(p.ledger.FirstUnsentSeq() - 1)
		s.broadcastRoomLocked()
	}
}

// ackNow asks the peer's receive window for the ACK to write now (urgent:
// the delayed ACK fired, the socket is closing, or data goes out anyway)
// and reports whether one is still owed otherwise. A connection that is no
// longer its peer's writes none: the ACK belongs on the new one.
func (c *conn) ackNow(urgent bool) (seq uint64, ok, owed bool) {
	p := c.p
	p.ackMu.Lock()
	defer p.ackMu.Unlock()
	if p.conn.Load() != c {
		return 0, false, false
	}
	seq, ok = p.win.AckNow(urgent)
	return seq, ok, p.win.Owed()
}

// settled reports whether every message the application took is
// acknowledged, so that a closing socket may end the connection.
func (c *conn) settled() bool {
	p := c.p
	p.ackMu.Lock()
	defer p.ackMu.Unlock()
	return p.conn.Load() != c || p.win.Settled()
}

// armAck starts the delayed ACK unless it is running. Recv calls it too,
// so taking a message does not wake the writer just to start a timer.
func (c *conn) armAck() {
	if c.ackArmed.CompareAndSwap(false, true) {
		c.ackTimer.Reset(ackDelay)
	}
}

// ackTimerFired runs when the delayed ACK is due, and wakes the writer if
// no ACK went out meanwhile.
func (c *conn) ackTimerFired() {
	c.ackArmed.Store(false)
	p := c.p
	p.ackMu.Lock()
	owed := p.win.Owed()
	p.ackMu.Unlock()
	if owed {
		c.ackFired.Store(true)
		c.signal()
	}
}

func (c *conn) stopAckTimer() {
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
}

// takeBatch moves the next unsent messages of the pipe into batch, and says
// where RESUME must place them when the receiver cannot count on (0 when it
// can). With no commands to send either, it marks the writer idle so the
// next Send wakes it.
func (c *conn) takeBatch(batch []Msg, mayIdle bool) (_ []Msg, resumeAt uint64) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.p
	if p.conn.Load() != c {
		return batch, 0
	}
	if p.ledger.Unsent() > 0 {
		first := p.ledger.FirstUnsentSeq()
		limit := maxBatchMsgs
		// Streams bound a batch's bytes too; an inproc link copies none.
		if m := p.ledger.Peek(p.ledger.Unacked()); c.link == nil && m.Size > maxBatchBytes/maxBatchMsgs {
			limit = max(1, maxBatchBytes/m.Size)
		}
		batch = p.ledger.TakeUnsent(batch, limit)
		p.sentHigh = max(p.sentHigh, p.ledger.FirstUnsentSeq()-1)
		if s.opts.Acks && (c.needResume || p.resumeNeeded) {
			resumeAt, c.needResume, p.resumeNeeded = first, false, false
		}

	} else if mayIdle {
		c.idle = true
	}
	return batch, resumeAt
}

// flush writes commands, then messages, to the peer.
func (c *conn) flush(cmds []Command, batch []Msg) error {
	var err error
	if c.link != nil {
		err = c.flushInproc(cmds, batch)
	} else {
		err = c.flushStream(cmds, batch)
	}
	if err != nil || len(batch) == 0 {
		return err
	}
	bytes := 0
	for i := range batch {
		bytes += batch[i].Size
	}
	c.p.msgsOut.Add(uint64(len(batch)))
	c.p.bytesOut.Add(uint64(bytes))
	c.s.stats.msgsOut.Add(uint64(len(batch)))
	c.s.stats.bytesOut.Add(uint64(bytes))
	return nil
}

func (c *conn) flushStream(cmds []Command, batch []Msg) error {
	wb := c.wbuf[:0]
	bufs := c.bufs[:0]
	mark := 0
	codec := c.codec
	for _, cmd := range cmds {
		wb = codec.AppendCommand(wb, cmd)
	}
	frame := func(f []byte, more bool) {
		if len(f) < largeFrame {
			wb = codec.AppendFrame(wb, more, f)
			return
		}
		wb = codec.AppendFrameHeader(wb, more, len(f))
		bufs = append(bufs, wb[mark:], f)
		mark = len(wb)
	}
	for i := range batch {
		m := &batch[i]
		frame(m.First, len(m.Rest) > 0)
		for j, f := range m.Rest {
			frame(f, j < len(m.Rest)-1)
		}
	}
	c.wbuf = wb
	var err error
	if len(bufs) == 0 {
		_, err = c.nc.Write(wb)
	} else {
		if mark < len(wb) {
			bufs = append(bufs, wb[mark:])
		}
		v := bufs // WriteTo consumes its receiver
		_, err = v.WriteTo(c.nc)
		clear(bufs)
		c.bufs = bufs[:0]
	}
	if err != nil {
		if c.closing() {
			return c.closeErr
		}
		return err
	}
	return nil
}

// flushInproc hands commands and messages to the peer's end of the link
// without encoding or copying them.
func (c *conn) flushInproc(cmds []Command, batch []Msg) error {
	peer := c.link // attached: no writer starts before both ends are ready
	for _, cmd := range cmds {
		if err := peer.handleCommand(cmd); err != nil {
			peer.close(err)
			return err
		}
	}
	if len(batch) == 0 {
		return nil
	}
	msgs := peer.msgs[:0]
	for _, m := range batch {
		msgs = append(msgs, peer.messageOf(m))
	}
	err := peer.receive(msgs)
	clear(msgs)
	peer.msgs = msgs[:0]
	if err != nil {
		peer.close(err)
	}
	return err
}
