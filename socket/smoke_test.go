package socket

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func TestSmokePushPull(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc", "inproc"} {
		t.Run(tr, func(t *testing.T) {
			ep := map[string]string{"tcp": "tcp://127.0.0.1:0", "ipc": "ipc://" + filepath.Join(t.TempDir(), "s"), "inproc": "inproc://smoke-" + t.Name()}[tr]
			pull, err := New(Pull)
			if err != nil {
				t.Fatal(err)
			}
			real, err := pull.Bind(ep)
			if err != nil {
				t.Fatal(err)
			}
			push, err := New(Push)
			if err != nil {
				t.Fatal(err)
			}
			if err := push.Connect(real); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			const n = 100000
			go func() {
				for i := 0; i < n; i++ {
					if err := push.Send(ctx, []byte(fmt.Sprint(i))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			start := time.Now()
			for i := 0; i < n; i++ {
				m, err := pull.Recv(ctx)
				if err != nil {
					t.Fatalf("recv %d: %v", i, err)
				}
				if got := string(m[0]); got != fmt.Sprint(i) {
					t.Fatalf("got %q, want %d", got, i)
				}
			}
			t.Logf("%s: %v for %d", tr, time.Since(start), n)
			if err := push.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := push.Close(); err != nil {
				t.Fatal(err)
			}
			if err := pull.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
