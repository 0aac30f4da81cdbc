package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/canary"
)

// testErasureCanary plants canaries in everything an erasure must remove
// (the wrapped DEK, record ciphertexts, a token's sealed value, a consent
// source), erases the subject, closes the store and scans its files: none
// may remain. A second subject's canary, not erased, must be found, or the
// scan proves nothing.
func testErasureCanary(t *testing.T, s coffer.Store, disk Disk) {
	gone, kept := canary.New("erased-dek"), canary.New("kept-dek")
	goneField, goneToken, goneSource := canary.New("erased-field"), canary.New("erased-token"), canary.New("erased-consent")
	sub := &coffer.Subject{ID: "cus_gone", WrappedDEK: []byte(gone), KEKVersion: 1, CreatedAt: time.Now()}
	keep := &coffer.Subject{ID: "cus_kept", WrappedDEK: []byte(kept), KEKVersion: 1, CreatedAt: time.Now()}
	r := record("rec_gone", "cus_gone")
	r.Fields["email"] = []byte(goneField)
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{sub, keep}, Creates: []*coffer.StoredRecord{r},
		NewTokens: []*coffer.Token{{Token: "tok_gone", Namespace: "customers.card", Fingerprint: []byte("fp"), Value: []byte(goneToken), Subject: "cus_gone"}},
		Consents:  []*coffer.ConsentEvent{{Subject: "cus_gone", Purpose: "marketing", Granted: true, Time: time.Now(), Source: goneSource}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_gone"}},
		Erasures: []coffer.Erasure{{Subject: "cus_gone", LedgerHash: []byte("ledger-cus_gone"), LedgerVersion: 1}}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// Final when acknowledged (SPEC §4): the live files hold none of it
	// while the store still serves, and closing changes nothing.
	scan := func(when string) {
		found := false
		for name, b := range disk(t) {
			canary.InBytes(t, when+": "+name, b, gone, goneField, goneToken, goneSource)
			found = found || bytes.Contains(b, []byte(kept))
		}
		if !found {
			t.Errorf("%s: the kept subject's canary is in none of the files: the scan reads the wrong bytes", when)
		}
	}
	scan("serving")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")
}
