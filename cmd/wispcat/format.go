package main

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/wispmq/wisp/socket"
)

// format is how received messages are written, one line each (-format).
type format uint8

const (
	formatRaw    format = iota // frames as they are, joined by one space (the default)
	formatQuoted               // each frame as a Go string literal
	formatHex                  // each frame in hex
	formatJSON                 // one JSON object per message
)

var formatNames = map[string]format{"raw": formatRaw, "quoted": formatQuoted, "hex": formatHex, "json": formatJSON}

func parseFormat(name string) (format, error) {
	f, ok := formatNames[name]
	if !ok {
		return 0, fmt.Errorf("want raw, quoted, hex or json")
	}
	return f, nil
}

// frame writes one frame as the format has it (not for JSON).
func (f format) frame(w *bufio.Writer, b []byte) {
	switch f {
	case formatQuoted:
		w.WriteString(strconv.Quote(string(b)))
	case formatHex:
		hex.NewEncoder(w).Write(b)
	default:
		w.Write(b)
	}
}

// message writes m as one line: its frames joined by one space or, in
// JSON, {"frames": [...]}.
func (f format) message(w *bufio.Writer, m socket.Message) {
	f.line(w, nil, m)
}

// routed writes a message a ROUTER received: the routing id in hex, a
// tab, then the rest as message does; in JSON the id is "peer".
func (f format) routed(w *bufio.Writer, m socket.Message) {
	if len(m) == 0 {
		return
	}
	if f == formatJSON {
		f.line(w, m[0], m[1:])
		return
	}
	hex.NewEncoder(w).Write(m[0])
	w.WriteByte('\t')
	f.message(w, m[1:])
}

// jsonLine is a message in -format json. Frames are JSON strings when
// every frame is valid UTF-8 ("encoding": "utf8"), else hex ("hex"), so
// that no byte is lost.
type jsonLine struct {
	Peer     string   `json:"peer,omitempty"` // router: the routing id in hex
	Frames   []string `json:"frames"`
	Encoding string   `json:"encoding"`
}

func (f format) line(w *bufio.Writer, peer []byte, m socket.Message) {
	if f != formatJSON {
		for i, fr := range m {
			if i > 0 {
				w.WriteByte(' ')
			}
			f.frame(w, fr)
		}
		w.WriteByte('\n')
		return
	}
	l := jsonLine{Frames: make([]string, len(m)), Encoding: "utf8"}
	if peer != nil {
		l.Peer = hex.EncodeToString(peer)
	}
	for _, fr := range m {
		if !utf8.Valid(fr) {
			l.Encoding = "hex"
		}
	}
	for i, fr := range m {
		if l.Encoding == "hex" {
			l.Frames[i] = hex.EncodeToString(fr)
		} else {
			l.Frames[i] = string(fr)
		}
	}
	b, _ := json.Marshal(l) // strings and a slice of them: cannot fail
	w.Write(b)
	w.WriteByte('\n')
}

// subscription writes a subscription change an XPUB received: "subscribe
// PREFIX" or "cancel PREFIX" (the prefix as the format writes a frame;
// JSON: {"subscribe": PREFIX} or {"cancel": PREFIX}). Anything else is
// written as a message.
func (f format) subscription(w *bufio.Writer, m socket.Message) {
	if len(m) != 1 || len(m[0]) == 0 || (m[0][0] != socket.SubscriptionAdd && m[0][0] != socket.SubscriptionCancel) {
		f.message(w, m)
		return
	}
	verb := "subscribe"
	if m[0][0] == socket.SubscriptionCancel {
		verb = "cancel"
	}
	prefix := m[0][1:]
	if f == formatJSON {
		v := string(prefix)
		if !utf8.Valid(prefix) {
			verb, v = verb+"_hex", hex.EncodeToString(prefix)
		}
		b, _ := json.Marshal(map[string]string{verb: v})
		w.Write(b)
		w.WriteByte('\n')
		return
	}
	w.WriteString(verb + " ")
	f.frame(w, prefix)
	w.WriteByte('\n')
}
