package keyring

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"strconv"

	"github.com/cofferhq/coffer"
)

// RootSize is the size of the root secret in bytes.
const RootSize = 32

// Root is the one secret at the top of the key hierarchy. Every other key
// (KEKs, the derived-key root, the audit signing seed, credential MACs) is
// derived from it with HKDF-SHA256 under a distinct label (see Derive).
//
// Every way of printing a Root redacts it. Destroy zeroes its bytes; Go may
// still have copied them (the garbage collector moves nothing today, but
// HKDF's and AES's internal state are out of our reach).
type Root struct{ b []byte }

// NewRoot returns a fresh random root.
func NewRoot() *Root {
	b := make([]byte, RootSize)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return &Root{b: b}
}

// RootFromBytes returns a root holding a copy of b, which must be RootSize
// bytes long.
func RootFromBytes(b []byte) (*Root, error) {
	if len(b) != RootSize {
		return nil, errors.New("keyring: a root secret is 32 bytes")
	}
	return &Root{b: append([]byte(nil), b...)}, nil
}

// Destroy zeroes the root's bytes. The Root is unusable afterwards.
func (r *Root) Destroy() {
	if r != nil {
		clear(r.b)
		r.b = nil
	}
}

// Destroyed reports whether Destroy was called.
func (r *Root) Destroyed() bool { return r == nil || r.b == nil }

// Equal compares two roots in constant time.
func (r *Root) Equal(o *Root) bool {
	return !r.Destroyed() && !o.Destroyed() && subtle.ConstantTimeCompare(r.b, o.b) == 1
}

const redacted = "[REDACTED]"

func (*Root) String() string               { return redacted }
func (*Root) GoString() string             { return redacted }
func (*Root) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (*Root) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
func (*Root) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// The HKDF labels (the info parameter). Each key has its own label, so no
// two derived keys are equal and none reveals another or the root.
const (
	labelKEK        = "coffer/kek/v"          // + KEK version: AES-256 KEKs wrapping DEKs
	labelDerived    = "coffer/derived-root/v" // + version: the derived-key root (blind indexes, tokens)
	labelAuditSign  = "coffer/audit-sign/v1"  // ed25519 seed of the audit signer
	labelCredential = "coffer/credential-mac/v1"
)

// Keys is everything the server needs once it is unsealed.
type Keys struct {
	// Root holds the versioned KEKs and the derived-key root versions
	// (IndexKey is version 1, Derived the others),
	// as every caller of the file provider uses them today.
	Root *coffer.RootKeys
	// AuditSeed is the 32-byte ed25519 seed of the audit signer
	// (ed25519.NewKeyFromSeed).
	AuditSeed coffer.Secret
	// CredentialMAC keys the MACs over API-key and operator rows.
	CredentialMAC coffer.Secret
}

func derive(secret []byte, label string) coffer.Secret {
	k, err := hkdf.Key(sha256.New, secret, nil, label, 32)
	if err != nil { // only for lengths over 255*32
		panic(err)
	}
	s := coffer.NewSecret(k)
	clear(k)
	return s
}

// Derive returns the keys derived from r: KEK versions 1..current (each
// HKDF(root, "coffer/kek/v<N>")), the derived-key root, the audit signing
// seed and the credential MAC key. current is not secret: the caller keeps
// it beside the wrapped root (a rotation increments it).
func Derive(r *Root, current uint32) (*Keys, error) {
	return DeriveVersions(r, current, 1)
}

// DeriveVersions is Derive with derived-key root versions 1..derived
// (each HKDF(root, "coffer/derived-root/v<N>"); version 1 is the IndexKey
// every other root-derived key comes from).
func DeriveVersions(r *Root, current, derived uint32) (*Keys, error) {
	return deriveKeys(r, 1, current, derived)
}

// deriveKeys is DeriveVersions from KEK version first on: the versions
// below it were retired (min_decryption_version) and are not derived.
func deriveKeys(r *Root, first, current, derived uint32) (*Keys, error) {
	if derived == 0 || derived > 1<<16 {
		return nil, errors.New("keyring: the current derived-key root version is between 1 and 65536")
	}
	if r.Destroyed() {
		return nil, coffer.Errorf(coffer.ESEALED, "the root key is not available")
	}
	if current == 0 || current > 1<<16 {
		return nil, errors.New("keyring: the current KEK version is between 1 and 65536")
	}
	if first == 0 || first > current {
		return nil, errors.New("keyring: min_decryption_version is above the current KEK version")
	}
	rk := &coffer.RootKeys{Current: current, KEKs: make(map[uint32]coffer.Secret, current-first+1)}
	for v := first; v <= current; v++ {
		rk.KEKs[v] = derive(r.b, labelKEK+strconv.FormatUint(uint64(v), 10))
	}
	rk.IndexKey = derive(r.b, labelDerived+"1")
	rk.DerivedCurrent = derived
	for v := uint32(2); v <= derived; v++ {
		if rk.Derived == nil {
			rk.Derived = map[uint32]coffer.Secret{}
		}
		rk.Derived[v] = derive(r.b, labelDerived+strconv.FormatUint(uint64(v), 10))
	}
	return &Keys{Root: rk, AuditSeed: derive(r.b, labelAuditSign), CredentialMAC: derive(r.b, labelCredential)}, nil
}

// LegacyKeys completes keys read from a keys.json file (the file provider,
// which holds KEKs and the derived-key root already unwrapped, and no
// single root). The audit seed and credential MAC key derive from the
// file's index key, under the same labels; the audit seed is exactly what
// audit.NewSigner(keys.IndexKey) computes today, so existing audit logs
// keep verifying.
func LegacyKeys(rk *coffer.RootKeys) *Keys {
	idx := rk.IndexKey.Bytes()
	defer clear(idx)
	return &Keys{Root: rk, AuditSeed: derive(idx, labelAuditSign), CredentialMAC: derive(idx, labelCredential)}
}
