package tq

import "time"

// An Option configures a Broker, a Client or a Worker; each ignores the
// options that are not about it.
type Option func(*config)

type config struct {
	logf        func(format string, args ...any)
	concurrency int
	resultTTL   time.Duration
	resend      time.Duration
}

func defaults() config {
	return config{
		logf:        func(string, ...any) {},
		concurrency: 1,
		resultTTL:   DefaultResultTTL,
		resend:      DefaultResendInterval,
	}
}

func configure(opts []Option) config {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

const (
	// DefaultResultTTL is how long a Broker keeps a finished task's
	// record, result included: a day, as Celery's result_expires.
	DefaultResultTTL = 24 * time.Hour
	// DefaultResendInterval is how often a Client or Worker sends a
	// request again while it has no answer. A lost connection resends at
	// once on its return; the interval covers a broker that took a request
	// and died before committing it.
	DefaultResendInterval = 2 * time.Second
	// reconnectMax caps the sockets' reconnect backoff, so a client or
	// worker finds a restarted broker within a second (wisp's default
	// grows to 5 s).
	reconnectMax = time.Second
)

// WithLog makes a Broker, Client or Worker report what it does (workers
// joining and leaving, tasks redelivered, retried and expired; tasks
// started and finished) through logf.
func WithLog(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithConcurrency sets how many tasks a Worker runs at once (default 1).
// The Broker gives it no more than that.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = max(1, n) }
}

// WithResultTTL sets how long a Broker keeps a finished task's record
// (DefaultResultTTL); after it, Status and Get answer ErrNoSuchTask.
func WithResultTTL(d time.Duration) Option {
	return func(c *config) { c.resultTTL = max(time.Millisecond, d) }
}

// WithResendInterval sets how often a Client or Worker repeats an
// unanswered request (DefaultResendInterval).
func WithResendInterval(d time.Duration) Option {
	return func(c *config) { c.resend = max(10*time.Millisecond, d) }
}
