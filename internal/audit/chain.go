package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"iter"

	"github.com/cofferhq/coffer"
)

const domain = "coffer/audit/v1"

// Hash returns the SHA-256 of e's canonical encoding, which covers every
// field but Hash itself, PrevHash included.
func Hash(e *coffer.AuditEntry) []byte {
	h := sha256.New()
	var buf [512]byte
	b := appendCanonical(buf[:0], e)
	h.Write(b)
	return h.Sum(nil)
}

// appendCanonical encodes e unambiguously: fixed-width integers and
// length-prefixed strings, in a fixed order.
func appendCanonical(b []byte, e *coffer.AuditEntry) []byte {
	b = appendString(b, domain)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, s := range [...]string{e.Actor, e.Action, e.Collection, e.Record, e.Subject} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Fields)))
	for _, f := range e.Fields {
		b = appendString(b, f)
	}
	for _, s := range [...]string{e.Purpose, e.Outcome, e.Reason, e.ClientIP, e.RequestID} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(e.PrevHash)))
	return append(b, e.PrevHash...)
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

// Signer signs and checks heads with an Ed25519 key derived from key
// material the store never holds in plaintext at rest.
type Signer struct {
	priv    ed25519.PrivateKey
	pub     ed25519.PublicKey
	version uint32 // the derived-key root's version the key comes from
}

// NewSigner derives the audit signing key from root secret material.
func NewSigner(root coffer.Secret) (*Signer, error) {
	seed, err := hkdf.Key(sha256.New, root.Bytes(), nil, "coffer/audit-sign/v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, pub: priv.Public().(ed25519.PublicKey), version: 1}, nil
}

// Version is the key version checkpoints signed by s carry.
func (s *Signer) Version() uint32 { return s.version }

// PublicKey returns the verification key (safe to publish).
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

func headMessage(seq int64, hash []byte) []byte {
	b := appendString(nil, "coffer/audit-head/v1")
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	return append(b, hash...)
}

// Sign returns the signed head for (seq, hash).
func (s *Signer) Sign(seq int64, hash []byte) Head {
	return Head{Seq: seq, Hash: hash, Signature: ed25519.Sign(s.priv, headMessage(seq, hash))}
}

// VerifyHead reports whether h carries a valid signature under pub.
func VerifyHead(pub ed25519.PublicKey, h Head) bool {
	return len(pub) == ed25519.PublicKeySize && len(h.Signature) == ed25519.SignatureSize && ed25519.Verify(pub, headMessage(h.Seq, h.Hash), h.Signature)
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
// signature must verify under pub and the log must end exactly at it; when
// head is nil but pub is given, a non-empty log fails (its head was removed).
// It returns the number of entries checked and a *Failure naming the first
// bad sequence number, or another error when reading fails.
func Verify(entries iter.Seq2[*coffer.AuditEntry, error], head *Head, pub ed25519.PublicKey) (int64, error) {
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
		case !bytes.Equal(Hash(e), e.Hash):
			return n, &Failure{Seq: e.Seq, Reason: "hash does not match the entry's content (entry edited)"}
		}
		prev = e.Hash
		want++
		n++
	}
	if head == nil {
		if n > 0 && pub != nil {
			// Every commit signs the head: a log with entries and no head
			// had its head removed, which is how truncation would hide.
			return n, &Failure{Seq: n, Reason: "the signed head is missing (removed to hide truncation?)"}
		}
		return n, nil
	}
	if !VerifyHead(pub, *head) {
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
