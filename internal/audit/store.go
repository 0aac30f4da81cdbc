package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/cofferhq/coffer"
)

// Log is what VerifyStore reads: a store's audit reader.
type Log interface {
	coffer.AuditReader
}

// FromStored converts the checkpoints a store returns.
func FromStored(cps []*coffer.AuditCheckpoint) []Checkpoint {
	out := make([]Checkpoint, len(cps))
	for i, cp := range cps {
		out[i] = Checkpoint(*cp)
	}
	return out
}

// VerifyStore verifies a store's whole log without unsealing anything:
// the chain, the signed head (under one of pubs, the audit public keys by
// version), the store's signed checkpoints (every one must verify under
// the key of the version it names, counters must grow, key versions never
// go down, and the log must reach the last one with the hashes they
// recorded) and, when witness is not nil, the checkpoints of a witness
// file with the keys it states (which must be pubs' for every version both
// name; a version pubs lack is refused). Entries up to the format
// checkpoint verify as format 1. It returns the entries checked and a
// *Failure naming where the log diverges, or another error when reading
// fails.
func VerifyStore(ctx context.Context, r Log, pubs map[uint32]ed25519.PublicKey, witness []Checkpoint, witnessPubs map[uint32]ed25519.PublicKey) (int64, error) {
	head, err := r.AuditHead(ctx)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		head, err = nil, nil
	}
	if err != nil {
		return 0, err
	}
	sc, err := r.Checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	stored := FromStored(sc)
	var o VerifyOptions
	o.V1Until = FormatBoundary(stored)
	if pubs != nil {
		w, err := NewWitnessed(stored, pubs)
		if err != nil {
			return 0, &Failure{Seq: lastSeq(stored), Reason: "stored checkpoints: " + err.Error()}
		}
		o.Witnesses = append(o.Witnesses, w)
	}
	if witness != nil {
		for v, k := range witnessPubs {
			if pubs == nil {
				continue
			}
			if mine, ok := pubs[v]; !ok || !k.Equal(mine) {
				return 0, &Failure{Seq: lastSeq(witness), Reason: fmt.Sprintf("the witness states another public key for audit key version %d than this server's", v)}
			}
		}
		w, err := NewWitnessed(witness, witnessPubs)
		if err != nil {
			return 0, &Failure{Seq: lastSeq(witness), Reason: err.Error()}
		}
		o.Witnesses = append(o.Witnesses, w)
		if o.V1Until == 1<<63-1 && FormatBoundary(witness) != o.V1Until {
			// The witness saw a format checkpoint the store no longer has.
			o.V1Until = FormatBoundary(witness)
		}
	}
	return VerifyWith(r.AuditLog(ctx), head, pubs, o)
}

func lastSeq(cps []Checkpoint) int64 {
	if len(cps) == 0 {
		return 0
	}
	return cps[len(cps)-1].Seq
}
