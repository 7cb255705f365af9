package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChat runs three peers as processes that find each other with
// discovery on loopback (no addresses given): each sees the others join
// and gets each of their lines exactly once. One leaves, a fourth joins,
// the chat goes on, and a peer killed without a goodbye is reported lost.
func TestChat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(t, ctx)
	disc := discoveryFlags(t)

	alice := start(t, ctx, bin, "alice", disc...)
	bob := start(t, ctx, bin, "bob", disc...)
	carol := start(t, ctx, bin, "carol", disc...)
	all := []*proc{alice, bob, carol}
	for i, p := range all {
		waitJoined(t, p, all[i+1:]...)
	}
	chatAll(t, all)

	carol.leave(t)
	alice.expect(t, "* carol left")
	bob.expect(t, "* carol left")

	dave := start(t, ctx, bin, "dave", disc...)
	waitJoined(t, dave, alice, bob)
	dave.say(t, "hi, I'm new")
	alice.expect(t, "dave: hi, I'm new")
	bob.expect(t, "dave: hi, I'm new")
	alice.say(t, "welcome, dave")
	bob.expect(t, "alice: welcome, dave")
	dave.expect(t, "alice: welcome, dave")

	// dave is killed: no goodbye, the others notice.
	dave.kill(t)
	alice.expect(t, "* dave lost")
	bob.expect(t, "* dave lost")

	bob.leave(t)
	alice.expect(t, "* bob left")
	alice.leave(t)
	for _, p := range []*proc{alice, bob, carol} {
		onceEach(t, p, all)
	}
}

// TestChatByHand: with -discover=false, peers given each other's
// addresses by hand form the mesh, as before discovery.
func TestChatByHand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(t, ctx)

	alice := start(t, ctx, bin, "alice", "-discover=false")
	bob := start(t, ctx, bin, "bob", "-discover=false", alice.addr)
	carol := start(t, ctx, bin, "carol", "-discover=false", alice.addr, bob.addr)
	all := []*proc{alice, bob, carol}
	for i, p := range all {
		waitJoined(t, p, all[i+1:]...)
	}
	chatAll(t, all)
	for _, p := range all {
		p.leave(t)
	}
	for _, p := range all {
		onceEach(t, p, all)
	}
}

// TestChatWildcard: peers that bind every interface announce
// tcp://0.0.0.0:PORT, and each dials the other at the address its beacon
// came from (loopback here: -broadcast keeps the beacons on this host).
func TestChatWildcard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(t, ctx)
	args := append([]string{"-listen", "0.0.0.0:0", "-broadcast", "127.255.255.255"}, discoveryFlags(t)...)
	alice := start(t, ctx, bin, "alice", args...)
	bob := start(t, ctx, bin, "bob", args...)
	all := []*proc{alice, bob}
	for _, p := range all {
		if !strings.HasPrefix(p.addr, "0.0.0.0:") {
			t.Fatalf("%s listens on %s, want 0.0.0.0:PORT", p.name, p.addr)
		}
	}
	alice.expect(t, "* bob joined from 127.0.0.1:"+strings.TrimPrefix(bob.addr, "0.0.0.0:"))
	bob.expect(t, "* alice joined from 127.0.0.1:"+strings.TrimPrefix(alice.addr, "0.0.0.0:"))
	chatAll(t, all)
	for _, p := range all {
		p.leave(t)
	}
	for _, p := range all {
		onceEach(t, p, all)
	}
}

// TestChatTLS: three peers with certificates of one CA find each other
// with discovery and chat over a mutual-TLS mesh, one port each; a peer
// whose certificate another CA signed joins no one.
func TestChatTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(t, ctx)
	dir := t.TempDir()
	ca := newCA(t, dir, "ca")
	other := newCA(t, dir, "other-ca")
	disc := discoveryFlags(t)
	tlsFlags := func(ca *testCA, name string) []string {
		cert, key := ca.issue(t, dir, name)
		return append([]string{"-tls-cert", cert, "-tls-key", key, "-tls-ca", ca.file, "-tls-name", "p2pchat"}, disc...)
	}

	alice := start(t, ctx, bin, "alice", tlsFlags(ca, "alice")...)
	bob := start(t, ctx, bin, "bob", tlsFlags(ca, "bob")...)
	mallory := start(t, ctx, bin, "mallory", tlsFlags(other, "mallory")...)
	carol := start(t, ctx, bin, "carol", tlsFlags(ca, "carol")...)
	all := []*proc{alice, bob, carol}
	for i, p := range all {
		waitJoined(t, p, all[i+1:]...)
	}
	chatAll(t, all)
	mallory.say(t, "let me in")
	for _, p := range all {
		p.leave(t)
	}
	mallory.leave(t)
	for _, p := range all {
		onceEach(t, p, all)
		for _, l := range p.lines {
			if strings.Contains(l, "mallory") {
				t.Errorf("%s printed %q, want nothing of the peer with a foreign certificate", p.name, l)
			}
		}
	}
	if i := slices.IndexFunc(mallory.lines, func(l string) bool { return strings.HasPrefix(l, "* ") }); i >= 0 {
		t.Errorf("mallory printed %q, want no one joining", mallory.lines[i])
	}
}

// discoveryFlags keeps one test's peers among themselves: a discovery
// port free now, and a group of their own.
func discoveryFlags(t *testing.T) []string {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	return []string{"-discovery-port", strconv.Itoa(port), "-group", t.Name()}
}

// chatAll has each peer say a line and waits until every other peer
// printed it.
func chatAll(t *testing.T, all []*proc) {
	t.Helper()
	for _, p := range all {
		p.say(t, "hello from "+p.name)
	}
	for _, p := range all {
		for _, q := range all {
			if q != p {
				p.expect(t, q.name+": hello from "+q.name)
			}
		}
	}
}

// onceEach checks, once p has exited, that it printed each other peer's
// hello exactly once and never its own lines.
func onceEach(t *testing.T, p *proc, all []*proc) {
	t.Helper()
	if !p.exited {
		t.Fatalf("%s: still running; onceEach needs all its output", p.name)
	}
	for _, q := range all {
		want := 1
		if q == p {
			want = 0
		}
		hello := q.name + ": hello from " + q.name
		if got := countLines(p.lines, hello); got != want {
			t.Errorf("%s printed %q %d times, want %d", p.name, hello, got, want)
		}
	}
	for _, l := range p.lines {
		if strings.HasPrefix(l, p.name+":") {
			t.Errorf("%s printed its own line %q, want only the others'", p.name, l)
		}
	}
}

func countLines(lines []string, want string) int {
	n := 0
	for _, l := range lines {
		if l == want {
			n++
		}
	}
	return n
}

// waitJoined waits until p and each of others have seen each other join,
// each from the address it listens on.
func waitJoined(t *testing.T, p *proc, others ...*proc) {
	t.Helper()
	for _, q := range others {
		p.expect(t, "* "+q.name+" joined from "+q.addr)
		q.expect(t, "* "+p.name+" joined from "+p.addr)
	}
}

// build compiles the command once into a temporary directory.
func build(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "p2pchat")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one running p2pchat peer process.
type proc struct {
	name    string
	addr    string // the address it listens on, from its first line
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     chan string // its output lines; closed at its end
	stderr  bytes.Buffer
	lines   []string // every line read from out so far
	matched []bool   // which of lines expect has matched
	ctx     context.Context
	exited  bool
}

// start runs a peer with args after its name and listen address.
func start(t *testing.T, ctx context.Context, bin, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, ctx: ctx, out: make(chan string)}
	args = append([]string{"-name", name, "-listen", "127.0.0.1:0"}, args...)
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.out <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if !p.exited {
			p.stdin.Close()
			p.cmd.Process.Kill()
			for range p.out {
			}
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s printed:\n%s\nstderr:\n%s", name, strings.Join(p.lines, "\n"), p.stderr.String())
		}
	})
	first := p.read(t)
	const listening = " listening on "
	if !strings.HasPrefix(first, name+listening) {
		t.Fatalf("%s's first line: got %q, want %q", name, first, name+listening+"ADDRESS")
	}
	p.addr = strings.TrimPrefix(first, name+listening)
	return p
}

// read returns the next line the peer prints.
func (p *proc) read(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.out:
		if !ok {
			t.Fatalf("%s ended; want more output", p.name)
		}
		p.lines = append(p.lines, l)
		p.matched = append(p.matched, false)
		return l
	case <-p.ctx.Done():
		t.Fatalf("%s: timed out waiting for output", p.name)
		return ""
	}
}

// expect waits until the peer prints want, or (for a want ending in
// "lost") a line that starts with want. Lines of other peers arrive in
// no fixed order, so want may be any line not matched yet.
func (p *proc) expect(t *testing.T, want string) {
	t.Helper()
	for i := 0; ; i++ {
		if i == len(p.lines) {
			p.read(t)
		}
		l := p.lines[i]
		if !p.matched[i] && (l == want || strings.HasSuffix(want, " lost") && strings.HasPrefix(l, want+" (")) {
			p.matched[i] = true
			return
		}
	}
}

func (p *proc) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: writing %q: %v", p.name, line, err)
	}
}

// leave ends the peer's input, as Ctrl-D does, and waits for it to exit.
func (p *proc) leave(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	for l := range p.out {
		p.lines = append(p.lines, l)
	}
	p.exited = true
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s exited: got %v, want status 0", p.name, err)
	}
	// A loss the test expected (a killed peer) was matched.
	for i, l := range p.lines {
		if strings.Contains(l, " lost (") && (i >= len(p.matched) || !p.matched[i]) {
			t.Errorf("%s: got %q, want every peer to leave with a goodbye", p.name, l)
		}
	}
}

// kill ends the peer with SIGKILL: no goodbye, no withdraw.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.stdin.Close()
	for l := range p.out {
		p.lines = append(p.lines, l)
	}
	p.exited = true
	p.cmd.Wait()
}

// testCA is a throwaway certificate authority written to a file.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM
}

func newCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a certificate for peer name, valid as client and server
// for the name "p2pchat", and its key; it returns their files.
func (ca *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		DNSNames:  []string{"p2pchat"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func writePEM(t *testing.T, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
