package vault

import (
	"context"

	"github.com/cofferhq/coffer"
)

// ensureSubject creates subject (with a new DEK, in its own transaction)
// unless it exists, so that a standalone token can name it and its
// erasure reaches the token. "" is no subject. An erased id is refused
// (SPEC §3: erased ids are not reused).
func (v *core) ensureSubject(ctx context.Context, u *unsealed, id string) error {
	if id == "" {
		return nil
	}
	_, err := v.store.Subject(ctx, id)
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return err
	}
	erased, err := v.erased(ctx, u, id)
	if err != nil {
		return err
	}
	if erased {
		return coffer.Errorf(coffer.ECONFLICT, "subject: this id belonged to an erased subject and cannot be reused")
	}
	dek, wrapped, version, err := u.sealer.NewDEK(id)
	if err != nil {
		return err
	}
	err = v.store.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: id, WrappedDEK: wrapped, KEKVersion: version, CreatedAt: v.now().UTC()}}})
	switch coffer.ErrorCode(err) {
	case "":
		u.deks.Put(id, dek)
		return nil
	case coffer.ECONFLICT:
		return nil // created meanwhile by another call: that one's key stands
	}
	return err
}

// erased reports whether the erasure ledger holds id under any derived-key
// root version the sealer holds: an entry keeps the version it was made
// under, so a check asks the id's hash under each, in one lookup.
func (v *core) erased(ctx context.Context, u *unsealed, id string) (bool, error) {
	cur := u.sealer.DerivedVersion()
	hashes := make([][]byte, 0, cur)
	for ver := uint32(1); ver <= cur; ver++ {
		h, err := u.sealer.LedgerHash(ver, id)
		if err != nil {
			return false, err
		}
		hashes = append(hashes, h)
	}
	return v.store.Erased(ctx, hashes...)
}
