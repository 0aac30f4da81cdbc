//go:build !pkcs11

package keyring

import "errors"

// Without the pkcs11 build tag the provider is absent (it needs cgo and a
// vendor library); these stubs keep callers compiling and fail closed.

var errNoPKCS11 = errors.New("keyring: this coffer was built without PKCS#11 support (build with -tags pkcs11)")

// PKCS11 is the pkcs11 provider (see pkcs11.go, build tag pkcs11).
type PKCS11 struct{}

// PKCS11Config names the module, the token and the wrapping key.
type PKCS11Config struct {
	Module     string
	TokenLabel string
	PIN        string
	KeyLabel   string
}

// OpenPKCS11 fails: no PKCS#11 support in this build.
func OpenPKCS11(PKCS11Config) (*PKCS11, error) { return nil, errNoPKCS11 }

// Close does nothing.
func (*PKCS11) Close() error { return nil }

// CreateKey fails: no PKCS#11 support in this build.
func (*PKCS11) CreateKey() error { return errNoPKCS11 }

// Wrap fails: no PKCS#11 support in this build.
func (*PKCS11) Wrap(*Root) (*Envelope, error) { return nil, errNoPKCS11 }

// Unwrap fails: no PKCS#11 support in this build.
func (*PKCS11) Unwrap(*Envelope) (*Root, error) { return nil, errNoPKCS11 }
