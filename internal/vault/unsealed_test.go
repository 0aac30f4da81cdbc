package vault

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cofferhq/coffer"

	"github.com/cofferhq/coffer/internal/fpe"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/seal"
)

func testSealer(t *testing.T) *seal.Sealer {
	t.Helper()
	kf := filepath.Join(t.TempDir(), "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: kf}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDropWaitsForCallsInFlight: sealing refuses new calls at once, waits
// for the calls using the keys, and only then empties the caches.
func TestDropWaitsForCallsInFlight(t *testing.T) {
	s := testSealer(t)
	synctest.Test(t, func(t *testing.T) {
		u := newUnsealed(s)
		dek, _, _, err := s.NewDEK("cus_1")
		if err != nil {
			t.Fatal(err)
		}
		u.deks.Put("cus_1", dek)
		if !u.acquire() {
			t.Fatal("acquire on fresh keys")
		}
		dropped := make(chan struct{})
		go func() {
			u.drop()
			close(dropped)
		}()
		synctest.Wait() // drop is blocked on the call in flight
		select {
		case <-dropped:
			t.Fatal("sealing did not wait for the call in flight")
		default:
		}
		if u.acquire() {
			t.Error("a new call started while sealing")
		}
		if u.deks.Get("cus_1") == nil {
			t.Error("the keys were emptied under a call in flight")
		}
		u.release()
		<-dropped
		if u.deks.Get("cus_1") != nil {
			t.Error("the DEK cache survived sealing")
		}
	})
}

// TestFPECacheIsBounded: callers name FPE keys, so the cache must not
// grow with them.
func TestFPECacheIsBounded(t *testing.T) {
	u := newUnsealed(testSealer(t))
	for i := range maxFPECiphers * 3 {
		if _, err := u.fpeCipher(coffer.NamedKey{Name: "k" + strconv.Itoa(i), Version: 1, DerivedVersion: 1}, "ff1", fpe.Digits); err != nil {
			t.Fatal(err)
		}
	}
	if n := u.fpe.len(); n > maxFPECiphers {
		t.Errorf("%d FPE ciphers cached, bound %d", n, maxFPECiphers)
	}
}

// touchStore is a store whose TouchAPIKeys waits for release.
type touchStore struct {
	coffer.Store // nil: any other method panics
	release      chan struct{}
	touched      chan map[string]time.Time
}

func (s *touchStore) TouchAPIKeys(_ context.Context, used map[string]time.Time) error {
	<-s.release
	s.touched <- used
	return nil
}

// TestCloseWaitsForBackgroundWrites: the last-used times stored in the
// background are written before Close returns (so before the store
// closes).
func TestCloseWaitsForBackgroundWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &touchStore{release: make(chan struct{}), touched: make(chan map[string]time.Time, 1)}
		c := &core{store: st, log: slog.New(slog.DiscardHandler), now: time.Now}
		id := &Identity{core: c, used: map[string]time.Time{}}
		v := &Vault{core: c, Identity: id}
		id.noteUse("key_1", time.Now()) // the first use is due at once
		closed := make(chan struct{})
		go func() {
			v.Close()
			close(closed)
		}()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while a background write was running")
		default:
		}
		close(st.release)
		<-closed
		if used := <-st.touched; used["key_1"].IsZero() {
			t.Errorf("stored %v", used)
		}
	})
}
