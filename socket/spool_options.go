package socket

import (
	"fmt"
	"strings"
	"time"

	"github.com/wispmq/wisp/internal/spool"
)

// DefaultSpoolLimit bounds a spool's files unless WithSpoolLimit says
// otherwise.
const DefaultSpoolLimit = 1 << 30

// SpoolSync is when a spooling socket (WithSpool) forces its log to the
// disk with fsync. Whatever the policy, every message Send accepted is in
// the kernel's hands when Send returns, so it survives a crash of the
// process (a panic, SIGKILL, the OOM killer); the policy decides what
// survives a crash of the machine (a power failure, a kernel panic):
//
//   - SpoolSyncAlways (the default, the zero value): Send returns once the
//     message is synced, so a machine crash loses nothing Send accepted.
//     Concurrent Sends share a sync.
//   - SpoolSyncEvery(d): the log is synced every d in the background, so a
//     machine crash loses at most the messages of the last d.
//   - SpoolSyncNone: left to the operating system, which usually writes
//     within half a minute.
//
// Acknowledgements are recorded as they arrive and synced in the
// background (every d under SpoolSyncEvery, every second under
// SpoolSyncAlways, by the system under SpoolSyncNone): one lost to a
// machine crash means a message sent again, never one lost.
type SpoolSync struct {
	mode  spool.Sync
	every time.Duration
}

// The fixed sync policies; see SpoolSync.
var (
	SpoolSyncAlways = SpoolSync{mode: spool.SyncAlways}
	SpoolSyncNone   = SpoolSync{mode: spool.SyncNone}
)

// SpoolSyncEvery is the policy of syncing the log every d, in the
// background. d must be positive (WithSpoolSync checks).
func SpoolSyncEvery(d time.Duration) SpoolSync {
	return SpoolSync{mode: spool.SyncInterval, every: d}
}

// String returns "always", "none", or the interval ("100ms").
func (p SpoolSync) String() string {
	switch p.mode {
	case spool.SyncAlways:
		return "always"
	case spool.SyncNone:
		return "none"
	}
	return p.every.String()
}

// ParseSpoolSync reads a policy as String writes it: "always", "none", or a
// duration for SpoolSyncEvery ("100ms", "1s"), as a command line gives it.
func ParseSpoolSync(s string) (SpoolSync, error) {
	switch strings.ToLower(s) {
	case "always":
		return SpoolSyncAlways, nil
	case "none":
		return SpoolSyncNone, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return SpoolSync{}, fmt.Errorf("%w: spool sync %q: want always, none or a positive duration", ErrInvalidOption, s)
	}
	return SpoolSyncEvery(d), nil
}

// spoolOptions are what the WithSpool options set.
type spoolOptions struct {
	dir      string
	sync     SpoolSync
	limit    int64
	syncSet  bool
	limitSet bool
}

// WithSpool makes a PUSH socket durable: Send writes each message to an
// append-only log in dir (created if needed, for its owner only) and
// returns once it is there,
// synced as WithSpoolSync says; messages are trimmed from the log once a
// receiver acknowledges them. A socket made again on dir after a crash,
// even SIGKILL, first sends, in order, every message the last one did not
// have acknowledged, then the new ones. Only messages in flight at the
// crash (sent, perhaps received, not yet acknowledged back) can arrive
// twice; nothing Send accepted is lost.
//
// With a spool, Send does not wait at the send high-water marks: the
// spool is the queue, bounded by WithSpoolLimit, and messages go from it
// to the receivers in the background, through the marks as usual. A
// message larger than the limit fails with ErrMessageTooLarge. New opens
// the spool (and starts the goroutines that feed it to receivers and tend
// the log): it fails with an error wrapping ErrSpoolLocked if another
// socket, in any process, has dir open, and ErrSpoolCorrupt if a record in
// the log is damaged anywhere but in a torn last write, which is cut.
// Flush waits for the spool to empty; Close lingers for it, and what stays
// unacknowledged stays in dir for the next socket (ErrUndelivered says how
// many).
//
// Only PUSH spools, over WISP/1 with acknowledgements on (WithAcks); it
// cannot be combined with WithFailFast, as a spooled message waits for a
// receiver by design.
func WithSpool(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return invalid("WithSpool", `""`, "needs a directory")
		}
		o.spool.dir = dir
		return nil
	}
}

// WithSpoolSync sets when a spooling socket syncs its log (see SpoolSync).
// Default SpoolSyncAlways.
func WithSpoolSync(p SpoolSync) Option {
	return func(o *options) error {
		if p.mode == spool.SyncInterval && p.every <= 0 {
			return invalid("WithSpoolSync", p.every, "the interval must be positive")
		}
		o.spool.sync, o.spool.syncSet = p, true
		return nil
	}
}

// WithSpoolLimit bounds the bytes of a spooling socket's log files
// (DefaultSpoolLimit). When a message would take them past it, Send waits
// for acknowledgements to make room, until its context ends, and then
// fails with an error wrapping both ErrSpoolFull and the context's error.
// Waiting is the same back-pressure as at the send high-water marks, and a
// full spool empties as soon as receivers take messages again; a sender
// that must not wait gives Send a context with a deadline, and sees
// ErrSpoolFull. At least 64 KiB.
func WithSpoolLimit(bytes int64) Option {
	return func(o *options) error {
		if bytes < 64<<10 {
			return invalid("WithSpoolLimit", bytes, "must be at least 65536")
		}
		o.spool.limit, o.spool.limitSet = bytes, true
		return nil
	}
}

// checkSpool checks the spool options against the socket's others.
func checkSpool(t Type, o *options) error {
	sp := &o.spool
	if sp.dir == "" {
		if sp.syncSet || sp.limitSet {
			return fmt.Errorf("%w: WithSpoolSync and WithSpoolLimit need WithSpool", ErrInvalidOption)
		}
		return nil
	}
	switch {
	case t != Push:
		return invalid("WithSpool", sp.dir, fmt.Sprintf("only a PUSH socket spools, not %v", t))
	case o.protocol == ZMTP:
		return invalid("WithSpool", sp.dir, "ZMTP has no acknowledgements to trim the spool by")
	case !o.Acks:
		return invalid("WithSpool", sp.dir, "needs acknowledgements (WithAcks(true)) to trim the spool")
	case o.FailFast:
		return invalid("WithSpool", sp.dir, "cannot be combined with WithFailFast: spooled messages wait for a receiver")
	}
	if sp.limit == 0 {
		sp.limit = DefaultSpoolLimit
	}
	return nil
}
