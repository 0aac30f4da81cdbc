package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// witnessed writes a checkpoint every `every` entries of es to a witness
// file and reads it back.
func witnessed(t *testing.T, s *Signer, es []*coffer.AuditEntry, every int) ([]Checkpoint, map[uint32]ed25519.PublicKey) {
	t.Helper()
	w := &WitnessFile{Path: filepath.Join(t.TempDir(), "witness")}
	var ctr uint64
	for i, e := range es {
		if (i+1)%every != 0 {
			continue
		}
		ctr++
		cp := Checkpoint{Kind: KindPeriodic, Seq: e.Seq, Hash: e.Hash, Time: time.Unix(1700000000, 0), Counter: ctr}
		s.SignCheckpoint(&cp)
		if err := w.Append(&cp, s.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cps, pubs, err := ReadWitness(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(es)/every {
		t.Fatalf("read %d checkpoints, wrote %d", len(cps), len(es)/every)
	}
	return cps, pubs
}

func checkWitness(t *testing.T, es []*coffer.AuditEntry, cps []Checkpoint, pubs map[uint32]ed25519.PublicKey) error {
	t.Helper()
	w, err := NewWitnessed(cps, pubs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		w.See(e.Seq, e.Hash)
	}
	return w.Check(int64(len(es)))
}

func TestWitnessIntact(t *testing.T) {
	es, s, _ := chain(t, 25)
	cps, pubs := witnessed(t, s, es, 10)
	if err := checkWitness(t, es, cps, pubs); err != nil {
		t.Fatal(err)
	}
}

// A log cut back to before the last witnessed checkpoint, with a valid
// (older, replayed) head, verifies on its own; the witness catches it.
func TestWitnessCatchesTruncationAndReplayedHead(t *testing.T) {
	es, s, _ := chain(t, 25)
	cps, pubs := witnessed(t, s, es, 10)
	cut := es[:15]
	old := s.Sign(15, cut[14].Hash) // an old head the attacker kept
	if _, err := Verify(seq(cut), &old, s.PublicKeys()); err != nil {
		t.Fatalf("precondition: the cut log with a replayed head verifies alone: %v", err)
	}
	err := checkWitness(t, cut, cps, pubs)
	var f *Failure
	if !errors.As(err, &f) || f.Seq != 16 || !strings.Contains(f.Reason, "witness saw seq 20") {
		t.Fatalf("err = %v, want a failure at seq 16 naming the witnessed seq 20", err)
	}
}

// Editing an entry and re-hashing the whole chain (the chain has no key)
// leaves a chain that links; the witnessed hash at seq 10 differs.
func TestWitnessCatchesRehashedChain(t *testing.T) {
	es, s, _ := chain(t, 25)
	cps, pubs := witnessed(t, s, es, 10)
	forged := clone(es)
	forged[3].Actor = "key_innocent"
	var c Chain
	for _, e := range forged {
		c.Link(e)
	}
	if _, err := Verify(seq(forged), nil, nil); err != nil {
		t.Fatalf("precondition: the re-hashed chain links: %v", err)
	}
	err := checkWitness(t, forged, cps, pubs)
	var f *Failure
	if !errors.As(err, &f) || f.Seq != 10 {
		t.Fatalf("err = %v, want a failure at the first witnessed seq 10", err)
	}
}

func TestWitnessRefusesForgedOrReorderedCheckpoints(t *testing.T) {
	es, s, _ := chain(t, 30)
	cps, pubs := witnessed(t, s, es, 10)

	forged := append([]Checkpoint(nil), cps...)
	forged[1].Hash = bytes.Repeat([]byte{1}, 32)
	if _, err := NewWitnessed(forged, pubs); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("edited checkpoint: err = %v", err)
	}
	swapped := []Checkpoint{cps[1], cps[0], cps[2]}
	if _, err := NewWitnessed(swapped, pubs); err == nil || !strings.Contains(err.Error(), "counter") {
		t.Errorf("reordered witness: err = %v", err)
	}
	other, err := NewSigner(coffer.NewSecret(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWitnessed(cps, map[uint32]ed25519.PublicKey{1: other.PublicKey()}); err == nil {
		t.Error("checkpoints verified under a key that did not sign them")
	}
}

// A restore checkpoint starts a new history at the backup's head: the
// witness no longer expects the replaced log's later entries.
func TestWitnessRestoreCheckpoint(t *testing.T) {
	es, s, _ := chain(t, 25)
	cps, pubs := witnessed(t, s, es, 10)
	restored := es[:12]
	cp := Checkpoint{Kind: KindRestore, Seq: 12, Hash: restored[11].Hash, Time: time.Unix(1700000100, 0), Counter: cps[len(cps)-1].Counter + 1}
	s.SignCheckpoint(&cp)
	if err := checkWitness(t, restored, append(cps, cp), pubs); err != nil {
		t.Fatalf("restored log: %v", err)
	}
	if err := checkWitness(t, restored, cps, pubs); err == nil {
		t.Fatal("without the restore checkpoint the shorter log must fail")
	}
	periodic := cp
	periodic.Kind = KindPeriodic
	s.SignCheckpoint(&periodic)
	if err := checkWitness(t, restored, append(cps, periodic), pubs); err == nil {
		t.Fatal("a periodic checkpoint at the backup's head passed for a restore")
	}
}

func TestReadWitnessRejectsGarbage(t *testing.T) {
	for _, in := range []string{"not json\n", `{"format":"other"}` + "\n", `{"format":"coffer-witness/v1","hash":"zz","time":"x","public_key":"","signature":""}` + "\n"} {
		if _, _, err := ReadWitness(strings.NewReader(in)); err == nil {
			t.Errorf("ReadWitness(%q) accepted", in)
		}
	}
}
