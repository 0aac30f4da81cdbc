package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/schema"
)

// Named keys (SPEC §4): FPE keys and the deterministic-token key of each
// token namespace are named, versioned keys the owner rotates explicitly
// (RotateNamedKey); internal/seal.namedKey documents how each version is
// derived. Version 1 of every name has no row; each rotation adds one.
//
// The current version lives only in the store's shared table and is read
// on every FPE call and deterministic tokenization (one small primary-key
// read beside the call's audit write): a rotation on one node is seen by
// the next call on every node, with no cache to invalidate or TTL to wait
// out. What is cached is only what a version's key material determines:
// FPE ciphers by name, version, derived-key root version, algorithm and
// alphabet, which a rotation cannot make stale; a rotation still drops
// this node's ciphers of the name, so the replaced key's schedules are not
// kept once nobody asks for the old version.

// namedKeyAt returns the version of a named key a call uses: want 0 is the
// current one (the highest), any other must exist (EINVALID naming
// version; the version asked is not echoed).
func (c *core) namedKeyAt(ctx context.Context, kind coffer.NamedKeyKind, name string, want uint32) (coffer.NamedKey, error) {
	versions, err := c.store.NamedKeyVersions(ctx, kind, name)
	if err != nil {
		return coffer.NamedKey{}, err
	}
	k := coffer.NamedKey{Kind: kind, Name: name, Version: 1, DerivedVersion: 1}
	if n := len(versions); n > 0 && (want == 0 || want == versions[n-1].Version) {
		return *versions[n-1], nil
	}
	if want == 0 || want == 1 {
		return k, nil
	}
	if len(versions) == 0 {
		return k, coffer.Errorf(coffer.EINVALID, "version: not a version of this key (it has version 1 only)")
	}
	for _, v := range versions {
		if v.Version == want {
			return *v, nil
		}
	}
	return k, coffer.Errorf(coffer.EINVALID, "version: not a version of this key (1 to %d)", versions[len(versions)-1].Version)
}

// holdDerived makes sure the sealer holds derived-key root version d: a
// named key version added on another node after a rotation of the root
// this node has not seen yet reloads the key source (at most once a
// second); EINTERNAL if it still lacks it (fail closed: no other key is
// ever substituted).
func (c *core) holdDerived(u *unsealed, d uint32) error {
	if u.sealer.DerivedVersion() >= d || c.reloadWhen(u, func() bool { return u.sealer.DerivedVersion() >= d }) {
		return nil
	}
	return coffer.Errorf(coffer.EINTERNAL, "this node does not hold derived-key root version %d yet", d)
}

// RotateNamedKey adds a version of a named key and makes it current
// (admin; audited, refusals too). The new version derives from the
// derived-key root version current on this node. Two rotations of one
// name racing (two nodes) both end with a new version: the second one
// retries over the first's (each attempt is audited). Returns the version.
func (v *Admin) RotateNamedKey(ctx context.Context, c *Call, kind coffer.NamedKeyKind, name string) (uint32, error) {
	e := c.entry("keys.rotate", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return 0, err
	}
	if kind != coffer.NamedKeyFPE && kind != coffer.NamedKeyToken {
		return 0, v.failed(ctx, e, coffer.Errorf(coffer.EINVALID, "kind: fpe_key or token_namespace"))
	}
	if !schema.NamespaceRE.MatchString(name) {
		return 0, v.failed(ctx, e, coffer.Errorf(coffer.EINVALID, "%s: a key name of lower-case letters, digits, _ and - (at most 63)", kind))
	}
	u, done, err := v.open()
	if err != nil {
		return 0, err
	}
	defer done()
	for attempt := 0; ; attempt++ {
		cur, err := v.namedKeyAt(ctx, kind, name, 0)
		if err != nil {
			return 0, err
		}
		nk := &coffer.NamedKey{Kind: kind, Name: name, Version: cur.Version + 1, DerivedVersion: u.sealer.DerivedVersion(), CreatedAt: v.now().UTC().Truncate(time.Microsecond)}
		e.Outcome, e.Reason = coffer.OutcomeAllowed, fmt.Sprintf("%s %s version %d (derived-key root version %d)", kind, name, nk.Version, nk.DerivedVersion)
		err = v.store.Commit(ctx, &coffer.Change{NewNamedKeys: []*coffer.NamedKey{nk}, Audit: []*coffer.AuditEntry{e}})
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 3 {
			e = c.entry("keys.rotate", "")
			continue
		}
		if err != nil {
			return 0, err
		}
		if kind == coffer.NamedKeyFPE {
			u.fpe.dropName(name)
		}
		return nk.Version, nil
	}
}

// NamedKeyStatus is a named key and its current version in GET /v1/sys/keys.
type NamedKeyStatus struct {
	Kind    coffer.NamedKeyKind `json:"kind"`
	Name    string              `json:"name"`
	Current uint32              `json:"current"`
	// DerivedVersion is the derived-key root version the current version
	// is derived from.
	DerivedVersion uint32 `json:"derived_version"`
}

// namedKeyStatus lists every named key rotated at least once (any other
// name is at version 1), by kind and name.
func (c *core) namedKeyStatus(ctx context.Context) ([]NamedKeyStatus, error) {
	all, err := c.store.NamedKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := []NamedKeyStatus{}
	for _, k := range all {
		if n := len(out); n > 0 && out[n-1].Kind == k.Kind && out[n-1].Name == k.Name {
			out[n-1].Current, out[n-1].DerivedVersion = k.Version, k.DerivedVersion
			continue
		}
		out = append(out, NamedKeyStatus{Kind: k.Kind, Name: k.Name, Current: k.Version, DerivedVersion: k.DerivedVersion})
	}
	return out, nil
}
