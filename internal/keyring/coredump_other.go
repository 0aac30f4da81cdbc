//go:build !unix

package keyring

// DisableCoreDumps does nothing where there is no RLIMIT_CORE.
func DisableCoreDumps() error { return nil }
