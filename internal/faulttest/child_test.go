//go:build linux

package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispmq/wisp/rendezvous"
	"github.com/wispmq/wisp/socket"
)

// The sockets under test run in child processes, one per role, each in its
// namespace: the test binary again, run by ip netns exec with
// -test.run=^TestFaultChild$ and its role in childEnv. A child reads
// commands on stdin ("stop", or end of input) and writes one JSON line per
// record on stdout (record, below); the parent (proc_test.go) drives the
// faults and reads the records.

// childEnv holds a child's configuration, as JSON; it is set only in
// children.
const childEnv = "WISP_FAULT_CHILD"

// childConfig is what a child does.
type childConfig struct {
	Role     string // "push", "pull", "req" or "rep"
	Endpoint string // push and req connect to it, pull and rep bind it
	Rate     int    // push: messages a second; req: requests a second at most
	Size     int    // push: message size, at least 8 (the sequence number)

	// Socket options; zero leaves wisp's default.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	ResumeTimeout                       time.Duration
	RequestRetry                        time.Duration // req: WithRequestRetry when positive
	DeferredAck                         bool          // pull: WithDeferredAck
	Checksum                            bool          // WithChecksum

	FlushTimeout time.Duration // push: how long Flush may take after "stop"

	// The hole-punching roles (punch_child_test.go).
	Name, Target string        // punch-connect, punch-accept: own name; the connector's target
	Local        string        // their bound "ip:port"
	Messages     int           // how many each sends and expects
	PunchTimeout time.Duration // punch-connect: WithPunchTimeout
}

// record is one line of a child's output. K says which kind; T is the
// child's wall clock in Unix nanoseconds (parent and children share the
// machine's clock).
type record struct {
	K string `json:"k"`
	T int64  `json:"t"`

	PID int `json:"pid,omitempty"` // start

	Ev  string `json:"ev,omitempty"`  // ev: the event's kind
	Err string `json:"err,omitempty"` // ev, rt, end: the error, if any
	Msg string `json:"msg,omitempty"` // ev: the whole event

	S int64 `json:"s"` // m: the received sequence number; rt: the request's; prog, end: messages sent (push) or requests answered (req)

	D int64 `json:"d,omitempty"` // rt: the round trip in nanoseconds

	Heap int64 `json:"heap,omitempty"` // prog, end: runtime heap in use, bytes
	RSS  int64 `json:"rss,omitempty"`  // prog, end: resident set, bytes
	HWM  int64 `json:"hwm,omitempty"`  // prog, end: peak resident set, bytes

	Stats *socket.Stats `json:"stats,omitempty"` // prog, end; punch roles: done

	// The hole-punching roles' records (punch_child_test.go).
	Public   string                      `json:"public,omitempty"`   // registered: as the introducer saw it
	Path     string                      `json:"path,omitempty"`     // linked: direct or relayed
	Remote   string                      `json:"remote,omitempty"`   // linked: the other's public endpoint
	Attempts int                         `json:"attempts,omitempty"` // linked: dials made while punching
	Intro    *rendezvous.IntroducerStats `json:"intro,omitempty"`    // end of the introducer
}

// TestFaultChild is a child's body; run directly it skips.
func TestFaultChild(t *testing.T) {
	env := os.Getenv(childEnv)
	if env == "" {
		t.Skip("the fault suite's child process; it runs only when a scenario starts it")
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatalf("%s: %v", childEnv, err)
	}
	out := &lineWriter{}
	out.put(record{K: "start", PID: os.Getpid()})
	run := runChild
	if punchRoles[cfg.Role] {
		run = runPunchChild // punch_child_test.go
	}
	if err := run(cfg, out); err != nil {
		out.put(record{K: "end", Err: err.Error()})
		t.Fatal(err)
	}
}

// lineWriter writes records to stdout one whole line per write, so that
// each is in the pipe (and survives this process being killed) as soon as
// put returns.
type lineWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) put(r record) {
	if r.T == 0 {
		r.T = time.Now().UnixNano()
	}
	b, _ := json.Marshal(r)
	w.mu.Lock()
	defer w.mu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// putMsg writes a received message's record without encoding/json: it is
// the one record written per message.
func (w *lineWriter) putMsg(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append(w.buf[:0], `{"k":"m","t":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, "}\n"...)
	w.buf = b
	os.Stdout.Write(b)
}

// socketOptions are the options cfg asks for; the rest stay wisp's defaults.
func socketOptions(cfg childConfig) []socket.Option {
	var opts []socket.Option
	if cfg.HeartbeatInterval > 0 || cfg.HeartbeatTimeout > 0 {
		opts = append(opts, socket.WithHeartbeat(cfg.HeartbeatInterval, cfg.HeartbeatTimeout))
	}
	if cfg.ResumeTimeout > 0 {
		opts = append(opts, socket.WithResumeTimeout(cfg.ResumeTimeout))
	}
	if cfg.RequestRetry > 0 {
		opts = append(opts, socket.WithRequestRetry(cfg.RequestRetry))
	}
	if cfg.DeferredAck {
		opts = append(opts, socket.WithDeferredAck(true))
	}
	if cfg.Checksum {
		opts = append(opts, socket.WithChecksum(true))
	}
	return opts
}

// runChild runs one role until stdin says stop or ends.
func runChild(cfg childConfig, out *lineWriter) error {
	types := map[string]socket.Type{"push": socket.Push, "pull": socket.Pull, "req": socket.Req, "rep": socket.Rep}
	typ, ok := types[cfg.Role]
	if !ok {
		return fmt.Errorf("unknown role %q", cfg.Role)
	}
	s, err := socket.New(typ, socketOptions(cfg)...)
	if err != nil {
		return err
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	defer s.Close() // a second Close is harmless; this one ends the event loop on early returns
	bg.Go(func() {
		for ev := range s.Events() {
			r := record{K: "ev", Ev: ev.Kind.String(), Msg: ev.String()}
			if ev.Err != nil {
				r.Err = ev.Err.Error()
			}
			out.put(r)
		}
	})
	// The work's context ends on "stop" or when the parent goes away.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { // ends on stop or end of input, one of which the parent always gives
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() && sc.Text() != "stop" {
		}
		stop()
	}()
	var sent atomic.Int64
	progress := make(chan struct{})
	bg.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-progress:
				return
			case <-tick.C:
				out.put(usage(record{K: "prog", S: sent.Load()}, s))
			}
		}
	})
	defer close(progress)

	switch cfg.Role {
	case "push":
		return push(ctx, s, cfg, &sent, out)
	case "pull":
		return serve(ctx, s, cfg, out, func(m socket.Message) error {
			seq := seqOf(m)
			if b := m.Bytes(); len(b) < 8 || !bytes.Equal(b, fillPayload(make([]byte, len(b)), seq)) {
				out.put(record{K: "corrupt", S: seq})
			}
			out.putMsg(seq)
			return nil
		})
	case "rep":
		return serve(ctx, s, cfg, out, func(m socket.Message) error {
			return s.Send(ctx, m...)
		})
	default:
		return request(ctx, s, cfg, &sent, out)
	}
}

// fillPayload makes b message seq: its number, then bytes that depend on
// it, so that the receiver can tell a changed message from an intact one.
func fillPayload(b []byte, seq int64) []byte {
	binary.BigEndian.PutUint64(b, uint64(seq))
	for i := 8; i < len(b); i++ {
		b[i] = byte(seq) ^ byte(i*7)
	}
	return b
}

func seqOf(m socket.Message) int64 {
	if b := m.Bytes(); len(b) >= 8 {
		return int64(binary.BigEndian.Uint64(b))
	}
	return -1
}

// usage adds this process's memory figures and the socket's counters to r.
func usage(r record, s *socket.Socket) record {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.Heap = int64(ms.HeapInuse)
	r.RSS, r.HWM = procStatus("VmRSS:"), procStatus("VmHWM:")
	st := s.Stats()
	st.Peers = nil
	r.Stats = &st
	return r
}

// procStatus reads a size field of /proc/self/status, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte(field)); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// push sends sequence-numbered messages at cfg.Rate until ctx ends, then
// waits for every one to be acknowledged. A Send cut short by ctx does not
// count: the sequence numbers sent are exactly 0 to sent-1.
func push(ctx context.Context, s *socket.Socket, cfg childConfig, sent *atomic.Int64, out *lineWriter) error {
	if err := s.Connect(cfg.Endpoint); err != nil {
		return err
	}
	const tick = 10 * time.Millisecond
	batch := max(1, cfg.Rate*int(tick)/int(time.Second))
	ticker := time.NewTicker(tick)
	var seq int64
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-ticker.C:
		}
		for range batch {
			msg := fillPayload(make([]byte, max(8, cfg.Size)), seq)
			if err := s.Send(ctx, msg); err != nil {
				if ctx.Err() != nil {
					break loop
				}
				ticker.Stop()
				s.Close()
				return fmt.Errorf("send %d: %w", seq, err)
			}
			seq++
			sent.Add(1)
		}
	}
	ticker.Stop()
	fctx, cancel := context.WithTimeout(context.Background(), cfg.FlushTimeout)
	defer cancel()
	end := usage(record{K: "end", S: seq}, s)
	if err := s.Flush(fctx); err != nil {
		end.Err = "flush: " + err.Error()
		end.Stats = usage(end, s).Stats
	} else {
		end = usage(end, s)
	}
	if err := s.Close(); err != nil && end.Err == "" {
		end.Err = "close: " + err.Error()
	}
	out.put(end)
	return nil
}

// serve binds and answers every message with handle until ctx ends.
func serve(ctx context.Context, s *socket.Socket, cfg childConfig, out *lineWriter, handle func(socket.Message) error) error {
	if _, err := s.Bind(cfg.Endpoint); err != nil {
		s.Close()
		return err
	}
	var n int64
	for {
		m, err := s.Recv(ctx)
		if err != nil {
			end := usage(record{K: "end", S: n}, s)
			if ctx.Err() == nil {
				end.Err = "recv: " + err.Error()
			}
			s.Close()
			out.put(end)
			return nil
		}
		n++
		if err := handle(m); err != nil && ctx.Err() == nil {
			out.put(record{K: "ev", Ev: "handler-error", Err: err.Error()})
		}
	}
}

// request sends requests, one at a time, and reports each round trip,
// until ctx ends.
func request(ctx context.Context, s *socket.Socket, cfg childConfig, done *atomic.Int64, out *lineWriter) error {
	if err := s.Connect(cfg.Endpoint); err != nil {
		return err
	}
	pace := time.Second / time.Duration(max(1, cfg.Rate))
	var seq int64
	for ctx.Err() == nil {
		req := binary.BigEndian.AppendUint64(nil, uint64(seq))
		start := time.Now()
		r := record{K: "rt", S: seq}
		err := s.Send(ctx, req)
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			var m socket.Message
			m, err = s.Recv(rctx)
			cancel()
			if err == nil && seqOf(m) != seq {
				err = fmt.Errorf("reply %d to request %d", seqOf(m), seq)
			}
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			break
		}
		r.D = int64(time.Since(start))
		if err != nil {
			r.Err = err.Error()
		} else {
			done.Add(1)
		}
		out.put(r)
		seq++
		select {
		case <-ctx.Done():
		case <-time.After(pace):
		}
	}
	end := usage(record{K: "end", S: done.Load()}, s)
	s.Close()
	out.put(end)
	return nil
}
