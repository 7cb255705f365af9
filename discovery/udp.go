package discovery

import (
	"context"
	"net"
	"net/netip"
	"syscall"

	"github.com/libp2p/go-reuseport"
)

// listenUDP binds the beacon's UDP socket. SO_REUSEADDR and SO_REUSEPORT
// let every beacon on the host bind the group's port, and the system
// gives each of them a copy of every broadcast datagram; SO_BROADCAST
// lets it send them.
func listenUDP(ctx context.Context, addr netip.AddrPort) (*net.UDPConn, error) {
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		if err := reuseport.Control(network, address, c); err != nil {
			return err
		}
		var err error
		if cerr := c.Control(func(fd uintptr) { err = setBroadcast(fd) }); cerr != nil {
			return cerr
		}
		return err
	}}
	pc, err := lc.ListenPacket(ctx, "udp4", addr.String())
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}
