package discovery

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// member is one BUS socket in a discovered mesh.
type member struct {
	s      *socket.Socket
	m      *Mesh
	cancel context.CancelFunc
	done   chan error
}

// newMember binds a BUS socket on loopback and makes its mesh of cfg; it
// does not run it yet.
func newMember(t *testing.T, cfg Config, opts ...socket.Option) *member {
	t.Helper()
	s, err := socket.New(socket.Bus, append([]socket.Option{socket.WithDialFromBind(true)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Bind("tcp://127.0.0.1:0")
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	m, err := NewMesh(s, ep, cfg)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	mb := &member{s: s, m: m, done: make(chan error, 1)}
	t.Cleanup(func() {
		mb.stop(t)
		s.Close()
	})
	return mb
}

func (mb *member) run() {
	ctx, cancel := context.WithCancel(context.Background())
	mb.cancel = cancel
	go func() { mb.done <- mb.m.Run(ctx) }()
}

// stop ends the mesh's Run, if it runs, and checks it returned nil.
func (mb *member) stop(t *testing.T) {
	if mb.cancel == nil {
		return
	}
	mb.cancel()
	mb.cancel = nil
	if err := <-mb.done; err != nil {
		t.Errorf("Mesh.Run: got %v, want nil", err)
	}
}

// TestMeshFiveMembers is discovery's acceptance test: five BUS sockets
// given no addresses, with the default interval, form a full mesh on
// loopback within 2 s, and then every member gets a message from every
// other exactly once, and none of its own.
func TestMeshFiveMembers(t *testing.T) {
	port := loopbackPort(t)
	cfg := Config{Group: "five", Port: port, Broadcast: LoopbackBroadcast}
	const n = 5
	var ms []*member
	for range n {
		ms = append(ms, newMember(t, cfg))
	}
	began := time.Now()
	for _, mb := range ms {
		mb.run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for i, mb := range ms {
		if err := mb.s.WaitPeers(ctx, n-1); err != nil {
			t.Fatalf("member %d: WaitPeers(%d) within 2s: got %v, want nil (%d peers known)", i, n-1, err, len(mb.m.Peers()))
		}
	}
	t.Logf("full mesh of %d in %v", n, time.Since(began))

	ctx = testContext(t)
	for i, mb := range ms {
		if err := mb.s.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("member %d: Send: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i, mb := range ms {
		wg.Go(func() {
			got := make(map[string]int)
			for range n - 1 {
				m, err := mb.s.Recv(ctx)
				if err != nil {
					t.Errorf("member %d: Recv: got %v, want nil (so far %v)", i, err, got)
					return
				}
				got[string(m.Bytes())]++
			}
			for j := range n {
				want := 1
				if j == i {
					want = 0
				}
				if got[strconv.Itoa(j)] != want {
					t.Errorf("member %d: got %d messages from member %d, want %d", i, got[strconv.Itoa(j)], j, want)
				}
			}
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			if m, err := mb.s.Recv(short); err == nil {
				t.Errorf("member %d: got a further message %q, want none", i, m.Bytes())
			}
		})
	}
	wg.Wait()
	for i, mb := range ms {
		connected := 0
		for _, p := range mb.s.Stats().Peers {
			if p.Connected {
				connected++
			}
		}
		if connected != n-1 {
			t.Errorf("member %d: got %d connected peers, want %d", i, connected, n-1)
		}
	}
}

// The child process of TestMeshKilledPeer: a mesh member that prints its
// id and runs until it is killed (or its standard input ends).
const childEnv = "WISP_DISCOVERY_CHILD"

// childInterval and childTimeout are the killed-peer test's beacon timing.
const (
	childInterval = 100 * time.Millisecond
	childTimeout  = 500 * time.Millisecond
)

func childConfig(port int) Config {
	return Config{Group: "killed", Port: port, Broadcast: LoopbackBroadcast, Interval: childInterval, Timeout: childTimeout}
}

func runChild() int {
	port, err := strconv.Atoi(os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	s, err := socket.New(socket.Bus, socket.WithDialFromBind(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer s.Close()
	ep, err := s.Bind("tcp://127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	m, err := NewMesh(s, ep, childConfig(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		cancel()
	}()
	fmt.Println("id", m.ID())
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// TestMeshKilledPeer: a member in another process killed with SIGKILL
// (so it withdraws nothing) is reported gone as silent, within Timeout +
// Interval of the kill (plus scheduling slack), and not before Timeout.
// The member that dialed it redials until then, and no more after.
func TestMeshKilledPeer(t *testing.T) {
	port := loopbackPort(t)
	cfg := childConfig(port)
	cfg.ID = ID{15: 1} // the smallest id there is: this member dials
	mb := newMember(t, cfg, socket.WithReconnectInterval(20*time.Millisecond, 20*time.Millisecond))
	mb.run()

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), fmt.Sprintf("%s=%d", childEnv, port))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			child.Process.Kill()
			child.Wait()
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child's id: %v", err)
	}
	id, err := ParseID(strings.TrimPrefix(strings.TrimSpace(line), "id "))
	if err != nil {
		t.Fatal(err)
	}
	e := next(t, mb.m.Events(), 5*time.Second)
	if e.Kind != EventJoin || e.ID != id || e.Err != nil {
		t.Fatalf("got %v, want the child %v joining", e, id)
	}
	ctx := testContext(t)
	if err := mb.s.WaitPeers(ctx, 1); err != nil {
		t.Fatalf("WaitPeers(1): %v", err)
	}

	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	child.Wait()
	killed = true
	e = next(t, mb.m.Events(), 5*time.Second)
	took := time.Since(at)
	if e.Kind != EventLeave || e.ID != id || e.Reason != LeaveSilent {
		t.Fatalf("got %v, want the child gone silent", e)
	}
	// Its last beacon came at most an interval before the kill.
	const slack = 500 * time.Millisecond
	if took < childTimeout-childInterval || took > childTimeout+childInterval+slack {
		t.Fatalf("reported gone %v after the kill, want within Timeout+Interval %v (+%v)", took, childTimeout+childInterval, slack)
	}
	t.Logf("killed peer reported gone after %v", took)

	// Between the kill and the leave the socket redialed the child's
	// endpoint; after the leave the mesh disconnected it: no more dials.
	retries := func(d time.Duration) int {
		n := 0
		for end := time.After(d); ; {
			select {
			case ev := <-mb.s.Events():
				if ev.Kind == socket.EventRetrying && ev.Endpoint == e.Endpoint {
					n++
				}
			case <-end:
				return n
			}
		}
	}
	if n := retries(100 * time.Millisecond); n == 0 {
		t.Fatalf("got no redial of %s after the kill, want some (the check below would prove nothing)", e.Endpoint)
	}
	if n := retries(300 * time.Millisecond); n != 0 {
		t.Fatalf("got %d redials of %s after the mesh reported it gone, want none", n, e.Endpoint)
	}
}

// TestMeshForgetsWithdrawnMember: a member that withdraws leaves copies
// it never took behind in the others; the mesh forgets it, so they close
// at once with nothing undelivered instead of lingering for it.
func TestMeshForgetsWithdrawnMember(t *testing.T) {
	port := loopbackPort(t)
	// A timeout far beyond the test: on a loaded machine b must not be
	// reported silent before it withdraws (a silent member is not
	// forgotten, and its withdraw would then be for a peer a no longer
	// knows).
	cfg := Config{Group: "forget", Port: port, Broadcast: LoopbackBroadcast, Interval: 100 * time.Millisecond, Timeout: time.Minute}
	// Without Forget, b's copies would wait a minute for b to resume.
	a := newMember(t, cfg, socket.WithLinger(10*time.Second), socket.WithResumeTimeout(time.Minute))
	b := newMember(t, cfg)
	a.run()
	b.run()
	ctx := testContext(t)
	if err := a.s.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.s.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 10 { // b never takes them, so never acknowledges them
		if err := a.s.Send(ctx, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// a acts on b's withdraw only if it heard b announce: b may have
	// dialed a before that.
	heard := time.Now().Add(10 * time.Second)
	for !slices.ContainsFunc(a.m.Peers(), func(p Peer) bool { return p.ID == b.m.ID() }) {
		if time.Now().After(heard) {
			t.Fatal("a never heard b's beacon")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.stop(t) // withdraws
	b.s.Close()
	waitGone := time.Now().Add(20 * time.Second) // far less than the resume timeout
	for a.s.Stats().Drops < 10 {
		if time.Now().After(waitGone) {
			t.Fatalf("after b withdrew: a dropped %d of b's 10 copies, want 10 (forgotten)", a.s.Stats().Drops)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := a.s.Close(); err != nil {
		t.Fatalf("Close of a after b withdrew: got %v, want nil", err)
	}
}
