package socket

import (
	"testing"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/internal/socktype"
)

// TestEventKindsMatchTheEngine: the engine's events reach the application
// by value, so each kind must have the engine's number.
func TestEventKindsMatchTheEngine(t *testing.T) {
	pairs := []struct {
		public EventKind
		engine engine.EventKind
	}{
		{EventListening, engine.EventListening}, {EventAccepted, engine.EventAccepted},
		{EventConnected, engine.EventConnected}, {EventDisconnected, engine.EventDisconnected},
		{EventHandshakeFailed, engine.EventHandshakeFailed}, {EventRetrying, engine.EventRetrying},
		{EventAcceptFailed, engine.EventAcceptFailed}, {EventClosed, engine.EventClosed},
		{EventDropping, engine.EventDropping}, {EventPeerGone, engine.EventPeerGone},
	}
	for _, p := range pairs {
		if uint8(p.public) != uint8(p.engine) {
			t.Errorf("%v: got %d, want the engine's %d", p.public, p.public, p.engine)
		}
	}
}

// TestSubscriptionMarkersMatch: XSUB's and XPUB's messages carry the
// markers the behaviours read and write.
func TestSubscriptionMarkersMatch(t *testing.T) {
	if SubscriptionCancel != socktype.SubscriptionCancel || SubscriptionAdd != socktype.SubscriptionAdd {
		t.Fatalf("markers: got cancel %d add %d, want the behaviours' %d and %d", SubscriptionCancel, SubscriptionAdd, socktype.SubscriptionCancel, socktype.SubscriptionAdd)
	}
}
