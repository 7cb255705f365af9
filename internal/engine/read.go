package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readLoop reads and dispatches frames until the connection fails. It
// lends the read side to a Recv that asks for it (see readDirect).
func (c *conn) readLoop() error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	defer func() {
		c.readDone = true // before the unlock: no Recv reads on
		c.releaseRead()
	}()
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
	rest := c.rbuf[c.r:c.w] // what came with the greeting
	c.small = make([]byte, smallReadBuf)
	c.rbuf, c.r, c.w = c.small, 0, 0
	if len(rest) > smallReadBuf {
		c.growRead(len(rest))
	}
	c.w = copy(c.rbuf, rest)
	return c.parse()
}

// readStep reads once (or one large frame's payload) and dispatches every
// whole frame it completed. It returns errYield when another reader asked
// for the read side. Callers hold rmu.
func (c *conn) readStep() error {
	if c.s.in.over.Load() {
		c.awaitBudget(c.lastN) // a call only while the socket is over budget
	}
	if c.r > 0 {
		n := copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r, c.w = 0, n
	}
	if !c.filled {
		c.restRead()
	}
	if c.largeFramePending() {
		return c.readLarge()
	}
	if need := c.codec.Need(); need > len(c.rbuf) {
		c.growRead(need)
	} else if c.filled && len(c.rbuf) < largeReadBuf {
		c.growFilled() // the last read filled a smaller buffer: more is coming
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
	c.filled = n > 0 && c.w+n == len(c.rbuf)
	if n > 0 {
		c.lastN = n
	}
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

// read reads once. It returns errYield instead when the reader must hand
// over the read side: the serving goroutine when a Recv wants to read
// (direct false), a Recv reading directly when it must return (direct
// true).
func (c *conn) read(b []byte, direct bool) (int, error) {
	c.dlMu.Lock()
	if c.mustYieldLocked(direct) {
		c.dlMu.Unlock()
		return 0, errYield
	}
	c.clearDeadlineLocked()
	c.dlMu.Unlock()
	n, err := c.timedRead(b, direct && c.polling())
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// Only an interrupt sets a deadline (see interruptLocked).
		c.dlMu.Lock()
		yield := c.mustYieldLocked(direct)
		c.dlMu.Unlock()
		if yield {
			return n, errYield
		}
		return n, nil // an interrupt meant for another reader: read again
	}
	return n, err
}

// timedRead reads once, and tells the heart since when the peer has been
// silent (see heart.go): a peer silent for the read timeout while we read
// is gone. A read that an interrupt ended with nothing (the heart taking a
// buffer back, a Recv taking the read side over) does not restart the
// silence. poll first polls the socket without sleeping (pollRead).
func (c *conn) timedRead(b []byte, poll bool) (int, error) {
	quiet := c.quietSince.Load()
	if quiet == 0 {
		quiet = nanotime()
		c.quietSince.Store(quiet)
	}
	c.readSince.Store(quiet)
	var n int
	var err error
	if poll {
		n, err = c.pollRead(b)
	} else {
		n, err = c.nc.Read(b)
	}
	c.readSince.Store(0)
	if n > 0 {
		c.quietSince.Store(0)
	}
	return n, err
}

// clearDeadlineLocked clears the deadline an interrupt left. Callers hold
// dlMu.
func (c *conn) clearDeadlineLocked() {
	if c.deadlineSet {
		c.nc.SetReadDeadline(time.Time{})
		c.deadlineSet = false
	}
}

// readPayload reads part of a large frame's payload. Nobody takes the read
// side in the middle of a frame.
func (c *conn) readPayload(b []byte) (int, error) {
	c.dlMu.Lock()
	c.clearDeadlineLocked()
	c.dlMu.Unlock()
	n, err := c.timedRead(b, false)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, nil // someone wants the read side: after this frame
	}
	return n, err
}

// readError turns a failed read into the reason the connection ends.
func (c *conn) readError(err error) error {
	switch {
	case c.closing():
		return c.closeErr
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
	if c.codec.Need() <= c.w-c.r || !c.codec.Vectored() {
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
	payload := largeBuffer(length)
	k := copy(payload, c.rbuf[c.r+h:c.w])
	c.r, c.w, c.filled, c.lastN = 0, 0, false, length
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
	// A frame list of its own, of just its frames.
	units := [1]delivery{c.ownDelivery()}
	return c.receive(units[:])
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
// complete messages among them to the inbox, as one delivery (see
// delivery) where it can; the frames of a message that the next read
// completes wait in partial.
func (c *conn) deliverRefs(refs []FrameRef) error {
	if len(refs) == 0 {
		return nil
	}
	lo, hi := refs[0].Start, refs[len(refs)-1].End
	span := hi - lo
	done := len(refs) // refs[:done] end messages
	for done > 0 && refs[done-1].More {
		done--
	}
	first := 0 // refs[:first] end a message an earlier read began
	if len(c.partial) > 0 && done > 0 {
		for refs[first].More {
			first++
		}
		first++
	}
	placed := done - first
	if !fitsChunk(span, placed) {
		placed = 0 // too large to describe: message by message below
	}
	d := delivery{}
	if first == 0 && done == len(refs) && placed <= len(tinyChunk{}.hdrs) && span+placeSize*placed <= len(tinyChunk{}.data) {
		// A request or a reply on its own: its bytes, places and frame
		// list in one allocation.
		t := new(tinyChunk)
		d.chunk, d.hdrs = t.data[:span+placeSize*placed], t.hdrs[:placed]
	} else {
		d.chunk = make([]byte, span+placeSize*placed)
		if placed > 0 {
			d.hdrs = make([][]byte, placed)
		}
	}
	copy(d.chunk, c.rbuf[lo:hi])
	// On the stack: a connection keeping a slice of them would hold 80
	// bytes per idle peer for nothing. A read ending a message begun
	// earlier and starting others makes two; more only message by message.
	var local [2]delivery
	units := local[:0]
	frameOf := func(r FrameRef) []byte { return d.chunk[r.Start-lo : r.End-lo : r.End-lo] }
	if first > 0 {
		for _, r := range refs[:first] {
			c.partial = append(c.partial, frameOf(r))
		}
		units = append(units, c.ownDelivery())
	}
	if placed > 0 {
		for i, r := range refs[first:done] {
			d.setPlace(i, r.Start-lo, r.End-lo, r.More)
			d.bytes += r.End - r.Start
			if !r.More {
				d.msgs++
			}
		}
		units = append(units, d)
	} else {
		for _, r := range refs[first:done] {
			c.partial = append(c.partial, frameOf(r))
			if !r.More {
				units = append(units, c.ownDelivery())
			}
		}
	}
	for _, r := range refs[done:] {
		c.partial = append(c.partial, frameOf(r))
	}
	if len(units) == 0 {
		return nil
	}
	return c.receive(units)
}

// tinyChunk holds a read of at most four frames whose bytes (headers
// included) and places fit in its 80 bytes: a small REQ request or REP
// reply alone in its read (three frames: request id, delimiter, body),
// its bytes and its frame list in one allocation of 176 bytes.
type tinyChunk struct {
	hdrs [4][]byte
	data [48 + 4*placeSize]byte
}

// ownDelivery delivers the frames gathered in partial as one message with
// a frame list of its own.
func (c *conn) ownDelivery() delivery {
	m := make(Message, len(c.partial))
	copy(m, c.partial)
	clear(c.partial)
	c.partial = c.partial[:0]
	return delivery{hdrs: m, msgs: 1, bytes: m.Size()}
}

// inprocDeliveries turns a sender's batch into deliveries without copying
// payload, for inproc links. Reader role. A run of small one-frame
// messages becomes one delivery whose frame list is carved from chunks
// the link keeps, so that a stream of them allocates once per hdrChunk
// messages, even when they cross one at a time. Any other message is a
// delivery of its own; one of largeFrame bytes or more gets a frame list
// of its own, so that the link never keeps a large payload the
// application took and dropped reachable.
func (c *conn) inprocDeliveries(batch []Msg) []delivery {
	units := c.units[:0]
	for i := 0; i < len(batch); {
		m := batch[i]
		if size := m.Size(); size >= largeFrame || len(m.Rest) > 0 {
			var hdrs [][]byte
			if size >= largeFrame {
				hdrs = make([][]byte, 1+len(m.Rest))
			} else {
				hdrs = c.carve(1 + len(m.Rest))
			}
			hdrs[0] = m.First
			copy(hdrs[1:], m.Rest)
			units = append(units, delivery{hdrs: hdrs, msgs: 1, bytes: size})
			i++
			continue
		}
		j := i + 1
		for j < len(batch) && len(batch[j].Rest) == 0 && batch[j].Size() < largeFrame {
			j++
		}
		u := delivery{hdrs: c.carve(j - i)}
		for k, m := range batch[i:j] {
			u.hdrs[k] = m.First
			u.bytes += len(m.First)
		}
		u.msgs = j - i
		units = append(units, u)
		i = j
	}
	return units
}

// carve returns n frame-list slots from the link's current chunk of them,
// starting a new chunk when it has too few left.
func (c *conn) carve(n int) [][]byte {
	if cap(c.hdrs)-len(c.hdrs) < n {
		c.hdrs = make([][]byte, 0, max(hdrChunk, n))
	}
	start := len(c.hdrs)
	c.hdrs = c.hdrs[:start+n]
	return c.hdrs[start : start+n : start+n]
}

// receive queues deliveries of complete messages. Reader role.
func (c *conn) receive(units []delivery) error {
	if !c.s.caps.ReceivesData {
		return protocolErrorf("%v peer sent a message to a %v socket, which receives none", c.info.Type, c.s.typ)
	}
	if c.info.Acks && !c.seqOn {
		return protocolErrorf("data before RESUME from a peer that asked for acknowledgements")
	}
	return c.s.in.deliver(c, c.p, units, c.seqOn, &c.nextSeq)
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
		if !c.pongPending && c.tryCommand(Command{Kind: CmdPong, Data: cmd.Data}) {
			c.pongMu.Unlock()
			return nil
		}
		c.pongPending = true
		c.pongLen = copy(c.pongCtx[:], cmd.Data)
		c.pongMu.Unlock()
		c.signal()
	case CmdPong, CmdSkip:
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
