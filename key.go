package coffer

import (
	"crypto/subtle"
	"log/slog"
	"time"
)

// Secret holds key material or a credential. Every way of printing it
// redacts it, so a Secret that reaches a log line or a JSON document shows
// "[REDACTED]". Bytes is the one way out, and returns a copy.
type Secret struct{ b []byte }

// NewSecret returns a Secret holding a copy of b.
func NewSecret(b []byte) Secret { return Secret{b: append([]byte(nil), b...)} }

// Bytes returns a copy of the secret.
func (s Secret) Bytes() []byte { return append([]byte(nil), s.b...) }

// Len returns the secret's length in bytes.
func (s Secret) Len() int { return len(s.b) }

// Equal compares two secrets in constant time.
func (s Secret) Equal(t Secret) bool { return subtle.ConstantTimeCompare(s.b, t.b) == 1 }

const redacted = "[REDACTED]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// RootKeys are the keys at the top of the hierarchy: versioned KEKs that
// wrap subject DEKs, and the versioned derived-key root of the blind-index
// keys (and, at its version 1 only, of the other derived keys).
type RootKeys struct {
	Current  uint32            // the KEK version new DEKs are wrapped under
	KEKs     map[uint32]Secret // version → 32-byte AES-256 key
	IndexKey Secret            // 32 bytes; derived-key root version 1 (HKDF)
	// DerivedCurrent is the derived-key root version new blind indexes are
	// computed under (0 means 1); Derived holds versions 2 and up (a
	// rotation of the derived-key root adds one; none is ever removed).
	DerivedCurrent uint32
	Derived        map[uint32]Secret
}

// DerivedVersion is DerivedCurrent, 1 when unset.
func (k *RootKeys) DerivedVersion() uint32 { return max(k.DerivedCurrent, 1) }

// KeyProvider is a source of root keys (file, passphrase, shamir, pkcs11).
type KeyProvider interface {
	// Keys returns the root keys. It fails with ESEALED when the provider
	// cannot open them (a missing passphrase, too few shares).
	Keys() (*RootKeys, error)
}

// APIKey is a service credential. Only a hash of its secret is stored.
type APIKey struct {
	ID           string
	Name         string
	Role         string
	Hash         []byte // the verifier: HMAC under a root-derived key of SHA-256(secret)
	AllowedCIDRs []string
	CreatedAt    time.Time
	ExpiresAt    time.Time // zero: never
	RevokedAt    time.Time // zero: active
	LastUsedAt   time.Time // zero: never; recorded to within 30 seconds
	// MAC authenticates id, role, networks, expiry and verifier under a
	// root-derived key (SPEC §4); nil on rows written before it existed.
	MAC []byte
}

// APIKeyMAC is the verifier and MAC computed for an existing key row.
type APIKeyMAC struct {
	ID   string
	Hash []byte
	MAC  []byte
}

// CredentialMACs are written over credential rows that have none yet, at
// the first start with the keys (rows with a MAC are left alone).
type CredentialMACs struct {
	APIKeys   []APIKeyMAC
	Operators map[string][]byte // username → MAC
	Schema    []byte            // MAC of the stored schema document
}
