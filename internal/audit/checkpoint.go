package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"
)

// Checkpoint kinds.
const (
	// KindPeriodic is written every N entries and at least every minute.
	KindPeriodic = "periodic"
	// KindFormat marks where entries of one canonical format end; entries
	// after it use the next format.
	KindFormat = "format"
	// KindRestore is the head of a backup a store was restored from.
	KindRestore = "restore"
)

// Checkpoint is a signed position of the log: the entry at Seq has hash
// Hash. Counter grows by one with every checkpoint a log ever gets, so an
// old checkpoint presented again (a replayed head) is older than the last
// one a witness holds. KeyVersion names the signing key (the derived-key
// root's version), so checkpoints stay verifiable after a rotation.
type Checkpoint struct {
	Kind       string
	Seq        int64
	Hash       []byte
	Time       time.Time
	Counter    uint64
	KeyVersion uint32
	Signature  []byte
}

func checkpointMessage(cp *Checkpoint) []byte {
	b := appendString(nil, "coffer/audit-checkpoint/v1")
	b = appendString(b, cp.Kind)
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Seq))
	b = appendString(b, string(cp.Hash))
	b = binary.BigEndian.AppendUint64(b, uint64(cp.Time.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, cp.Counter)
	return binary.BigEndian.AppendUint32(b, cp.KeyVersion)
}

// SignCheckpoint signs cp in place with the current key (setting its
// KeyVersion).
func (s *Signer) SignCheckpoint(cp *Checkpoint) { s.Current().SignCheckpoint(cp) }

// SignCheckpoint signs cp in place with k (setting its KeyVersion).
func (k *SigningKey) SignCheckpoint(cp *Checkpoint) {
	cp.KeyVersion = k.version
	cp.Signature = ed25519.Sign(k.priv, checkpointMessage(cp))
}

// Verify reports whether cp carries a valid signature under pub.
func (cp *Checkpoint) Verify(pub ed25519.PublicKey) bool {
	return len(pub) == ed25519.PublicKeySize && len(cp.Signature) == ed25519.SignatureSize &&
		ed25519.Verify(pub, checkpointMessage(cp), cp.Signature)
}

// Witnessed checks a log against the checkpoints a witness holds. Feed it
// every entry's (seq, hash) in order with See, then call Check with the
// number of entries seen. It keeps only the witnessed positions in memory.
type Witnessed struct {
	want    map[int64][]byte // witnessed seq → hash
	last    int64            // highest witnessed seq
	lastCtr uint64
	lastKey uint32 // the key version of the last checkpoint
	bad     *Failure
}

// NewWitnessed returns a checker for checkpoints cps, each of which must
// verify under the public key of its version in pubs. Counters must grow
// along the file: a witness that goes backwards was edited. Key versions
// never go down: once a rotation's key signed, a checkpoint under an older
// key (whose holder may be who the rotation shut out) is refused.
func NewWitnessed(cps []Checkpoint, pubs map[uint32]ed25519.PublicKey) (*Witnessed, error) {
	w := &Witnessed{want: make(map[int64][]byte, len(cps))}
	for i := range cps {
		cp := &cps[i]
		if !cp.Verify(pubs[cp.KeyVersion]) {
			return nil, fmt.Errorf("witness checkpoint %d (seq %d): signature does not verify under audit key version %d", i+1, cp.Seq, cp.KeyVersion)
		}
		if i > 0 && cp.Counter <= w.lastCtr {
			return nil, fmt.Errorf("witness checkpoint %d (seq %d): counter %d does not follow %d (witness edited)", i+1, cp.Seq, cp.Counter, w.lastCtr)
		}
		if cp.KeyVersion < w.lastKey {
			return nil, fmt.Errorf("witness checkpoint %d (seq %d): signed by audit key version %d after version %d signed", i+1, cp.Seq, cp.KeyVersion, w.lastKey)
		}
		if h, ok := w.want[cp.Seq]; ok && !bytes.Equal(h, cp.Hash) {
			return nil, fmt.Errorf("witness checkpoint %d: two hashes for seq %d", i+1, cp.Seq)
		}
		if cp.Kind == KindRestore {
			// A restore starts a new history at the backup's head: what the
			// witness saw past it belonged to the log that was replaced.
			for s := range w.want {
				if s > cp.Seq {
					delete(w.want, s)
				}
			}
			w.last = cp.Seq
		}
		w.want[cp.Seq] = cp.Hash
		w.last = max(w.last, cp.Seq)
		w.lastCtr, w.lastKey = cp.Counter, cp.KeyVersion
	}
	return w, nil
}

// See checks one entry of the log against the witness.
func (w *Witnessed) See(seq int64, hash []byte) {
	if w.bad != nil {
		return
	}
	if h, ok := w.want[seq]; ok && !bytes.Equal(h, hash) {
		w.bad = &Failure{Seq: seq, Reason: "the entry differs from what the witness recorded (log edited and re-hashed)"}
	}
}

// Check returns a *Failure if the log that ended after n entries disagrees
// with the witness: an edited entry, or a log shorter than the witness saw
// (entries deleted at the end, or an old head replayed).
func (w *Witnessed) Check(n int64) error {
	if w.bad != nil {
		return w.bad
	}
	if w.last > n {
		return &Failure{Seq: n + 1, Reason: fmt.Sprintf("log ends at seq %d but the witness saw seq %d (entries deleted at the end, or an old head replayed)", n, w.last)}
	}
	return nil
}

// LastCounter is the highest checkpoint counter the witness holds.
func (w *Witnessed) LastCounter() uint64 { return w.lastCtr }

func manifestMessage(doc []byte) []byte {
	return append(appendString(nil, "coffer/backup-manifest/v1"), doc...)
}

// SignManifest signs a backup manifest with k. The message is
// domain-separated from checkpoints, so neither can pass for the other. A
// manifest names its key version (backup.Writer.Finish takes Version from
// the same key): sign with a SigningKey (Signer.Current), not the Signer,
// whose current key a rotation may change in between.
func (k *SigningKey) SignManifest(doc []byte) []byte {
	return ed25519.Sign(k.priv, manifestMessage(doc))
}

// VerifyManifest reports whether sig is pub's signature over a manifest.
func VerifyManifest(pub ed25519.PublicKey, doc, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, manifestMessage(doc), sig)
}
