package transport

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
)

// Transport carries wisp's byte streams for the endpoints of one scheme
// that this package does not know itself (ws://, a user's own). Register
// it, and ParseEndpoint, Listen and Dial, and so a socket's Bind and
// Connect, hand that scheme's endpoints to it.
type Transport interface {
	// ParseAddress checks the address of an endpoint, what follows
	// "scheme://", and returns it in the form Endpoint.String writes it
	// back. Its error says why the address is bad; ParseEndpoint wraps it
	// in ErrInvalidEndpoint.
	ParseAddress(address string) (string, error)
	// Listen listens on ep and returns the listener and the endpoint
	// actually bound (a real port for port 0, say). The listener's
	// connections must be reliable, ordered byte streams.
	Listen(ctx context.Context, ep Endpoint, cfg Config) (net.Listener, Endpoint, error)
	// Dial connects to ep within ctx.
	Dial(ctx context.Context, ep Endpoint, cfg Config) (net.Conn, error)
}

// registered holds the transports Register added, by scheme.
var registered struct {
	mu sync.RWMutex
	m  map[string]Transport
}

// builtin are the schemes this package handles itself.
var builtin = map[string]bool{SchemeTCP: true, SchemeTLS: true, SchemeIPC: true, SchemeInproc: true}

// Register makes t the transport of scheme, for the whole process: a
// package that provides one registers it from its init function, as
// database/sql drivers do. The scheme is lower-case letters, digits, '+',
// '-' and '.', starting with a letter (RFC 3986). Registering a built-in
// scheme, or one already registered, is an error wrapping
// ErrInvalidConfig.
func Register(scheme string, t Transport) error {
	if t == nil {
		return fmt.Errorf("%w: a nil Transport for %q", ErrInvalidConfig, scheme)
	}
	if !validScheme(scheme) {
		return fmt.Errorf("%w: scheme %q, want lower-case letters, digits, '+', '-' or '.', starting with a letter", ErrInvalidConfig, scheme)
	}
	if builtin[scheme] {
		return fmt.Errorf("%w: scheme %q is built in", ErrInvalidConfig, scheme)
	}
	registered.mu.Lock()
	defer registered.mu.Unlock()
	if registered.m[scheme] != nil {
		return fmt.Errorf("%w: scheme %q is already registered", ErrInvalidConfig, scheme)
	}
	if registered.m == nil {
		registered.m = make(map[string]Transport)
	}
	registered.m[scheme] = t
	return nil
}

// lookup returns the transport registered for scheme, or nil.
func lookup(scheme string) Transport {
	registered.mu.RLock()
	defer registered.mu.RUnlock()
	return registered.m[scheme]
}

// Schemes returns every scheme ParseEndpoint accepts, built in and
// registered, sorted.
func Schemes() []string {
	registered.mu.RLock()
	s := make([]string, 0, len(builtin)+len(registered.m))
	for k := range registered.m {
		s = append(s, k)
	}
	registered.mu.RUnlock()
	for k := range builtin {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

func validScheme(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) < 0
}
