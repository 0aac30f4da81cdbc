package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

// IntegrityOptions are what the integrity suite opens a store with.
type IntegrityOptions struct {
	Signer  *audit.Signer
	Witness *audit.WitnessFile
	Every   int64 // checkpoint every this many entries
}

// Database is one database under test: Open opens (again) a store over
// it; Exec runs a statement on it directly (? parameters), as someone with
// write access to the database but not the keys would.
type Database struct {
	Open func(t *testing.T) coffer.Store
	// OpenSigner opens a store over the same database signing with s (a
	// second node, with keys of its own).
	OpenSigner func(t *testing.T, s *audit.Signer) coffer.Store
	Exec       func(t *testing.T, q string, args ...any)
}

// IntegrityFactory creates an empty database for one test.
type IntegrityFactory func(t *testing.T, o IntegrityOptions) Database

// RunIntegrity runs the audit-integrity suite (issue 16).
func RunIntegrity(t *testing.T, create IntegrityFactory) {
	tests := []struct {
		name string
		fn   func(*testing.T, IntegrityFactory)
	}{
		{"TruncatedLiveTailStopsWrites", testTruncateLive},
		{"TruncatedTailWithReplayedHeadStopsWrites", testTruncateReplayLive},
		{"EditedAndRehashedStopsWrites", testEditRehash},
		{"TruncatedWhileStoppedStopsWrites", testTruncateStopped},
		{"ReplayedHeadWhileStoppedCaughtByWitness", testReplayStopped},
		{"CheckpointsStoredAndWitnessed", testCheckpoints},
		{"FormatOneLogStaysVerifiable", testFormatOne},
		{"TwoWritersShareTheLog", testTwoWriters},
		{"ForgedAppendIsNotSigned", testForgedAppend},
		{"RotatedAuditKeySignsOnAndOldStaysVerifiable", testRotatedKey},
		{"CheckpointUnderUnknownKeyVersionFails", testUnknownKeyVersion},
		{"SecondNodeLearnsTheRotatedKey", testNodeLearnsRotation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, create) })
	}
}

func integritySigner(t *testing.T) *audit.Signer {
	s, err := audit.NewSigner(coffer.NewSecret(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func appendN(t *testing.T, s coffer.Store, n int) {
	t.Helper()
	for range n {
		if err := s.AppendAudit(ctx, entry("read", "rec_1")); err != nil {
			t.Fatal(err)
		}
	}
}

// wantRefused: an audited read (an append) and an unaudited write both
// answer EUNAVAILABLE.
func wantRefused(t *testing.T, s coffer.Store) {
	t.Helper()
	if err := s.AppendAudit(ctx, entry("read", "rec_1")); coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Fatalf("an audited read on a tampered log: %v, want %s", err, coffer.EUNAVAILABLE)
	}
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_t")}}); coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Fatalf("a write on a tampered log: %v, want %s", err, coffer.EUNAVAILABLE)
	}
}

// wantBroken: offline verification fails at seq (0: anywhere).
func wantBroken(t *testing.T, s coffer.Store, sg *audit.Signer, w *audit.WitnessFile, seq int64) {
	t.Helper()
	err := verify(t, s, sg, w)
	var f *audit.Failure
	if !errors.As(err, &f) {
		t.Fatalf("verify = %v, want a failure", err)
	}
	if seq != 0 && f.Seq != seq {
		t.Fatalf("verify failed at seq %d (%s), want %d", f.Seq, f.Reason, seq)
	}
}

func verify(t *testing.T, s coffer.Store, sg *audit.Signer, w *audit.WitnessFile) error {
	t.Helper()
	if w != nil {
		f, err := os.Open(w.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cps, wp, err := audit.ReadWitness(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = audit.VerifyStore(ctx, s, sg.PublicKeys(), cps, wp)
		return err
	}
	_, err := audit.VerifyStore(ctx, s, sg.PublicKeys(), nil, nil)
	return err
}

func testTruncateLive(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 5)
	if err := verify(t, s, sg, nil); err != nil {
		t.Fatalf("precondition: intact log: %v", err)
	}
	var es []*coffer.AuditEntry
	for e, err := range s.AuditLog(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	db.Exec(t, `DELETE FROM audit WHERE seq > 3`)
	wantRefused(t, s)
	wantBroken(t, s, sg, nil, 4)
	// Putting the entries back does not reopen the store: once broken it
	// stays stopped until someone has looked (and restarted it).
	for _, e := range es[3:] {
		db.Exec(t, `INSERT INTO audit (seq, time, actor, action, collection, record, subject, fields, purpose, outcome, reason, client_ip, request_id, prev_hash, hash, views)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '')`, e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Collection, e.Record, e.Subject,
			strings.Join(e.Fields, ","), e.Purpose, e.Outcome, e.Reason, e.ClientIP, e.RequestID, e.PrevHash, e.Hash)
	}
	if err := verify(t, s, sg, nil); err != nil {
		t.Fatalf("precondition: the log is whole again: %v", err)
	}
	wantRefused(t, s)
}

func testTruncateReplayLive(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 3)
	old := must(s.AuditHead(ctx))(t)
	appendN(t, s, 2)
	db.Exec(t, `DELETE FROM audit WHERE seq > 3`)
	db.Exec(t, `UPDATE audit_head SET seq = ?, hash = ?, signature = ? WHERE id = 1`, old.Seq, old.Hash, old.Signature)
	wantRefused(t, s)
}

func testEditRehash(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 5)
	// Edit entry 3 and re-hash it and every entry after it: the chain is
	// consistent again, only the signed head (and the writer) know.
	var prev []byte
	for e, err := range s.AuditLog(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq >= 3 {
			if e.Seq == 3 {
				e.Actor = "key_someone_else"
			}
			e.PrevHash = prev
			e.Hash = audit.Hash(e)
			db.Exec(t, `UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, e.Actor, e.PrevHash, e.Hash, e.Seq)
		}
		prev = e.Hash
	}
	if _, err := audit.Verify(s.AuditLog(ctx), nil, nil); err != nil {
		t.Fatalf("precondition: the re-hashed chain is consistent on its own: %v", err)
	}
	wantRefused(t, s)
	wantBroken(t, s, sg, nil, 5)
}

func testTruncateStopped(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	appendN(t, s, 4)
	s.Close()
	db.Exec(t, `DELETE FROM audit WHERE seq > 2`)
	s = db.Open(t)
	defer s.Close()
	wantRefused(t, s)
	wantBroken(t, s, sg, nil, 3)
}

// testReplayStopped: with the server stopped, the log is cut back to an
// old signed head and the checkpoints past it are deleted. The store and
// the database alone cannot tell; the witness can.
func testReplayStopped(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	w := &audit.WitnessFile{Path: filepath.Join(t.TempDir(), "coffer.witness")}
	db := create(t, IntegrityOptions{Signer: sg, Witness: w, Every: 2})
	s := db.Open(t)
	appendN(t, s, 4)
	old := must(s.AuditHead(ctx))(t)
	appendN(t, s, 4)
	s.Close()
	db.Exec(t, `DELETE FROM audit WHERE seq > ?`, old.Seq)
	db.Exec(t, `DELETE FROM audit_checkpoints WHERE seq > ?`, old.Seq)
	db.Exec(t, `UPDATE audit_head SET seq = ?, hash = ?, signature = ? WHERE id = 1`, old.Seq, old.Hash, old.Signature)
	s = db.Open(t)
	defer s.Close()
	if err := verify(t, s, sg, nil); err != nil {
		t.Fatalf("precondition: without the witness the replayed log verifies: %v", err)
	}
	err := verify(t, s, sg, w)
	var f *audit.Failure
	if !errors.As(err, &f) || f.Seq != old.Seq+1 || !strings.Contains(f.Reason, "witness saw seq 8") {
		t.Fatalf("verify with the witness = %v, want a failure at seq %d naming seq 8", err, old.Seq+1)
	}
}

func testCheckpoints(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	w := &audit.WitnessFile{Path: filepath.Join(t.TempDir(), "coffer.witness")}
	db := create(t, IntegrityOptions{Signer: sg, Witness: w, Every: 3})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 7)
	cps := must(s.Checkpoints(ctx))(t)
	var got []string
	for i, cp := range cps {
		c := audit.Checkpoint(*cp)
		if !c.Verify(sg.PublicKey()) || cp.Counter != uint64(i+1) {
			t.Errorf("checkpoint %d: %+v does not verify or counts wrong", i, cp)
		}
		got = append(got, cp.Kind+":"+string(rune('0'+cp.Seq)))
	}
	want := []string{"format:0", "periodic:3", "periodic:6"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("checkpoints %v, want %v", got, want)
	}
	f, err := os.Open(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	wcps, _, err := audit.ReadWitness(f)
	if err != nil || len(wcps) != len(cps) {
		t.Fatalf("witness holds %d checkpoints (%v), the store %d", len(wcps), err, len(cps))
	}
	if err := verify(t, s, sg, w); err != nil {
		t.Fatalf("intact log with its witness: %v", err)
	}
}

// testFormatOne: a log written in format 1 (before views) and opened by
// this version gets a format checkpoint at its tail; it verifies, old
// entries under format 1, new ones under format 2.
func testFormatOne(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	appendN(t, s, 3)
	var es []*coffer.AuditEntry
	for e, err := range s.AuditLog(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	s.Close()
	// Make it the log a format-1 writer left: format-1 hashes, no
	// checkpoints, its head.
	var prev []byte
	for _, e := range es {
		e.PrevHash = prev
		e.Hash = audit.HashV1(e)
		prev = e.Hash
		db.Exec(t, `UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
	}
	db.Exec(t, `DELETE FROM audit_checkpoints`)
	h := sg.Sign(3, prev)
	db.Exec(t, `UPDATE audit_head SET seq = ?, hash = ?, signature = ? WHERE id = 1`, h.Seq, h.Hash, h.Signature)

	s = db.Open(t)
	defer s.Close()
	appendN(t, s, 2)
	if err := verify(t, s, sg, nil); err != nil {
		t.Fatalf("a format-1 log continued in format 2: %v", err)
	}
	cps := must(s.Checkpoints(ctx))(t)
	if len(cps) != 1 || cps[0].Kind != audit.KindFormat || cps[0].Seq != 3 {
		t.Fatalf("checkpoints %+v, want one format checkpoint at seq 3", cps)
	}
	// Without the format checkpoint, the log does not verify.
	db.Exec(t, `DELETE FROM audit_checkpoints`)
	wantBroken(t, s, sg, nil, 4)
}

// testTwoWriters: two stores on one database (two nodes, or a server and
// an administration command) extend the one log in turn: each accepts
// what the other signed, nothing is refused, and the log verifies.
func testTwoWriters(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg, Every: 3})
	a := db.Open(t)
	defer a.Close()
	b := db.Open(t)
	defer b.Close()
	for range 4 {
		appendN(t, a, 2)
		appendN(t, b, 1)
	}
	if err := verify(t, a, sg, nil); err != nil {
		t.Fatalf("a log extended by two writers: %v", err)
	}
	if h := must(b.AuditHead(ctx))(t); h.Seq != 12 {
		t.Fatalf("head at seq %d, want 12", h.Seq)
	}
}

// testForgedAppend: someone appends a well-linked entry (the chain needs no
// key) and moves the head to it with a signature of their own: the
// writer refuses to extend it rather than sign over it.
func testForgedAppend(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 3)
	last := lastAudit(t, s)
	e := &coffer.AuditEntry{Seq: last.Seq + 1, Time: last.Time, Actor: "key_forged", Action: "read", Outcome: coffer.OutcomeAllowed, PrevHash: last.Hash}
	e.Hash = audit.Hash(e)
	db.Exec(t, `INSERT INTO audit (seq, time, actor, action, collection, record, subject, fields, purpose, outcome, reason, client_ip, request_id, prev_hash, hash, views)
		VALUES (?, ?, ?, ?, '', '', '', '', '', ?, '', '', '', ?, ?, '')`, e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Outcome, e.PrevHash, e.Hash)
	other, _ := audit.NewSigner(coffer.NewSecret(bytes.Repeat([]byte{1}, 32)))
	h := other.Sign(e.Seq, e.Hash)
	db.Exec(t, `UPDATE audit_head SET seq = ?, hash = ?, signature = ? WHERE id = 1`, h.Seq, h.Hash, h.Signature)
	wantRefused(t, s)
	wantBroken(t, s, sg, nil, 4)
}

// rotatedKeys are the integrity signer's derived-key roots after one
// rotation (version 1 is integritySigner's).
func rotatedKeys() *coffer.RootKeys {
	return &coffer.RootKeys{IndexKey: coffer.NewSecret(bytes.Repeat([]byte{9}, 32)), DerivedCurrent: 2,
		Derived: map[uint32]coffer.Secret{2: coffer.NewSecret(bytes.Repeat([]byte{10}, 32))}}
}

// testRotatedKey: after a rotation of the audit key (the derived-key
// root's) on a serving store, the next commit is signed by the new key
// under a checkpoint of its own; the log, its checkpoints under both
// versions and the witness verify with both public keys, not with the
// old one alone; the store reopens over the new head.
func testRotatedKey(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	w := &audit.WitnessFile{Path: filepath.Join(t.TempDir(), "coffer.witness")}
	db := create(t, IntegrityOptions{Signer: sg, Witness: w, Every: 3})
	s := db.Open(t)
	appendN(t, s, 4) // past the checkpoint at seq 3
	v1 := sg.PublicKeys()
	if err := sg.Install(rotatedKeys()); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 4)
	var got []string
	for _, cp := range must(s.Checkpoints(ctx))(t) {
		got = append(got, fmt.Sprintf("%s:%d:v%d", cp.Kind, cp.Seq, cp.KeyVersion))
	}
	// The first commit under the new key checkpoints at once (seq 5), then
	// every 3 entries again.
	want := "format:0:v1 periodic:3:v1 periodic:5:v2 periodic:8:v2"
	if strings.Join(got, " ") != want {
		t.Errorf("checkpoints %v, want %s", got, want)
	}
	if err := verify(t, s, sg, w); err != nil {
		t.Fatalf("a log signed before and after a rotation, with its witness: %v", err)
	}
	var f *audit.Failure
	if _, err := audit.VerifyStore(ctx, s, v1, nil, nil); !errors.As(err, &f) {
		t.Fatalf("verify with the old public key only: %v, want a failure", err)
	}
	s.Close()
	s = db.Open(t) // Start checks the head, signed by version 2
	defer s.Close()
	appendN(t, s, 1)
	if err := verify(t, s, sg, w); err != nil {
		t.Fatalf("reopened after a rotation: %v", err)
	}
}

// testUnknownKeyVersion: a checkpoint re-signed by a key whose version no
// public key names (someone who rewrote the database and signed with a
// key of their own) fails verification.
func testUnknownKeyVersion(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	db := create(t, IntegrityOptions{Signer: sg, Every: 3})
	s := db.Open(t)
	defer s.Close()
	appendN(t, s, 4)
	cps := must(s.Checkpoints(ctx))(t)
	last := audit.Checkpoint(*cps[len(cps)-1])
	rogue, err := audit.NewSignerKeys(&coffer.RootKeys{IndexKey: coffer.NewSecret(bytes.Repeat([]byte{1}, 32)), DerivedCurrent: 3,
		Derived: map[uint32]coffer.Secret{2: coffer.NewSecret(bytes.Repeat([]byte{2}, 32)), 3: coffer.NewSecret(bytes.Repeat([]byte{3}, 32))}})
	if err != nil {
		t.Fatal(err)
	}
	rogue.SignCheckpoint(&last)
	if last.KeyVersion != 3 {
		t.Fatalf("rogue key version %d, want 3", last.KeyVersion)
	}
	db.Exec(t, `UPDATE audit_checkpoints SET key_version = ?, signature = ? WHERE counter = ?`, int64(last.KeyVersion), last.Signature, int64(last.Counter))
	wantBroken(t, s, sg, nil, last.Seq)
}

// testNodeLearnsRotation: two writers over one log, each with its own
// signer (two nodes). One rotates the audit key and signs a head with the
// new version; the other, meeting a head none of its keys verifies, reads
// its key source again and goes on writing under the new version instead
// of stopping as if the log had been forged.
func testNodeLearnsRotation(t *testing.T, create IntegrityFactory) {
	sg := integritySigner(t)
	other := integritySigner(t)
	other.SetReload(func() (*coffer.RootKeys, error) { return rotatedKeys(), nil })
	db := create(t, IntegrityOptions{Signer: sg, Every: 3})
	a := db.Open(t)
	defer a.Close()
	b := db.OpenSigner(t, other)
	defer b.Close()
	appendN(t, a, 2)
	appendN(t, b, 1)
	if err := sg.Install(rotatedKeys()); err != nil {
		t.Fatal(err)
	}
	appendN(t, a, 2)
	appendN(t, b, 1)
	if other.Version() != 2 {
		t.Fatalf("the second node signs under version %d, want 2", other.Version())
	}
	if err := verify(t, a, sg, nil); err != nil {
		t.Fatalf("a log two nodes extended across a rotation: %v", err)
	}
}
