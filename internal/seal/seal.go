package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/cofferhq/coffer"
)

const (
	keySize     = 32
	nonceSize   = 12
	fieldFormat = 1 // version byte of field ciphertexts
	// IndexSize is the length of a blind-index hash.
	IndexSize = 16
)

var errOpen = &coffer.Error{Code: coffer.EINTERNAL, Message: "ciphertext failed to authenticate"}

// Sealer holds the unwrapped KEKs and the index root key. It is safe for
// concurrent use.
type Sealer struct {
	kek     atomic.Pointer[kekSet] // replaced whole by Install (rotation, retirement)
	index   []byte                 // derived-key root version 1
	derived atomic.Pointer[derivedSet]
	idxKeys sync.Map // version|collection|field, or an HKDF label (derivedKey) → *indexKey
}

// kekSet is the KEK versions a Sealer knows and the current one.
type kekSet struct {
	current uint32
	keks    map[uint32]cipher.AEAD
}

func newKEKSet(keys *coffer.RootKeys) (*kekSet, error) {
	ks := &kekSet{current: keys.Current, keks: map[uint32]cipher.AEAD{}}
	for v, k := range keys.KEKs {
		if k.Len() != keySize {
			return nil, errors.New("seal: KEK version " + strconv.Itoa(int(v)) + " is not 32 bytes")
		}
		kb := k.Bytes() // a copy: zeroed once the AES schedule is built
		aead, err := newGCM(kb)
		clear(kb)
		if err != nil {
			return nil, err
		}
		ks.keks[v] = aead
	}
	if ks.keks[ks.current] == nil {
		return nil, errors.New("seal: the current KEK version is missing")
	}
	return ks, nil
}

// New builds a Sealer from root keys.
func New(keys *coffer.RootKeys) (*Sealer, error) {
	if keys == nil || keys.IndexKey.Len() != keySize {
		return nil, errors.New("seal: the index root key must be 32 bytes")
	}
	ks, err := newKEKSet(keys)
	if err != nil {
		return nil, err
	}
	ds, err := newDerivedSet(keys, nil)
	if err != nil {
		return nil, err
	}
	s := &Sealer{index: keys.IndexKey.Bytes()}
	s.kek.Store(ks)
	s.derived.Store(ds)
	return s, nil
}

// Install replaces the KEK versions of a live sealer (a rotation added
// one, a retirement removed one) and adds the derived-key root versions
// keys hold beyond the sealer's (a rotation of the derived-key root):
// keys must carry the same derived-key roots for the versions the sealer
// holds. Calls in flight keep the set they started with; a DEK wrapped
// under a version both sets hold opens under either.
func (s *Sealer) Install(keys *coffer.RootKeys) error {
	if keys == nil || keys.IndexKey.Len() != keySize {
		return errors.New("seal: the index root key must be 32 bytes")
	}
	idx := keys.IndexKey.Bytes()
	defer clear(idx)
	if subtle.ConstantTimeCompare(idx, s.index) != 1 {
		return errors.New("seal: the new keys have another derived-key root")
	}
	ks, err := newKEKSet(keys)
	if err != nil {
		return err
	}
	ds, err := newDerivedSet(keys, s.derived.Load())
	if err != nil {
		return err
	}
	s.kek.Store(ks)
	s.derived.Store(ds)
	return nil
}

// Versions returns the KEK versions the sealer holds, unordered.
func (s *Sealer) Versions() []uint32 {
	ks := s.kek.Load()
	out := make([]uint32, 0, len(ks.keks))
	for v := range ks.keks {
		out = append(out, v)
	}
	return out
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Wipe zeroes the index root key and forgets the KEKs and derived index
// keys. The sealer must not be used afterwards. The AES key schedules of
// the KEKs and the HMAC states of the index keys are out of Go's reach:
// they are dropped and left to the garbage collector.
func (s *Sealer) Wipe() {
	clear(s.index)
	for _, r := range s.derived.Load().roots {
		clear(r)
	}
	s.derived.Store(&derivedSet{roots: map[uint32][]byte{}})
	s.idxKeys.Range(func(_, k any) bool {
		clear(k.(*indexKey).key)
		return true
	})
	s.idxKeys.Clear()
	s.kek.Store(&kekSet{keks: map[uint32]cipher.AEAD{}})
}

// String keeps key material out of logs.
func (s *Sealer) String() string { return "seal.Sealer{[REDACTED]}" }

// GoString keeps key material out of %#v.
func (s *Sealer) GoString() string { return s.String() }

// CurrentVersion is the KEK version new DEKs are wrapped under.
func (s *Sealer) CurrentVersion() uint32 { return s.kek.Load().current }

func dekAAD(subject string, version uint32) []byte {
	b := make([]byte, 0, 32+len(subject))
	b = append(b, "coffer/dek/v1|"...)
	b = append(b, subject...)
	b = append(b, '|')
	return strconv.AppendUint(b, uint64(version), 10)
}

// NewDEK makes a random DEK for subject and wraps it under the current KEK.
func (s *Sealer) NewDEK(subject string) (dek *DEK, wrapped []byte, version uint32, err error) {
	key := make([]byte, keySize)
	defer clear(key) // the AES key schedule keeps its own copy
	rand.Read(key)
	defer clear(key) // the AEAD keeps its own schedule; the raw key goes now
	dek, err = newDEK(key)
	if err != nil {
		return nil, nil, 0, err
	}
	wrapped, version = s.wrap(subject, key)
	return dek, wrapped, version, nil
}

// wrap seals key under the current KEK and returns that version: the
// version is read once, so the AAD and the stored version always agree.
func (s *Sealer) wrap(subject string, key []byte) ([]byte, uint32) {
	ks := s.kek.Load()
	nonce := make([]byte, nonceSize, nonceSize+keySize+16)
	rand.Read(nonce)
	return ks.keks[ks.current].Seal(nonce, nonce, key, dekAAD(subject, ks.current)), ks.current
}

func (s *Sealer) unwrap(subject string, wrapped []byte, version uint32) ([]byte, error) {
	kek := s.kek.Load().keks[version]
	if kek == nil {
		return nil, &coffer.Error{Code: coffer.EINTERNAL, Message: "unknown KEK version " + strconv.Itoa(int(version))}
	}
	if len(wrapped) != nonceSize+keySize+16 {
		return nil, errOpen
	}
	key, err := kek.Open(nil, wrapped[:nonceSize], wrapped[nonceSize:], dekAAD(subject, version))
	if err != nil {
		return nil, errOpen
	}
	return key, nil
}

// OpenDEK unwraps a subject's DEK.
func (s *Sealer) OpenDEK(subject string, wrapped []byte, version uint32) (*DEK, error) {
	key, err := s.unwrap(subject, wrapped, version)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return newDEK(key)
}

// Rewrap re-wraps a DEK under the current KEK version (key rotation:
// values are not re-encrypted).
func (s *Sealer) Rewrap(subject string, wrapped []byte, version uint32) ([]byte, uint32, error) {
	key, err := s.unwrap(subject, wrapped, version)
	if err != nil {
		return nil, 0, err
	}
	defer clear(key)
	w, v := s.wrap(subject, key)
	return w, v, nil
}

// DEK is one subject's data key. It is safe for concurrent use.
//
// It holds the AES-GCM state only: the raw key bytes are zeroed as soon as
// the state is built (NewDEK, OpenDEK and Rewrap clear theirs; nothing
// else keeps a copy). The state itself — the expanded AES key schedule
// and GHASH key inside crypto/aes and crypto/cipher — is unexported and
// cannot be zeroed from Go: a dropped or erased DEK leaves it in memory
// until the garbage collector reuses it. That is out of our reach (short
// of unsafe tricks on the standard library's internals, or building with
// GOEXPERIMENT=runtimesecret, which this code does not depend on).
type DEK struct{ aead cipher.AEAD }

func newDEK(key []byte) (*DEK, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &DEK{aead: aead}, nil
}

// String keeps key material out of logs.
func (*DEK) String() string { return "seal.DEK{[REDACTED]}" }

// GoString keeps key material out of %#v.
func (d *DEK) GoString() string { return d.String() }

// fieldAAD writes collection|record|field, each length-prefixed, into buf.
func fieldAAD(buf []byte, collection, record, field string) []byte {
	b := buf[:0]
	for _, s := range [3]string{collection, record, field} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Seal encrypts a field value bound to collection, record and field and
// appends version || nonce || ciphertext to dst.
func (d *DEK) Seal(dst []byte, collection, record, field string, plaintext []byte) []byte {
	var abuf [192]byte
	aad := fieldAAD(abuf[:], collection, record, field)
	n := len(dst)
	out := append(dst, make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+16)...)
	out[n] = fieldFormat
	rand.Read(out[n+1 : n+1+nonceSize])
	return d.aead.Seal(out, out[n+1:n+1+nonceSize], plaintext, aad)
}

// Open decrypts a field value sealed for exactly this collection, record
// and field, appending the plaintext to dst.
func (d *DEK) Open(dst []byte, collection, record, field string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 1+nonceSize+16 || ciphertext[0] != fieldFormat {
		return nil, errOpen
	}
	var abuf [192]byte
	aad := fieldAAD(abuf[:], collection, record, field)
	out, err := d.aead.Open(dst, ciphertext[1:1+nonceSize], ciphertext[1+nonceSize:], aad)
	if err != nil {
		return nil, errOpen
	}
	return out, nil
}

// indexKey is one key derived from the index root key with a pool of
// HMAC states (each holds its own copy of the key, out of reach; key is
// zeroed by Wipe). Blind indexes, API-key verifiers, credential MACs and
// ledger hashes use one each: deriving the key (HKDF) and setting up the
// HMAC on every call cost more than the hash itself.
type indexKey struct {
	pool sync.Pool
	key  []byte
}

// indexKey is the index key of collection and field under derived-key
// root version (HKDF "coffer/index/v1|collection|field": the label's v1
// names the scheme, the root its version); nil if the version is not held.
func (s *Sealer) indexKey(version uint32, collection, field string) *indexKey {
	name := collection + "|" + field
	cacheKey := strconv.FormatUint(uint64(version), 10) + "|" + name
	if k, ok := s.idxKeys.Load(cacheKey); ok {
		return k.(*indexKey)
	}
	root := s.root(version)
	if root == nil {
		return nil
	}
	key, err := hkdf.Key(sha256.New, root, nil, "coffer/index/v1|"+name, keySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	k := &indexKey{key: key}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	actual, _ := s.idxKeys.LoadOrStore(cacheKey, k)
	return actual.(*indexKey)
}

// derivedKey returns the key HKDF derives from derived-key root version
// 1 under label (the HKDF info), derived once: API-key verifiers and
// credential MACs, which a rotation of the derived-key root does not
// re-compute.
func (s *Sealer) derivedKey(label string) *indexKey { return s.derivedKeyAt(1, label) }

// derivedKeyAt is derivedKey under derived-key root version; nil if the
// version is not held.
func (s *Sealer) derivedKeyAt(version uint32, label string) *indexKey {
	cacheKey := label
	if version != 1 {
		cacheKey = "derived/" + strconv.FormatUint(uint64(version), 10) + "|" + label
	}
	if k, ok := s.idxKeys.Load(cacheKey); ok {
		return k.(*indexKey)
	}
	root := s.root(version)
	if root == nil {
		return nil
	}
	key, err := hkdf.Key(sha256.New, root, nil, label, keySize)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	k := &indexKey{key: key}
	k.pool.New = func() any { return hmac.New(sha256.New, key) }
	actual, _ := s.idxKeys.LoadOrStore(cacheKey, k)
	return actual.(*indexKey)
}

// root is derived-key root version, nil if not held.
func (s *Sealer) root(version uint32) []byte {
	if version == 1 {
		return s.index
	}
	return s.derived.Load().roots[version]
}

// mac returns the HMAC-SHA256 of what write writes, under k.
func (k *indexKey) mac(write func(h hash.Hash)) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	write(h)
	out := h.Sum(nil)
	k.pool.Put(h)
	return out
}

var errNoDerived = &coffer.Error{Code: coffer.EINTERNAL, Message: "derived-key root version not held"}

// BlindIndexAt returns the 16-byte blind index of a normalized value of a
// record field under derived-key root version. EINTERNAL if the sealer
// does not hold the version.
func (s *Sealer) BlindIndexAt(version uint32, collection, field string, normalized []byte) ([]byte, error) {
	k := s.indexKey(version, collection, field)
	if k == nil {
		return nil, errNoDerived
	}
	return k.sum(normalized), nil
}

// blindIndex is BlindIndexAt under derived-key root version 1, always
// held: token fingerprints, which a rotation of the derived-key root does
// not re-compute.
func (s *Sealer) blindIndex(collection, field string, normalized []byte) []byte {
	return s.indexKey(1, collection, field).sum(normalized)
}

func (k *indexKey) sum(normalized []byte) []byte {
	h := k.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(normalized)
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	k.pool.Put(h)
	return append([]byte(nil), out[:IndexSize]...)
}
