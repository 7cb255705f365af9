package wire

import (
	"errors"
	"io"
	"testing"
)

func TestDecodeHeaderCountsTheFrameLikeDecode(t *testing.T) {
	var viaHeader, viaDecode Decoder
	viaHeader.MaxMessageSize, viaDecode.MaxMessageSize = 1000, 1000
	first := AppendFrame(nil, true, make([]byte, 600))
	n, more, h, err := viaHeader.DecodeHeader(first[:5]) // header only
	if err != nil || n != 600 || !more || h != 5 {
		t.Fatalf("DecodeHeader: got (%d, %v, %d, %v), want (600, true, 5, nil)", n, more, h, err)
	}
	if _, _, err := viaDecode.Decode(first); err != nil {
		t.Fatal(err)
	}
	// Both decoders now hold 600 bytes of a message: 401 more is too much.
	second := AppendFrame(nil, false, make([]byte, 401))
	for name, d := range map[string]*Decoder{"DecodeHeader": &viaHeader, "Decode": &viaDecode} {
		if _, _, err := d.Decode(second); !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s then a 401-byte frame: got %v, want ErrFrameTooLarge", name, err)
		}
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	var d Decoder
	if _, _, _, err := d.DecodeHeader([]byte{0x00}); err != io.ErrUnexpectedEOF || d.Need() != 2 {
		t.Fatalf("short header: got %v need %d, want io.ErrUnexpectedEOF need 2", err, d.Need())
	}
	ping := Command{ID: CmdPing}.Append(nil)
	if _, _, _, err := d.DecodeHeader(ping); !errors.Is(err, ErrMalformed) {
		t.Fatalf("command header: got %v, want ErrMalformed", err)
	}
	d.MaxMessageSize = 10
	if _, _, _, err := d.DecodeHeader(AppendFrameHeader(nil, 0, 11)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized: got %v, want ErrFrameTooLarge", err)
	}
}
