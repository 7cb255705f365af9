package ws

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// splitAddress splits a ws address, host:port with an optional /path, into
// the host:port and the path ("/" when there is none).
func splitAddress(address string) (hostport, path string) {
	if i := strings.IndexByte(address, '/'); i >= 0 {
		return address[:i], address[i:]
	}
	return address, "/"
}

// parseAddress checks a ws address and returns it as String writes it back:
// host:port/path, the path "/" when none was given.
func parseAddress(address string) (string, error) {
	hostport, path := splitAddress(address)
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("want host:port[/path]: %v", err)
	}
	if host == "" {
		return "", fmt.Errorf("missing host, want host:port[/path] (* for all interfaces)")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 || strconv.Itoa(p) != port {
		return "", fmt.Errorf("bad port %q, want 0 to 65535", port)
	}
	if strings.ContainsAny(path, " ?#") {
		return "", fmt.Errorf("bad path %q: no spaces, query or fragment", path)
	}
	return hostport + path, nil
}

// addr is a WebSocket endpoint's address, for events and Stats.
type addr struct {
	scheme  string // "ws" or "wss"
	address string // host:port/path
}

func (a addr) Network() string { return a.scheme }
func (a addr) String() string  { return a.address }
