package vault

import (
	"path/filepath"
	"strconv"
	"testing"
	"testing/synctest"

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
		if _, err := u.fpeCipher("k"+strconv.Itoa(i), "ff1", fpe.Digits); err != nil {
			t.Fatal(err)
		}
	}
	if n := u.fpe.len(); n > maxFPECiphers {
		t.Errorf("%d FPE ciphers cached, bound %d", n, maxFPECiphers)
	}
}
