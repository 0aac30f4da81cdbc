package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

func testAPIKeys(t *testing.T, s coffer.Store) {
	k := &coffer.APIKey{ID: "key_1", Name: "ci", Role: "admin", Hash: bytes.Repeat([]byte{1}, 32),
		AllowedCIDRs: []string{"10.0.0.0/8", "127.0.0.1/32"}, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateAPIKey(ctx, k, entry("api_key.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIKey(ctx, k, nil); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("duplicate key: %v", err)
	}
	got, err := s.APIKey(ctx, "key_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("key (-want +got):\n%s", diff)
	}
	t1 := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"key_1": t1, "key_unknown": t1}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchAPIKeys(ctx, map[string]time.Time{"key_1": t1.Add(-time.Hour)}); err != nil { // an older use loses
		t.Fatal(err)
	}
	if got := must(s.APIKey(ctx, "key_1"))(t); !got.LastUsedAt.Equal(t1) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, t1)
	}
	revoked := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) // the caller's time, not the store's clock
	if err := s.RevokeAPIKey(ctx, "key_1", revoked, nil); err != nil {
		t.Fatal(err)
	}
	if got := must(s.APIKey(ctx, "key_1"))(t); !got.RevokedAt.Equal(revoked) {
		t.Errorf("revoked at %v, want %v", got.RevokedAt, revoked)
	}
	if err := s.RevokeAPIKey(ctx, "key_1", time.Now(), nil); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("second revocation: %v", err)
	}
	if ks := must(s.APIKeys(ctx))(t); len(ks) != 1 {
		t.Errorf("APIKeys: %d", len(ks))
	}
}

func testSchema(t *testing.T, s coffer.Store) {
	if _, err := s.Schema(ctx); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("empty store schema: %v", err)
	}
	for _, doc := range []string{"purposes: {}", "purposes: {a: {legal_basis: contract}}"} {
		if err := s.SaveSchema(ctx, []byte(doc), time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Schema(ctx); err != nil || string(got) != doc {
			t.Errorf("Schema = %q, %v", got, err)
		}
	}
}

func testOperators(t *testing.T, s coffer.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	op := &coffer.Operator{Username: "alice", Role: "support", PasswordHash: "$argon2id$x", TOTPSecret: []byte("sealed"), CreatedAt: now}
	if err := s.CreateOperator(ctx, op, entry("operator.create", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperator(ctx, op, nil); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("duplicate operator: %v", err)
	}
	got, err := s.Operator(ctx, "alice")
	if err != nil || got.Version != 1 || got.Role != "support" || string(got.TOTPSecret) != "sealed" || got.TOTPVersion != 1 || got.MFAEnrolled || !got.CreatedAt.Equal(now) {
		t.Fatalf("Operator = %+v, %v", got, err)
	}
	got.MFAEnrolled, got.TOTPLastStep, got.FailedLogins, got.PolicyVersion = true, 42, 2, "2026-1"
	got.LockedUntil, got.TrainedAt, got.WebAuthn = now.Add(time.Minute), now.Add(-time.Hour), []byte(`[{"id":"x"}]`)
	got.TOTPSecret, got.TOTPVersion = []byte("resealed"), 2 // a re-seal under derived version 2
	if err := s.UpdateOperator(ctx, got, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateOperator(ctx, got, nil); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
	again := must(s.Operator(ctx, "alice"))(t)
	if again.Version != 2 || !again.MFAEnrolled || again.TOTPLastStep != 42 || again.FailedLogins != 2 || again.PolicyVersion != "2026-1" || !again.LockedUntil.Equal(now.Add(time.Minute)) || !again.TrainedAt.Equal(now.Add(-time.Hour)) ||
		string(again.WebAuthn) != `[{"id":"x"}]` || string(again.TOTPSecret) != "resealed" || again.TOTPVersion != 2 {
		t.Fatalf("after update: %+v", again)
	}
	if _, err := s.Operator(ctx, "bob"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("missing operator: %v", err)
	}
	if ops := must(s.Operators(ctx))(t); len(ops) != 1 {
		t.Fatalf("Operators: %d", len(ops))
	}
}

func testSessions(t *testing.T, s coffer.Store) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"ses_1", "ses_2"} {
		ss := &coffer.Session{ID: id, Hash: []byte("h-" + id), Username: "alice", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateSession(ctx, ss, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SeeSession(ctx, "ses_1", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, "ses_1")
	if err != nil || string(got.Hash) != "h-ses_1" || !got.LastSeenAt.Equal(now.Add(time.Minute)) || !got.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("Session = %+v, %v", got, err)
	}
	if err := s.DeleteSessions(ctx, "ses_1", "", entry("logout", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "ses_1"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("deleted session: %v", err)
	}
	if err := s.DeleteSessions(ctx, "", "alice", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, "ses_2"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("sessions of a user survived: %v", err)
	}
}
