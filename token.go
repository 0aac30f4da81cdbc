package coffer

import "time"

// Token is a surrogate for a value (a card number, an account number): the
// value sealed under its namespace's key, never stored hashed alone.
type Token struct {
	Token     string
	Namespace string // "default", a named namespace, or collection.field for a record's field
	// Fingerprint is a keyed hash of the normalized value: it tells a
	// repeated deterministic tokenization from a collision.
	Fingerprint []byte
	Value       []byte // AES-256-GCM under the namespace key, bound to namespace and token
	Subject     string // the owner when the token belongs to a record ("" otherwise)
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	RevokedAt   time.Time // zero: active
}

// TokenKey is a namespace's data key, wrapped under a KEK version.
type TokenKey struct {
	Namespace  string
	WrappedKey []byte
	KEKVersion uint32
	CreatedAt  time.Time
}
