package transport

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Schemes understood by ParseEndpoint.
const (
	SchemeTCP    = "tcp"
	SchemeTLS    = "tls" // TLS over tcp, with Config.TLS
	SchemeIPC    = "ipc"
	SchemeInproc = "inproc"
)

// Sentinel errors, matched with errors.Is. Errors returned by this package wrap
// them together with the endpoint and the reason.
var (
	// ErrInvalidEndpoint reports an endpoint that is malformed, or that cannot be
	// used the way it was asked to (dialing port 0 or the all-interfaces host).
	ErrInvalidEndpoint = errors.New("transport: invalid endpoint")
	// ErrAddressInUse reports a tcp address already bound, or an ipc path held by
	// a live listener or by a file that is not a socket.
	ErrAddressInUse = errors.New("transport: address in use")
	// ErrUnsupported reports a scheme this package does not open: inproc (the
	// engine serves it) or an unknown scheme.
	ErrUnsupported = errors.New("transport: unsupported scheme")
	// ErrInvalidConfig reports a Config that does not fit the endpoint, such as
	// ReusePort for ipc, or ReusePort together with a custom Dial or Listen.
	ErrInvalidConfig = errors.New("transport: invalid config")
)

// endpointError is a parse error: it names the endpoint and the reason, and
// matches ErrInvalidEndpoint (and, for an unknown scheme, ErrUnsupported).
type endpointError struct {
	endpoint string
	why      string
	also     error // an extra sentinel to match, or nil
}

func (e *endpointError) Error() string {
	return ErrInvalidEndpoint.Error() + " " + strconv.Quote(e.endpoint) + ": " + e.why
}

func (e *endpointError) Unwrap() []error {
	if e.also != nil {
		return []error{ErrInvalidEndpoint, e.also}
	}
	return []error{ErrInvalidEndpoint}
}

func invalid(endpoint, why string) error {
	return &endpointError{endpoint: endpoint, why: why}
}

// Endpoint is a parsed endpoint. Its zero value is no endpoint.
type Endpoint struct {
	// Scheme is "tcp", "ipc" or "inproc".
	Scheme string
	// Address depends on Scheme.
	// tcp: "host:port" as given, IPv6 hosts in brackets; the all-interfaces
	// host "*" is stored as the empty host (":5555").
	// ipc: the filesystem path ("ipc:///tmp/a.sock" -> "/tmp/a.sock",
	// "ipc://rel.sock" -> "rel.sock"); on Linux a leading "@" names an abstract
	// socket, which has no file.
	// inproc: the name, never empty.
	Address string
}

// ParseEndpoint parses scheme://address strictly. A tcp endpoint needs a host
// (a name, an IPv4 address, a bracketed IPv6 address, or "*" for all
// interfaces) and a decimal port; port 0 parses, for Listen to pick a port. An
// ipc endpoint needs a path and an inproc endpoint a name. Control characters
// are refused everywhere. Errors wrap ErrInvalidEndpoint and say which
// endpoint and why; an unknown scheme also wraps ErrUnsupported.
//
// For every endpoint it accepts, ParseEndpoint(s) followed by String gives s
// back.
func ParseEndpoint(s string) (Endpoint, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return Endpoint{}, invalid(s, "contains a control character")
		}
	}
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return Endpoint{}, invalid(s, "missing scheme, want scheme://address")
	}
	switch scheme {
	case SchemeTCP, SchemeTLS:
		host, port, why := splitTCP(addr)
		if why != "" {
			return Endpoint{}, invalid(s, why)
		}
		if host == "*" {
			host = ""
		}
		return Endpoint{Scheme: scheme, Address: net.JoinHostPort(host, port)}, nil
	case SchemeIPC:
		if addr == "" {
			return Endpoint{}, invalid(s, "empty ipc path")
		}
		if addr == "@" {
			return Endpoint{}, invalid(s, "empty abstract socket name")
		}
		return Endpoint{Scheme: SchemeIPC, Address: addr}, nil
	case SchemeInproc:
		if addr == "" {
			return Endpoint{}, invalid(s, "empty inproc name")
		}
		return Endpoint{Scheme: SchemeInproc, Address: addr}, nil
	default:
		if t := lookup(scheme); t != nil {
			a, err := t.ParseAddress(addr)
			if err != nil {
				return Endpoint{}, invalid(s, err.Error())
			}
			return Endpoint{Scheme: scheme, Address: a}, nil
		}
		return Endpoint{}, &endpointError{
			endpoint: s,
			why:      "unknown scheme " + strconv.Quote(scheme) + ", want one of " + strings.Join(Schemes(), ", "),
			also:     ErrUnsupported,
		}
	}
}

// SplitHostPort splits and checks a "host:port" as tcp:// endpoints are
// checked, for transports that register schemes of the same form (ws://,
// quic://): an IPv4 address or host name, an IPv6 address in brackets, or
// "*" for all interfaces, and a port from 0 to 65535. The host comes back
// as written, without brackets; the error says what is wrong.
func SplitHostPort(addr string) (host, port string, err error) {
	host, port, why := splitTCP(addr)
	if why != "" {
		return "", "", errors.New(why)
	}
	return host, port, nil
}

// splitTCP splits and checks a tcp "host:port". It returns the host as
// written (without brackets, "*" kept) or a reason the address is bad.
func splitTCP(addr string) (host, port, why string) {
	if addr == "" {
		return "", "", "empty tcp address, want host:port"
	}
	var rest string
	if addr[0] == '[' {
		end := strings.IndexByte(addr, ']')
		if end < 0 {
			return "", "", "missing ] after IPv6 host"
		}
		host, rest = addr[1:end], addr[end+1:]
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return "", "", "bad IPv6 host " + strconv.Quote(host)
		}
		if rest == "" {
			return "", "", "missing port"
		}
		if rest[0] != ':' {
			return "", "", "want :port after ]"
		}
		port = rest[1:]
	} else {
		i := strings.LastIndexByte(addr, ':')
		if i < 0 {
			return "", "", "missing port"
		}
		host, port = addr[:i], addr[i+1:]
		if strings.IndexByte(host, ':') >= 0 {
			return "", "", "IPv6 host needs brackets, as in [::1]:5555"
		}
		if host == "" {
			return "", "", "missing host, use * for all interfaces"
		}
		if host != "*" {
			if why := checkHostName(host); why != "" {
				return "", "", why
			}
		}
	}
	if port == "" {
		return "", "", "missing port"
	}
	if _, ok := parsePort(port); !ok {
		return "", "", "bad port " + strconv.Quote(port) + ", want 0 to 65535"
	}
	return host, port, ""
}

// checkHostName accepts an IPv4 address or a DNS-style name, so that typos
// fail here rather than as a confusing resolver error later.
func checkHostName(h string) string {
	bad := "bad host " + strconv.Quote(h)
	if len(h) > 253 {
		return bad + ": longer than 253 bytes"
	}
	numeric := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= '0' && c <= '9' || c == '.':
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_':
			numeric = false
		default:
			return bad + ": unexpected " + strconv.QuoteRune(rune(c))
		}
	}
	if numeric {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is4() {
			return bad + ": not an IPv4 address"
		}
		return ""
	}
	// Each dot-separated label is non-empty and does not start or end with
	// '-'; one trailing dot (a fully qualified name) is fine.
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	for _, l := range labels {
		if l == "" || l[0] == '-' || l[len(l)-1] == '-' {
			return bad + ": malformed name"
		}
	}
	return ""
}

// parsePort accepts 1 to 5 decimal digits with a value up to 65535, and
// nothing else (no sign, no service names).
func parsePort(p string) (int, bool) {
	if len(p) == 0 || len(p) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return 0, false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n, n <= 65535
}

// String returns the endpoint in scheme://address form, "tcp://*:port" for the
// all-interfaces tcp host, and "" for the zero Endpoint.
func (e Endpoint) String() string {
	if e.Scheme == "" && e.Address == "" {
		return ""
	}
	if (e.Scheme == SchemeTCP || e.Scheme == SchemeTLS) && strings.HasPrefix(e.Address, ":") {
		return e.Scheme + "://*" + e.Address
	}
	return e.Scheme + "://" + e.Address
}

// Network returns the net package network name for the endpoint: "tcp" for
// tcp and tls, "unix" for ipc, "inproc" for inproc, and the scheme itself
// otherwise.
func (e Endpoint) Network() string {
	switch e.Scheme {
	case SchemeIPC:
		return "unix"
	case SchemeTLS:
		return "tcp"
	}
	return e.Scheme
}

// EndpointFromAddr describes a net.Addr as an Endpoint: a *net.TCPAddr becomes
// tcp (an address with no IP becomes the all-interfaces form), a *net.UnixAddr
// becomes ipc, anything else keeps a.Network() as Scheme and a.String() as
// Address. A nil address gives the zero Endpoint.
func EndpointFromAddr(a net.Addr) Endpoint {
	switch a := a.(type) {
	case nil:
		return Endpoint{}
	case *net.TCPAddr:
		if a == nil {
			return Endpoint{}
		}
		return Endpoint{Scheme: SchemeTCP, Address: a.String()}
	case *net.UnixAddr:
		if a == nil {
			return Endpoint{}
		}
		return Endpoint{Scheme: SchemeIPC, Address: a.Name}
	default:
		return Endpoint{Scheme: a.Network(), Address: a.String()}
	}
}
