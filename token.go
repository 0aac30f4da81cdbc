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
	// Subject owns the token: a record's owner, or the subject a
	// standalone token names ("" for none). Erasing the subject deletes it.
	Subject string
	// Record and Field name the record field whose value the token stands
	// for ("" for a standalone token): the change that replaces that value
	// or deletes the record deletes the token with it.
	Record    string
	Field     string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	RevokedAt time.Time // zero: active
}

// TokenKey is a namespace's data key, wrapped under a KEK version.
type TokenKey struct {
	Namespace  string
	WrappedKey []byte
	KEKVersion uint32
	CreatedAt  time.Time
}

// NamedKeyKind is the kind of a named, versioned key (SPEC §4): an FPE key
// or a token namespace's deterministic-token key. Both are derived from
// the derived-key root; a rotation adds a version explicitly.
type NamedKeyKind string

const (
	NamedKeyFPE   NamedKeyKind = "fpe_key"         // POST /v1/fpe/*'s key
	NamedKeyToken NamedKeyKind = "token_namespace" // deterministic tokens of a namespace
)

// NamedKey is one version (2 and up) of a named key. Version 1 of every
// name exists without a row (derived-key root version 1); a row records
// the derived-key root version its key is derived from, so a later
// rotation of that root does not change the key.
type NamedKey struct {
	Kind           NamedKeyKind
	Name           string
	Version        uint32 // 2 and up
	DerivedVersion uint32 // the derived-key root version the key comes from
	CreatedAt      time.Time
}
