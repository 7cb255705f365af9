package ws

import (
	"fmt"
	"strings"

	"github.com/wispmq/wisp/transport"
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
	if _, _, err := transport.SplitHostPort(hostport); err != nil {
		return "", fmt.Errorf("%v, want host:port[/path]", err)
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
