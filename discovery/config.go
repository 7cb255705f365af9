package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Defaults of Config.
const (
	// DefaultPort is the UDP port beacons go to and are heard on.
	DefaultPort = 5689
	// DefaultInterval is the time between a beacon's announcements.
	DefaultInterval = time.Second
	// DefaultSilence is how many intervals a peer may be silent before it
	// is reported gone (Config.Timeout = DefaultSilence × Interval).
	DefaultSilence = 5
	// DefaultMaxPeers bounds how many peers a beacon tracks.
	DefaultMaxPeers = 1024
	// DefaultBroadcast is where beacons go unless Config.Broadcast or
	// Config.Interface says otherwise: the limited broadcast address,
	// which reaches this host and the local network of the interface the
	// default route goes through. On a host without a default route it
	// cannot be sent (Stats.SendErrors counts the failures): name the
	// Interface then.
	DefaultBroadcast = "255.255.255.255"
	// LoopbackBroadcast is the broadcast address of 127.0.0.0/8: beacons
	// sent to it reach every beacon on this host and none elsewhere
	// (Linux; on other systems use a LAN address). Tests use it.
	LoopbackBroadcast = "127.255.255.255"
)

// ErrInvalidConfig: a Config field is out of range; the error names it.
var ErrInvalidConfig = errors.New("discovery: invalid config")

// Config says how a Beacon finds its peers. The zero value of every field
// but Group means its default.
type Config struct {
	// Group names the application: beacons of other groups on the same
	// port are ignored (and counted in Stats.Foreign). 1 to MaxGroupLen
	// bytes; required.
	Group string
	// ID is this beacon's identity; zero draws a random one.
	ID ID
	// Port is the UDP port to announce to and listen on, shared by every
	// peer of the group; 0 means DefaultPort. Every beacon on a host binds
	// it with SO_REUSEADDR and SO_REUSEPORT, so several processes (or
	// several beacons in one process) share it and each hears every
	// broadcast.
	Port int
	// Broadcast is the IPv4 address announcements are sent to, at Port:
	// a broadcast address (DefaultBroadcast, a subnet's "x.y.z.255",
	// LoopbackBroadcast) or any unicast address. Empty means the
	// Interface's broadcast address if Interface is set, else
	// DefaultBroadcast.
	Broadcast string
	// Interface, if set, is the name of the network interface ("eth0",
	// "lo") to discover on: announcements go to its broadcast address
	// (unless Broadcast is set), and beacons whose source is not on one of
	// its IPv4 networks are ignored.
	Interface string
	// Interval is the time between announcements; 0 means
	// DefaultInterval. Each is jittered by up to a tenth of it, so that
	// peers started together do not announce in step.
	Interval time.Duration
	// Timeout is how long a peer may stay silent before it is reported
	// gone (LeaveSilent); 0 means DefaultSilence × Interval. It must be
	// longer than Interval. A peer killed without a withdraw is reported
	// at most Timeout + Interval after its last announcement.
	Timeout time.Duration
	// MaxPeers bounds the peers tracked at once; 0 means DefaultMaxPeers.
	// Beacons of further peers are ignored (and counted in Stats.Overflow)
	// until some leave.
	MaxPeers int
}

// settings is a Config checked, with its defaults filled in and its
// addresses resolved.
type settings struct {
	Config
	dest netip.AddrPort // where announcements go
	nets []netip.Prefix // Interface's networks; nil: accept any source
	bind netip.AddrPort // what the UDP socket binds
}

func invalid(field string, v any, why string) error {
	return fmt.Errorf("%w: %s %v: %s", ErrInvalidConfig, field, v, why)
}

// resolve checks c and fills in its defaults.
func (c Config) resolve() (settings, error) {
	s := settings{Config: c}
	if err := checkGroup(c.Group); err != nil {
		return s, invalid("Group", fmt.Sprintf("%q", c.Group), err.Error())
	}
	if s.Port == 0 {
		s.Port = DefaultPort
	}
	if s.Port < 1 || s.Port > 65535 {
		return s, invalid("Port", c.Port, "want 1 to 65535")
	}
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.Interval < 0 {
		return s, invalid("Interval", c.Interval, "must not be negative")
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultSilence * s.Interval
	}
	if s.Timeout <= s.Interval {
		return s, invalid("Timeout", c.Timeout, fmt.Sprintf("must be longer than the interval (%v)", s.Interval))
	}
	if s.MaxPeers == 0 {
		s.MaxPeers = DefaultMaxPeers
	}
	if s.MaxPeers < 0 {
		return s, invalid("MaxPeers", c.MaxPeers, "must not be negative")
	}
	dest := s.Broadcast
	if s.Interface != "" {
		ifc, err := net.InterfaceByName(s.Interface)
		if err != nil {
			return s, invalid("Interface", s.Interface, err.Error())
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return s, invalid("Interface", s.Interface, err.Error())
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			p, ok := prefixOf(ipn)
			if !ok {
				continue
			}
			s.nets = append(s.nets, p)
			if dest == "" {
				dest = broadcastOf(p).String()
			}
		}
		if len(s.nets) == 0 {
			return s, invalid("Interface", s.Interface, "has no IPv4 address")
		}
	}
	if dest == "" {
		dest = DefaultBroadcast
	}
	addr, err := netip.ParseAddr(dest)
	if err != nil || !addr.Unmap().Is4() {
		return s, invalid("Broadcast", fmt.Sprintf("%q", dest), "want an IPv4 address")
	}
	s.Broadcast = dest
	s.dest = netip.AddrPortFrom(addr.Unmap(), uint16(s.Port))
	// The socket binds the wildcard address: a socket bound to a unicast
	// address does not receive broadcasts.
	s.bind = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(s.Port))
	return s, nil
}

// prefixOf returns an interface address as an IPv4 prefix.
func prefixOf(ipn *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(ipn.IP)
	if !ok || !a.Unmap().Is4() {
		return netip.Prefix{}, false
	}
	ones, bits := ipn.Mask.Size()
	if bits != 32 && bits != 128 {
		return netip.Prefix{}, false
	}
	if bits == 128 {
		ones -= 96
	}
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// broadcastOf returns a network's broadcast address: its host bits set.
func broadcastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}
