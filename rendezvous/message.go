package rendezvous

import (
	"errors"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// The rendezvous protocol runs over one DEALER-ROUTER connection between a
// peer and the introducer. Each message is a wisp message whose first
// frame names its kind in ASCII; the frames after it are fixed per kind:
//
//	REGISTER   name                 peer to introducer
//	REGISTERED endpoint             introducer to peer: its public endpoint
//	CONNECT    name                 peer to introducer: introduce me to name
//	PEER       name endpoint        introducer to both peers at once
//	PATH       direct|relayed       the initiator's verdict, via the introducer
//	RELAY      frame...             either way: a message relayed for the pair
//	ERROR      code text            introducer to peer: a refusal
//
// Every message comes from the network: parse checks the frame count,
// the kind, and each field, and never panics.

// kind is the first frame of a protocol message.
type kind uint8

const (
	kindRegister kind = iota + 1
	kindRegistered
	kindConnect
	kindPeer
	kindPath
	kindRelay
	kindError
)

var kindNames = [...]string{
	kindRegister:   "REGISTER",
	kindRegistered: "REGISTERED",
	kindConnect:    "CONNECT",
	kindPeer:       "PEER",
	kindPath:       "PATH",
	kindRelay:      "RELAY",
	kindError:      "ERROR",
}

func (k kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Limits on fields, so that a message's meaning never depends on a size the
// socket's own limits happen to allow.
const (
	// MaxNameLen is the longest peer name, in bytes.
	MaxNameLen = 64
	maxTextLen = 256 // an ERROR's text
	maxEndpLen = 64  // "[v6 address%zone]:port" fits
)

// Error codes an introducer sends in ERROR, and their sentinels.
const (
	codeNameTaken     = "name-taken"
	codeUnknownPeer   = "unknown-peer"
	codeBusy          = "busy"
	codeNotRegistered = "not-registered"
	codeProtocol      = "protocol"
)

// message is one parsed protocol message; which fields are set depends on
// kind.
type message struct {
	kind     kind
	name     string   // REGISTER, CONNECT, PEER
	endpoint string   // REGISTERED, PEER: "ip:port"
	path     Path     // PATH
	code     string   // ERROR
	text     string   // ERROR
	payload  [][]byte // RELAY
}

// frames encodes m as the frames of a wisp message.
func (m message) frames() [][]byte {
	f := [][]byte{[]byte(m.kind.String())}
	switch m.kind {
	case kindRegister, kindConnect:
		f = append(f, []byte(m.name))
	case kindRegistered:
		f = append(f, []byte(m.endpoint))
	case kindPeer:
		f = append(f, []byte(m.name), []byte(m.endpoint))
	case kindPath:
		f = append(f, []byte(m.path.String()))
	case kindRelay:
		f = append(f, m.payload...)
	case kindError:
		f = append(f, []byte(m.code), []byte(m.text))
	}
	return f
}

// fieldCount is how many frames follow the kind, for the kinds with a
// fixed count.
var fieldCount = map[kind]int{
	kindRegister: 1, kindRegistered: 1, kindConnect: 1, kindPeer: 2, kindPath: 1, kindError: 2,
}

// parse decodes the frames of a protocol message. Errors wrap ErrProtocol.
func parse(frames [][]byte) (message, error) {
	if len(frames) == 0 {
		return message{}, fmt.Errorf("%w: empty message", ErrProtocol)
	}
	var m message
	for k := kindRegister; k <= kindError; k++ {
		if string(frames[0]) == kindNames[k] {
			m.kind = k
		}
	}
	if m.kind == 0 {
		return message{}, fmt.Errorf("%w: unknown kind %.32q", ErrProtocol, frames[0])
	}
	fields := frames[1:]
	if m.kind == kindRelay {
		if len(fields) == 0 {
			return message{}, fmt.Errorf("%w: RELAY without a message", ErrProtocol)
		}
		m.payload = fields
		return m, nil
	}
	if n := fieldCount[m.kind]; len(fields) != n {
		return message{}, fmt.Errorf("%w: %v has %d fields, want %d", ErrProtocol, m.kind, len(fields), n)
	}
	var err error
	switch m.kind {
	case kindRegister, kindConnect:
		m.name, err = parseName(fields[0])
	case kindRegistered:
		m.endpoint, err = parseEndpoint(fields[0])
	case kindPeer:
		if m.name, err = parseName(fields[0]); err == nil {
			m.endpoint, err = parseEndpoint(fields[1])
		}
	case kindPath:
		switch string(fields[0]) {
		case "direct":
			m.path = Direct
		case "relayed":
			m.path = Relayed
		default:
			err = fmt.Errorf("%w: PATH %.32q, want direct or relayed", ErrProtocol, fields[0])
		}
	case kindError:
		m.code, err = parseText(fields[0], MaxNameLen)
		if err == nil {
			m.text, err = parseText(fields[1], maxTextLen)
		}
	}
	if err != nil {
		return message{}, err
	}
	return m, nil
}

// parseName accepts 1 to MaxNameLen bytes of UTF-8 without control
// characters: names end up in logs and error messages.
func parseName(b []byte) (string, error) {
	if len(b) == 0 || len(b) > MaxNameLen {
		return "", fmt.Errorf("%w: name of %d bytes, want 1 to %d", ErrProtocol, len(b), MaxNameLen)
	}
	return parseText(b, MaxNameLen)
}

func parseText(b []byte, max int) (string, error) {
	if len(b) > max {
		return "", fmt.Errorf("%w: text of %d bytes, want at most %d", ErrProtocol, len(b), max)
	}
	if !utf8.Valid(b) {
		return "", fmt.Errorf("%w: text is not UTF-8", ErrProtocol)
	}
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: control character in %.32q", ErrProtocol, b)
		}
	}
	return string(b), nil
}

// parseEndpoint accepts an "ip:port" with a port other than 0, and returns
// it in netip's canonical form.
func parseEndpoint(b []byte) (string, error) {
	if len(b) > maxEndpLen {
		return "", fmt.Errorf("%w: endpoint of %d bytes", ErrProtocol, len(b))
	}
	ap, err := netip.ParseAddrPort(string(b))
	if err != nil || ap.Port() == 0 || !ap.Addr().IsValid() {
		return "", fmt.Errorf("%w: endpoint %.64q is not ip:port", ErrProtocol, b)
	}
	return ap.String(), nil
}

// errorOf turns an introducer's ERROR into the matching sentinel.
func errorOf(m message) error {
	for code, sentinel := range map[string]error{
		codeNameTaken:     ErrNameTaken,
		codeUnknownPeer:   ErrUnknownPeer,
		codeBusy:          ErrBusy,
		codeNotRegistered: ErrNotRegistered,
		codeProtocol:      ErrProtocol,
	} {
		if m.code == code {
			return fmt.Errorf("%w (introducer: %s)", sentinel, m.text)
		}
	}
	return fmt.Errorf("%w: %s: %s", ErrRefused, m.code, m.text)
}

// Sentinel errors, for errors.Is.
var (
	// ErrProtocol: a rendezvous message was malformed (the introducer
	// refuses the peer that sent it; a peer ends the rendezvous).
	ErrProtocol = errors.New("rendezvous: protocol error")
	// ErrNameTaken: another peer is registered under the name.
	ErrNameTaken = errors.New("rendezvous: name taken")
	// ErrUnknownPeer: no peer is registered under the name asked for.
	ErrUnknownPeer = errors.New("rendezvous: unknown peer")
	// ErrBusy: the peer asked for is already linked, or is the asker.
	ErrBusy = errors.New("rendezvous: peer busy")
	// ErrNotRegistered: a request came before REGISTER was answered.
	ErrNotRegistered = errors.New("rendezvous: not registered")
	// ErrRefused: the introducer refused with a code this version does
	// not know.
	ErrRefused = errors.New("rendezvous: refused")
	// ErrLinked: the peer already has its link; a Peer makes one.
	ErrLinked = errors.New("rendezvous: already linked")
	// ErrPathMismatch: the initiator reported a direct connection that
	// this side never completed.
	ErrPathMismatch = errors.New("rendezvous: path mismatch")
)
