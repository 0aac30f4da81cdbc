package storetest

import (
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func tok(id, ns, fp, subject string) *coffer.Token {
	return &coffer.Token{Token: id, Namespace: ns, Fingerprint: []byte(fp), Value: []byte("sealed-" + id), Subject: subject, CreatedAt: time.Now().UTC()}
}

func testTokens(t *testing.T, s coffer.Store) {
	k := &coffer.TokenKey{Namespace: "cards", WrappedKey: []byte("wrapped-1"), KEKVersion: 1, CreatedAt: time.Now().UTC()}
	if err := s.Commit(ctx, &coffer.Change{NewTokenKeys: []*coffer.TokenKey{k}}); err != nil {
		t.Fatal(err)
	}
	k2 := *k
	k2.WrappedKey = []byte("wrapped-2")
	if err := s.Commit(ctx, &coffer.Change{NewTokenKeys: []*coffer.TokenKey{&k2}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TokenKey(ctx, "cards"); err != nil || string(got.WrappedKey) != "wrapped-1" {
		t.Fatalf("a second key replaced the first: %v %v", got, err)
	}
	if _, err := s.TokenKey(ctx, "nope"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("unknown namespace: %v", err)
	}
	var batch []*coffer.Token
	for i := range 250 { // more than one multi-row chunk
		batch = append(batch, tok("tok_"+string(rune('a'+i%26))+time.Duration(i).String(), "cards", "fp"+time.Duration(i).String(), ""))
	}
	batch = append(batch, tok("tok_owned", "customers.card_number", "fp-owned", "cus_t"))
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_t")}, NewTokens: batch, Audit: []*coffer.AuditEntry{entry("tokenize", "")}}); err != nil {
		t.Fatal(err)
	}
	// The same tokenization again (deterministic): kept, no error.
	if err := s.Commit(ctx, &coffer.Change{NewTokens: []*coffer.Token{tok(batch[7].Token, "cards", string(batch[7].Fingerprint), "")}}); err != nil {
		t.Errorf("repeated tokenization: %v", err)
	}
	// A collision (same token, another value) fails the whole change.
	fresh := tok("tok_fresh", "cards", "fp-fresh", "")
	err := s.Commit(ctx, &coffer.Change{NewTokens: []*coffer.Token{fresh, tok(batch[3].Token, "cards", "another value", "")}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("collision: %v", err)
	}
	got, err := s.Tokens(ctx, []string{batch[0].Token, batch[249].Token, "tok_fresh", "tok_missing", "tok_owned"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[batch[0].Token] == nil || string(got[batch[249].Token].Value) != "sealed-"+batch[249].Token || got["tok_fresh"] != nil {
		t.Fatalf("Tokens: %d found, fresh %v", len(got), got["tok_fresh"])
	}
	if err := s.Commit(ctx, &coffer.Change{RevokeTokens: []string{batch[0].Token}}); coffer.ErrorCode(err) != coffer.EINTERNAL {
		t.Errorf("revocation without a time: %v, want internal", err)
	}
	revoked := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := s.Commit(ctx, &coffer.Change{RevokeTokens: []string{batch[0].Token}, At: revoked}); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, &coffer.Change{RevokeTokens: []string{batch[0].Token}, At: revoked}); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("revoking twice: %v", err)
	}
	if got := must(s.Tokens(ctx, []string{batch[0].Token}))(t); !got[batch[0].Token].RevokedAt.Equal(revoked) {
		t.Errorf("revoked at %v, want %v (Change.At)", got[batch[0].Token].RevokedAt, revoked)
	}
	// Erasing the owner deletes its tokens.
	if err := s.Commit(ctx, &coffer.Change{Erasures: []coffer.Erasure{{Subject: "cus_t", LedgerHash: []byte("h-cus_t"), LedgerVersion: 1}}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := must(s.Tokens(ctx, []string{"tok_owned", batch[1].Token}))(t); got["tok_owned"] != nil || got[batch[1].Token] == nil {
		t.Errorf("erasure and tokens: owned %v, other %v", got["tok_owned"] != nil, got[batch[1].Token] != nil)
	}
}
