package vault_test

import (
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// erase completes an erasure request for subject.
func erase(t *testing.T, v *vault.Vault, c *vault.Call, subject string) {
	t.Helper()
	r, err := v.Privacy.CreateRequest(ctx, c, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if _, err := v.Privacy.ActOnRequest(ctx, c, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
}

// TestLedgerKeepsItsDerivedVersion: an erasure-ledger entry keeps the
// derived-key root version it was hashed under. An id erased under
// version 1 stays refused (409) after a rotation to version 2, for a
// record and for a standalone token naming it; an erasure under version 2
// is stored with version 2 and refuses its id too; the ledger lists each
// entry with its version.
func TestLedgerKeepsItsDerivedVersion(t *testing.T) {
	f := newFixture(t)
	live, admin := f.node(t, f.store)
	createMany(t, live, admin, "old", 1)
	erase(t, live, admin, "cus_old0")

	if ver, err := live.Admin.RotateDerived(ctx, admin, false); err != nil || ver != 2 {
		t.Fatalf("rotate the derived-key root = %d, %v", ver, err)
	}
	if err := live.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	refused := func(subject string) {
		t.Helper()
		_, err := live.Records.Create(ctx, admin, "customers", []coffer.NewRecord{{Subject: subject,
			Fields: raw(map[string]any{"email": "x@example.com", "name": "X"})}})
		if coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Errorf("create for %s, erased: %v, want conflict", subject, err)
		}
		billing := callOn(t, live, "admin", "billing")
		_, err = live.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Namespace: "cards", Subject: subject, Values: []vault.TokenValue{{Value: "4111111111111111", Format: "card"}}})
		if coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Errorf("a token naming %s, erased: %v, want conflict", subject, err)
		}
	}
	refused("cus_old0") // hashed under version 1, checked under 1 and 2

	createMany(t, live, admin, "new", 1)
	erase(t, live, admin, "cus_new0")
	refused("cus_new0")

	led, err := f.store.ErasureLedger(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(led) != 2 || led[0].Version != 1 || led[1].Version != 2 {
		t.Fatalf("ledger versions: %+v", led)
	}
	// A node started from the rotated key file checks both versions too.
	again, admin2 := f.node(t, f.store)
	if _, err := again.Records.Create(ctx, admin2, "customers", []coffer.NewRecord{{Subject: "cus_old0",
		Fields: raw(map[string]any{"email": "x@example.com", "name": "X"})}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("a restarted node created for an id erased under version 1: %v", err)
	}
}
