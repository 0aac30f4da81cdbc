package fpe

// Cipher is what FF1 and FF31 have in common, so callers can hold either
// behind a configured name.
type Cipher interface {
	Radix() int
	MinLen() int
	MaxLen() int
	Encrypt(tweak []byte, x []uint16) ([]uint16, error)
	Decrypt(tweak []byte, x []uint16) ([]uint16, error)
	EncryptString(tweak []byte, s, alphabet string) (string, error)
	DecryptString(tweak []byte, s, alphabet string) (string, error)
}

var (
	_ Cipher = (*FF1)(nil)
	_ Cipher = (*FF31)(nil)
)
