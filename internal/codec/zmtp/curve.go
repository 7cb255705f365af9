package zmtp

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"

	naclbox "golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/z85"
	"github.com/wispmq/wisp/wire/zmtp"
)

// CURVE is CurveZMQ (rfc.zeromq.org spec 26) as ZMTP 3.1 and libzmq 4.3
// speak it. The client, which knows the server's long-term public key S,
// sends HELLO from a transient key C'; the server answers WELCOME with its
// own transient key S' and a cookie (C' and s' sealed under a key only it
// knows, so that it keeps no state between the two); the client sends
// INITIATE with the cookie, its long-term key C, a vouch (C' and S sealed
// from C to S', proving it holds c) and its metadata; the server answers
// READY with its metadata. Every later frame, data or command, travels as
// a MESSAGE sealed with the transient keys: its plaintext is a flags byte
// (MORE, COMMAND), then the frame's payload or the command's body.
//
// Boxes are NaCl's crypto_box (X25519, XSalsa20, Poly1305), from
// golang.org/x/crypto: a box is its 16-byte tag, then the ciphertext, as
// long as the plaintext. Every nonce is a 24-byte string: a prefix naming
// the command, then an 8-byte short nonce (a counter each side keeps, sent
// big-endian) or a 16-byte random long nonce.

// curveMessageOverhead is what a MESSAGE command adds around a frame's
// payload: its frame header's long form is not counted, the name (1+7),
// the short nonce (8), the box's tag (16) and the flags byte (1).
const curveMessageOverhead = 1 + 7 + 8 + 16 + 1

// Sizes of the handshake commands' data (after the command name), as RFC
// 26 and libzmq fix them.
const (
	// curveCookieLen: a long nonce and Box[C' + s'](K).
	curveCookieLen = 16 + 64 + naclbox.Overhead
	// curveHelloLen: version (2), padding (72), C' (32), short nonce (8),
	// Box[64 zeros](C'->S). With its name HELLO is 200 bytes.
	curveHelloLen = 2 + curveHelloPadding + 32 + 8 + 64 + naclbox.Overhead
	// curveWelcomeLen: long nonce (16), Box[S' + cookie](S->C'). With its
	// name WELCOME is 168 bytes.
	curveWelcomeLen = 16 + 32 + curveCookieLen + naclbox.Overhead
	// curveInitiateMin: cookie, short nonce, Box[C + vouch nonce + vouch +
	// metadata](C'->S') with no metadata. With its name INITIATE is at
	// least 257 bytes.
	curveInitiateMin = curveCookieLen + 8 + curveInitiateFixed + naclbox.Overhead
	// curveInitiateFixed: C, the vouch's long nonce and the vouch, before
	// the metadata in INITIATE's box.
	curveInitiateFixed = 32 + 16 + curveVouchLen
	// curveVouchLen: Box[C' + S](C->S').
	curveVouchLen = 64 + naclbox.Overhead
	// curveReadyMin: short nonce and Box[metadata](S'->C') with no metadata.
	curveReadyMin = 8 + naclbox.Overhead

	// curveHelloPadding makes HELLO as large as WELCOME, so that a forged
	// client address gains no amplification.
	curveHelloPadding = 72
)

// Nonce prefixes. The MESSAGE prefixes differ by direction, so that the
// two sides' counters, which both run from small numbers, never make the
// same nonce under the shared key.
const (
	curveNonceHello    = "CurveZMQHELLO---"
	curveNonceWelcome  = "WELCOME-"
	curveNonceCookie   = "COOKIE--"
	curveNonceVouch    = "VOUCH---"
	curveNonceInitiate = "CurveZMQINITIATE"
	curveNonceReady    = "CurveZMQREADY---"
	curveNonceToServer = "CurveZMQMESSAGEC"
	curveNonceToClient = "CurveZMQMESSAGES"
)

// MESSAGE's flags byte, the first byte of its plaintext.
const (
	curveFlagMore    = 1 << 0
	curveFlagCommand = 1 << 1
)

// curveMessageName is the start of every MESSAGE command body.
const curveMessageName = "\x07MESSAGE"

// curveRetain is the largest scratch buffer a curveBox keeps between
// frames: a connection that once carried a huge message should not pin
// that much memory for the rest of its life.
const curveRetain = 1 << 20

// curveBox seals and opens one CURVE connection's MESSAGE commands. The
// writer owns the sealing fields and the reader the opening ones; key is
// only read after the handshake, so the two may run at the same time.
type curveBox struct {
	// key is precomputed from one side's transient secret key and the
	// other's transient public key.
	key [32]byte

	// Writer.
	sendPrefix string
	sendNonce  uint64 // the next short nonce to send
	sealBuf    []byte // a frame's plaintext: flags, then payload

	// Reader.
	recvPrefix string
	recvNonce  uint64 // the last short nonce received
	openBuf    []byte // a frame's plaintext, before it goes back in place
}

// seal appends to b one whole MESSAGE frame carrying payload (which it
// does not modify), flagged more and command. Writer side only.
//
// The frame's own flags are 0, a data frame, whatever the MESSAGE carries:
// libzmq sends MESSAGE that way, and ORs the flags of the frame it came in
// into those of the message it decrypts, so a COMMAND flag there would
// turn every data message into a command, which it drops.
func (x *curveBox) seal(b []byte, more, command bool, payload []byte) []byte {
	var flags byte
	if more {
		flags |= curveFlagMore
	}
	if command {
		flags |= curveFlagCommand
	}
	// The box covers the flags byte and the payload together, so they must
	// be contiguous: copy them into a buffer of our own. It cannot overlap
	// b, which nacl/box requires.
	plain := append(append(x.sealBuf[:0], flags), payload...)
	// A 64-bit counter cannot wrap around in a connection's life, so a
	// nonce is never used twice.
	nonce := curveShortNonce(x.sendPrefix, x.sendNonce)
	x.sendNonce++
	b = zmtp.AppendFrameHeader(b, 0, curveMessageOverhead+len(payload))
	b = append(b, curveMessageName...)
	b = append(b, nonce[16:]...)
	b = naclbox.SealAfterPrecomputation(b, plain, &nonce, &x.key)
	x.sealBuf = curveKeep(plain)
	return b
}

// open authenticates and decrypts in place the body of a MESSAGE (the
// body of the frame it came in, data or command), and returns its flags
// and the offset in body of its payload. Reader side only.
func (x *curveBox) open(body []byte) (more, command bool, off int, err error) {
	if !zmtp.IsCommand(body, zmtp.CmdMessage) {
		return false, false, 0, fmt.Errorf("%w: a frame other than a MESSAGE on a CURVE connection", zmtp.ErrMalformed)
	}
	if len(body) < curveMessageOverhead {
		return false, false, 0, fmt.Errorf("%w: CURVE MESSAGE of %d bytes, want at least %d", zmtp.ErrMalformed, len(body), curveMessageOverhead)
	}
	const boxAt = len(curveMessageName) + 8
	short := binary.BigEndian.Uint64(body[len(curveMessageName):boxAt])
	if short <= x.recvNonce {
		return false, false, 0, fmt.Errorf("%w: CURVE MESSAGE with nonce %d after %d: replayed or reordered", zmtp.ErrMalformed, short, x.recvNonce)
	}
	var nonce [24]byte
	copy(nonce[:], x.recvPrefix)
	copy(nonce[16:], body[len(curveMessageName):boxAt])
	// x/crypto's Open refuses an output that overlaps its input at all,
	// even exactly in place, so the plaintext goes to scratch first and is
	// copied back over the ciphertext, just after the tag.
	plain, ok := naclbox.OpenAfterPrecomputation(x.openBuf[:0], body[boxAt:], &nonce, &x.key)
	if !ok {
		return false, false, 0, fmt.Errorf("%w: CURVE MESSAGE does not open: forged or corrupted", zmtp.ErrMalformed)
	}
	x.recvNonce = short
	at := boxAt + naclbox.Overhead
	copy(body[at:], plain)
	x.openBuf = curveKeep(plain)
	// Reserved flag bits are ignored, as libzmq does.
	return plain[0]&curveFlagMore != 0, plain[0]&curveFlagCommand != 0, at + 1, nil
}

// curveKeep returns b's memory for reuse, unless it is too large to keep.
func curveKeep(b []byte) []byte {
	if cap(b) > curveRetain {
		return nil
	}
	return b[:0]
}

// curveShortNonce is a 24-byte nonce: prefix (16 bytes), then n.
func curveShortNonce(prefix string, n uint64) [24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	binary.BigEndian.PutUint64(nonce[16:], n)
	return nonce
}

// curveLongNonce is a 24-byte nonce: prefix (8 bytes), then the 16 bytes
// of long.
func curveLongNonce(prefix string, long []byte) [24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	copy(nonce[8:], long[:16])
	return nonce
}

// curveRandomNonce is a long nonce: prefix (8 bytes), then 16 random bytes.
func curveRandomNonce(prefix string) [24]byte {
	var nonce [24]byte
	copy(nonce[:], prefix)
	rand.Read(nonce[8:]) // never fails: crypto/rand crashes the program instead
	return nonce
}

// curve is the CURVE mechanism, either side of it.
type curve struct {
	sec  *Security
	addr string
	x    *curveBox // set once the handshake succeeded
}

func newCurve(sec *Security, addr string) mechanism { return &curve{sec: sec, addr: addr} }

func (m *curve) box() *curveBox { return m.x }

func (m *curve) handshake(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	if m.sec.Server {
		return m.serve(ctx, cs, self)
	}
	return m.client(cs, self)
}

// client runs the client's side: HELLO, WELCOME, INITIATE, READY.
func (m *curve) client(cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	// C' and c': this connection's transient keys.
	tPub, tSec, err := naclbox.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("CURVE: generating a transient key: %w", err)
	}
	serverKey := m.sec.ServerKey
	// The short nonces count from 1 through HELLO and INITIATE and go on
	// in MESSAGE, as libzmq's do.
	sendNonce := uint64(1)

	hello := make([]byte, 0, curveHelloLen)
	hello = append(hello, 1, 0) // CurveZMQ 1.0
	hello = append(hello, make([]byte, curveHelloPadding)...)
	hello = append(hello, tPub[:]...)
	nonce := curveShortNonce(curveNonceHello, sendNonce)
	sendNonce++
	hello = append(hello, nonce[16:]...)
	// The signature proves to the server that we hold c' and know S.
	hello = naclbox.Seal(hello, make([]byte, 64), &nonce, &serverKey, tSec)
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdHello, hello), "sending HELLO"); err != nil {
		return nil, "", err
	}

	data, err := cs.expect(zmtp.CmdWelcome)
	if err != nil {
		// A server that cannot open our HELLO holds another key than the
		// one we were given: libzmq hangs up, wisp says so in an ERROR.
		if curveRefusedHello(err) {
			return nil, "", fmt.Errorf("%w: the server refused our HELLO: the server's public key is probably not the one configured (%w)", engine.ErrAuth, err)
		}
		return nil, "", err
	}
	if len(data) != curveWelcomeLen {
		return nil, "", fmt.Errorf("%w: CURVE WELCOME of %d bytes, want %d", engine.ErrProtocol, len(data), curveWelcomeLen)
	}
	nonce = curveLongNonce(curveNonceWelcome, data[:16])
	welcome, ok := naclbox.Open(nil, data[16:], &nonce, &serverKey, tSec)
	if !ok {
		return nil, "", fmt.Errorf("%w: CURVE WELCOME does not open: the server's public key is not the one configured", engine.ErrAuth)
	}
	var serverTPub [32]byte // S'
	copy(serverTPub[:], welcome[:32])
	cookie := welcome[32:]

	x := &curveBox{sendPrefix: curveNonceToServer, recvPrefix: curveNonceToClient}
	naclbox.Precompute(&x.key, &serverTPub, tSec)

	// The vouch binds our long-term key to this connection's: it proves to
	// the server that the holder of c speaks from C' to S.
	vouchNonce := curveRandomNonce(curveNonceVouch)
	vouchPlain := make([]byte, 0, 64)
	vouchPlain = append(append(vouchPlain, tPub[:]...), serverKey[:]...)
	inner := make([]byte, 0, curveInitiateFixed+64)
	inner = append(inner, m.sec.PublicKey[:]...)
	inner = append(inner, vouchNonce[8:]...)
	inner = naclbox.Seal(inner, vouchPlain, &vouchNonce, &serverTPub, &m.sec.SecretKey)
	inner = self.Append(inner)

	nonce = curveShortNonce(curveNonceInitiate, sendNonce)
	sendNonce++
	initiate := make([]byte, 0, curveCookieLen+8+len(inner)+naclbox.Overhead)
	initiate = append(initiate, cookie...)
	initiate = append(initiate, nonce[16:]...)
	initiate = naclbox.SealAfterPrecomputation(initiate, inner, &nonce, &x.key)
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdInitiate, initiate), "sending INITIATE"); err != nil {
		return nil, "", err
	}

	data, err = cs.expect(zmtp.CmdReady)
	if err != nil {
		return nil, "", err
	}
	if len(data) < curveReadyMin {
		return nil, "", fmt.Errorf("%w: CURVE READY of %d bytes, want at least %d", engine.ErrProtocol, len(data), curveReadyMin)
	}
	nonce = curveShortNonce(curveNonceReady, 0)
	copy(nonce[16:], data[:8])
	plain, ok := naclbox.OpenAfterPrecomputation(nil, data[8:], &nonce, &x.key)
	if !ok {
		return nil, "", fmt.Errorf("%w: CURVE READY does not open", engine.ErrProtocol)
	}
	md, err := zmtp.ParseMetadata(plain)
	if err != nil {
		return nil, "", fmt.Errorf("%w: READY: %w", engine.ErrProtocol, err)
	}
	x.sendNonce = sendNonce
	x.recvNonce = binary.BigEndian.Uint64(data[:8])
	m.x = x
	return md, "", nil
}

// curveRefusedHello reports whether err, met while waiting for WELCOME,
// is the server turning our HELLO down: an ERROR, or a hang-up.
func curveRefusedHello(err error) bool {
	return errors.Is(err, engine.ErrAuth) || errors.Is(err, engine.ErrPeerError) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// serve runs the server's side: HELLO, WELCOME, INITIATE, the
// Authenticator, READY.
func (m *curve) serve(ctx context.Context, cs *cmdStream, self zmtp.Metadata) (zmtp.Metadata, string, error) {
	data, err := cs.expect(zmtp.CmdHello)
	if err != nil {
		return nil, "", err
	}
	if len(data) != curveHelloLen {
		cs.refuse("malformed HELLO")
		return nil, "", fmt.Errorf("%w: CURVE HELLO of %d bytes, want %d", engine.ErrProtocol, len(data), curveHelloLen)
	}
	if data[0] != 1 || data[1] != 0 {
		cs.refuse("unsupported CurveZMQ version")
		return nil, "", fmt.Errorf("%w: CurveZMQ version %d.%d, want 1.0", engine.ErrIncompatiblePeer, data[0], data[1])
	}
	const tPubAt = 2 + curveHelloPadding
	var clientTPub [32]byte // C'
	copy(clientTPub[:], data[tPubAt:])
	nonce := curveShortNonce(curveNonceHello, 0)
	copy(nonce[16:], data[tPubAt+32:tPubAt+40])
	if _, ok := naclbox.Open(nil, data[tPubAt+40:], &nonce, &clientTPub, &m.sec.SecretKey); !ok {
		cs.refuse("HELLO does not open: the client has another server key")
		return nil, "", fmt.Errorf("%w: a CURVE client's HELLO does not open: it expects another server key", engine.ErrAuth)
	}

	// S' and s': this connection's transient keys.
	tPub, tSec, err := naclbox.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("CURVE: generating a transient key: %w", err)
	}
	// The cookie carries C' and s' back to us through the client, sealed
	// under a key that lives only as long as this handshake.
	var cookieKey [32]byte
	rand.Read(cookieKey[:])
	cookiePlain := make([]byte, 0, 64)
	cookiePlain = append(append(cookiePlain, clientTPub[:]...), tSec[:]...)
	nonce = curveRandomNonce(curveNonceCookie)
	welcomePlain := make([]byte, 0, 32+curveCookieLen)
	welcomePlain = append(welcomePlain, tPub[:]...)
	welcomePlain = append(welcomePlain, nonce[8:]...)
	welcomePlain = secretbox.Seal(welcomePlain, cookiePlain, &nonce, &cookieKey)

	nonce = curveRandomNonce(curveNonceWelcome)
	welcome := make([]byte, 0, curveWelcomeLen)
	welcome = append(welcome, nonce[8:]...)
	welcome = naclbox.Seal(welcome, welcomePlain, &nonce, &clientTPub, &m.sec.SecretKey)
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdWelcome, welcome), "sending WELCOME"); err != nil {
		return nil, "", err
	}

	data, err = cs.expect(zmtp.CmdInitiate)
	if err != nil {
		return nil, "", err
	}
	if len(data) < curveInitiateMin {
		cs.refuse("malformed INITIATE")
		return nil, "", fmt.Errorf("%w: CURVE INITIATE of %d bytes, want at least %d", engine.ErrProtocol, len(data), curveInitiateMin)
	}
	nonce = curveLongNonce(curveNonceCookie, data[:16])
	cookie, ok := secretbox.Open(nil, data[16:curveCookieLen], &nonce, &cookieKey)
	if !ok || subtle.ConstantTimeCompare(cookie[:32], clientTPub[:]) != 1 || subtle.ConstantTimeCompare(cookie[32:], tSec[:]) != 1 {
		cs.refuse("INITIATE has a bad cookie")
		return nil, "", fmt.Errorf("%w: CURVE INITIATE's cookie is not the one sent in WELCOME", engine.ErrProtocol)
	}

	x := &curveBox{sendPrefix: curveNonceToClient, recvPrefix: curveNonceToServer}
	naclbox.Precompute(&x.key, &clientTPub, tSec)
	short := data[curveCookieLen : curveCookieLen+8]
	nonce = curveShortNonce(curveNonceInitiate, 0)
	copy(nonce[16:], short)
	inner, ok := naclbox.OpenAfterPrecomputation(nil, data[curveCookieLen+8:], &nonce, &x.key)
	if !ok {
		cs.refuse("INITIATE does not open")
		return nil, "", fmt.Errorf("%w: CURVE INITIATE does not open", engine.ErrProtocol)
	}
	// The length check above leaves inner at least curveInitiateFixed long.
	var clientKey [32]byte // C
	copy(clientKey[:], inner[:32])
	nonce = curveLongNonce(curveNonceVouch, inner[32:48])
	vouch, ok := naclbox.Open(nil, inner[48:curveInitiateFixed], &nonce, &clientKey, tSec)
	serverKey := m.serverKey()
	if !ok || subtle.ConstantTimeCompare(vouch[:32], clientTPub[:]) != 1 || subtle.ConstantTimeCompare(vouch[32:], serverKey[:]) != 1 {
		cs.refuse("INITIATE has a bad vouch")
		return nil, "", fmt.Errorf("%w: a CURVE client did not prove it holds the secret key of its public key", engine.ErrAuth)
	}
	md, err := zmtp.ParseMetadata(inner[curveInitiateFixed:])
	if err != nil {
		cs.refuse("malformed metadata")
		return nil, "", fmt.Errorf("%w: INITIATE: %w", engine.ErrProtocol, err)
	}

	key, _ := z85.Encode(clientKey[:]) // 32 bytes: a whole number of groups
	identity, _ := md.Get(zmtp.PropIdentity)
	id, err := authenticate(ctx, m.sec, AuthRequest{Address: m.addr, Mechanism: zmtp.MechanismCurve, PublicKey: key, Identity: identity}, key)
	if err != nil {
		cs.refuse(zapDenied)
		return nil, "", err
	}

	// Our short nonces count from 1 through READY and go on in MESSAGE,
	// as libzmq's do.
	nonce = curveShortNonce(curveNonceReady, 1)
	ready := append([]byte(nil), nonce[16:]...)
	ready = naclbox.SealAfterPrecomputation(ready, self.Append(nil), &nonce, &x.key)
	if err := cs.send(zmtp.AppendCommand(nil, zmtp.CmdReady, ready), "sending READY"); err != nil {
		return nil, "", err
	}
	x.sendNonce = 2
	x.recvNonce = binary.BigEndian.Uint64(short)
	m.x = x
	return md, id, nil
}

// serverKey is the server's long-term public key, which a client's vouch
// must name. Security.Check makes PublicKey match SecretKey; a Security
// that skipped it and left PublicKey out has it derived.
func (m *curve) serverKey() [32]byte {
	if m.sec.PublicKey != ([32]byte{}) {
		return m.sec.PublicKey
	}
	pub, _ := PublicKeyOf(m.sec.SecretKey)
	return pub
}
