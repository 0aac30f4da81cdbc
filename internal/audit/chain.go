package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
)

// Entry formats. Format 2 (SPEC §8) adds the view each field was returned
// in; entries up to a KindFormat checkpoint were written in format 1 and
// keep verifying under format 1's encoding.
const (
	domainV1 = "coffer/audit/v1"
	domainV2 = "coffer/audit/v2"
)

// Hash returns the SHA-256 of e's canonical encoding (format 2), which
// covers every field but Hash itself, PrevHash included.
func Hash(e *coffer.AuditEntry) []byte { return hashFormat(e, 2) }

// HashV1 is the hash of an entry written in format 1 (no views).
func HashV1(e *coffer.AuditEntry) []byte { return hashFormat(e, 1) }

func hashFormat(e *coffer.AuditEntry, format int) []byte {
	h := sha256.New()
	var buf [512]byte
	b := appendCanonical(buf[:0], e, format)
	h.Write(b)
	return h.Sum(nil)
}

// appendCanonical encodes e unambiguously: fixed-width integers and
// length-prefixed strings, in a fixed order. Format 2 follows every field
// name with its view ("none" when the entry says none).
func appendCanonical(b []byte, e *coffer.AuditEntry, format int) []byte {
	if format == 1 {
		b = appendString(b, domainV1)
	} else {
		b = appendString(b, domainV2)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, s := range [...]string{e.Actor, e.Action, e.Collection, e.Record, e.Subject} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Fields)))
	for i, f := range e.Fields {
		b = appendString(b, f)
		if format != 1 {
			b = appendString(b, string(e.View(i)))
		}
	}
	for _, s := range [...]string{e.Purpose, e.Outcome, e.Reason, e.ClientIP, e.RequestID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.PrevHash)))
	return append(b, e.PrevHash...)
}

func entryHash(e *coffer.AuditEntry, v1Until int64) []byte {
	if e.Seq <= v1Until {
		return HashV1(e)
	}
	return Hash(e)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Chain links entries in order. It is the in-memory tail of the log that a
// store's single writer advances; it is not safe for concurrent use.
type Chain struct {
	Seq  int64  // last sequence number appended (0: empty log)
	Last []byte // hash of the last entry (nil: empty log)
}

// Link sets e's Seq, PrevHash and Hash as the next entry of the chain and
// advances the chain. The caller sets e.Time.
func (c *Chain) Link(e *coffer.AuditEntry) {
	c.Seq++
	e.Seq = c.Seq
	e.PrevHash = c.Last
	e.Hash = Hash(e)
	c.Last = e.Hash
}

// Head is the signed position of the end of the log.
type Head = coffer.AuditHead

// Signer holds the audit signing keys by version and signs with the
// current one. Version N's Ed25519 seed is HKDF(derived-key root version
// N, "coffer/audit-sign/v1"), so a rotation of the derived-key root (SPEC
// §4) adds a key: new heads, checkpoints and backup manifests are signed by
// it, and the old public keys stay verifiable (PublicKeys). It is safe for
// concurrent use; versions are only ever added.
type Signer struct {
	mu      sync.Mutex // serialises Install, Publish and Reload
	set     atomic.Pointer[signerSet]
	publish func(version uint32, pub ed25519.PublicKey) error
	reload  func() (*coffer.RootKeys, error)
	lastTry time.Time // of reload, at most once a second
}

type signerSet struct {
	current *SigningKey
	keys    map[uint32]*SigningKey
}

// SigningKey is one version of the audit signing key.
type SigningKey struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	version uint32 // the derived-key root's version the key comes from
}

func newSigningKey(root coffer.Secret, version uint32) (*SigningKey, error) {
	if root.Len() == 0 {
		return nil, errors.New("audit: no key material for audit key version " + strconv.FormatUint(uint64(version), 10))
	}
	b := root.Bytes()
	defer clear(b)
	seed, err := hkdf.Key(sha256.New, b, nil, "coffer/audit-sign/v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	return &SigningKey{priv: priv, pub: priv.Public().(ed25519.PublicKey), version: version}, nil
}

// NewSigner derives audit key version 1 from root secret material (the
// derived-key root version 1, RootKeys.IndexKey).
func NewSigner(root coffer.Secret) (*Signer, error) {
	k, err := newSigningKey(root, 1)
	if err != nil {
		return nil, err
	}
	s := &Signer{}
	s.set.Store(&signerSet{current: k, keys: map[uint32]*SigningKey{1: k}})
	return s, nil
}

// NewSignerKeys derives an audit key for every derived-key root version
// keys hold; the current derived version signs.
func NewSignerKeys(keys *coffer.RootKeys) (*Signer, error) {
	s, err := NewSigner(keys.IndexKey)
	if err != nil {
		return nil, err
	}
	return s, s.Install(keys)
}

// Publish calls f with every held key version's public key, now and, from
// then on, before a key that Install adds signs anything (serve keeps the
// audit-keys.txt beside the config current with it). An error from f
// fails Publish, and Install, which then adds nothing.
func (s *Signer) Publish(f func(version uint32, pub ed25519.PublicKey) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range slices.Sorted(maps.Keys(s.set.Load().keys)) {
		if err := f(v, s.set.Load().keys[v].pub); err != nil {
			return err
		}
	}
	s.publish = f
	return nil
}

// Install adds the audit keys of the derived-key root versions keys hold
// beyond the signer's, publishes them, and makes the key of keys'
// current derived version current (a rotation). A version the signer
// holds keeps its key.
func (s *Signer) Install(keys *coffer.RootKeys) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.set.Load()
	next := &signerSet{current: old.current, keys: maps.Clone(old.keys)}
	for v := uint32(2); v <= keys.DerivedVersion(); v++ {
		if next.keys[v] != nil {
			continue
		}
		k, err := newSigningKey(keys.Derived[v], v)
		if err != nil {
			return err
		}
		if s.publish != nil {
			if err := s.publish(v, k.pub); err != nil {
				return fmt.Errorf("audit key version %d: %w", v, err)
			}
		}
		next.keys[v] = k
	}
	if k := next.keys[keys.DerivedVersion()]; k != nil && k.version > next.current.version {
		next.current = k
	}
	s.set.Store(next)
	return nil
}

// SetReload gives the signer the key source to read again when a signed
// head verifies under none of its keys (another node of a shared store
// rotated the derived-key root): see Reload.
func (s *Signer) SetReload(f func() (*coffer.RootKeys, error)) {
	s.mu.Lock()
	s.reload = f
	s.mu.Unlock()
}

// Reload reads the key source SetReload gave (at most once a second) and
// installs the audit keys it holds beyond the signer's. It reports whether
// it added a version.
func (s *Signer) Reload() bool {
	s.mu.Lock()
	f := s.reload
	if f == nil || time.Since(s.lastTry) < time.Second {
		s.mu.Unlock()
		return false
	}
	s.lastTry = time.Now()
	s.mu.Unlock()
	keys, err := f()
	if err != nil {
		return false
	}
	n := len(s.set.Load().keys)
	return s.Install(keys) == nil && len(s.set.Load().keys) > n
}

// Current is the key that signs now. Callers that sign and record the
// version separately take it once.
func (s *Signer) Current() *SigningKey { return s.set.Load().current }

// Version is the key version checkpoints signed by s now carry.
func (s *Signer) Version() uint32 { return s.Current().version }

// PublicKey returns the current verification key (safe to publish).
func (s *Signer) PublicKey() ed25519.PublicKey { return s.Current().pub }

// PublicKeys returns every held version's verification key.
func (s *Signer) PublicKeys() map[uint32]ed25519.PublicKey {
	ks := s.set.Load().keys
	out := make(map[uint32]ed25519.PublicKey, len(ks))
	for v, k := range ks {
		out[v] = k.pub
	}
	return out
}

// Sign returns the signed head for (seq, hash) under the current key.
func (s *Signer) Sign(seq int64, hash []byte) Head { return s.Current().Sign(seq, hash) }

// Version is the key's version.
func (k *SigningKey) Version() uint32 { return k.version }

// PublicKey returns the key's verification key.
func (k *SigningKey) PublicKey() ed25519.PublicKey { return k.pub }

func headMessage(seq int64, hash []byte) []byte {
	b := appendString(nil, "coffer/audit-head/v1")
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	return append(b, hash...)
}

// Sign returns the signed head for (seq, hash).
func (k *SigningKey) Sign(seq int64, hash []byte) Head {
	return Head{Seq: seq, Hash: hash, Signature: ed25519.Sign(k.priv, headMessage(seq, hash))}
}

// VerifyHead reports whether h carries a valid signature under pub.
func VerifyHead(pub ed25519.PublicKey, h Head) bool {
	return len(pub) == ed25519.PublicKeySize && len(h.Signature) == ed25519.SignatureSize && ed25519.Verify(pub, headMessage(h.Seq, h.Hash), h.Signature)
}

// VerifyHeadAny reports whether h carries a valid signature under one of
// pubs (the head row does not name its key version: after a rotation it
// is signed by the new key from the first commit on).
func VerifyHeadAny(pubs map[uint32]ed25519.PublicKey, h Head) bool {
	for _, pub := range pubs {
		if VerifyHead(pub, h) {
			return true
		}
	}
	return false
}

// Failure describes the first point where the log does not verify.
type Failure struct {
	Seq    int64  // the first bad sequence number
	Reason string // what is wrong there
}

func (f *Failure) Error() string {
	return fmt.Sprintf("audit log broken at seq %d: %s", f.Seq, f.Reason)
}

// Verify walks entries in ascending storage order and checks that sequence
// numbers run 1, 2, 3… without gaps, that each entry links to the previous
// one and that each hash matches its content. When head is not nil, its
// signature must verify under one of pubs and the log must end exactly at
// it; when head is nil but pubs are given, a non-empty log fails (its head
// was removed).
// It returns the number of entries checked and a *Failure naming the first
// bad sequence number, or another error when reading fails.
func Verify(entries iter.Seq2[*coffer.AuditEntry, error], head *Head, pubs map[uint32]ed25519.PublicKey) (int64, error) {
	return VerifyWith(entries, head, pubs, VerifyOptions{})
}

// VerifyOptions extend Verify.
type VerifyOptions struct {
	// V1Until: entries with seq ≤ V1Until are format 1 (FormatBoundary).
	V1Until int64
	// Witnesses also see every entry and are checked at the end (signed
	// checkpoints from the database, from a witness file).
	Witnesses []*Witnessed
}

// FormatBoundary is V1Until for a log whose checkpoints are cps (already
// verified): the seq of the format checkpoint, or every entry when there
// is none (a log no format-2 writer has opened yet). Removing the format
// checkpoint therefore makes format-2 entries fail, never pass.
func FormatBoundary(cps []Checkpoint) int64 {
	for _, cp := range cps {
		if cp.Kind == KindFormat {
			return cp.Seq
		}
	}
	return math.MaxInt64
}

// VerifyWith is Verify with options.
func VerifyWith(entries iter.Seq2[*coffer.AuditEntry, error], head *Head, pubs map[uint32]ed25519.PublicKey, o VerifyOptions) (int64, error) {
	var want int64 = 1
	var prev []byte
	var n int64
	for e, err := range entries {
		if err != nil {
			return n, err
		}
		switch {
		case e.Seq != want:
			// A missing, inserted or moved entry: the first bad position is
			// the sequence number that should have been here.
			return n, &Failure{Seq: want, Reason: fmt.Sprintf("expected seq %d, found %d (entry deleted, inserted or reordered)", want, e.Seq)}
		case !bytes.Equal(e.PrevHash, prev):
			return n, &Failure{Seq: e.Seq, Reason: "prev_hash does not match the previous entry (entry edited or reordered)"}
		case !bytes.Equal(entryHash(e, o.V1Until), e.Hash):
			return n, &Failure{Seq: e.Seq, Reason: "hash does not match the entry's content (entry edited)"}
		}
		for _, w := range o.Witnesses {
			w.See(e.Seq, e.Hash)
		}
		prev = e.Hash
		want++
		n++
	}
	for _, w := range o.Witnesses {
		if err := w.Check(n); err != nil {
			return n, err
		}
	}
	if head == nil {
		if n > 0 && pubs != nil {
			// Every commit signs the head: a log with entries and no head
			// had its head removed, which is how truncation would hide.
			return n, &Failure{Seq: n, Reason: "the signed head is missing (removed to hide truncation?)"}
		}
		return n, nil
	}
	if !VerifyHeadAny(pubs, *head) {
		return n, &Failure{Seq: head.Seq, Reason: "the signed head's signature is invalid (head edited)"}
	}
	if head.Seq != n || !bytes.Equal(head.Hash, prev) {
		if head.Seq > n {
			return n, &Failure{Seq: n + 1, Reason: fmt.Sprintf("log ends at seq %d but the signed head is at seq %d (entries deleted at the end)", n, head.Seq)}
		}
		return n, &Failure{Seq: head.Seq, Reason: "log does not match the signed head"}
	}
	return n, nil
}
