package engine

import (
	"net"
	"testing"
)

// addrConn is a connection that only has addresses.
type addrConn struct {
	net.Conn
	local, remote net.Addr
}

func (c addrConn) LocalAddr() net.Addr  { return c.local }
func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func TestSameHost(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 5555} }
	for _, tc := range []struct {
		local, remote net.Addr
		want          bool
	}{
		{tcp("127.0.0.1"), tcp("127.0.0.1"), true},
		{tcp("127.0.0.1"), tcp("127.0.0.2"), true},
		{tcp("::1"), tcp("::1"), true},
		{tcp("10.1.2.3"), tcp("10.1.2.3"), true}, // the host's own address
		{tcp("10.1.2.3"), tcp("10.1.2.4"), false},
		{tcp("::"), tcp("2001:db8::1"), false},
		{&net.UnixAddr{Name: "/tmp/a", Net: "unix"}, &net.UnixAddr{Name: "/tmp/a", Net: "unix"}, false},
		// A connection the application wraps may have no addresses.
		{(*net.TCPAddr)(nil), (*net.TCPAddr)(nil), false},
		{tcp("10.1.2.3"), (*net.TCPAddr)(nil), false},
		{(*net.TCPAddr)(nil), tcp("10.1.2.3"), false},
		{nil, nil, false},
		{&net.TCPAddr{}, &net.TCPAddr{}, false},
	} {
		if got := sameHost(addrConn{local: tc.local, remote: tc.remote}); got != tc.want {
			t.Errorf("sameHost(%v -> %v): got %v, want %v", tc.local, tc.remote, got, tc.want)
		}
	}
}
