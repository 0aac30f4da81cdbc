//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestServeDisablesCoreDumps: a crash of a serving process must not write
// its memory (the keys) to disk.
func TestServeDisablesCoreDumps(t *testing.T) {
	if err := syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}); err != nil {
		t.Skipf("cannot raise RLIMIT_CORE to test it (%v)", err)
	}
	dir, _ := initData(t, "")
	serveLines(t, "--config", filepath.Join(dir, "coffer.yaml"), "--addr", "127.0.0.1:0")
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur != 0 {
		t.Fatalf("RLIMIT_CORE of a serving process is %d, want 0", lim.Cur)
	}
}
