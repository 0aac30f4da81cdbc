package vault

import (
	"context"
	"fmt"
	"slices"

	"github.com/cofferhq/coffer"
)

// KeyStatus lists the KEK versions the server holds or finds in use, with
// how many keys of each kind each wraps (admin). With wait, it first waits
// for a running re-wrap to end (or ctx).
func (v *Admin) KeyStatus(ctx context.Context, c *Call, wait bool) (*KeyStatus, error) {
	e := c.entry("keys.status", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	if wait {
		if _, err := v.waitRewrap(ctx); err != nil && ctx.Err() != nil {
			return nil, err
		}
	}
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	counts, err := v.wrappedCounts(ctx)
	if err != nil {
		return nil, err
	}
	held := u.sealer.Versions()
	all := slices.Clone(held)
	for ver := range counts {
		if !slices.Contains(all, ver) {
			all = append(all, ver)
		}
	}
	slices.Sort(all)
	out := &KeyStatus{Versions: []KeyVersion{}}
	cur := u.sealer.CurrentVersion()
	for _, ver := range all {
		kv := KeyVersion{Version: ver, Current: ver == cur, Held: slices.Contains(held, ver), Wrapped: map[string]int64{"subject_deks": 0, "token_keys": 0}}
		for kind, n := range counts[ver] {
			kv.Wrapped[kind] = n
		}
		if v.keySrc != nil {
			if kv.Exported, err = v.keySrc.Exported(ver); err != nil {
				return nil, err
			}
		}
		out.Versions = append(out.Versions, kv)
	}
	r := &v.rotation
	r.mu.Lock()
	mine := r.running && r.locked
	r.mu.Unlock()
	if !mine {
		if out.RewrapElsewhere, err = v.heldElsewhere(ctx, jobRewrap); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	if r.running && r.locked && !mine {
		out.RewrapElsewhere = false // the probe met this node's own re-wrap, just locked
	}
	switch {
	case r.running && !r.locked:
		out.Rewrap = "waiting"
	case r.running:
		out.Rewrap = "running"
	case r.done == nil:
		out.Rewrap = "idle"
	case r.err != nil:
		out.Rewrap = "failed"
	default:
		out.Rewrap = "done"
	}
	out.Rewrapped = r.total
	r.mu.Unlock()
	if out.Derived, err = v.derivedStatus(ctx, u); err != nil {
		return nil, err
	}
	if out.NamedKeys, err = v.namedKeyStatus(ctx); err != nil {
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return out, nil
}

// wrappedCounts counts KEK-wrapped keys per version and kind. Sealed
// system secrets (TOTP seeds) and credential MACs are keyed by keys
// derived from the root, not wrapped under a KEK: they have no row here.
func (c *core) wrappedCounts(ctx context.Context) (map[uint32]map[string]int64, error) {
	out := map[uint32]map[string]int64{}
	for kind, count := range map[string]func(context.Context) (map[uint32]int64, error){
		"subject_deks": c.store.KEKVersions, "token_keys": c.store.TokenKEKVersions} {
		m, err := count(ctx)
		if err != nil {
			return nil, err
		}
		for ver, n := range m {
			if out[ver] == nil {
				out[ver] = map[string]int64{}
			}
			out[ver][kind] = n
		}
	}
	return out, nil
}

// RetireKey removes KEK version (admin; min_decryption_version). It is
// refused (ECONFLICT) while a re-wrap runs, while any key is still wrapped
// under version, and unless version was exported or force is set.
func (v *Admin) RetireKey(ctx context.Context, c *Call, version uint32, force bool) error {
	e, u, done, err := v.keyChange(ctx, c, "keys.retire")
	if err != nil {
		return err
	}
	defer done()
	if v.rotation.running {
		return v.failed(ctx, e, coffer.Errorf(coffer.ECONFLICT, "a re-wrap is running: retire when GET /v1/sys/keys says rewrap done"))
	}
	counts, err := v.wrappedCounts(ctx)
	if err != nil {
		return err
	}
	if m := counts[version]; m["subject_deks"]+m["token_keys"] > 0 {
		return v.failed(ctx, e, coffer.Errorf(coffer.ECONFLICT, "KEK version %d still wraps %d subject keys and %d token-namespace keys: rotate (re-wrap) first",
			version, m["subject_deks"], m["token_keys"]))
	}
	if !force {
		exported, err := v.keySrc.Exported(version)
		if err != nil {
			return err
		}
		if !exported {
			return v.failed(ctx, e, coffer.Errorf(coffer.ECONFLICT, "KEK version %d was never exported: export it first (coffer keys export %d --recipient age1…) so older backups stay restorable, or force", version, version))
		}
	}
	keys, err := v.keySrc.Retire(version)
	if err != nil {
		return v.failed(ctx, e, err)
	}
	if err := u.sealer.Install(keys); err != nil {
		return err
	}
	v.notifyKeys(ctx)
	e.Outcome, e.Reason = coffer.OutcomeAllowed, fmt.Sprintf("KEK version %d (force %t)", version, force)
	return v.store.AppendAudit(ctx, e)
}

// ExportKey returns KEK version encrypted to an age recipient (admin);
// the key provider records the export, which retirement asks for.
func (v *Admin) ExportKey(ctx context.Context, c *Call, version uint32, recipient string) ([]byte, error) {
	e, _, done, err := v.keyChange(ctx, c, "keys.export")
	if err != nil {
		return nil, err
	}
	defer done()
	out, err := v.keySrc.Export(version, recipient)
	if err != nil {
		return nil, err
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, fmt.Sprintf("KEK version %d to an age recipient", version)
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return out, nil
}
