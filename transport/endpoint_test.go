package transport

import (
	"errors"
	"net"
	"testing"
)

func TestParseEndpointGood(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
	}{
		{"tcp://127.0.0.1:5555", Endpoint{"tcp", "127.0.0.1:5555"}},
		{"tcp://127.0.0.1:0", Endpoint{"tcp", "127.0.0.1:0"}},
		{"tcp://*:5555", Endpoint{"tcp", ":5555"}},
		{"tcp://*:0", Endpoint{"tcp", ":0"}},
		{"tcp://[::1]:5555", Endpoint{"tcp", "[::1]:5555"}},
		{"tcp://[::]:1", Endpoint{"tcp", "[::]:1"}},
		{"tcp://[fe80::1%eth0]:7", Endpoint{"tcp", "[fe80::1%eth0]:7"}},
		{"tcp://[::ffff:1.2.3.4]:7", Endpoint{"tcp", "[::ffff:1.2.3.4]:7"}},
		{"tcp://localhost:65535", Endpoint{"tcp", "localhost:65535"}},
		{"tcp://example.com.:80", Endpoint{"tcp", "example.com.:80"}},
		{"tcp://my_host-1.lan:80", Endpoint{"tcp", "my_host-1.lan:80"}},
		{"tls://127.0.0.1:5555", Endpoint{"tls", "127.0.0.1:5555"}},
		{"tls://*:0", Endpoint{"tls", ":0"}},
		{"tls://[::1]:5555", Endpoint{"tls", "[::1]:5555"}},
		{"ipc:///tmp/a.sock", Endpoint{"ipc", "/tmp/a.sock"}},
		{"ipc://rel.sock", Endpoint{"ipc", "rel.sock"}},
		{"ipc://dir/with space.sock", Endpoint{"ipc", "dir/with space.sock"}},
		{"ipc://@abstract", Endpoint{"ipc", "@abstract"}},
		{"inproc://name", Endpoint{"inproc", "name"}},
		{"inproc://a://b", Endpoint{"inproc", "a://b"}},
	}
	for _, tt := range tests {
		got, err := ParseEndpoint(tt.in)
		if err != nil {
			t.Errorf("ParseEndpoint(%q): got error %v, want nil", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseEndpoint(%q): got %+v, want %+v", tt.in, got, tt.want)
		}
		if s := got.String(); s != tt.in {
			t.Errorf("ParseEndpoint(%q).String(): got %q, want %q", tt.in, s, tt.in)
		}
	}
}

func TestParseEndpointBad(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"no scheme", "127.0.0.1:5555"},
		{"empty scheme", "://127.0.0.1:5555"},
		{"half separator", "tcp:/127.0.0.1:5555"},
		{"unknown scheme", "udp://127.0.0.1:5555"},
		{"upper-case scheme", "TCP://127.0.0.1:5555"},
		{"tcp empty", "tcp://"},
		{"missing port", "tcp://127.0.0.1"},
		{"empty port", "tcp://127.0.0.1:"},
		{"missing host", "tcp://:5555"},
		{"port too big", "tcp://127.0.0.1:65536"},
		{"negative port", "tcp://127.0.0.1:-1"},
		{"plus port", "tcp://127.0.0.1:+80"},
		{"named port", "tcp://127.0.0.1:http"},
		{"long port", "tcp://127.0.0.1:000080"},
		{"path after port", "tcp://127.0.0.1:80/x"},
		{"bare IPv6", "tcp://::1:5555"},
		{"IPv6 no port", "tcp://[::1]"},
		{"IPv6 unclosed", "tcp://[::1:5555"},
		{"IPv6 junk after ]", "tcp://[::1]x:5555"},
		{"IPv4 in brackets", "tcp://[127.0.0.1]:5555"},
		{"bad IPv4", "tcp://999.1.1.1:5555"},
		{"empty label", "tcp://a..b:5555"},
		{"dash label", "tcp://-a.b:5555"},
		{"userinfo", "tcp://user@host:5555"},
		{"space", "tcp://127.0.0.1: 5555"},
		{"star in brackets", "tcp://[*]:5555"},
		{"empty ipc", "ipc://"},
		{"empty abstract", "ipc://@"},
		{"nul in ipc", "ipc:///tmp/a\x00b"},
		{"empty inproc", "inproc://"},
		{"newline inproc", "inproc://a\nb"},
		{"garbage", "\x01\x02garbage"},
		{"just separator", "://"},
	}
	for _, tt := range tests {
		got, err := ParseEndpoint(tt.in)
		if !errors.Is(err, ErrInvalidEndpoint) {
			t.Errorf("%s: ParseEndpoint(%q): got (%+v, %v), want error wrapping ErrInvalidEndpoint", tt.name, tt.in, got, err)
		}
	}
}

func TestParseEndpointErrorText(t *testing.T) {
	_, err := ParseEndpoint("tcp://127.0.0.1")
	want := `transport: invalid endpoint "tcp://127.0.0.1": missing port`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	_, err = ParseEndpoint("udp://x:1")
	if !errors.Is(err, ErrUnsupported) || !errors.Is(err, ErrInvalidEndpoint) {
		t.Errorf("unknown scheme: got %v, want it to match ErrInvalidEndpoint and ErrUnsupported", err)
	}
}

func TestEndpointNetwork(t *testing.T) {
	for _, tt := range []struct{ scheme, want string }{
		{"tcp", "tcp"}, {"ipc", "unix"}, {"inproc", "inproc"}, {"udp", "udp"},
	} {
		if got := (Endpoint{Scheme: tt.scheme}).Network(); got != tt.want {
			t.Errorf("Endpoint{Scheme: %q}.Network(): got %q, want %q", tt.scheme, got, tt.want)
		}
	}
	if got := (Endpoint{}).String(); got != "" {
		t.Errorf("Endpoint{}.String(): got %q, want empty", got)
	}
}

func TestEndpointFromAddr(t *testing.T) {
	var nilTCP *net.TCPAddr
	tests := []struct {
		in   net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80}, "tcp://127.0.0.1:80"},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 80}, "tcp://[::1]:80"},
		{&net.TCPAddr{Port: 80}, "tcp://*:80"},
		{&net.UnixAddr{Name: "/tmp/x.sock", Net: "unix"}, "ipc:///tmp/x.sock"},
		{&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 9}, "udp://10.0.0.1:9"},
		{nil, ""},
		{nilTCP, ""},
	}
	for _, tt := range tests {
		if got := EndpointFromAddr(tt.in).String(); got != tt.want {
			t.Errorf("EndpointFromAddr(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParseEndpoint checks that whatever parses prints back to itself and
// parses again to the same Endpoint.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:5555", "tcp://*:0", "tcp://[::1]:1", "ipc:///a", "inproc://x", "udp://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ep, err := ParseEndpoint(s)
		if err != nil {
			return
		}
		if got := ep.String(); got != s {
			t.Fatalf("ParseEndpoint(%q).String(): got %q, want %q", s, got, s)
		}
	})
}
