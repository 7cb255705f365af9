package main

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const want = "task 0\ntask 1\ntask 2\nall delivered\n"

func TestRunInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, 3); err != nil {
		t.Fatal(err)
	}
	if out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

// TestCommand runs the program the way the README says.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "run", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go run .: %v\n%s", err, out)
	}
	if string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}
