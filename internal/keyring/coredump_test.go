//go:build unix

package keyring

import (
	"syscall"
	"testing"
)

func TestDisableCoreDumps(t *testing.T) {
	if err := DisableCoreDumps(); err != nil {
		t.Fatal(err)
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &l); err != nil || l.Cur != 0 || l.Max != 0 {
		t.Fatalf("RLIMIT_CORE = %+v, %v", l, err)
	}
}
