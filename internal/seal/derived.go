package seal

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"hash"
	"strconv"

	"github.com/cofferhq/coffer"
)

// Keys derived from a version of the derived-key root: the versions held,
// system secrets (TOTP), the erasure ledger, token fingerprints and the
// named FPE and deterministic-token keys.

// derivedSet is the derived-key root versions above 1 and the current one
// (replaced whole by Install; versions are only ever added).
type derivedSet struct {
	current uint32
	roots   map[uint32][]byte
}

func newDerivedSet(keys *coffer.RootKeys, old *derivedSet) (*derivedSet, error) {
	ds := &derivedSet{current: keys.DerivedVersion(), roots: map[uint32][]byte{}}
	for v := uint32(2); v <= ds.current; v++ {
		k, ok := keys.Derived[v]
		if !ok || k.Len() != keySize {
			return nil, errors.New("seal: derived-key root version " + strconv.Itoa(int(v)) + " is missing or not 32 bytes")
		}
		b := k.Bytes()
		if old != nil && old.roots[v] != nil {
			same := subtle.ConstantTimeCompare(b, old.roots[v]) == 1
			clear(b)
			if !same {
				return nil, errors.New("seal: the new keys have another derived-key root version " + strconv.Itoa(int(v)))
			}
			b = old.roots[v] // keep the slice the cached index keys came from
		}
		ds.roots[v] = b
	}
	if old != nil && old.current > ds.current {
		return nil, errors.New("seal: the new keys lack a derived-key root version the sealer holds")
	}
	return ds, nil
}

// DerivedVersion is the derived-key root version new blind indexes are
// computed under.
func (s *Sealer) DerivedVersion() uint32 { return s.derived.Load().current }

// secretAEAD derives the key that seals system secrets (operators' TOTP
// secrets) from derived-key root version: HKDF with its own label.
func (s *Sealer) secretAEAD(version uint32) (cipher.AEAD, error) {
	root := s.root(version)
	if root == nil {
		return nil, errNoDerived
	}
	key, err := hkdf.Key(sha256.New, root, nil, "coffer/secrets/v1", keySize)
	if err != nil {
		return nil, err
	}
	defer clear(key) // the AES schedule is built from it
	return newGCM(key)
}

// SealSecret encrypts a system secret bound to its kind and owner (AAD
// "kind|id", length-prefixed), with a random nonce, under the current
// derived-key root version, which it returns: the caller stores it
// beside the sealed secret and gives it to OpenSecret.
func (s *Sealer) SealSecret(kind, id string, plaintext []byte) ([]byte, uint32, error) {
	version := s.DerivedVersion()
	aead, err := s.secretAEAD(version)
	if err != nil {
		return nil, 0, err
	}
	var abuf [192]byte
	nonce := make([]byte, nonceSize, nonceSize+len(plaintext)+16)
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, fieldAAD(abuf[:], "secret", kind, id)), version, nil
}

// OpenSecret reverses SealSecret for the same kind and owner under the
// derived-key root version the secret was sealed under. EINTERNAL if the
// sealer does not hold the version.
func (s *Sealer) OpenSecret(kind, id string, sealed []byte, version uint32) ([]byte, error) {
	aead, err := s.secretAEAD(version)
	if err != nil {
		return nil, err
	}
	if len(sealed) < nonceSize+16 {
		return nil, errOpen
	}
	var abuf [192]byte
	pt, err := aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], fieldAAD(abuf[:], "secret", kind, id))
	if err != nil {
		return nil, errOpen
	}
	return pt, nil
}

// LedgerHash is the erasure ledger's entry for a subject under derived-key
// root version: the full HMAC-SHA256 of its id under a key derived from
// that root (its own HKDF label), so the ledger names no customer yet a
// restore can tell whom to erase again. An entry keeps the version it was
// made under (an erased id cannot be re-hashed): a check asks every held
// version. EINTERNAL if the sealer does not hold the version.
func (s *Sealer) LedgerHash(version uint32, subject string) ([]byte, error) {
	k := s.derivedKeyAt(version, "coffer/erasure-ledger/v1")
	if k == nil {
		return nil, errNoDerived
	}
	return k.mac(func(h hash.Hash) { h.Write([]byte(subject)) }), nil
}

// TokenFingerprint is the keyed hash of a normalized value in a token
// namespace (a blind index of its own collection "tokens").
func (s *Sealer) TokenFingerprint(namespace string, normalized []byte) []byte {
	return s.blindIndex("tokens", namespace, normalized)
}

// FPE keys and deterministic-token keys are named, versioned keys (SPEC
// §4): their owner rotates them explicitly, a rotation of the derived-key
// root does not move them. The scheme, for an FPE key name (resp. a token
// namespace):
//
//   - version 1: HKDF-SHA256(derived-key root version 1, info
//     "coffer/fpe/v1|<name>" (resp. "coffer/token-det/v1|<namespace>")),
//     the key every data directory had before keys were versioned, so
//     existing ciphertexts and tokens keep their meaning;
//   - version N ≥ 2: HKDF-SHA256(derived-key root version D, info
//     "coffer/fpe/v2|<name>|<N>" (resp. "coffer/token-det/v2|<namespace>|<N>")),
//     where D is the derived-key root version that was current when N was
//     added and is stored with N (coffer.NamedKey), so a later rotation of
//     the root leaves version N's key as it was.
//
// Names cannot hold '|' (schema.NamespaceRE), so no two (name, N) share a
// label. The key is returned to the caller, who zeroes it.
func (s *Sealer) namedKey(scheme, name string, version, derived uint32) ([]byte, error) {
	root, label := s.index, "coffer/"+scheme+"/v1|"+name
	switch {
	case version == 0 || derived == 0 || (version == 1 && derived != 1):
		return nil, errors.New("seal: named key version " + strconv.Itoa(int(version)) + " from derived-key root version " + strconv.Itoa(int(derived)))
	case version >= 2:
		label = "coffer/" + scheme + "/v2|" + name + "|" + strconv.FormatUint(uint64(version), 10)
		if derived != 1 {
			if root = s.derived.Load().roots[derived]; root == nil {
				return nil, errNoDerived
			}
		}
	}
	key, err := hkdf.Key(sha256.New, root, nil, label, keySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return key, nil
}

// DeterministicTokenKey is the key that derives a namespace's
// deterministic tokens (same value, same token) at a version of the
// namespace's key, derived from derived-key root version derived (see
// namedKey). EINTERNAL if the sealer does not hold that root version.
func (s *Sealer) DeterministicTokenKey(namespace string, version, derived uint32) ([]byte, error) {
	return s.namedKey("token-det", namespace, version, derived)
}

// FPEKey is the AES-256 key of a named format-preserving-encryption key
// at a version, derived from derived-key root version derived (see
// namedKey). EINTERNAL if the sealer does not hold that root version.
func (s *Sealer) FPEKey(name string, version, derived uint32) ([]byte, error) {
	return s.namedKey("fpe", name, version, derived)
}
