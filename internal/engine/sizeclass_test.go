package engine

import (
	"testing"
	"unsafe"

	"github.com/wispmq/wisp/internal/lockorder"
)

// TestPerPeerStructsFitTheirSizeClasses: a socket may hold a hundred
// thousand peers, each with a conn and a Peer. The allocator rounds them up
// to a size class, so one field too many costs a whole step of it (912
// bytes take 1024) per peer: a field added here must find room, by
// reordering to save padding, or say why the step is worth it.
func TestPerPeerStructsFitTheirSizeClasses(t *testing.T) {
	if lockorder.Checking {
		t.Skip("lock-order checking builds (race, wisplockcheck) give every mutex debugging fields")
	}
	for _, s := range []struct {
		name       string
		size, want uintptr
	}{
		{"conn", unsafe.Sizeof(conn{}), 896},
		{"Peer", unsafe.Sizeof(Peer{}), 576},
	} {
		if s.size > s.want {
			t.Errorf("%s: got %d bytes, want at most %d (its size class)", s.name, s.size, s.want)
		}
	}
}
