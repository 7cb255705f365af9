package rendezvous

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrInvalidOption: an Option was given a value it cannot take.
var ErrInvalidOption = errors.New("rendezvous: invalid option")

// An Option configures Register.
type Option func(*options) error

type options struct {
	local        string
	punchTimeout time.Duration
	retry        time.Duration
	verdictWait  time.Duration
}

// Defaults: every interface and a port the system picks; ten seconds of
// punching, each failed dial retried after at most 250 ms.
func defaultOptions() options {
	return options{local: "0.0.0.0:0", punchTimeout: 10 * time.Second, retry: 250 * time.Millisecond, verdictWait: 5 * time.Second}
}

// WithLocalAddr sets the "host:port" the peer binds, dials the introducer
// from and punches from (default "0.0.0.0:0": every interface, a port the
// system picks). A fixed port keeps the peer's NAT mapping stable across
// runs.
func WithLocalAddr(hostport string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return fmt.Errorf("%w: WithLocalAddr(%q): %v", ErrInvalidOption, hostport, err)
		}
		o.local = hostport
		return nil
	}
}

// WithPunchTimeout bounds how long the peer that asks for a link (Connect)
// tries a direct connection before it settles for the relay (default
// 10 s). 0 skips punching: the link is relayed at once, for a peer that
// knows one side's NAT is symmetric. The peer that accepts follows the
// asker's verdict, whatever its own setting.
func WithPunchTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: WithPunchTimeout(%v): must not be negative", ErrInvalidOption, d)
		}
		o.punchTimeout = d
		return nil
	}
}

// WithRetryInterval sets the longest wait between two punching dials
// (default 250 ms; the first retry comes sooner). A dial whose SYN reached
// the other NAT before the other side's own SYN had opened it is dropped
// or refused; the next dial gets through.
func WithRetryInterval(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithRetryInterval(%v): must be positive", ErrInvalidOption, d)
		}
		o.retry = d
		return nil
	}
}
