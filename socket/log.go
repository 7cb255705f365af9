package socket

import (
	"context"
	"encoding/hex"
	"log/slog"
)

// LogValue makes an Event log with log/slog as a group of its fields that
// are set: kind, endpoint, peer, session, routing_id (hex), user, delay
// and err.
func (e Event) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("kind", e.Kind.String()))
	if e.Endpoint != "" {
		attrs = append(attrs, slog.String("endpoint", e.Endpoint))
	}
	if e.Peer != "" {
		attrs = append(attrs, slog.String("peer", e.Peer))
	}
	if e.Session != "" {
		attrs = append(attrs, slog.String("session", e.Session))
	}
	if len(e.RoutingID) > 0 {
		attrs = append(attrs, slog.String("routing_id", hex.EncodeToString(e.RoutingID)))
	}
	if e.UserID != "" {
		attrs = append(attrs, slog.String("user", e.UserID))
	}
	if e.Delay > 0 {
		attrs = append(attrs, slog.Duration("delay", e.Delay))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("err", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// Level is the level LogEvents logs an event at: Warn for what went wrong
// (a failed handshake or accept, a subscriber dropping messages, a
// connection lost with a reason), Debug for the retries of a connecting
// endpoint, which come every reconnect interval while a peer is away,
// Info for the rest.
func (e Event) Level() slog.Level {
	switch e.Kind {
	case EventHandshakeFailed, EventAcceptFailed, EventDropping:
		return slog.LevelWarn
	case EventDisconnected:
		if e.Err != nil {
			return slog.LevelWarn
		}
	case EventRetrying:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// LogEvents logs every event from events (a socket's Events channel) with
// logger, at the event's Level, as the message "wisp <kind>" with the
// event's fields under "event", until the channel closes, which it does
// when the socket closes. Run it in a goroutine of its own:
//
//	go socket.LogEvents(s.Events(), slog.Default())
//
// It takes the events from the channel, so nothing else should read it.
func LogEvents(events <-chan Event, logger *slog.Logger) {
	ctx := context.Background()
	for e := range events {
		if logger.Enabled(ctx, e.Level()) {
			logger.LogAttrs(ctx, e.Level(), "wisp "+e.Kind.String(), slog.Any("event", e))
		}
	}
}
