package keyring

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

func TestUnsealShamirOneByOne(t *testing.T) {
	r := NewRoot()
	e, shares, _ := Split(r, 3, 5)
	texts := shareTexts(shares)
	u, err := NewUnseal(e)
	if err != nil {
		t.Fatal(err)
	}
	if p := u.Progress().String(); p != "0/3" {
		t.Fatalf("progress %s", p)
	}
	for i, want := range []string{"1/3", "2/3"} {
		got, p, err := u.Add([]byte(texts[i+2]))
		if err != nil || got != nil || p.String() != want {
			t.Fatalf("share %d: root %v, progress %s, %v", i, got != nil, p, err)
		}
	}
	// The same share again is refused and does not count.
	if _, p, err := u.Add([]byte(texts[3])); err == nil || p.String() != "2/3" {
		t.Fatalf("duplicate: progress %s, %v", p, err)
	}
	// A typo is refused and does not count either.
	typo := []byte(texts[0])
	typo[20] ^= 1
	if _, p, err := u.Add(typo); coffer.ErrorCode(err) != coffer.EINVALID || p.String() != "2/3" {
		t.Fatalf("typo: progress %s, %v", p, err)
	}
	got, p, err := u.Add([]byte(texts[0]))
	if err != nil || !got.Equal(r) || p.String() != "3/3" {
		t.Fatalf("third share: %v", err)
	}
	if u.Progress().String() != "0/3" {
		t.Fatal("the shares were kept after opening")
	}
}

func TestUnsealWrongCombinationResets(t *testing.T) {
	e, shares, _ := Split(NewRoot(), 2, 3)
	u, _ := NewUnseal(e)
	u.Add([]byte(shares[0].Text()))
	bad := *shares[1]
	bad.Y = append([]byte(nil), bad.Y...)
	bad.Y[0] ^= 0x55
	got, p, err := u.Add([]byte(bad.Text()))
	if !errors.Is(err, ErrWrongCombination) || got != nil || p.String() != "0/2" || u.Progress().Have != 0 {
		t.Fatalf("wrong combination: progress %s, %v", p, err)
	}
}

func TestUnsealForgetsAfterTimeout(t *testing.T) {
	e, shares, _ := Split(NewRoot(), 2, 3)
	now := time.Unix(1e9, 0)
	u, _ := NewUnseal(e)
	u.Now = func() time.Time { return now }
	u.Add([]byte(shares[0].Text()))
	now = now.Add(UnsealTimeout - time.Second)
	if u.Progress().Have != 1 {
		t.Fatal("forgot too early")
	}
	now = now.Add(time.Second)
	if u.Progress().Have != 0 {
		t.Fatal("kept a share past the timeout")
	}
	if got, p, _ := u.Add([]byte(shares[1].Text())); got != nil || p.String() != "1/2" {
		t.Fatal("a stale share still counted")
	}
}

// One input is checked at a time; the rest are turned away at once.
func TestUnsealBusy(t *testing.T) {
	e, _ := (&Passphrase{Pass: []byte("pw"), Params: testArgon2()}).Wrap(NewRoot())
	u, _ := NewUnseal(e)
	u.busy.Lock() // an argon2id in progress
	if _, _, err := u.Add([]byte("pw")); !errors.Is(err, ErrBusy) || coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("concurrent attempt: %v", err)
	}
	u.busy.Unlock()
	if r, p, err := u.Add([]byte("pw")); err != nil || r == nil || p.String() != "1/1" {
		t.Fatalf("after: %v", err)
	}
}

func TestUnsealPassphrase(t *testing.T) {
	r := NewRoot()
	e, _ := (&Passphrase{Pass: []byte("pw"), Params: testArgon2()}).Wrap(r)
	u, _ := NewUnseal(e)
	if got, p, err := u.Add([]byte("pW")); !errors.Is(err, ErrWrongPassphrase) || got != nil || p.String() != "0/1" {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if got, _, err := u.Add([]byte("pw")); err != nil || !got.Equal(r) {
		t.Fatalf("right passphrase: %v", err)
	}
	if _, err := NewUnseal(&Envelope{}); err == nil {
		t.Fatal("unseal of an empty envelope")
	}
}
