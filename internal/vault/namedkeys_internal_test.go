package vault

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
)

// TestRotationDropsCachedFPECiphers: a rotation of an FPE key name drops
// this node's cached ciphers of that name (the replaced key's schedules
// are not kept), and only of that name.
func TestRotationDropsCachedFPECiphers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kf := filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: kf}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := New(ctx, Options{Store: st, Keys: keys, Schema: examples.Shop, SchemaName: "shop.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	call := func(role, purpose string) *Call {
		_, token, err := v.Identity.CreateAPIKey(ctx, SystemCall(), NewAPIKey{Name: "t-" + role, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		a, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			t.Fatal(err)
		}
		return &Call{Actor: a, Purpose: purpose, RequestID: "req_test"}
	}
	billing, admin := call("billing", "billing"), call("admin", "account")
	for _, k := range []string{"cards", "default"} {
		if _, err := v.Tokens.FPE(ctx, billing, FPERequest{Key: k, Values: []string{"1234567890"}}, false); err != nil {
			t.Fatal(err)
		}
	}
	cached := func(name string) int {
		u := v.core.keys.Load()
		u.fpe.mu.Lock()
		defer u.fpe.mu.Unlock()
		n := 0
		for id := range u.fpe.m {
			if strings.HasPrefix(id, name+"|") {
				n++
			}
		}
		return n
	}
	if cached("cards") != 1 || cached("default") != 1 {
		t.Fatalf("cached before the rotation: cards %d, default %d", cached("cards"), cached("default"))
	}
	if _, err := v.Admin.RotateNamedKey(ctx, admin, coffer.NamedKeyFPE, "cards"); err != nil {
		t.Fatal(err)
	}
	if cached("cards") != 0 || cached("default") != 1 {
		t.Errorf("cached after rotating cards: cards %d, default %d; want 0, 1", cached("cards"), cached("default"))
	}
}
