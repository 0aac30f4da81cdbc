package identity

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// The finding: five wrong passwords locked the admin out for 15 minutes,
// even with the right password. Now an attacker hammering "admin" from one
// source slows only itself.
func TestThrottleAttackerDoesNotLockOutRightfulUser(t *testing.T) {
	th := DefaultLoginThrottle()
	attacker, admin := netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("198.51.100.7")
	now := t0
	for range 200 {
		now = now.Add(th.Wait("admin", attacker, now)) // the attacker waits as told, then fails again
		th.Fail("admin", attacker, now)
	}
	if w := th.Wait("admin", attacker, now); w < 10*time.Minute {
		t.Errorf("attacker's wait after 200 failures = %v, want ≥ 10 min", w)
	}
	if w := th.Wait("admin", admin, now); w != 0 {
		t.Fatalf("the rightful admin from another source must get in: wait %v", w)
	}
}

func TestThrottleGrowsThenClears(t *testing.T) {
	th := DefaultLoginThrottle()
	src := netip.MustParseAddr("2001:db8::1")
	var waits []time.Duration
	for range 6 {
		th.Fail("alice", src, t0)
		waits = append(waits, th.Wait("alice", src, t0))
	}
	want := []time.Duration{0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second} // 3 free failures
	if fmt.Sprint(waits) != fmt.Sprint(want) {
		t.Fatalf("waits = %v, want %v", waits, want)
	}
	// Another address in the same /64 is the same source.
	if w := th.Wait("alice", netip.MustParseAddr("2001:db8::2"), t0); w != 4*time.Second {
		t.Errorf("same /64: wait %v, want 4s", w)
	}
	th.Succeed("alice", src)
	if w := th.Wait("alice", src, t0); w != 0 {
		t.Errorf("after success: wait %v", w)
	}
}

// One source spraying many usernames is slowed per source.
func TestThrottleSourceSpraying(t *testing.T) {
	th := DefaultLoginThrottle()
	src := netip.MustParseAddr("192.0.2.1")
	for i := range 25 {
		th.Fail(fmt.Sprintf("user%d", i), src, t0)
	}
	if w := th.Wait("someone-new", src, t0); w <= 0 {
		t.Fatal("a spraying source must wait even for a name it has not tried")
	}
	if w := th.Wait("someone-new", netip.MustParseAddr("192.0.2.2"), t0); w != 0 {
		t.Errorf("a neighbouring IPv4 address is another source: wait %v", w)
	}
}

// The wait never depends on whether the user exists: the throttle has no
// notion of it, and the cap holds.
func TestThrottleCapAndMemoryBound(t *testing.T) {
	th := DefaultLoginThrottle()
	src := netip.MustParseAddr("192.0.2.1")
	for range 100 {
		th.Fail("ghost", src, t0)
	}
	if w := th.Wait("ghost", src, t0); w != th.Max {
		t.Errorf("wait = %v, want the cap %v", w, th.Max)
	}
	th2 := DefaultLoginThrottle()
	for i := range maxEntries + 10 {
		th2.Fail(fmt.Sprint(i), netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), t0)
	}
	if len(th2.pairs) > maxEntries || len(th2.srcs) > maxEntries {
		t.Errorf("maps grew to %d pairs, %d sources", len(th2.pairs), len(th2.srcs))
	}
}
