//go:build linux

package faulttest

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// These tests need neither root nor WISP_FAULTS: they check the relay's
// packet surgery on packets captured from the kernel.

// kernelSegment is an IPv4 TCP segment with 11 bytes of payload (a WISP/1
// frame) as a TUN device handed it to the relay: its checksum is the
// kernel's.
const kernelSegment = "4500003f0e78400040060da30a4e05020a4e050115b3ad148859a343c886e42f801800cd615a00000101080a216f7f642cc56acd0209020000000000005a1e"

func packet(t *testing.T, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTCPChecksumOfKernelSegment(t *testing.T) {
	if got := tcpChecksum(packet(t, kernelSegment)); got != 0 {
		t.Fatalf("checksum over the kernel's segment = %#04x, want 0 (valid)", got)
	}
	// One flipped payload byte without the fix-up is what TCP catches.
	pkt := packet(t, kernelSegment)
	pkt[len(pkt)-1] ^= 0xff
	if tcpChecksum(pkt) == 0 {
		t.Fatal("a corrupted segment still checks")
	}
}

func TestCorruptTCPFixesChecksum(t *testing.T) {
	orig := packet(t, kernelSegment)
	const ipHeader, tcpHeader = 20, 32
	for at := range 40 { // wraps over the 11 payload bytes
		pkt := packet(t, kernelSegment)
		if !corruptTCP(pkt, at) {
			t.Fatalf("at=%d: not corrupted", at)
		}
		if tcpChecksum(pkt) != 0 {
			t.Fatalf("at=%d: the corrupted segment's checksum does not check", at)
		}
		// Only one payload byte and the checksum field changed.
		changed := 0
		for i := range pkt {
			if pkt[i] == orig[i] {
				continue
			}
			switch {
			case i == ipHeader+16 || i == ipHeader+17:
			case i >= ipHeader+tcpHeader:
				changed++
				if want := orig[i] ^ 0xff; pkt[i] != want {
					t.Fatalf("at=%d: byte %d is %#x, want %#x", at, i, pkt[i], want)
				}
			default:
				t.Fatalf("at=%d: header byte %d changed", at, i)
			}
		}
		if changed != 1 {
			t.Fatalf("at=%d: %d payload bytes changed, want 1", at, changed)
		}
	}
}

func TestCorruptTCPLeavesOthersAlone(t *testing.T) {
	seg := packet(t, kernelSegment)
	pureACK := append([]byte(nil), seg[:20+32]...)
	pureACK[2], pureACK[3] = 0, 52 // total length without the payload
	icmp := append([]byte(nil), seg...)
	icmp[9] = 1
	fragment := append([]byte(nil), seg...)
	fragment[6] |= 0x20 // more fragments
	for name, pkt := range map[string][]byte{"pure ACK": pureACK, "ICMP": icmp, "fragment": fragment, "truncated": seg[:30], "empty": nil} {
		before := append([]byte(nil), pkt...)
		if corruptTCP(pkt, 3) {
			t.Errorf("%s: corrupted", name)
		}
		if !bytes.Equal(pkt, before) {
			t.Errorf("%s: changed", name)
		}
	}
}
