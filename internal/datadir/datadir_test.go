package datadir

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestSecondHolderRefusedNamingTheFirst(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "127.0.0.1:8750")
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description: a second Acquire in
	// this process opens the file anew and conflicts like another process.
	_, err = Acquire(dir, "127.0.0.1:9999")
	var he *HeldError
	if !errors.As(err, &he) || he.Holder.PID != os.Getpid() || he.Holder.Addr != "127.0.0.1:8750" {
		t.Fatalf("second Acquire: %v, want HeldError naming pid %d", err, os.Getpid())
	}
	if !strings.Contains(err.Error(), "127.0.0.1:8750") {
		t.Errorf("message %q does not name the holder's address", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir, "127.0.0.1:9999")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// The lock goes with its process: a holder that dies leaves no stale lock.
func TestLockDiesWithProcess(t *testing.T) {
	if os.Getenv("DATADIR_HELPER") != "" {
		if _, err := Acquire(os.Getenv("DATADIR_HELPER"), "x"); err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("held\n")
		os.Stdin.Read(make([]byte, 1)) // hold until the parent closes stdin
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=TestLockDiesWithProcess")
	cmd.Env = append(os.Environ(), "DATADIR_HELPER="+dir)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := out.Read(buf); err != nil || string(buf) != "held\n" {
		t.Fatalf("helper: %q %v", buf, err)
	}
	var he *HeldError
	if _, err := Acquire(dir, "y"); !errors.As(err, &he) || he.Holder.PID != cmd.Process.Pid {
		t.Fatalf("while the helper holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	in.Close()
	l, err := Acquire(dir, "y")
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Release()
}
