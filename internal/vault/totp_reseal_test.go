package vault_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

// resealGate runs hooks around operator updates: before the system's (the
// re-seal of a TOTP secret), after it, and before anyone else's (a login).
type resealGate struct {
	coffer.Store
	mu                        sync.Mutex
	beforeSystem, afterSystem func()
	beforeOther               func()
}

func (g *resealGate) take(f *func()) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := *f
	*f = nil
	return h
}

func (g *resealGate) UpdateOperator(ctx context.Context, o *coffer.Operator, e *coffer.AuditEntry) error {
	system := e != nil && e.Actor == "system:reseal"
	if h := g.take(map[bool]*func(){true: &g.beforeSystem, false: &g.beforeOther}[system]); h != nil {
		h()
	}
	err := g.Store.UpdateOperator(ctx, o, e)
	if system && err == nil {
		if h := g.take(&g.afterSystem); h != nil {
			h()
		}
	}
	return err
}

// jobEnded is closed when the re-index v runs now has ended.
func jobEnded(v *vault.Vault) <-chan struct{} {
	ch := make(chan struct{})
	go func() { v.WaitReindex(ctx); close(ch) }()
	return ch
}

// TestTOTPResealedAfterDerivedRotation: an operator's TOTP secret sealed
// under derived version 1 is re-sealed under version 2 by the re-index job
// (audited as system), and logins work before the rotation, while the
// re-seal is under way (the secret still under version 1; the login's own
// update makes the job's first write conflict, and the job retries), and
// after it, also on a node started afterwards; the row's credential MAC
// stays valid throughout.
func TestTOTPResealedAfterDerivedRotation(t *testing.T) {
	f := newFixture(t)
	gate := &resealGate{Store: f.store}
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	open := func(st coffer.Store) (*vault.Vault, *vault.Call) {
		src := &keyring.File{Path: filepath.Join(f.dir, "keys.json")}
		keys, err := src.Keys()
		if err != nil {
			t.Fatal(err)
		}
		v, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: examples.Shop, KeySource: src, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v, callOn(t, v, "admin", "account")
	}
	live, admin := open(gate)
	secret := enrollOperator(t, live, admin, "alice", "a long enough passphrase", "admin", now())
	login := func(v *vault.Vault, when string) {
		offset.Add(int64(31 * time.Second)) // a fresh TOTP step: the last one was used
		code, err := totp.GenerateCode(secret, now())
		if err != nil {
			t.Error(err)
			return
		}
		if _, _, err := v.Identity.Login(ctx, "alice", "a long enough passphrase", code, netip.MustParseAddr("127.0.0.1"), "req_login"); err != nil {
			t.Errorf("login %s: %v", when, err)
		}
	}
	version := func() uint32 {
		t.Helper()
		op, err := f.store.Operator(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return op.TOTPVersion
	}
	login(live, "before the rotation")
	if v := version(); v != 1 {
		t.Fatalf("TOTP secret sealed under version %d before any rotation", v)
	}
	// The job read the row and sealed anew; a login commits first, so the
	// job's update conflicts and it tries again.
	entered, release := make(chan struct{}), make(chan struct{})
	gate.beforeSystem = func() { close(entered); <-release }
	if _, err := live.Admin.RotateDerived(ctx, admin, false); err != nil {
		t.Fatal(err)
	}
	ended := jobEnded(live)
	select {
	case <-entered:
	case <-ended:
		t.Fatal("the job ended without re-sealing the TOTP secret")
	}
	if v := version(); v != 1 {
		t.Fatalf("TOTP secret under version %d while the re-seal waits", v)
	}
	login(live, "during the re-seal")
	close(release)
	if err := live.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != 2 {
		t.Fatalf("TOTP secret under version %d after the job, want 2", v)
	}
	login(live, "after the re-seal")
	later, _ := open(f.store)
	login(later, "on a node started after the re-seal")

	// A login that read the row before the re-seal committed, and writes
	// after: its update conflicts, and it applies itself to the re-sealed
	// row (the re-seal changed nothing the login decided on).
	loginWaits, resealed := make(chan struct{}), make(chan struct{})
	gate.beforeOther = func() { close(loginWaits); <-resealed }
	held, go2 := make(chan struct{}), make(chan struct{})
	gate.beforeSystem = func() { close(held); <-go2 }
	gate.afterSystem = func() { close(resealed) }
	if _, err := live.Admin.RotateDerived(ctx, admin, false); err != nil {
		t.Fatal(err)
	}
	ended = jobEnded(live)
	select {
	case <-held:
	case <-ended:
		t.Fatal("the second job ended without re-sealing the TOTP secret")
	}
	var wg sync.WaitGroup
	wg.Go(func() { login(live, "racing the re-seal's commit") })
	<-loginWaits
	close(go2)
	wg.Wait()
	if err := live.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != 3 {
		t.Fatalf("TOTP secret under version %d after the second job, want 3", v)
	}
	login(live, "after the second re-seal")

	es, err := f.store.Audit(ctx, coffer.AuditFilter{Actor: "system:reseal", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Action == "keys.reseal" && e.Outcome == coffer.OutcomeAllowed {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d allowed keys.reseal entries by system:reseal, want 2", n)
	}
}

// TestStaleNodeLearnsTheDerivedVersionOfATOTPSeal: a node started before
// another rotated the derived-key root meets an operator's TOTP secret
// re-sealed under the new version: it re-reads the key file, installs the
// version, and the login works.
func TestStaleNodeLearnsTheDerivedVersionOfATOTPSeal(t *testing.T) {
	f := newFixture(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	open := func() (*vault.Vault, *vault.Call) {
		src := &keyring.File{Path: filepath.Join(f.dir, "keys.json")}
		keys, err := src.Keys()
		if err != nil {
			t.Fatal(err)
		}
		v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: keys, Schema: examples.Shop, KeySource: src, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { v.Close() })
		return v, callOn(t, v, "admin", "account")
	}
	rotating, admin := open()
	stale, _ := open() // holds derived version 1 only
	secret := enrollOperator(t, rotating, admin, "carol", "a long enough passphrase", "admin", now())
	if _, err := rotating.Admin.RotateDerived(ctx, admin, false); err != nil {
		t.Fatal(err)
	}
	if err := rotating.WaitReindex(ctx); err != nil {
		t.Fatal(err)
	}
	if op, err := f.store.Operator(ctx, "carol"); err != nil || op.TOTPVersion != 2 {
		t.Fatalf("carol's seal: %v %v", op, err)
	}
	offset.Add(int64(31 * time.Second)) // a fresh TOTP step
	code, err := totp.GenerateCode(secret, now())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := stale.Identity.Login(ctx, "carol", "a long enough passphrase", code, netip.MustParseAddr("127.0.0.1"), "req_login"); err != nil {
		t.Errorf("login on a node that did not hold version 2: %v", err)
	}
}
