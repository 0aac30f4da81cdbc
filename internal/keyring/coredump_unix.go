//go:build unix

package keyring

import "syscall"

// DisableCoreDumps sets RLIMIT_CORE to 0 so a crash does not write the
// process's memory, keys included, to disk (SPEC §4). serve calls it before
// it opens any key.
func DisableCoreDumps() error {
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})
}
