package socket

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/internal/spool"
)

// spooler is the durable half of a spooling PUSH (WithSpool): Send appends
// to the spool, and one goroutine feeds the spool's messages, in order, to
// the engine, which sends them round robin as usual. The engine reports
// acknowledgements back (engine.Options.Acked), and the spool trims.
type spooler struct {
	sp     *spool.Spool
	dir    string
	e      *engine.Engine
	linger time.Duration
	retry  time.Duration

	ctx    context.Context // ends the feeder
	cancel context.CancelFunc
	fed    chan struct{} // closed when the feeder has returned
	closed chan struct{} // closed when Close starts

	mu  sync.Mutex
	err error // why the feeder stopped, if it failed
}

// openSpool opens the spool o asks for and hooks it into o's engine
// options: acknowledgements go to the spool, and the engine does not
// linger, since Close lingers for the spool instead.
func openSpool(o *options) (*spooler, error) {
	so := spool.Options{Sync: o.spool.sync.mode, Interval: o.spool.sync.every, Limit: o.spool.limit}
	sp, err := spool.Open(o.spool.dir, so)
	if err != nil {
		return nil, fmt.Errorf("wisp: spool %s: %w", o.spool.dir, err)
	}
	s := &spooler{sp: sp, dir: o.spool.dir, linger: o.Linger, retry: o.Reconnect,
		fed: make(chan struct{}), closed: make(chan struct{})}
	o.Acked = sp.Acked
	o.Linger = 0
	return s, nil
}

// start runs the feeder for engine e.
func (s *spooler) start(e *engine.Engine) {
	s.e = e
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.feed()
}

// failure returns why the feeder stopped, if it failed.
func (s *spooler) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *spooler) fail(err error) {
	s.mu.Lock()
	s.err = fmt.Errorf("wisp: spool %s: %w", s.dir, err)
	s.mu.Unlock()
}

// send appends a message to the spool, waiting for room while it is full.
func (s *spooler) send(ctx context.Context, frames [][]byte) error {
	if len(frames) == 0 {
		return fmt.Errorf("%w: a message needs at least one frame", ErrInvalidMessage)
	}
	if err := s.e.CheckMsg(msgOf(frames, 0)); err != nil {
		return err
	}
	// The spool keeps the frames until the message is fed to the engine,
	// so it gets its own slice of them: the caller may reuse its slice, and
	// Send's variadic slice stays on the caller's stack when no spool is
	// there.
	own := slices.Clone(frames)
	for {
		select {
		case <-s.closed:
			return ErrClosed
		default:
		}
		if err := s.failure(); err != nil {
			return err
		}
		room := s.sp.Changed()
		_, err := s.sp.Append(own)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, spool.ErrTooLarge):
			return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
		case errors.Is(err, spool.ErrClosed):
			return ErrClosed
		case !errors.Is(err, spool.ErrFull):
			return fmt.Errorf("wisp: spool %s: %w", s.dir, err)
		}
		select {
		case <-room:
		case <-s.closed:
			return ErrClosed
		case <-ctx.Done():
			return fmt.Errorf("wisp: spool %s: %w; %w", s.dir, err, ctx.Err())
		}
	}
}

// msgOf makes the engine's message of frames, numbered id in the spool.
func msgOf(frames [][]byte, id uint64) engine.Msg {
	m := engine.Msg{First: frames[0], Spool: id}
	if len(frames) > 1 {
		m.Rest = frames[1:]
	}
	return m
}

// feed hands the spool's messages to the engine in order, waiting at the
// send high-water marks as any Send does.
func (s *spooler) feed() {
	defer close(s.fed)
	for {
		id, frames, err := s.sp.Next(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, spool.ErrClosed) {
				s.fail(err)
			}
			return
		}
		m := msgOf(frames, id)
		if err := s.e.CheckMsg(m); err != nil {
			// Spooled under larger limits than this socket's.
			s.fail(fmt.Errorf("message %d: %w", id, err))
			return
		}
		for {
			err := s.e.SendRoundRobin(s.ctx, m)
			if err == nil {
				break
			}
			if s.ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return
			}
			if !errors.Is(err, ErrMessageTooLarge) {
				s.fail(err)
				return
			}
			// Larger than every connected receiver takes: it waits for
			// one that does, and the messages after it wait too, since
			// the spool's order is the guarantee.
			select {
			case <-time.After(s.retry):
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// flush waits until every spooled message is acknowledged or ctx ends.
func (s *spooler) flush(ctx context.Context) error {
	for {
		changed := s.sp.Changed()
		n, _ := s.sp.Pending()
		if n == 0 {
			return nil
		}
		if err := s.failure(); err != nil {
			return fmt.Errorf("%w: %d; %w", ErrUndelivered, n, err)
		}
		select {
		case <-changed:
		case <-s.fed:
			return fmt.Errorf("%w: %d; %w", ErrUndelivered, n, ErrClosed)
		case <-ctx.Done():
			return fmt.Errorf("%w: %d; %w", ErrUndelivered, n, ctx.Err())
		}
	}
}

// close lingers for the spool to empty, stops the feeder, closes the
// engine and then the spool, and reports what stays in the spool.
func (s *spooler) close() error {
	close(s.closed)
	ctx, cancel := context.WithTimeout(context.Background(), s.linger)
	s.flush(ctx)
	cancel()
	s.cancel()
	<-s.fed
	s.e.Close() // lingers no more: what it holds is in the spool
	n, _ := s.sp.Pending()
	err := s.sp.Close()
	if n > 0 {
		err = errors.Join(fmt.Errorf("%w: %d, kept in the spool %s for the next socket", ErrUndelivered, n, s.dir), err)
	}
	return err
}

// stats adds the spool's figures.
func (s *spooler) stats(st *Stats) {
	st.Spooled, st.SpoolBytes = s.sp.Pending()
	st.SpoolFileBytes = s.sp.Size()
}
