package vault_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
)

// failingNotifier is a store shared by nodes whose key notices fail a
// number of times before one goes out.
type failingNotifier struct {
	coffer.Store
	mu    sync.Mutex
	fails int
	tries int
	sent  chan struct{}
}

func (n *failingNotifier) NotifyKeys(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tries++
	if n.tries <= n.fails {
		return &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "database unreachable"}
	}
	close(n.sent)
	return nil
}

// TestKeyNoticeRetried: a rotation whose key notice cannot be sent (the
// database unreachable just then) still succeeds, and the notice is sent
// again in the background until it goes out.
func TestKeyNoticeRetried(t *testing.T) {
	f := newFixture(t)
	n := &failingNotifier{Store: f.store, fails: 2, sent: make(chan struct{})}
	live, admin := f.node(t, n)
	if ver, err := live.Admin.RotateKeys(ctx, admin); err != nil || ver != 2 {
		t.Fatalf("rotate with the notice failing: %d, %v", ver, err)
	}
	select {
	case <-n.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("the key notice was never sent again")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.tries != 3 {
		t.Errorf("%d attempts, want 3 (two failures, then the notice)", n.tries)
	}
}
