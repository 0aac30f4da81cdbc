package audit

import (
	"bufio"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

const witnessFormat = "coffer-witness/v1"

// witnessLine is one line of a witness file: a checkpoint and the public
// key that verifies it, so a verifier needs nothing from the data dir.
type witnessLine struct {
	Format     string `json:"format"`
	Kind       string `json:"kind"`
	Seq        int64  `json:"seq"`
	Hash       string `json:"hash"`
	Time       string `json:"time"`
	Counter    uint64 `json:"counter"`
	KeyVersion uint32 `json:"key_version"`
	PublicKey  string `json:"public_key"`
	Signature  string `json:"signature"`
}

// WitnessFile appends checkpoints to a file outside the data directory, one
// JSON line each, fsync'd. Someone who can rewrite the database but not
// this file cannot shorten or re-hash the log unnoticed.
type WitnessFile struct {
	mu   sync.Mutex
	Path string
}

// Append writes cp and the public key that verifies it, durably.
func (w *WitnessFile) Append(cp *Checkpoint, pub ed25519.PublicKey) error {
	b, err := json.Marshal(witnessLine{
		Format: witnessFormat, Kind: cp.Kind, Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash),
		Time: cp.Time.UTC().Format(time.RFC3339Nano), Counter: cp.Counter, KeyVersion: cp.KeyVersion,
		PublicKey: base64.StdEncoding.EncodeToString(pub), Signature: base64.StdEncoding.EncodeToString(cp.Signature),
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit witness: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("audit witness %s: %w", w.Path, err)
	}
	return nil
}

// ReadWitness parses a witness file: the checkpoints in file order and the
// public key of each key version, as the file states them. A caller that
// holds the audit public keys from elsewhere (beside the config) should
// compare them with these.
func ReadWitness(r io.Reader) ([]Checkpoint, map[uint32]ed25519.PublicKey, error) {
	var cps []Checkpoint
	pubs := map[uint32]ed25519.PublicKey{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var l witnessLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.Format != witnessFormat {
			return nil, nil, fmt.Errorf("witness line %d: not a %s line", n, witnessFormat)
		}
		hash, err1 := hex.DecodeString(l.Hash)
		at, err2 := time.Parse(time.RFC3339Nano, l.Time)
		pub, err3 := base64.StdEncoding.DecodeString(l.PublicKey)
		sig, err4 := base64.StdEncoding.DecodeString(l.Signature)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(pub) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("witness line %d: malformed field", n)
		}
		if old, ok := pubs[l.KeyVersion]; ok && !old.Equal(ed25519.PublicKey(pub)) {
			return nil, nil, fmt.Errorf("witness line %d: a second public key for audit key version %d", n, l.KeyVersion)
		}
		pubs[l.KeyVersion] = pub
		cps = append(cps, Checkpoint{Kind: l.Kind, Seq: l.Seq, Hash: hash, Time: at, Counter: l.Counter, KeyVersion: l.KeyVersion, Signature: sig})
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("witness: %w", err)
	}
	return cps, pubs, nil
}
