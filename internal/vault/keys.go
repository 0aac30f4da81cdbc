package vault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/seal"
)

// KeySource is the key provider's side of rotation (SPEC §4): it persists
// KEK versions and returns the keys it then holds.
type KeySource interface {
	// Keys returns every key the provider holds now.
	Keys() (*coffer.RootKeys, error)
	// NewVersion adds a KEK version, makes it current and returns the keys.
	NewVersion() (*coffer.RootKeys, error)
	// Retire removes a KEK version (min_decryption_version) and returns the
	// keys left.
	Retire(version uint32) (*coffer.RootKeys, error)
	// Export returns KEK version encrypted to an age recipient and records
	// that it was exported.
	Export(version uint32, recipient string) ([]byte, error)
	// Exported reports whether version was exported.
	Exported(version uint32) (bool, error)
	// NewDerivedVersion adds a derived-key root version, makes it current
	// and returns the keys.
	NewDerivedVersion() (*coffer.RootKeys, error)
}

// rotation is the state of key rotation: one rotation, retirement or
// export at a time, and the background re-wrap.
type rotation struct {
	mu    sync.Mutex
	bgJob // the re-wrap (guarded by mu)

	reloadMu   sync.Mutex
	lastReload atomic.Int64 // unix nanos of the last reload from the key source
}

// KeyVersion is one KEK version in the key status.
type KeyVersion struct {
	Version  uint32           `json:"version"`
	Current  bool             `json:"current"`
	Held     bool             `json:"held"` // false: something is wrapped under a version the server lacks
	Exported bool             `json:"exported"`
	Wrapped  map[string]int64 `json:"wrapped"`
}

// KeyStatus is GET /v1/sys/keys.
type KeyStatus struct {
	Versions []KeyVersion `json:"versions"`
	// Rewrap is "idle" (none ran since start), "running", "waiting"
	// (started, waiting for another node's re-wrap to release the job
	// lock), "done" or "failed".
	Rewrap    string `json:"rewrap"`
	Rewrapped int    `json:"rewrapped"` // keys the last re-wrap moved
	// Derived is the derived-key root: its versions, how many records
	// each indexes, the re-index.
	Derived *DerivedStatus `json:"derived"`
	// NamedKeys are the FPE keys and deterministic-token namespaces
	// rotated at least once, with their current versions (any other name
	// is at version 1).
	NamedKeys []NamedKeyStatus `json:"named_keys"`
	// RewrapElsewhere: another node holds the re-wrap's job lock now (a
	// store that nodes share).
	RewrapElsewhere bool `json:"rewrap_elsewhere"`
}

var errNoKeySource = coffer.Errorf(coffer.EINVALID, "this server's key provider cannot rotate keys while serving")

// keyChange begins a change of the keys (admin): the audit entry of
// action, the unsealed keys counted in, and the rotation lock, held until
// done; a vault without a key source refuses, audited.
func (v *Admin) keyChange(ctx context.Context, c *Call, action string) (*coffer.AuditEntry, *unsealed, func(), error) {
	e := c.entry(action, "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, nil, nil, err
	}
	if v.keySrc == nil {
		return nil, nil, nil, v.failed(ctx, e, errNoKeySource)
	}
	u, release, err := v.open()
	if err != nil {
		return nil, nil, nil, err
	}
	v.rotation.mu.Lock()
	return e, u, func() { v.rotation.mu.Unlock(); release() }, nil
}

// RotateKeys adds a KEK version (persisted by the key provider), makes it
// current in the running sealer and starts the background re-wrap of
// every key wrapped under an older version (admin). It returns the new
// version.
func (v *Admin) RotateKeys(ctx context.Context, c *Call) (uint32, error) {
	return v.rotate(ctx, c, false)
}

// Rewrap starts the background re-wrap without adding a version (admin):
// after a re-wrap was interrupted (a seal, a restart). It returns the
// current version.
func (v *Admin) Rewrap(ctx context.Context, c *Call) (uint32, error) {
	return v.rotate(ctx, c, true)
}

func (v *Admin) rotate(ctx context.Context, c *Call, rewrapOnly bool) (uint32, error) {
	e, u, done, err := v.keyChange(ctx, c, "keys.rotate")
	if err != nil {
		return 0, err
	}
	defer done()
	cur := u.sealer.CurrentVersion()
	if !rewrapOnly {
		keys, err := v.keySrc.NewVersion()
		if err != nil {
			return 0, err
		}
		if err := u.sealer.Install(keys); err != nil {
			return 0, err
		}
		cur = keys.Current
		v.notifyKeys(ctx)
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, fmt.Sprintf("KEK version %d (re-wrap only %t)", cur, rewrapOnly)
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return 0, err
	}
	v.startRewrapLocked()
	return cur, nil
}

// startRewrapLocked starts the background re-wrap unless one runs; the
// caller holds rotation.mu. On a store that nodes share it first takes
// the re-wrap's job lock, waiting while another node re-wraps (that one
// may re-wrap to an older version than this node just made current).
// Close waits for it (it stops waiting for the lock, and between batches).
func (c *core) startRewrapLocked() {
	c.startJob(&c.rotation.bgJob, &c.rotation.mu, "key re-wrap", "rewrapped", func(ctx context.Context) (int, error) {
		return c.asLockedJob(ctx, jobRewrap, &c.rotation.bgJob, &c.rotation.mu, c.rewrapAll)
	})
}

// WaitRewrap waits for the running background re-wrap, if any, and
// returns how it ended.
func (v *Vault) WaitRewrap(ctx context.Context) error {
	_, err := v.core.waitRewrap(ctx)
	return err
}

func (c *core) waitRewrap(ctx context.Context) (bool, error) {
	return c.rotation.wait(ctx, &c.rotation.mu)
}

var errClosing = errors.New("the vault is closing")

// rewrapAll re-wraps subject DEKs, then token-namespace keys, in passes
// until a pass finds nothing left under an older version (a DEK wrapped
// by a call that began before the rotation may land behind the cursor).
func (c *core) rewrapAll(ctx context.Context) (int, error) {
	total := 0
	for pass := 0; pass < 5; pass++ {
		n, err := c.rewrapPass(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

func (c *core) rewrapPass(ctx context.Context) (int, error) {
	total, after := 0, ""
	for {
		if c.closing() {
			return total, errClosing
		}
		n, last, err := c.rewrapBatch(ctx, after)
		total += n
		if err != nil {
			return total, err
		}
		if last == "" {
			break
		}
		after = last
	}
	after = ""
	for {
		n, last, err := c.rewrapTokenBatch(ctx, after)
		total += n
		if err != nil || last == "" {
			return total, err
		}
		after = last
	}
}

// rewrapBatchSize is how many keys one audited transaction re-wraps.
const rewrapBatchSize = 1000

// rewrapBatch re-wraps one batch after the subject id after; last is the
// batch's last subject ("" when there was none). It holds the keys for
// one batch only, so that sealing does not wait for a whole rotation.
func (c *core) rewrapBatch(ctx context.Context, after string) (n int, last string, err error) {
	u, done, err := c.open()
	if err != nil {
		return 0, "", err
	}
	defer done()
	cur := u.sealer.CurrentVersion()
	subs, err := c.store.SubjectsBelow(ctx, cur, after, rewrapBatchSize)
	if err != nil || len(subs) == 0 {
		return 0, "", err
	}
	rw := make([]coffer.Rewrap, 0, len(subs))
	for _, s := range subs {
		w, ver, err := c.rewrap(u, s.ID, s.WrappedDEK, s.KEKVersion)
		if err != nil {
			return 0, "", fmt.Errorf("subject %s: %w", s.ID, err)
		}
		rw = append(rw, coffer.Rewrap{Subject: s.ID, OldVersion: s.KEKVersion, WrappedDEK: w, KEKVersion: ver})
	}
	e := &coffer.AuditEntry{Actor: "system:rewrap", Action: "keys.rewrap", Outcome: coffer.OutcomeAllowed,
		Reason: fmt.Sprintf("%d subject keys to KEK version %d", len(rw), cur)}
	n, err = c.store.Rewrap(ctx, rw, e)
	if err != nil {
		return 0, "", err
	}
	return n, subs[len(subs)-1].ID, nil
}

// rewrapTokenBatch is rewrapBatch for token-namespace keys (their AAD
// names "ns:<namespace>").
func (c *core) rewrapTokenBatch(ctx context.Context, after string) (n int, last string, err error) {
	u, done, err := c.open()
	if err != nil {
		return 0, "", err
	}
	defer done()
	cur := u.sealer.CurrentVersion()
	keys, err := c.store.TokenKeysBelow(ctx, cur, after, rewrapBatchSize)
	if err != nil || len(keys) == 0 {
		return 0, "", err
	}
	rw := make([]coffer.Rewrap, 0, len(keys))
	for _, k := range keys {
		w, ver, err := c.rewrap(u, "ns:"+k.Namespace, k.WrappedKey, k.KEKVersion)
		if err != nil {
			return 0, "", fmt.Errorf("token namespace %s: %w", k.Namespace, err)
		}
		rw = append(rw, coffer.Rewrap{Namespace: k.Namespace, OldVersion: k.KEKVersion, WrappedDEK: w, KEKVersion: ver})
	}
	e := &coffer.AuditEntry{Actor: "system:rewrap", Action: "keys.rewrap", Outcome: coffer.OutcomeAllowed,
		Reason: fmt.Sprintf("%d token-namespace keys to KEK version %d", len(rw), cur)}
	n, err = c.store.Rewrap(ctx, rw, e)
	if err != nil {
		return 0, "", err
	}
	return n, keys[len(keys)-1].Namespace, nil
}

// openWrapped unwraps a subject DEK or namespace key. Under a KEK version
// this sealer lacks (another node or an offline command rotated), it
// reloads the keys from the key source once and tries again.
func (c *core) openWrapped(u *unsealed, id string, wrapped []byte, version uint32) (*seal.DEK, error) {
	d, err := u.sealer.OpenDEK(id, wrapped, version)
	if err != nil && c.reload(u, version) {
		return u.sealer.OpenDEK(id, wrapped, version)
	}
	return d, err
}

// rewrap is Sealer.Rewrap with openWrapped's reload.
func (c *core) rewrap(u *unsealed, id string, wrapped []byte, version uint32) ([]byte, uint32, error) {
	w, v, err := u.sealer.Rewrap(id, wrapped, version)
	if err != nil && c.reload(u, version) {
		return u.sealer.Rewrap(id, wrapped, version)
	}
	return w, v, err
}

// reloadEvery bounds reloads from the key source (a row naming a version
// nobody holds must not read the key file on every request).
const reloadEvery = time.Second

// reload installs the key source's keys when version is unknown to the
// sealer; it reports whether the sealer now holds version.
func (c *core) reload(u *unsealed, version uint32) bool {
	if c.keySrc == nil || slices.Contains(u.sealer.Versions(), version) {
		return false // known: the failure is the ciphertext's, not a missing key
	}
	return c.reloadWhen(u, func() bool { return slices.Contains(u.sealer.Versions(), version) })
}

// reloadWhen installs the key source's keys (at most once every
// reloadEvery) unless held already reports true, and reports held after.
func (c *core) reloadWhen(u *unsealed, held func() bool) bool {
	if c.keySrc == nil {
		return false
	}
	r := &c.rotation
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if held() {
		return true // a concurrent call reloaded
	}
	now := time.Now().UnixNano()
	if now-r.lastReload.Load() < int64(reloadEvery) {
		return false
	}
	r.lastReload.Store(now)
	if err := c.install(u, false); err != nil {
		c.log.Error("reloading keys", "error", err)
		return false
	}
	return held()
}

// reloadKeys installs the key source's keys as they are now, at once
// (another node rotated or retired a version, or rotated the derived-key
// root, and said so): KEKs, derived-key root versions and the audit
// signing keys.
func (c *core) reloadKeys() {
	if c.keySrc == nil {
		return
	}
	// Counted in like a call: a seal waits for the reload, and a sealer
	// already dropped is never filled again with keys nobody would zero.
	u, done, err := c.open()
	if err != nil {
		return
	}
	defer done()
	r := &c.rotation
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if err := c.install(u, true); err != nil {
		c.log.Error("reloading keys after another node's key change", "error", err)
		return
	}
	r.lastReload.Store(time.Now().UnixNano())
}

// install reads the key source and installs its keys in the sealer (and,
// with signer, in the audit signer).
func (c *core) install(u *unsealed, signer bool) error {
	keys, err := c.keySrc.Keys()
	if err == nil && signer && c.signer != nil {
		err = c.signer.Install(keys)
	}
	if err == nil {
		err = u.sealer.Install(keys)
	}
	return err
}

// reloadDerived is reload for a derived-key root version: it installs the
// key source's keys when the sealer's derived versions stop below version
// (another node rotated the derived-key root), at most once per
// reloadEvery, and reports whether the sealer now holds version.
func (c *core) reloadDerived(u *unsealed, version uint32) bool {
	if version <= u.sealer.DerivedVersion() {
		return false
	}
	return c.reloadWhen(u, func() bool { return version <= u.sealer.DerivedVersion() })
}
