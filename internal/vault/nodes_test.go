package vault_test

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/pgtest"
	"github.com/cofferhq/coffer/internal/postgres"
	"github.com/cofferhq/coffer/internal/vault"
)

// pgNode is one coffer node: a vault over its own PostgreSQL store.
type pgNode struct {
	store *postgres.Store
	v     *vault.Vault
	admin *vault.Call
}

func testKeys(t *testing.T) *coffer.RootKeys {
	kf := filepath.Join(t.TempDir(), "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: kf}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// openNode opens a node on dsn; token (from another node) authenticates
// its admin call, "" creates an admin key and returns its token.
func openNode(t *testing.T, dsn string, keys *coffer.RootKeys, token string) (*pgNode, string) {
	t.Helper()
	return openNodeWith(t, dsn, keys, token, nil)
}

// openNodeWith is openNode with a key source (rotation).
func openNodeWith(t *testing.T, dsn string, keys *coffer.RootKeys, token string, src vault.KeySource) (*pgNode, string) {
	t.Helper()
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.OpenWith(ctx, dsn, postgres.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: examples.Shop, SchemaName: "shop.yaml", KeySource: src})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.Close()
		st.Close()
	})
	if token == "" {
		if _, token, err = v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "node-admin", Role: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &pgNode{store: st, v: v, admin: &vault.Call{Actor: a, Purpose: "account", RequestID: "req_node"}}, token
}

// TestNodesAgreeOnErasure: three nodes on one PostgreSQL schema. A subject
// erased through one is gone for the others before their next answer:
// they drop its cached DEK (notified in the erasure's transaction), a read
// of its record is not found, a create for it is refused (the ledger), and
// nothing is orphaned under the erased key.
func TestNodesAgreeOnErasure(t *testing.T) {
	dsn := pgtest.Schema(t)
	keys := testKeys(t)
	a, token := openNode(t, dsn, keys, "")
	b, _ := openNode(t, dsn, keys, token)
	c, _ := openNode(t, dsn, keys, token)

	out, err := a.v.Records.Create(ctx, a.admin, "customers", []coffer.NewRecord{{Subject: "cus_n", Fields: raw(map[string]any{"email": "nodes@example.com"})}})
	if err != nil {
		t.Fatal(err)
	}
	id := out[0].ID
	// b and c read the record: each now caches the subject's DEK.
	gone := map[*pgNode]chan struct{}{}
	for _, n := range []*pgNode{b, c} {
		if _, err := n.v.Records.Get(ctx, n.admin, "customers", id); err != nil {
			t.Fatal(err)
		}
		if !vault.CachedDEK(n.v, "cus_n") {
			t.Fatal("a node that read the record does not cache the DEK (the test proves nothing)")
		}
		// Watchers run in the order they were added: the vault's first.
		ch := make(chan struct{})
		gone[n] = ch
		closed := false
		n.store.WatchSubjects(func(s string) {
			if (s == "cus_n" || s == "") && !closed { // "": every cached key dropped
				closed = true
				close(ch)
			}
		})
	}

	r, err := a.v.Privacy.CreateRequest(ctx, a.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, act := range []string{"verify", "complete"} {
		if _, err = a.v.Privacy.ActOnRequest(ctx, a.admin, r.ID, vault.RequestAction{Action: act}); err != nil {
			t.Fatal(act, err)
		}
	}

	for i, n := range []*pgNode{b, c} {
		select {
		case <-gone[n]:
		case <-time.After(20 * time.Second):
			t.Fatalf("node %d was never told of the erasure", i+1)
		}
		if vault.CachedDEK(n.v, "cus_n") {
			t.Errorf("node %d still caches the erased subject's DEK", i+1)
		}
		if _, err := n.v.Records.Get(ctx, n.admin, "customers", id); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("node %d reads the erased record: %v", i+1, err)
		}
		_, err := n.v.Records.Create(ctx, n.admin, "customers", []coffer.NewRecord{{Subject: "cus_n", Fields: raw(map[string]any{"email": "again@example.com"})}})
		if coffer.ErrorCode(err) != coffer.ECONFLICT {
			t.Errorf("node %d: create for the erased subject: %v, want conflict (erasure ledger)", i+1, err)
		}
		if vault.CachedDEK(n.v, "cus_n") {
			t.Errorf("node %d cached a DEK for the erased subject again", i+1)
		}
	}
	if recs, err := a.store.SubjectRecords(ctx, "cus_n"); err != nil || len(recs) != 0 {
		t.Errorf("records orphaned under the erased subject: %d %v", len(recs), err)
	}
	if _, err := a.store.Subject(ctx, "cus_n"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("the erased subject's row: %v", err)
	}
}

// twoNodes opens two nodes on a new PostgreSQL schema sharing one new key
// file (the key source both re-read), with one admin API key; it returns
// them and the schema's DSN.
func twoNodes(t *testing.T) (a, b *pgNode, dsn string) {
	t.Helper()
	dsn = pgtest.Schema(t)
	kf := filepath.Join(t.TempDir(), "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	src := &keyring.File{Path: kf}
	keys, err := src.Keys()
	if err != nil {
		t.Fatal(err)
	}
	a, token := openNodeWith(t, dsn, keys, "", src)
	b, _ = openNodeWith(t, dsn, keys, token, src)
	return a, b, dsn
}
