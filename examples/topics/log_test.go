package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func appendN(t *testing.T, l *partLog, from, n int) {
	t.Helper()
	var bodies [][]byte
	for i := from; i < from+n; i++ {
		bodies = append(bodies, []byte(fmt.Sprintf("record %d", i)))
	}
	first, err := l.append(bodies)
	if err != nil || first != int64(from) {
		t.Fatalf("append: got (%d, %v), want (%d, nil)", first, err, from)
	}
}

func checkRecords(t *testing.T, l *partLog, n int) {
	t.Helper()
	if got := l.end(); got != int64(n) {
		t.Fatalf("end: got %d, want %d", got, n)
	}
	bodies, err := l.read(0, l.end(), n+1)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		if want := fmt.Sprintf("record %d", i); string(b) != want {
			t.Fatalf("offset %d: got %q, want %q", i, b, want)
		}
	}
	if len(bodies) != n {
		t.Fatalf("read %d records, want %d", len(bodies), n)
	}
}

func TestLogReadFromAnyOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	l, _, err := openLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 10)
	appendN(t, l, 10, 5)
	bodies, err := l.read(7, 12, 100)
	if err != nil || len(bodies) != 5 || string(bodies[0]) != "record 7" || string(bodies[4]) != "record 11" {
		t.Fatalf("read(7, 12): got %q, %v, want records 7 to 11", bodies, err)
	}
	if bodies, _ := l.read(3, 15, 2); len(bodies) != 2 || string(bodies[1]) != "record 4" {
		t.Fatalf("read(3, 15, max 2): got %q, want records 3 and 4", bodies)
	}
	if bodies, _ := l.read(15, 20, 5); len(bodies) != 0 {
		t.Fatalf("read past the end: got %q, want nothing", bodies)
	}
	l.close()
	l, cut, err := openLog(path, false)
	if err != nil || cut != 0 {
		t.Fatalf("reopen: got (cut %d, %v), want (0, nil)", cut, err)
	}
	defer l.close()
	checkRecords(t, l, 15)
}

// TestLogTornTail: a write cut short by a crash, or whose last bytes never
// reached the disk, is cut when the log opens, and the log goes on from
// the last whole record.
func TestLogTornTail(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(data []byte) []byte
	}{
		{"a record cut short", func(d []byte) []byte { return d[:len(d)-3] }},
		{"only part of a header", func(d []byte) []byte { return append(d, 9, 0, 0) }},
		{"the last record's bytes wrong", func(d []byte) []byte { d[len(d)-1] ^= 0xff; return d }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.log")
			l, _, err := openLog(path, true)
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 0, 4)
			appendN(t, l, 4, 1)
			l.close()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data = tc.damage(data)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			l, cut, err := openLog(path, false)
			if err != nil || cut == 0 {
				t.Fatalf("open: got (cut %d, %v), want a cut and no error", cut, err)
			}
			defer l.close()
			want := 4
			if tc.name == "only part of a header" {
				want = 5 // the records are whole, the garbage after them goes
			}
			checkRecords(t, l, want)
			appendN(t, l, want, 2)
			checkRecords(t, l, want+2)
		})
	}
}

// TestLogDamageRefused: a bad record with good ones after it is not a
// torn write: the log refuses to open rather than serve around it.
func TestLogDamageRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	l, _, err := openLog(path, false)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 5)
	l.close()
	data, _ := os.ReadFile(path)
	data[recordHeader+2] ^= 0x01 // the first record's body
	os.WriteFile(path, data, 0o600)
	if _, _, err := openLog(path, false); !errors.Is(err, errCorrupt) {
		t.Fatalf("open: got %v, want errCorrupt", err)
	}
}
