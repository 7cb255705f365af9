package zmtp

import (
	"context"
	"fmt"
	"net"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// A mechanism is one side of a ZMTP security handshake (NULL, PLAIN or
// CURVE), run after the greetings.
type mechanism interface {
	// handshake exchanges the mechanism's commands over cs, stating self,
	// and returns the peer's metadata and who it proved to be. A server
	// that refuses the peer tells it with an ERROR before it returns.
	handshake(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (peer zmtp.Metadata, userID string, err error)
	// box is what seals and opens the connection's frames once the
	// handshake succeeded; nil when they travel in the clear.
	box() *curveBox
}

func newMechanism(sec *Security, remote net.Addr) mechanism {
	addr := ""
	if remote != nil {
		addr = remote.String()
	}
	switch sec.mechanismName() {
	case zmtp.MechanismPlain:
		return &plain{sec: sec, addr: addr}
	case zmtp.MechanismCurve:
		return newCurve(sec, addr)
	default:
		return &null{sec: sec, addr: addr}
	}
}

// authenticate asks sec's Authenticator about a peer, and refuses it with
// ZAP's status 400 (libzmq's clients report that as an authentication
// failure) when it says no.
func authenticate(ctx context.Context, sec *Security, r AuthRequest, defaultID string) (string, error) {
	if sec.Authenticate == nil {
		return defaultID, nil
	}
	r.Domain = sec.Domain
	id, err := sec.Authenticate(ctx, r)
	if err != nil {
		return "", &authError{err: err}
	}
	if id == "" {
		id = defaultID
	}
	return id, nil
}

// authError is an Authenticator's refusal: the reason the server's events
// give, while the peer is told only "400".
type authError struct{ err error }

func (e *authError) Error() string {
	return engine.ErrAuth.Error() + ": the authenticator refused the peer: " + e.err.Error()
}
func (e *authError) Unwrap() []error { return []error{engine.ErrAuth, e.err} }

// zapDenied is the ERROR reason for a refused peer: ZAP's status code.
const zapDenied = "400"

// null is the NULL mechanism: each side sends READY with its metadata.
type null struct {
	sec  *Security
	addr string
}

func (m *null) box() *curveBox { return nil }

func (m *null) handshake(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdReady, self.Append(nil)), "sending READY"); err != nil {
		return nil, "", err
	}
	md, err := cs.expectMetadata(zmtp.CmdReady)
	if err != nil {
		return nil, "", err
	}
	if m.sec.Server || m.sec.Authenticate != nil {
		id, _ := md.Get(zmtp.PropIdentity)
		r := AuthRequest{Address: m.addr, Mechanism: zmtp.MechanismNull, Identity: id}
		if _, err := authenticate(ctx, m.sec, r, ""); err != nil {
			cs.refuse(zapDenied)
			return nil, "", err
		}
	}
	return md, "", nil
}

// plain is the PLAIN mechanism (RFC 24): the client sends a user name and
// password in HELLO, the server answers WELCOME, the client INITIATE with
// its metadata, the server READY with its own.
type plain struct {
	sec  *Security
	addr string
}

func (m *plain) box() *curveBox { return nil }

func (m *plain) handshake(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	if m.sec.Server {
		return m.serve(ctx, cs, self)
	}
	hello := make([]byte, 0, 2+len(m.sec.Username)+len(m.sec.Password))
	hello = append(append(hello, byte(len(m.sec.Username))), m.sec.Username...)
	hello = append(append(hello, byte(len(m.sec.Password))), m.sec.Password...)
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdHello, hello), "sending HELLO"); err != nil {
		return nil, "", err
	}
	if _, err := cs.expect(zmtp.CmdWelcome); err != nil {
		return nil, "", err
	}
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdInitiate, self.Append(nil)), "sending INITIATE"); err != nil {
		return nil, "", err
	}
	md, err := cs.expectMetadata(zmtp.CmdReady)
	if err != nil {
		return nil, "", err
	}
	return md, "", nil
}

func (m *plain) serve(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	data, err := cs.expect(zmtp.CmdHello)
	if err != nil {
		return nil, "", err
	}
	user, pass, ok := parsePlainHello(data)
	if !ok {
		cs.refuse("malformed HELLO")
		return nil, "", fmt.Errorf("%w: malformed PLAIN HELLO", engine.ErrProtocol)
	}
	// Authenticate before WELCOME, as libzmq does: a refused client learns
	// it at once and never sends its metadata.
	id, err := authenticate(ctx, m.sec, AuthRequest{Address: m.addr, Mechanism: zmtp.MechanismPlain, Username: user, Password: pass}, user)
	if err != nil {
		cs.refuse(zapDenied)
		return nil, "", err
	}
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdWelcome, nil), "sending WELCOME"); err != nil {
		return nil, "", err
	}
	md, err := cs.expectMetadata(zmtp.CmdInitiate)
	if err != nil {
		return nil, "", err
	}
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdReady, self.Append(nil)), "sending READY"); err != nil {
		return nil, "", err
	}
	return md, id, nil
}

// parsePlainHello splits PLAIN's HELLO data into user name and password.
func parsePlainHello(b []byte) (user, pass string, ok bool) {
	if len(b) < 1 || len(b) < 1+int(b[0])+1 {
		return "", "", false
	}
	u := b[1 : 1+int(b[0])]
	b = b[1+int(b[0]):]
	if len(b) != 1+int(b[0]) {
		return "", "", false
	}
	return string(u), string(b[1:]), true
}
