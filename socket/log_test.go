package socket

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

// TestLogEvents: a socket's events go to log/slog at their level, with
// their fields, until the socket closes.
func TestLogEvents(t *testing.T) {
	ctx := testContext(t)
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pull := newSocket(t, Pull)
	done := make(chan struct{})
	go func() {
		defer close(done)
		LogEvents(pull.Events(), logger)
	}()
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, Push, WithRoutingID([]byte{0xab}))
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	push.Close()
	pull.Close()
	<-done
	type line struct {
		Level string
		Msg   string
		Event map[string]any
	}
	var got []line
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var x line
		if err := json.Unmarshal([]byte(l), &x); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		got = append(got, x)
	}
	byMsg := map[string]line{}
	for _, l := range got {
		byMsg[l.Msg] = l
	}
	for _, msg := range []string{"wisp listening", "wisp accepted", "wisp connected", "wisp disconnected", "wisp closed"} {
		if _, ok := byMsg[msg]; !ok {
			t.Fatalf("no %q in the log:\n%s", msg, buf.String())
		}
	}
	if c := byMsg["wisp connected"]; c.Level != "INFO" || c.Event["kind"] != "connected" || c.Event["endpoint"] != ep || c.Event["session"] == nil {
		t.Fatalf("connected: got %+v", c)
	}
	if d := byMsg["wisp disconnected"]; d.Level != "WARN" || d.Event["err"] == nil {
		t.Fatalf("disconnected with a reason: got %+v, want WARN with err", d)
	}
	if l := (Event{Kind: EventRetrying}).Level(); l != slog.LevelDebug {
		t.Fatalf("retrying logs at %v, want DEBUG", l)
	}
	if l := (Event{Kind: EventDisconnected}).Level(); l != slog.LevelInfo {
		t.Fatalf("a disconnect without a reason logs at %v, want INFO", l)
	}
	v := Event{Kind: EventHandshakeFailed, RoutingID: []byte{1, 2}, Err: errors.New("bad")}.LogValue()
	if s := v.String(); !strings.Contains(s, "routing_id=0102") || !strings.Contains(s, "err=bad") {
		t.Fatalf("LogValue: %s", s)
	}
}
