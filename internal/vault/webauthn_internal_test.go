package vault

import (
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// TestCeremonyUsedOnceAndExpires: a WebAuthn challenge is handed out once
// and not after ceremonyTTL.
func TestCeremonyUsedOnceAndExpires(t *testing.T) {
	c := ceremonies{pending: map[string]ceremony{}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.put("login|alice", &webauthn.SessionData{Challenge: "abc"}, now)
	if d, ok := c.take("login|alice", now.Add(time.Minute)); !ok || d.Challenge != "abc" {
		t.Fatalf("take = %v %v", d, ok)
	}
	if _, ok := c.take("login|alice", now.Add(time.Minute)); ok {
		t.Fatal("a challenge was handed out twice")
	}
	c.put("login|alice", &webauthn.SessionData{Challenge: "def"}, now)
	if _, ok := c.take("login|alice", now.Add(ceremonyTTL+time.Second)); ok {
		t.Fatal("an expired challenge was accepted")
	}
	if _, ok := c.take("login|bob", now); ok {
		t.Fatal("a challenge for nobody")
	}
}
