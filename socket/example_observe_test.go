package socket_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"os"

	"github.com/wispmq/wisp/socket"
)

// A socket's Stats published with expvar, at /debug/vars when the program
// serves HTTP: Stats encodes to JSON as it is.
func ExampleStats_expvar() {
	pull, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer pull.Close()
	expvar.Publish("wisp.example.pull", expvar.Func(func() any { return pull.Stats() }))

	var st struct {
		MsgsIn    uint64 `json:"msgs_in"`
		RecvQueue int    `json:"recv_queue"`
	}
	json.Unmarshal([]byte(expvar.Get("wisp.example.pull").String()), &st)
	fmt.Printf("%+v\n", st)
	// Output:
	// {MsgsIn:0 RecvQueue:0}
}

// A socket's events logged with log/slog.
func ExampleLogEvents() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Leave out the time, so that the output stays the same.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	pull, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		socket.LogEvents(pull.Events(), logger)
	}()
	if _, err := pull.Bind("inproc://example-log"); err != nil {
		log.Fatal(err)
	}
	pull.Close()
	<-done

	// Output:
	// level=INFO msg="wisp listening" event.kind=listening event.endpoint=inproc://example-log
	// level=INFO msg="wisp closed" event.kind=closed
}
