package wiretest

import (
	"bytes"
	"strings"
	"testing"
)

func TestVectors(t *testing.T) {
	good := "text\n```hex name=a\n01 02 # a comment\n03\n```\n```hex name=b\n```\n"
	vecs, err := Vectors(strings.NewReader(good))
	if err != nil {
		t.Fatalf("Vectors: got %v, want nil", err)
	}
	if !bytes.Equal(vecs["a"], []byte{1, 2, 3}) || len(vecs["b"]) != 0 || len(vecs) != 2 {
		t.Fatalf("Vectors: got %v, want a=010203 and an empty b", vecs)
	}
	for _, bad := range []string{
		"```hex\n01\n```\n", // no name
		"```hex name=a\n01\n```\n```hex name=a\n02\n```\n", // twice
		"```hex name=a\n0g\n```\n",                         // not hex
		"```hex name=a\n01\n",                              // not closed
	} {
		if _, err := Vectors(strings.NewReader(bad)); err == nil {
			t.Errorf("Vectors(%q): got nil error, want one", bad)
		}
	}
}
